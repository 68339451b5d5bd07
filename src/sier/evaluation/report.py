"""Analyse one or two models' test predictions and write the report a person reads first.

`write_report` takes `ModelRun`s (predictions, embeddings, attention, training curves)
and writes into one folder: report.md (Markdown with PNGs beside it), evaluation.json
(every number), CSV tables, the pooled predictions of each model, and figures/*.png.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from sier import __version__
from sier.errors import EvaluationError
from sier.evaluation import plots
from sier.evaluation.compare import DEFAULT_BOOTSTRAP, bootstrap_ua, compare
from sier.evaluation.calibration import calibration
from sier.evaluation.dimensions import dimension_scores, pooled_ccc
from sier.evaluation.layers import layer_weight_summary
from sier.evaluation.markdown import render_markdown
from sier.evaluation.metrics import fold_metrics
from sier.evaluation.predictions import Predictions, write_predictions_csv
from sier.evaluation.probe import probe_by_fold
from sier.evaluation.repetitions import compare_repetitions, repetition_row, summarize_repetitions
from sier.evaluation.speakers import ALL_GROUP_KEYS, speaker_analysis
from sier.evaluation.tables import write_tables
from sier.fileio import write_json, write_text

log = logging.getLogger(__name__)

MODEL_ORDER = ("original", "enhanced")


@dataclass
class AttentionExample:
    """Attention of one model on one test utterance, for a heat map over its spectrogram."""

    id: str
    fold: int
    label: str
    pred: str
    audio_path: str  # wav of the utterance (from the manifest)
    attention: np.ndarray  # [heads, T, T] or [T, T], without padding frames


@dataclass
class ModelRun:
    """Everything evaluated of one model (all its folds)."""

    name: str  # "enhanced" or "original"
    predictions: Predictions  # test rows of every fold
    embeddings: np.ndarray | None = None  # [N, E], row i belongs to predictions row i
    attention: list[AttentionExample] = field(default_factory=list)
    curves: dict[int, list[dict[str, float]]] = field(default_factory=dict)  # fold -> metrics rows
    checkpoints: dict[int, str] = field(default_factory=dict)  # fold -> checkpoint path
    experiment_dir: str | None = None
    info: dict[str, Any] = field(default_factory=dict)  # meta worth reporting (upstream, classes, ...)
    # fold -> (embeddings [M, E], speakers [M]) of speakers that fold's model never trained on
    # (validation + test); the speaker probe uses them, or the test embeddings when empty
    probe_sets: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # (source, test predictions) of every repetition (seed) of the model, this one first; the
    # fields above describe the first. Empty for a single run.
    repeats: list[tuple[str, Predictions]] = field(default_factory=list)
    # condition name ("noise:10") -> predictions of the same test utterances with their audio altered
    # (with the rows of no class, as `rated`)
    conditions: dict[str, Predictions] = field(default_factory=dict)
    # every test row with the rows of no class, which only the dimensions score (all_rated);
    # None when there are none: then `predictions` holds every row
    rated: Predictions | None = None
    # fold -> the temperature its checkpoint divides the logits by (1 for a model trained without it)
    temperatures: dict[int, float] = field(default_factory=dict)
    # fold -> softmax weights [L+1] over the upstream's hidden states (layer-weighted models only)
    layer_weights: dict[int, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    out_dir: Path
    report_path: Path  # report.md
    json_path: Path  # evaluation.json
    figures: tuple[Path, ...]
    results: dict[str, Any]  # the content of evaluation.json


def analyse(run: ModelRun, probe_splits: int = 5, seed: int = 0, n_boot: int = DEFAULT_BOOTSTRAP) -> dict[str, Any]:
    """Metrics (per fold, pooled, with a bootstrap interval of UA over speakers), speaker analysis
    and speaker probe of one model."""
    table = run.predictions
    result: dict[str, Any] = {
        "checkpoints": {str(k): v for k, v in sorted(run.checkpoints.items())},
        "experiment_dir": run.experiment_dir,
        "info": run.info,
        "classes": list(table.classes),
        "metrics": fold_metrics(table),
        "speakers": speaker_analysis(table),
    }
    if len(table):
        result["metrics"]["pooled"]["ua_interval"] = bootstrap_ua(table, n_boot=n_boot, seed=seed)
    result["probe"] = speaker_probe(run, probe_splits, seed)
    classes, counts = np.unique(table.pred.astype(str), return_counts=True)
    if len(table):
        top = int(counts.argmax())
        result["dominant_prediction"] = {"class": str(classes[top]), "share": float(counts[top] / len(table))}
    every_row = run.rated if run.rated is not None else table  # with the rows of no class (all_rated)
    dims = dimension_scores(every_row)
    if dims is not None:
        result["dimensions"] = dims
    result["calibration"] = calibration(table, temperatures=run.temperatures)
    if run.layer_weights:
        result["layer_weights"] = layer_weight_summary(run.layer_weights)
    if run.conditions:
        result["conditions"] = {"clean": _condition_row(every_row),
                                **{c: _condition_row(t) for c, t in run.conditions.items()}}
    if len(run.repeats) > 1:
        result["repetitions"] = summarize_repetitions([t for _, t in run.repeats], [s for s, _ in run.repeats])
    return result


def speaker_probe(run: ModelRun, probe_splits: int = 5, seed: int = 0) -> dict[str, Any]:
    """The speaker probe of a model's embeddings: of the validation and test speakers of each
    fold where they were kept, else of the test rows (sier.evaluation.probe)."""
    table = run.predictions
    if run.probe_sets:
        emb = {k: e for k, (e, _) in run.probe_sets.items()}
        spk = {k: s for k, (_, s) in run.probe_sets.items()}
        return probe_by_fold(emb, spk, probe_splits, seed, population="validation and test speakers")
    if run.embeddings is not None and len(run.embeddings) == len(table):
        emb = {k: run.embeddings[table.fold == k] for k in table.folds()}
        spk = {k: table.speaker[table.fold == k] for k in table.folds()}
        return probe_by_fold(emb, spk, probe_splits, seed)
    probe = probe_by_fold({}, {})
    probe["skipped"] = [{"fold": None, "reason": "no embeddings"}]
    return probe


def _condition_row(table: Predictions) -> dict[str, Any]:
    """The robustness figures of one condition: repetition_row's, and the pooled CCC of each
    dimension ("ccc_arousal", ...) for a model that predicts them."""
    row = repetition_row(table.labelled())
    row.update({f"ccc_{d}": v for d, v in (pooled_ccc(table) or {}).items()})
    return row


# ---------------------------------------------------------------- figures

def _figures(out: Path, runs: Sequence[ModelRun], results: dict[str, Any], max_attention: int,
             seed: int) -> dict[str, list[Path]]:
    fig_dir = out / "figures"
    models = results["models"]
    figs = common_figures(fig_dir, runs, models, max_attention, seed,
                          lambda run: (run.predictions, run.embeddings))
    for run in runs:
        pooled = models[run.name]["metrics"]["pooled"]
        figs.setdefault("confusion", []).append(plots.confusion(
            pooled["confusion"], pooled["confusion_normalized"], run.predictions.classes,
            fig_dir / f"confusion_{run.name}.png", f"{run.name}: confusion, pooled over folds (n={pooled['n']})"))
    for key, metric in ((k, "ua") for k in ALL_GROUP_KEYS):
        if not all(f"per_{key}" in r["speakers"] for r in models.values()):
            continue  # per corpus / language / recording: only where the test data mixes them
        name = (lambda g: f"session {g}") if key == "session" else (lambda g: g)  # noqa: E731
        values = {n: {name(g["group"]): g[metric] for g in r["speakers"][f"per_{key}"]} for n, r in models.items()}
        counts = {name(g["group"]): g["n"] for r in models.values() for g in r["speakers"][f"per_{key}"]}
        reference = {n: r["metrics"]["pooled"][metric] for n, r in models.items()}
        figs.setdefault("groups", []).append(plots.group_bars(
            values, counts, fig_dir / f"per_{key}_{metric}.png", f"{metric.upper()} per {key}",
            metric.upper(), reference if key == "speaker" else None))
    figs["groups"].append(plots.per_class_f1(
        {n: {c["class"]: c["f1"] for c in r["metrics"]["pooled"]["per_class"]} for n, r in models.items()},
        fig_dir / "per_class_f1.png", "F1 per class (pooled)", runs[0].predictions.classes))
    figs["calibration"] = [plots.reliability({n: r["calibration"]["bins"] for n, r in models.items()},
                                             fig_dir / "reliability.png",
                                             "reliability: accuracy per confidence bin (pooled test utterances)")]
    return figs


def common_figures(fig_dir: Path, runs: Sequence[ModelRun], models: dict[str, Any], max_attention: int, seed: int,
                   embedded: Callable[[ModelRun], tuple[Predictions, np.ndarray | None]]) -> dict[str, list[Path]]:
    """The figures of every report, by kind: training curves, speaker probe, t-SNE of the rows
    and embeddings `embedded(run)` gives (none where the embeddings are None or do not match),
    upstream layer weights and attention maps."""
    figs: dict[str, list[Path]] = {}
    for run in runs:
        if run.curves:
            figs.setdefault("training", []).append(
                plots.training_curves(run.curves, fig_dir / f"training_{run.name}.png", f"{run.name}: training curves"))
    probe_rows = {n: r["probe"]["per_fold"] for n, r in models.items() if r["probe"]["per_fold"]}
    if probe_rows:
        figs["probe"] = [plots.probe_bars(probe_rows, fig_dir / "speaker_probe.png",
                                          "speaker probe on embeddings of unseen speakers\n(lower = more speaker-invariant)")]
    for run in runs:
        t, embeddings = embedded(run)
        if embeddings is None or len(embeddings) != len(t):
            continue
        folds = t.folds()
        colour = "" if t.classes else " (colour: the corpus's label)"  # a model of the dimensions only
        path = plots.tsne({k: embeddings[t.fold == k] for k in folds}, {k: t.label[t.fold == k] for k in folds},
                          {k: t.speaker[t.fold == k] for k in folds}, fig_dir / f"tsne_{run.name}.png",
                          f"{run.name}: t-SNE of test embeddings{colour}", seed=seed,
                          classes=t.classes or sorted(set(t.label.tolist())))
        if path:
            figs.setdefault("tsne", []).append(path)
    layers = {n: r["layer_weights"] for n, r in models.items() if "layer_weights" in r}
    if layers:
        figs["layers"] = [plots.layer_weight_bars(layers, fig_dir / "layer_weights.png",
                                                  "upstream layer weights (mean over folds, std as bars)")]
    figs["attention"] = attention_figures(fig_dir, runs, max_attention)
    return figs


def attention_figures(fig_dir: Path, runs: Sequence[ModelRun], limit: int) -> list[Path]:
    from sier.audio import load_audio
    from sier.errors import AudioError

    by_id: dict[str, dict[str, AttentionExample]] = {}
    for run in runs:
        for ex in run.attention:
            by_id.setdefault(ex.id, {})[run.name] = ex
    paths = []
    for uid, examples in list(by_id.items())[:limit]:
        first = next(iter(examples.values()))
        try:
            samples = load_audio(first.audio_path)
        except AudioError as exc:
            log.warning("attention map of %s skipped: %s", uid, exc)
            continue
        preds = ", ".join(f"{m}: {ex.pred}" for m, ex in examples.items())
        paths.append(plots.attention_example(
            samples, {m: ex.attention for m, ex in examples.items()}, fig_dir / f"attention_{uid}.png",
            f"{uid} (fold {first.fold}) — reference {first.label}; predicted {preds}"))
    return paths


def write_report(runs: Sequence[ModelRun], out_dir: str | os.PathLike, max_attention_examples: int = 3,
                 probe_splits: int = 5, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> Report:
    """Analyse `runs` (one or two, named "enhanced" / "original"), write figures, tables and report.md."""
    if not runs:
        raise EvaluationError("nothing to report: no model was evaluated.")
    runs = sorted(runs, key=lambda r: MODEL_ORDER.index(r.name) if r.name in MODEL_ORDER else len(MODEL_ORDER))
    if any(run.predictions.dimensions_only for run in runs):
        from sier.evaluation.dimensional_report import write_dimensional_report

        return write_dimensional_report(runs, out_dir, max_attention_examples, probe_splits, n_boot, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "created": datetime.now().isoformat(timespec="seconds"),
        "sier_version": __version__,
        "models": {run.name: analyse(run, probe_splits, seed, n_boot) for run in runs},
    }
    by_name = {run.name: run for run in runs}
    if {"original", "enhanced"} <= set(by_name):
        results["comparison"] = compare(results["models"]["original"], results["models"]["enhanced"],
                                        by_name["original"].predictions, by_name["enhanced"].predictions,
                                        n_boot=n_boot, seed=seed)
        reps = [results["models"][n].get("repetitions") for n in ("original", "enhanced")]
        if all(reps):
            results["comparison"]["repetitions"] = compare_repetitions(*reps)
    write_run_predictions(out, runs)
    write_tables(out, results)
    return save_report(out, results, _figures(out, runs, results, max_attention_examples, seed), render_markdown)


def write_run_predictions(out: Path, runs: Sequence[ModelRun]) -> None:
    """predictions_<model>.csv with every test row (those of no class too, all_rated), and one
    file per altered condition ("noise:10" -> predictions_enhanced_noise_10.csv)."""
    for run in runs:
        write_predictions_csv(out / f"predictions_{run.name}.csv", run.rated if run.rated is not None else run.predictions)
        for condition, table in run.conditions.items():
            write_predictions_csv(out / f"predictions_{run.name}_{condition.replace(':', '_')}.csv", table)


def save_report(out: Path, results: dict[str, Any], figs: dict[str, list[Path]],
                render: Callable[[dict[str, Any], dict[str, list[Path]], Path], str]) -> Report:
    """Write evaluation.json (`results` with the figures' paths) and report.md (`render` of them)."""
    results["figures"] = {k: [os.path.relpath(p, out) for p in v] for k, v in figs.items()}
    json_path = out / "evaluation.json"
    write_json(json_path, jsonable(results))
    report_path = out / "report.md"
    write_text(report_path, render(results, figs, out))
    return Report(out, report_path, json_path, tuple(p for v in figs.values() for p in v), results)


def jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, non-finite floats to None, keys to str."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
