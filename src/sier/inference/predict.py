"""Predict emotions of audio files and folders, cutting long recordings into speech segments.

    report = predict_paths(recognizer, ["a.wav", "folder/"], VadConfig(method="silero"))
    print(format_report(report, "table"))   # or "json", "csv"

A file no longer than ``max_segment_s`` is one utterance and is classified whole. A longer
recording is cut into speech segments by the VAD (``none``: equal parts of at most
``max_segment_s``), and each segment is labelled with its start and end time. A model with
the dimension head adds arousal, valence and dominance; a model of the dimensions only gives
those alone (no label, confidence or probability columns). Files that
cannot be read are reported in ``report.skipped``; the run goes on with the rest.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from sier.audio import SkipReport, iter_audio
from sier.constants import SAMPLE_RATE
from sier.errors import AudioError, InferenceError
from sier.inference.recognizer import Prediction, Recognizer
from sier.inference.vad import VadConfig, segment_speech

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".au", ".opus")
FORMATS = ("table", "json", "csv")


@dataclass
class PredictReport:
    """Rows (one per file or segment), skipped files with reasons, and the VADs used."""

    classes: list[str]  # [] for a model of the dimensions only
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    vad_methods: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def expand_paths(paths: Iterable[str | os.PathLike], report: SkipReport) -> Iterator[Path]:
    """Files as given, and audio files (by suffix, sorted) found under folders."""
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
            if not found:
                report.add(str(p), f"{p}: folder holds no audio file ({', '.join(AUDIO_SUFFIXES)}).")
            yield from found
        else:
            yield p  # missing files are reported by iter_audio


def predict_paths(recognizer: Recognizer, paths: Iterable[str | os.PathLike], vad: VadConfig = VadConfig()) -> PredictReport:
    """Classify every file (or speech segment of a long recording) under `paths`."""
    skips = SkipReport()
    report = PredictReport(list(recognizer.classes))
    for path, audio in iter_audio(expand_paths(paths, skips), skips):
        duration = audio.size / SAMPLE_RATE
        if duration <= vad.max_segment_s:
            segments, method = [(0.0, duration)], "whole"
        else:
            found = segment_speech(audio, vad)
            segments, method = found.segments, found.method
            report.notes.extend(n for n in found.notes if n not in report.notes)
            if not segments:
                skips.add(path, f"{path}: no speech found by the {method} VAD in {duration:.1f} s.")
                continue
        report.vad_methods.add(method)
        for i, (start, end) in enumerate(segments):
            piece = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
            try:
                pred = recognizer.predict(piece, source=f"{path} [{start:.2f}-{end:.2f} s]")
            except AudioError as exc:
                skips.add(path, str(exc))
                continue
            report.rows.append(_row(path, i, start, end, pred, method))
    report.skipped = list(skips.skipped)
    return report


def _row(path: str, segment: int, start: float, end: float, pred: Prediction, vad: str) -> dict[str, Any]:
    row: dict[str, Any] = {"file": path, "segment": segment, "start_s": round(start, 3), "end_s": round(end, 3)}
    if pred.label is not None:
        row.update(label=pred.label, confidence=round(pred.confidence, 4),
                   probs={k: round(v, 4) for k, v in pred.probs.items()})
    row["vad"] = vad
    if pred.dimensions is not None:
        row["dimensions"] = {k: round(v, 4) for k, v in pred.dimensions.items()}
    return row


def format_report(report: PredictReport, fmt: str = "table") -> str:
    """The rows as an aligned table, JSON (rows, skipped, vad) or CSV (one column per class)."""
    if fmt not in FORMATS:
        raise InferenceError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    if fmt == "json":
        return json.dumps({"classes": report.classes, "predictions": report.rows,
                           "skipped": [{"file": f, "reason": r} for f, r in report.skipped],
                           "vad": sorted(report.vad_methods), "notes": report.notes}, indent=2)
    dims = list(report.rows[0]["dimensions"]) if report.rows and "dimensions" in report.rows[0] else []
    labelled = ["label", "confidence"] + [f"p_{c}" for c in report.classes] if report.classes else []
    header = ["file", "segment", "start_s", "end_s"] + labelled + dims
    rows = [[r["file"], r["segment"], f"{r['start_s']:.2f}", f"{r['end_s']:.2f}"]
            + ([r["label"], f"{r['confidence']:.3f}"] + [f"{r['probs'][c]:.3f}" for c in report.classes]
               if report.classes else [])
            + [f"{r['dimensions'][d]:.3f}" for d in dims]
            for r in report.rows]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return buf.getvalue()
    widths = [max([len(h)] + [len(str(row[i])) for row in rows]) for i, h in enumerate(header)]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(header, widths))]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)
