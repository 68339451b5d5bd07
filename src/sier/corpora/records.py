"""The Utterance record, the manifest that holds them, and count tables."""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from sier.errors import CorpusError
from sier.fileio import write_text


@dataclass(frozen=True)
class Utterance:
    """One labelled utterance of a corpus."""

    id: str  # e.g. Ses01F_impro01_M003
    path: str  # absolute path of the wav
    speaker: str  # e.g. Ses01M (session + gender of the person who speaks)
    session: int  # 1..5 for IEMOCAP; the speaker group of corpora without sessions (EmoDB, ...)
    gender: str  # "F" or "M"
    label: str  # class after the label map, e.g. "hap"
    duration_s: float  # seconds, read from the file header
    corpus: str  # e.g. "iemocap"
    # Perceived emotion dimensions on the corpus's own scale (sier.corpora.dimensions.SCALES),
    # None where the corpus gives none.
    arousal: float | None = None
    valence: float | None = None
    dominance: float | None = None

    @property
    def dimensions(self) -> tuple[float | None, float | None, float | None]:
        """(arousal, valence, dominance), each None where unknown."""
        return self.arousal, self.valence, self.dominance


MANIFEST_FIELDS = [f.name for f in fields(Utterance)]
DIMENSION_FIELDS = ("arousal", "valence", "dominance")  # optional columns: manifests before them lack them


@dataclass
class PrepareResult:
    """What a corpus reader found: kept utterances and what it left out, and why."""

    utterances: list[Utterance]
    missing_wavs: list[str] = field(default_factory=list)  # ids whose wav does not exist
    bad_wavs: list[str] = field(default_factory=list)  # "id: reason" for unreadable wavs
    dropped_labels: dict[str, int] = field(default_factory=dict)  # raw label -> count dropped
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what a chosen option left out (not a problem)

    def add(self, utt_id: str, wav: Path, speaker: str, session: int, gender: str, label: str, corpus: str,
            dimensions: tuple[float | None, float | None, float | None] = (None, None, None)) -> None:
        """Keep an utterance, with its duration read from the wav's header and its (arousal,
        valence, dominance); an unreadable wav, or one without samples (CREMA-D ships one),
        is left out and named in `bad_wavs` instead."""
        from sier.audio import audio_duration  # numpy, soundfile: only when a corpus is read
        from sier.errors import AudioError

        try:
            duration = audio_duration(wav)
        except AudioError as exc:
            self.bad_wavs.append(f"{utt_id}: {exc}")
            return
        if duration <= 0:
            self.bad_wavs.append(f"{utt_id}: {wav}: the file holds no audio samples")
            return
        self.utterances.append(Utterance(utt_id, str(wav.resolve()), speaker, session, gender, label, duration, corpus,
                                         *dimensions))

    def drop(self, raw_label: str) -> None:
        """Count an utterance whose label the label map leaves out."""
        self.dropped_labels[raw_label] = self.dropped_labels.get(raw_label, 0) + 1

    def finish(self) -> None:
        """Sort the utterances by id and add warnings for missing and unreadable wavs."""
        self.utterances.sort(key=lambda u: u.id)
        if self.missing_wavs:
            self.warnings.append(
                f"{len(self.missing_wavs)} labelled utterance(s) left out because their wav is missing, "
                f"e.g. {', '.join(self.missing_wavs[:5])}"
            )
        if self.bad_wavs:
            self.warnings.append(f"{len(self.bad_wavs)} unreadable wav(s) left out, e.g. {self.bad_wavs[0]}")


def count_differences(utterances: Sequence[Utterance], known: Mapping[str, Any], release: str,
                      short: str = "full release") -> list[str]:
    """One warning naming each difference from a release's known counts, or none: "counts
    differ from <release>: neu 1710 (<short>: 1708); ...".

    `known` may hold "total" and, each a mapping of name -> count, "classes" (labels),
    "sessions" and "speakers"."""
    diffs = []
    if "total" in known and len(utterances) != known["total"]:
        diffs.append(f"total {len(utterances)} ({short}: {known['total']})")
    for key, attr, prefix in (("classes", "label", ""), ("sessions", "session", "session "), ("speakers", "speaker", "")):
        for name, expected in known.get(key, {}).items():
            got = sum(1 for u in utterances if getattr(u, attr) == name)
            if got != expected:
                diffs.append(f"{prefix}{name} {got} ({short}: {expected})")
    if not diffs:
        return []
    limit = 8
    more = f" (+{len(diffs) - limit} more)" if len(diffs) > limit else ""
    return [f"counts differ from {release}: " + "; ".join(diffs[:limit]) + more]


def write_manifest(path: str | os.PathLike, utterances: Sequence[Utterance]) -> None:
    """Write utterances as CSV (one row per utterance, columns = Utterance fields)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    for utt in utterances:
        row = asdict(utt)
        row["duration_s"] = repr(float(utt.duration_s))  # shortest text that reads back exactly
        for name in DIMENSION_FIELDS:
            row[name] = "" if row[name] is None else repr(float(row[name]))
        writer.writerow(row)
    write_text(path, buf.getvalue())


def read_manifest(path: str | os.PathLike) -> list[Utterance]:
    """Read a manifest written by `write_manifest`."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: manifest not found; create it with `sier prepare`.")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = set(MANIFEST_FIELDS) - set(DIMENSION_FIELDS) - set(reader.fieldnames or [])
        if missing:
            raise CorpusError(
                f"{path}: not a sier manifest (missing columns {sorted(missing)}); "
                "create it with `sier prepare`."
            )
        try:
            return [
                Utterance(
                    id=row["id"],
                    path=row["path"],
                    speaker=row["speaker"],
                    session=int(row["session"]),
                    gender=row["gender"],
                    label=row["label"],
                    duration_s=float(row["duration_s"]),
                    corpus=row["corpus"],
                    **{name: _optional_float(row.get(name)) for name in DIMENSION_FIELDS},
                )
                for row in reader
            ]
        except (TypeError, ValueError) as exc:  # TypeError: a row with too few columns
            raise CorpusError(f"{path}: malformed manifest row ({exc}); re-run `sier prepare`.") from exc


def _optional_float(text: str | None) -> float | None:
    return None if text is None or text.strip() in ("", "nan", "NaN") else float(text)


def read_manifests(paths: Sequence[str | os.PathLike]) -> list[Utterance]:
    """The utterances of several manifests pooled (e.g. one per corpus, for multi-corpus
    training), in the given order; CorpusError when an utterance id is in two of them."""
    pooled: list[Utterance] = []
    source: dict[str, Path] = {}
    for path in map(Path, paths):
        for utt in read_manifest(path):
            if utt.id in source:
                raise CorpusError(f"{path}: utterance {utt.id} is also in {source[utt.id]}; "
                                  "pass each manifest once, or re-run `sier prepare` for one of them.")
            source[utt.id] = path
            pooled.append(utt)
    return pooled


MAX_TABLE_SPEAKERS = 24  # wider corpora (CREMA-D, ShEMO) are tabled per speaker group


def count_table(utterances: Iterable[Utterance], labels: Sequence[str] | None = None) -> str:
    """A plain-text table of counts, classes (rows) x speakers (columns), with totals; with more
    than MAX_TABLE_SPEAKERS speakers, x speaker groups ("session 1", ...; MSP-Podcast's
    partitions by name) instead, so it fits a terminal."""
    from sier.corpora.registry import OFFICIAL_PARTITIONS  # the readers import this module

    utterances = list(utterances)
    speakers = {u.speaker for u in utterances}
    partitioned = any(u.corpus in OFFICIAL_PARTITIONS for u in utterances)

    def group(u: Utterance) -> str:
        return OFFICIAL_PARTITIONS.get(u.corpus, {}).get(u.session) or f"session {u.session}"

    if len(speakers) <= MAX_TABLE_SPEAKERS:
        column = {u.id: u.speaker for u in utterances}
        columns = sorted(speakers)
    else:
        column = {u.id: group(u) for u in utterances}
        columns = list(dict.fromkeys(group(u) for u in sorted(utterances, key=lambda u: u.session)))
    counts = Counter((u.label, column[u.id]) for u in utterances)
    labels = list(labels) if labels else sorted({u.label for u in utterances})
    width = max([7] + [len(c) for c in columns])
    head = "class".ljust(8) + "".join(c.rjust(width + 1) for c in columns) + "total".rjust(width + 1)
    lines = [head]
    for lab in labels:
        row = [counts[(lab, c)] for c in columns]
        lines.append(lab.ljust(8) + "".join(str(n).rjust(width + 1) for n in row) + str(sum(row)).rjust(width + 1))
    totals = [sum(counts[(lab, c)] for lab in labels) for c in columns]
    lines.append("total".ljust(8) + "".join(str(n).rjust(width + 1) for n in totals) + str(sum(totals)).rjust(width + 1))
    if len(speakers) > MAX_TABLE_SPEAKERS:
        grouped = "partition" if partitioned else "speaker group"
        lines.append(f"({len(speakers)} speakers: counts per {grouped}; the manifest names every speaker)")
    return "\n".join(lines)
