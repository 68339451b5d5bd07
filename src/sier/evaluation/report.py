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
from typing import Any, Sequence

import numpy as np

from sier import __version__
from sier.errors import EvaluationError
from sier.evaluation import plots
from sier.evaluation.compare import DEFAULT_BOOTSTRAP, bootstrap_ua, compare
from sier.evaluation.metrics import HEADLINE, fold_metrics
from sier.evaluation.predictions import Predictions, write_predictions_csv
from sier.evaluation.probe import probe_by_fold
from sier.evaluation.repetitions import QUANTITY_LABELS, compare_repetitions, repetition_row, summarize_repetitions
from sier.evaluation.speakers import ALL_GROUP_KEYS, speaker_analysis
from sier.evaluation.tables import write_tables
from sier.fileio import write_json, write_text

log = logging.getLogger(__name__)

MODEL_ORDER = ("original", "enhanced")
COLLAPSE_SHARE = 0.7  # a model that gives one class to this share of the test utterances is flagged


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
    conditions: dict[str, Predictions] = field(default_factory=dict)


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
    if run.probe_sets:
        emb = {k: e for k, (e, _) in run.probe_sets.items()}
        spk = {k: s for k, (_, s) in run.probe_sets.items()}
        result["probe"] = probe_by_fold(emb, spk, probe_splits, seed, population="validation and test speakers")
    elif run.embeddings is not None and len(run.embeddings) == len(table):
        emb = {k: run.embeddings[table.fold == k] for k in table.folds()}
        spk = {k: table.speaker[table.fold == k] for k in table.folds()}
        result["probe"] = probe_by_fold(emb, spk, probe_splits, seed)
    else:
        result["probe"] = probe_by_fold({}, {})
        result["probe"]["skipped"] = [{"fold": None, "reason": "no embeddings"}]
    classes, counts = np.unique(table.pred.astype(str), return_counts=True)
    if len(table):
        top = int(counts.argmax())
        result["dominant_prediction"] = {"class": str(classes[top]), "share": float(counts[top] / len(table))}
    if run.conditions:
        result["conditions"] = {"clean": repetition_row(table),
                                **{c: repetition_row(t) for c, t in run.conditions.items()}}
    if len(run.repeats) > 1:
        result["repetitions"] = summarize_repetitions([t for _, t in run.repeats], [s for s, _ in run.repeats])
    return result


# ---------------------------------------------------------------- Markdown tables

def _pct(x: Any, digits: int = 2) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.{digits}f}"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- figures

def _figures(out: Path, runs: Sequence[ModelRun], results: dict[str, Any], max_attention: int,
             seed: int) -> dict[str, list[Path]]:
    fig_dir = out / "figures"
    figs: dict[str, list[Path]] = {}
    models = results["models"]
    for run in runs:
        if run.curves:
            figs.setdefault("training", []).append(
                plots.training_curves(run.curves, fig_dir / f"training_{run.name}.png", f"{run.name}: training curves"))
        pooled = models[run.name]["metrics"]["pooled"]
        figs.setdefault("confusion", []).append(plots.confusion(
            pooled["confusion"], pooled["confusion_normalized"], run.predictions.classes,
            fig_dir / f"confusion_{run.name}.png", f"{run.name}: confusion, pooled over folds (n={pooled['n']})"))
    for key, metric in ((k, "ua") for k in ALL_GROUP_KEYS):
        if not all(f"per_{key}" in r["speakers"] for r in models.values()):
            continue  # per corpus / language: only where the test data mixes them
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
    probe_rows = {n: r["probe"]["per_fold"] for n, r in models.items() if r["probe"]["per_fold"]}
    if probe_rows:
        figs["probe"] = [plots.probe_bars(probe_rows, fig_dir / "speaker_probe.png",
                                          "speaker probe on embeddings of unseen speakers\n(lower = more speaker-invariant)")]
    for run in runs:
        if run.embeddings is None:
            continue
        t = run.predictions
        folds = t.folds()
        path = plots.tsne({k: run.embeddings[t.fold == k] for k in folds}, {k: t.label[t.fold == k] for k in folds},
                          {k: t.speaker[t.fold == k] for k in folds}, fig_dir / f"tsne_{run.name}.png",
                          f"{run.name}: t-SNE of test embeddings", seed=seed, classes=t.classes)
        if path:
            figs.setdefault("tsne", []).append(path)
    figs["attention"] = _attention_figures(fig_dir, runs, max_attention)
    return figs


def _attention_figures(fig_dir: Path, runs: Sequence[ModelRun], limit: int) -> list[Path]:
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


# ---------------------------------------------------------------- Markdown

def _interval(ci: dict[str, Any] | None) -> str:
    return "–" if not ci else f"[{_pct(ci['ci_low'])}, {_pct(ci['ci_high'])}]"


def _headline(models: dict[str, Any], comparison: dict[str, Any] | None) -> str:
    header = ["model", "n", "WA pooled", "UA pooled", "macro-F1 pooled", "weighted-F1 pooled",
              "WA folds", "UA folds", "macro-F1 folds", "UA 95 % CI (speakers)"]
    rows = []
    for name, r in models.items():
        p, f = r["metrics"]["pooled"], r["metrics"]["over_folds"]
        one = len(r["metrics"]["folds"]) == 1  # a std over one fold (0) would read as agreement
        rows.append([f"**{name}**", p["n"], *(_pct(p[k]) for k in HEADLINE),
                     *(f"{_pct(f[k]['mean'])} (1 fold)" if one else f"{_pct(f[k]['mean'])} ± {_pct(f[k]['std'])}"
                       for k in ("wa", "ua", "macro_f1")), _interval(p.get("ua_interval"))])
    if comparison:
        d = {r["quantity"]: r["delta"] for r in comparison["rows"]}
        b = comparison["bootstrap_ua"]
        rows.append(["Δ (enh − orig)", "", *(f"{100 * d[f'{k} (pooled)']:+.2f}" for k in HEADLINE),
                     *(f"{100 * d[f'{k} (mean over folds)']:+.2f}" for k in ("wa", "ua", "macro_f1")),
                     f"[{100 * b['ci_low']:+.2f}, {100 * b['ci_high']:+.2f}]"])
    return _md_table(header, rows)


def _speaker_section(models: dict[str, Any]) -> str:
    names = list(models)
    header = ["speaker", "n", *(f"{m} {n}" for m in ("UA", "WA", "macro-F1") for n in names)]
    if len(names) == 2:
        header.append("Δ UA")
    per = {n: {g["group"]: g for g in r["speakers"]["per_speaker"]} for n, r in models.items()}
    rows = []
    for spk in sorted({s for p in per.values() for s in p}):
        gs = [per[n].get(spk) for n in names]
        row = [spk, next(g["n"] for g in gs if g),
               *(_pct(g[m]) if g else "–" for m in ("ua", "wa", "macro_f1") for g in gs)]
        if len(names) == 2:
            row.append(f"{100 * (gs[1]['ua'] - gs[0]['ua']):+.2f}" if all(gs) else "–")
        rows.append(row)
    spread_rows = []
    for stat in ("mean", "std", "variance", "min", "max", "spread", "worst", "best"):
        cells = []
        for m in ("ua", "wa", "macro_f1"):
            for n in names:
                v = models[n]["speakers"]["speaker_spread"][m].get(stat)
                cells.append(v if isinstance(v, str) else (f"{1e4 * v:.1f}" if stat == "variance" else _pct(v)))
        spread_rows.append([f"{stat} (pp²)" if stat == "variance" else stat, *cells])
    balance_rows = []
    for stat in ("f1_mean", "f1_std", "f1_min", "f1_max", "f1_range", "worst_class", "best_class"):
        cells = [models[n]["speakers"]["class_balance"].get(stat) for n in names]
        balance_rows.append([stat, *(c if isinstance(c, str) else _pct(c) for c in cells)])
    parts = [
        _md_table(header, rows),
        "\n**Spread over speakers** (%; std and variance with ddof=0; worst/best: the speaker with the "
        "lowest/highest value; spread = max − min):\n",
        _md_table(["statistic", *(f"{m} {n}" for m in ("UA", "WA", "macro-F1") for n in names)], spread_rows),
    ]
    for key in ALL_GROUP_KEYS[1:]:
        if not all(f"per_{key}" in r["speakers"] for r in models.values()):
            continue  # per corpus / language: only where the test data mixes them
        per_g = {n: {g["group"]: g for g in r["speakers"][f"per_{key}"]} for n, r in models.items()}
        g_rows = [[g, next(per_g[n][g]["n"] for n in names if g in per_g[n]),
                   *(_pct(per_g[n][g]["ua"]) if g in per_g[n] else "–" for n in names),
                   *(_pct(per_g[n][g]["wa"]) if g in per_g[n] else "–" for n in names)]
                  for g in sorted({g for p in per_g.values() for g in p}, key=str)]
        parts += [f"\n**Per {key}** (%):\n",
                  _md_table([key, "n", *(f"UA {n}" for n in names), *(f"WA {n}" for n in names)], g_rows)]
    pc_rows = []
    classes = models[names[0]]["classes"]
    for i, c in enumerate(classes):
        cells = []
        for n in names:
            pc = models[n]["metrics"]["pooled"]["per_class"][i]
            cells += [_pct(pc["precision"]), _pct(pc["recall"]), _pct(pc["f1"])]
        pc_rows.append([c, models[names[0]]["metrics"]["pooled"]["per_class"][i]["support"], *cells])
    pc_header = ["class", "support", *(f"{s} {n}" for n in names for s in ("P", "R", "F1"))]
    parts += ["\n**Per class, pooled** (%):\n", _md_table(pc_header, pc_rows),
              "\n**Balance of per-class F1** (%):\n", _md_table(["statistic", *names], balance_rows)]
    return "\n".join(parts)


def _probe_section(models: dict[str, Any]) -> str:
    rows = []
    for n, r in models.items():
        for p in r["probe"]["per_fold"]:
            rows.append([n, p["fold"], p["n"], p["n_speakers"], _pct(p["accuracy"]), _pct(p["chance"]),
                         f"{100 * p['above_chance']:+.2f}", _pct(p["balanced_accuracy"]), _pct(p["balanced_chance"])])
        pr = r["probe"]
        if pr["per_fold"]:
            rows.append([f"**{n} mean**", "", "", "", _pct(pr["accuracy"]["mean"]), _pct(pr["chance"]["mean"]),
                         f"{100 * pr['above_chance']['mean']:+.2f}", _pct(pr["balanced_accuracy"]["mean"]),
                         _pct(pr["balanced_chance"]["mean"])])
    text = _md_table(["model", "fold", "n", "speakers", "accuracy", "chance", "above chance",
                      "balanced acc.", "balanced chance"], rows) if rows else "_No fold could be probed._"
    method = next(iter(models.values()))["probe"]["method"]
    skipped = [f"{n}: fold {s['fold']} ({s['reason']})" for n, r in models.items() for s in r["probe"]["skipped"]]
    note = f"\n\nSkipped: {'; '.join(skipped)}." if skipped else ""
    return f"Method: {method}. Lower accuracy (closer to chance) = less speaker information.\n\n{text}{note}"


def _tests_section(comparison: dict[str, Any]) -> str:
    m, b = comparison["mcnemar"], comparison["bootstrap_ua"]
    rows = [[r["quantity"], *(r[k] if isinstance(r[k], str) else f"{100 * r[k]:.2f}" for k in ("original", "enhanced")),
             f"{100 * r['delta']:+.2f}", r["better_is"], r["better"] or "–"] for r in comparison["rows"]]
    warning = [] if comparison.get("same_utterances", True) else [
        f"**Note:** the models were evaluated on different utterances ({comparison['n_original']} original, "
        f"{comparison['n_enhanced']} enhanced; e.g. checkpoints of different folds), so the deltas below compare "
        f"different test sets; the paired tests use the {comparison['n_paired']} utterances both classified.\n"]
    return "\n".join([
        *warning,
        _md_table(["quantity (%)", "original", "enhanced", "Δ", "better is", "better"], rows),
        f"\n**McNemar** on the {m['n']} utterances both models classified"
        + (f" ({m['on']})" if m.get("on") else "") + f": both right {m['both_right']}, "
        f"only original right {m['only_original_right']}, only enhanced right {m['only_enhanced_right']}, "
        f"both wrong {m['both_wrong']}; {m['method']}, statistic {m['statistic']:.3g}, "
        f"**p = {m['p_value']:.4g}**.",
        f"\n**Bootstrap over speakers** ({b['n_boot']} draws of {b['n_speakers']} speakers): "
        f"UA(enhanced) − UA(original) = {100 * b['delta']:+.2f} pp, {int(100 * b['confidence'])} % CI "
        f"[{100 * b['ci_low']:+.2f}, {100 * b['ci_high']:+.2f}] pp, p ≈ {b['p_value']:.3g}.",
    ])


def _markdown(results: dict[str, Any], figs: dict[str, list[Path]], out: Path) -> str:
    models, comparison = results["models"], results.get("comparison")
    rel = lambda p: os.path.relpath(p, out)  # noqa: E731
    img = lambda p: f"![{Path(p).stem}]({rel(p)})"  # noqa: E731
    cross = next((r["info"]["test data"] for r in models.values() if "test data" in r["info"]), None)
    tested = ("on every utterance of another corpus, none of whose speakers it trained on" if cross else
              "on the test speakers of its own fold, none of whom it trained on")
    lines = ["# Speaker-independence evaluation", "",
             f"Written {results['created']} by sier {results['sier_version']}. Every checkpoint was evaluated "
             f"{tested}. Numbers are percent.", ""]
    for n, r in models.items():
        info = ", ".join(f"{k} {v}" for k, v in r["info"].items())
        reps = f"; {r['repetitions']['n']} repetitions (below)" if "repetitions" in r else ""
        lines.append(f"- **{n}**: {len(r['checkpoints'])} checkpoint(s) from `{r['experiment_dir']}`"
                     + (f" ({info})" if info else "") + reps)
    pooled = ("Pooled: every fold model's predictions of every utterance together; folds: mean ± std over the "
              "fold models." if cross else "Pooled: all test utterances of all folds together; folds: mean ± std over folds.")
    pooled += (" UA 95 % CI: percentile interval of the pooled UA when the test speakers are drawn with "
               "replacement (bootstrap; for Δ, of the difference), i.e. how much the score depends on who speaks.")
    lines += ["", "## Headline", "", pooled,
              "", _headline(models, comparison), "", *_collapse_warnings(models)]
    fold_rows = [[n, k, m["n"], *(_pct(m[x]) for x in HEADLINE)]
                 for n, r in models.items() for k, m in r["metrics"]["folds"].items()]
    lines += ["**Per fold**:", "", _md_table(["model", "fold", "n", "WA", "UA", "macro-F1", "weighted-F1"], fold_rows), ""]
    if any("repetitions" in r for r in models.values()):
        lines += ["## Repetitions (other seeds)", "", _repetitions_section(models, comparison), ""]
    if any("conditions" in r for r in models.values()):
        lines += ["## Robustness: the test audio altered", "", _conditions_section(models), ""]
    if comparison:
        lines += ["## Original vs enhanced: deltas and paired tests", "", _tests_section(comparison), ""]
    lines += ["## Across speakers", "", _speaker_section(models), ""]
    lines += [x for p in figs.get("groups", []) for x in (img(p), "")]
    lines += ["## Speaker probe", "", _probe_section(models), ""]
    lines += [x for p in figs.get("probe", []) for x in (img(p), "")]
    for title, key in (("Confusion matrices (pooled)", "confusion"), ("t-SNE of test embeddings", "tsne"),
                       ("Attention (what each frame receives, averaged over heads and queries)", "attention"),
                       ("Training curves", "training")):
        if figs.get(key):
            lines += ["", f"## {title}", "", *(x for p in figs[key] for x in (img(p), ""))]
    lines += ["", "## Files", "", "- `evaluation.json`: every number above",
              "- `overall.csv`, `per_class.csv`, `confusion.csv`, `per_group.csv`, `spread.csv`, `probe.csv`"
              + (", `comparison.csv`, `paired_tests.csv`" if comparison else "") + ": the same numbers as tables",
              "- " + ", ".join(f"`predictions_{n}.csv`" for n in models) + ": one row per test utterance",
              "- `figures/`: the pictures above (PNG)", ""]
    return "\n".join(lines)


def _collapse_warnings(models: dict[str, Any]) -> list[str]:
    """A warning for each model that gives one class to most test utterances: its small spread
    over speakers then says nothing about speaker independence."""
    lines = []
    for n, r in models.items():
        d = r.get("dominant_prediction")
        if d and d["share"] >= COLLAPSE_SHARE:
            lines += [f"**Warning**: {n} predicts `{d['class']}` for {_pct(d['share'], 1)} % of the test utterances. "
                      "A model that gives (nearly) every utterance one class scores alike on every speaker, so its "
                      "small spread over speakers is no sign of speaker independence; train it longer or check "
                      "the class balance.", ""]
    return lines


def _conditions_section(models: dict[str, Any]) -> str:
    names = [n for n, r in models.items() if "conditions" in r]
    conditions = list(models[names[0]]["conditions"])
    rows = []
    for c in conditions:
        row: list[Any] = [c, models[names[0]]["conditions"][c]["n"]]
        for n in names:
            got, clean = models[n]["conditions"][c], models[n]["conditions"]["clean"]
            delta = "" if c == "clean" else f" ({100 * (got['ua'] - clean['ua']):+.2f})"
            row += [_pct(got["ua"]) + delta, _pct(got["speaker_ua_std"]), _pct(got["speaker_ua_min"])]
        rows.append(row)
    header = ["condition", "n", *(f"{q} {n}" for n in names for q in ("UA (Δ clean)", "UA std over speakers",
                                                                          "worst speaker UA"))]
    return ("The same test utterances and checkpoints, with the audio altered before feature extraction "
            "(noise:SNR dB of white noise, speed:factor, gain:dB; the features of each condition are cached). "
            "Of the first repetition where there are several.\n\n" + _md_table(header, rows))


def _repetitions_section(models: dict[str, Any], comparison: dict[str, Any] | None) -> str:
    names = [n for n, r in models.items() if "repetitions" in r]
    quantities = tuple(QUANTITY_LABELS)
    rows = []
    for n in names:
        reps = models[n]["repetitions"]
        rows += [[n, i + 1, f"`{r['source']}`", r["n"], *(_pct(r[q]) for q in quantities)]
                 for i, r in enumerate(reps["per_repetition"])]
        rows.append([f"**{n}**", f"mean ± std of {reps['n']}", "", "",
                     *(f"{_pct(reps['mean'][q])} ± {_pct(reps['std'][q])}" for q in quantities)])
    parts = ["Each repetition is a whole training run of the same model on the same folds with another seed; the "
             "other sections describe the first. Std here is the sample std (ddof=1) over repetitions.", "",
             _md_table(["model", "repetition", "experiment", "n", *QUANTITY_LABELS.values()], rows)]
    if comparison and "repetitions" in comparison:
        c_rows = [[QUANTITY_LABELS[r["quantity"]], _pct(r["original_mean"]), _pct(r["enhanced_mean"]),
                   f"{100 * r['delta']:+.2f}", "–" if r["p_welch"] is None or not np.isfinite(r["p_welch"])
                   else f"{r['p_welch']:.3g}", r["better"] or "–"] for r in comparison["repetitions"]]
        first = comparison["repetitions"][0]
        parts += ["", f"**Over repetitions** (Welch's t-test, {first['n_original']} original and {first['n_enhanced']} "
                  "enhanced runs; with so few runs only a large difference reaches p < 0.05):", "",
                  _md_table(["quantity", "original mean", "enhanced mean", "Δ (pp)", "p (Welch)", "better"], c_rows)]
    elif comparison:
        parts += ["", "Only one model has repetitions, so they are not compared; give both models several."]
    return "\n".join(parts)


def write_report(runs: Sequence[ModelRun], out_dir: str | os.PathLike, max_attention_examples: int = 3,
                 probe_splits: int = 5, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> Report:
    """Analyse `runs` (one or two, named "enhanced" / "original"), write figures, tables and report.md."""
    if not runs:
        raise EvaluationError("nothing to report: no model was evaluated.")
    runs = sorted(runs, key=lambda r: MODEL_ORDER.index(r.name) if r.name in MODEL_ORDER else len(MODEL_ORDER))
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
    for run in runs:
        write_predictions_csv(out / f"predictions_{run.name}.csv", run.predictions)
    write_tables(out, results)
    figs = _figures(out, runs, results, max_attention_examples, seed)
    results["figures"] = {k: [os.path.relpath(p, out) for p in v] for k, v in figs.items()}
    json_path = out / "evaluation.json"
    write_json(json_path, _jsonable(results))
    report_path = out / "report.md"
    write_text(report_path, _markdown(results, figs, out))
    return Report(out, report_path, json_path, tuple(p for v in figs.values() for p in v), results)


def _jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, non-finite floats to None, keys to str."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
