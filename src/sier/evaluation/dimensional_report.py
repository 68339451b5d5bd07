"""The report of a model of the dimensions only (`sier train --task dimensions`), alone or
against another model that predicts the dimensions: report.md, evaluation.json, CSV tables,
the predictions of each model and figures, in the folder `sier evaluate` names.

It answers the questions of the class report with the CCC of arousal, valence and dominance
(sier.evaluation.dimensional): how well, with which uncertainty over speakers, how evenly
across speakers, genders and sessions, how much speaker information the embeddings keep
(the speaker probe), and whether the enhanced model differs from the original. A model of
the dimensions only has no class, so there is no confusion matrix, calibration or class
score; a classifier compared with it is scored on its dimension head alone.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sier import __version__
from sier.corpora.dimensions import DIMENSIONS
from sier.errors import EvaluationError
from sier.evaluation import plots
from sier.evaluation.dimensional import analyse_dimensions, compare_dimensions
from sier.evaluation.dimensions import pooled_ccc
from sier.evaluation.layers import layer_weight_summary
from sier.evaluation.markdown import _layers_section, _md_table, _probe_section
from sier.evaluation.predictions import Predictions
from sier.evaluation.report import (
    ModelRun,
    Report,
    common_figures,
    save_report,
    speaker_probe,
    write_run_predictions,
)
from sier.evaluation.speakers import ALL_GROUP_KEYS
from sier.evaluation.tables import dimension_rows, probe_rows, write_csv


def _scored(run: ModelRun) -> Predictions:
    """The rows a model's dimensions are scored on: every test row (with those of no class)."""
    table = run.rated if run.rated is not None else run.predictions
    if table.dims is None:
        raise EvaluationError(
            f"the {run.name} model ({run.experiment_dir}) predicts no dimensions, so it cannot be set against a model "
            "of the dimensions only (--task dimensions); compare it with one trained with --dimension_weight > 0.")
    return table


def analyse(run: ModelRun, probe_splits: int, seed: int, n_boot: int) -> dict[str, Any]:
    """The dimensional scores, speaker probe, layer weights, conditions and repetitions of one model."""
    table = _scored(run)
    task = "dimensions only" if table.dimensions_only else "classes, scored on its dimension head"
    result: dict[str, Any] = {
        "checkpoints": {str(k): v for k, v in sorted(run.checkpoints.items())},
        "experiment_dir": run.experiment_dir,
        "info": {**run.info, "task": task},
        "dimensions": analyse_dimensions(table, n_boot, seed),
        "probe": speaker_probe(run, probe_splits, seed),
    }
    if run.layer_weights:
        result["layer_weights"] = layer_weight_summary(run.layer_weights)
    if run.conditions:
        result["conditions"] = {c: _ccc_row(t) for c, t in {"clean": table, **run.conditions}.items()}
    if len(run.repeats) > 1:
        rows = [{"source": source, **_ccc_row(t)} for source, t in run.repeats]
        result["repetitions"] = {"n": len(rows), "per_repetition": rows, **_mean_std(rows)}
    return result


def _ccc_row(table: Predictions) -> dict[str, Any]:
    """n (rated rows) and the pooled CCC of each dimension."""
    return {"n": int(np.isfinite(table.rated).any(axis=1).sum()), **(pooled_ccc(table) or {})}


def _mean_std(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and sample std (ddof=1) of each dimension's CCC over repetitions."""
    values = {d: np.array([r.get(d, np.nan) for r in rows], dtype=float) for d in DIMENSIONS}
    return {"mean": {d: float(np.nanmean(v)) for d, v in values.items()},
            "std": {d: float(np.nanstd(v, ddof=1)) if len(v) > 1 else float("nan") for d, v in values.items()}}


def write_dimensional_report(runs: Sequence[ModelRun], out_dir: str | os.PathLike, max_attention_examples: int = 3,
                             probe_splits: int = 5, n_boot: int = 2000, seed: int = 0) -> Report:
    """Analyse `runs` (sorted original first), write tables, figures, predictions and report.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "created": datetime.now().isoformat(timespec="seconds"),
        "sier_version": __version__,
        "task": "dimensions",
        "models": {run.name: analyse(run, probe_splits, seed, n_boot) for run in runs},
    }
    by_name = {run.name: _scored(run) for run in runs}
    if {"original", "enhanced"} <= set(by_name):
        results["comparison"] = compare_dimensions(by_name["original"], by_name["enhanced"], n_boot, seed)
    write_run_predictions(out, runs)
    _write_tables(out, results)
    return save_report(out, results, _figures(out, runs, results, max_attention_examples, seed), render)


# ---------------------------------------------------------------- tables and figures

def _write_tables(out: Path, results: dict[str, Any]) -> None:
    models = results["models"]
    write_csv(out / "dimensions.csv", ["model", "scope", "group", "n", *DIMENSIONS],
              [[name, *row[:3], *row[3]] for name, m in models.items() for row in dimension_rows(m["dimensions"])])
    write_csv(out / "probe.csv", ["model", "fold", "n", "n_speakers", "n_speakers_available", "cv_splits", "accuracy",
                                  "balanced_accuracy", "chance", "balanced_chance"],
              [row for name, m in models.items() for row in probe_rows(name, m["probe"])])
    if "comparison" in results:
        rows = results["comparison"]["rows"]
        write_csv(out / "comparison.csv", list(rows[0]), [list(r.values()) for r in rows])
    for key in ("conditions", "repetitions"):
        rows = [[name, label, r["n"], *(r.get(d, "") for d in DIMENSIONS)] for name, m in models.items()
                for label, r in _labelled_rows(m.get(key))]
        if rows:
            write_csv(out / f"{key}.csv", ["model", key[:-1], "n", *(f"ccc_{d}" for d in DIMENSIONS)], rows)


def _labelled_rows(section: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """(label, row) of a conditions section (condition -> row) or of repetitions (numbered)."""
    if not section:
        return []
    if "per_repetition" in section:
        return [(str(i + 1), r) for i, r in enumerate(section["per_repetition"])]
    return list(section.items())


def _figures(out: Path, runs: Sequence[ModelRun], results: dict[str, Any], max_attention: int,
             seed: int) -> dict[str, list[Path]]:
    fig_dir = out / "figures"
    models = results["models"]
    # a classifier's embeddings belong to its labelled rows only (all_rated): no t-SNE of it then
    figs = common_figures(fig_dir, runs, models, max_attention, seed,
                          lambda run: (_scored(run), run.embeddings if run.rated is None else None))
    for key in ALL_GROUP_KEYS:
        per = {n: r["dimensions"].get(f"per_{key}") for n, r in models.items()}
        if not all(per.values()):
            continue
        values = {f"{n} {d}": {g["group"]: g[d] for g in per[n]} for d in DIMENSIONS for n in per}
        counts = {g["group"]: g["n"] for rows in per.values() for g in rows}
        low = min([0.0, *(v for by_group in values.values() for v in by_group.values() if np.isfinite(v))])
        figs.setdefault("groups", []).append(plots.group_bars(
            values, counts, fig_dir / f"per_{key}_ccc.png", f"CCC per {key}", "CCC", ylim=(low - 0.05, 1.08)))
    return figs


# ---------------------------------------------------------------- report.md

def _ccc(x: Any) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.3f}"


def _headline(models: dict[str, Any]) -> str:
    rows = []
    for n, r in models.items():
        dims = r["dimensions"]
        one = len(dims["folds"]) == 1
        for d in DIMENSIONS:
            p, ci, f, s = dims["pooled"][d], dims["interval"][d], dims["over_folds"][d], dims["speaker_spread"][d]
            rows.append([f"**{n}**", d, p["n"], _ccc(p["ccc"]), f"[{_ccc(ci['ci_low'])}, {_ccc(ci['ci_high'])}]",
                         f"{_ccc(f['mean'])} (1 fold)" if one else f"{_ccc(f['mean'])} ± {_ccc(f['std'])}",
                         _ccc(s["mean"]), _ccc(s["std"]), _ccc(s["min"]), s["speakers"]])
    return _md_table(["model", "dimension", "n", "CCC pooled", "95 % CI (speakers)", "folds", "speaker mean",
                      "std over speakers", "worst speaker", "speakers"], rows)


def _p(p: float, n_boot: int) -> str:
    """A bootstrap p: no draw on the other side of 0 says p < 1 / draws, not p = 0."""
    return f"< {1 / n_boot:.2g}" if p == 0 else f"{p:.3g}"


def _comparison(comparison: dict[str, Any]) -> str:
    rows = [[r["dimension"], r["n"], _ccc(r["original"]), _ccc(r["enhanced"]), f"{r['delta']:+.3f}",
             f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]", _p(r["p_value"], comparison["n_boot"]),
             _ccc(r["speaker_std_original"]),
             _ccc(r["speaker_std_enhanced"])] for r in comparison["rows"]]
    note = "" if comparison["n_paired"] == min(comparison["n_original"], comparison["n_enhanced"]) else (
        f" The models scored different utterances ({comparison['n_original']} original, {comparison['n_enhanced']} "
        f"enhanced); the comparison uses the {comparison['n_paired']} both scored.")
    return (f"Pooled CCC of each model on the utterances both scored; Δ = enhanced − original, with a "
            f"{int(100 * comparison['confidence'])} % interval and a two-sided p from a paired bootstrap over the "
            f"{comparison['n_speakers']} test speakers ({comparison['n_boot']} draws, the same speakers for both "
            f"models). Std over speakers: of each model's per-speaker CCC (lower = more even).{note}\n\n"
            + _md_table(["dimension", "n", "original", "enhanced", "Δ", "95 % CI", "p", "std over speakers original",
                         "std over speakers enhanced"], rows))


def _groups(models: dict[str, Any]) -> str:
    names = list(models)
    parts = []
    for key in ALL_GROUP_KEYS:
        per = {n: {g["group"]: g for g in r["dimensions"].get(f"per_{key}", [])} for n, r in models.items()}
        if not all(per.values()):
            continue
        groups = sorted({g for p in per.values() for g in p}, key=str)
        rows = [[g, next(per[n][g]["n"] for n in names if g in per[n]),
                 *(_ccc(per[n][g][d]) if g in per[n] else "–" for d in DIMENSIONS for n in names)] for g in groups]
        parts += [f"**Per {key}** (CCC; a group needs 2 rated utterances):", "",
                  _md_table([key, "n", *(f"{d} {n}" for d in DIMENSIONS for n in names)], rows), ""]
    return "\n".join(parts)


def _sections(models: dict[str, Any], key: str, title: str, label: str) -> list[str]:
    rows = [[n, lab, r["n"], *(_ccc(r.get(d)) for d in DIMENSIONS)] for n, m in models.items()
            for lab, r in _labelled_rows(m.get(key))]
    for n, m in models.items():
        if key == "repetitions" and key in m:
            reps = m[key]
            rows.append([f"**{n}**", f"mean ± std of {reps['n']}", "",
                         *(f"{_ccc(reps['mean'][d])} ± {_ccc(reps['std'][d])}" for d in DIMENSIONS)])
    if not rows:
        return []
    return [f"## {title}", "", _md_table(["model", label, "n", *(f"CCC {d}" for d in DIMENSIONS)], rows), ""]


def render(results: dict[str, Any], figs: dict[str, list[Path]], out: Path) -> str:
    """report.md of a dimensional evaluation from its results and figures."""
    models = results["models"]
    img = lambda p: f"![{Path(p).stem}]({os.path.relpath(p, out)})"  # noqa: E731
    lines = ["# Speaker-independence evaluation: emotion dimensions", "",
             f"Written {results['created']} by sier {results['sier_version']}. Every checkpoint was evaluated on "
             "speakers it never trained on. Scores are the concordance (CCC, −1 to 1, 1 = perfect agreement) of the "
             "predicted and rated arousal, valence and dominance on the rated test utterances, on a common 0-1 scale.",
             ""]
    for n, r in models.items():
        info = ", ".join(f"{k} {v}" for k, v in r["info"].items())
        lines.append(f"- **{n}**: {len(r['checkpoints'])} checkpoint(s) from `{r['experiment_dir']}` ({info})")
    lines += ["", "## Headline", "",
              "Pooled: all test utterances of all folds together, with a percentile interval from a bootstrap over "
              "test speakers; folds: mean ± std over folds; per speaker: over speakers with 2 or more rated "
              "utterances (std ddof=0).", "", _headline(models), ""]
    if "comparison" in results:
        lines += ["## Original vs enhanced", "", _comparison(results["comparison"]), ""]
    lines += _sections(models, "repetitions", "Repetitions (other seeds)", "repetition")
    lines += _sections(models, "conditions", "Robustness: the test audio altered", "condition")
    lines += ["## Across speakers", "", _groups(models), *(x for p in figs.get("groups", []) for x in (img(p), ""))]
    lines += ["## Speaker probe", "", _probe_section(models), "", *(x for p in figs.get("probe", []) for x in (img(p), ""))]
    if any("layer_weights" in r for r in models.values()):
        lines += ["## Upstream layers (layer-weighted models)", "", _layers_section(models), "",
                  *(x for p in figs.get("layers", []) for x in (img(p), ""))]
    for title, key in (("t-SNE of test embeddings", "tsne"), ("Training curves", "training"),
                       ("Attention (what each frame receives, averaged over heads and queries)", "attention")):
        if figs.get(key):
            lines += [f"## {title}", "", *(x for p in figs[key] for x in (img(p), ""))]
    lines += ["## Files", "", "- `evaluation.json`: every number above",
              "- `dimensions.csv` (pooled, per fold and per group), `probe.csv`"
              + (", `comparison.csv`" if "comparison" in results else "") + ": the same numbers as tables",
              "- " + ", ".join(f"`predictions_{n}.csv`" for n in models) + ": one row per test utterance",
              "- `figures/`: the pictures above (PNG)", ""]
    return "\n".join(lines)
