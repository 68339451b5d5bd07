"""`sier summarize`: one table over many training runs (ablations, baselines, seeds).

Each experiment directory is read as `sier train` left it: config.yaml and the test
predictions of its folds (`predictions/fold_<k>.csv`). Runs whose configs differ in the seed
only are repetitions of one variant and share a row, with the mean and sample std (ddof=1)
over them. The columns are the config fields in which the variants differ (so an ablation
table names what was switched off), the folds and seeds, and the scores of
sier.evaluation.repetitions: pooled WA, UA, macro-F1, the std of UA over test speakers and
the worst speaker's UA, and for models with the dimension head the pooled CCC of arousal,
valence and dominance (all that a run of `--task dimensions` has). Variants tested on
other data (manifest, corpus, label map, subset, protocol or folds) are not comparable; the
table says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sier.corpora.dimensions import DIMENSIONS
from sier.errors import EvaluationError
from sier.evaluation.predictions import Predictions, concat, read_predictions_csv
from sier.evaluation.repetitions import QUANTITY_LABELS, REPEAT_QUANTITIES, summarize_repetitions

# Fields that say where or how a run executed, or name it: never a difference between variants.
IGNORED = ("name", "output_dir", "seed", "cache_dir", "folds", "devices", "accelerator", "strategy", "num_nodes",
           "num_workers", "progress", "log_interval")
# Fields that decide the test data: variants that differ in them are not compared like for like.
TEST_DATA = ("manifest", "corpus_root", "corpus", "label_map", "subset", "protocol")


@dataclass(frozen=True)
class Run:
    """One finished (or partly finished) training run."""

    directory: Path
    config: dict[str, Any]
    predictions: Predictions  # test rows of every fold with predictions


def find_runs(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Experiment directories: each path that holds config.yaml, else its children that do."""
    found = []
    for path in map(Path, paths):
        if (path / "config.yaml").is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(p for p in path.iterdir() if (p / "config.yaml").is_file())
        else:
            raise EvaluationError(f"{path}: no such experiment directory.")
    if not found:
        raise EvaluationError(f"no experiment directory (with config.yaml) in {', '.join(map(str, paths))}; "
                              "pass directories written by `sier train`, or folders holding them.")
    return list(dict.fromkeys(found))


def read_run(directory: Path) -> Run:
    """The config and the test predictions of an experiment; EvaluationError when it has none."""
    import yaml

    try:
        config = yaml.safe_load((directory / "config.yaml").read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise EvaluationError(f"{directory / 'config.yaml'}: not valid YAML ({exc}).") from exc
    files = sorted((directory / "predictions").glob("fold_*.csv"), key=lambda p: int(p.stem.split("_")[1]))
    if not files:
        raise EvaluationError(f"{directory}: no test predictions yet (predictions/fold_<k>.csv); finish it with "
                              f"`sier train --resume {directory}`, or leave it out.")
    return Run(directory, config, concat([read_predictions_csv(f) for f in files]))


def experiment_table(paths: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """{"columns": differing config fields, "rows": [{field: value, "runs": [...], "folds": [...],
    "n_seeds", "mean": {quantity}, "std": {quantity}}], "comparable": bool, "notes": [...]}."""
    runs = [read_run(d) for d in find_runs(paths)]
    fields = sorted({k for r in runs for k in r.config} - set(IGNORED))
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(tuple(str(run.config.get(f)) for f in fields), []).append(run)
    columns = [f for i, f in enumerate(fields) if len({key[i] for key in groups}) > 1]
    notes = []
    rows = []
    for key, members in groups.items():
        folds = sorted(set(members[0].predictions.folds()))
        if any(sorted(set(m.predictions.folds())) != folds for m in members):
            notes.append(f"the seeds of {members[0].directory.name} tested different folds; compare their rows "
                         "with care")
        runs = [str(m.directory) for m in members]
        if members[0].predictions.dimensions_only:  # `--task dimensions`: its CCCs are all it has
            mean, std, n = {}, {}, len(members[0].predictions)
        else:
            scores = summarize_repetitions([m.predictions.labelled() for m in members], runs)
            mean, std, n = dict(scores["mean"]), dict(scores["std"]), scores["per_repetition"][0]["n"]
        for name, values in _dimension_ccc(members).items():
            mean[name] = float(np.mean(values))
            std[name] = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
        rows.append({
            **{f: members[0].config.get(f) for f in columns},
            "runs": runs,
            "seeds": [m.config.get("seed") for m in members],
            "folds": folds,
            "n": n,
            "mean": mean,
            "std": std,
        })
    differing_data = [f for f in columns if f in TEST_DATA]
    fold_sets = {tuple(r["folds"]) for r in rows}
    comparable = not differing_data and len(fold_sets) == 1
    if differing_data:
        notes.append(f"the variants differ in {', '.join(differing_data)}: they were not tested on the same data")
    if len(fold_sets) > 1:
        notes.append("the variants tested different folds: their scores are not on the same utterances")
    return {"columns": columns, "rows": rows, "comparable": comparable, "notes": notes}


def _dimension_ccc(members: Sequence[Run]) -> dict[str, list[float]]:
    """"ccc_<dimension>" -> the pooled test CCC of each run, where every run predicts the dimensions."""
    from sier.evaluation.dimensions import pooled_ccc

    scores = [pooled_ccc(m.predictions) for m in members]
    if not all(scores):
        return {}
    return {f"ccc_{d}": [s[d] for s in scores] for d in DIMENSIONS}


def _quantities(table: dict[str, Any]) -> dict[str, str]:
    """The scores to show: the repetition quantities, and the CCC columns where a row has them."""
    dims = {f"ccc_{d}": f"CCC {d} x 100" for d in DIMENSIONS if any(f"ccc_{d}" in r["mean"] for r in table["rows"])}
    return {**QUANTITY_LABELS, **dims}


def table_markdown(table: dict[str, Any]) -> str:
    """The table as Markdown: one row per variant, scores in percent (mean ± std over seeds)."""
    def cell(row: dict[str, Any], q: str) -> str:
        if q not in row["mean"]:
            return "–"
        mean, std = 100 * row["mean"][q], 100 * row["std"][q]
        return f"{mean:.2f}" if not np.isfinite(std) else f"{mean:.2f} ± {std:.2f}"

    quantities = _quantities(table)
    header = [*table["columns"], "runs", "folds", "n", *quantities.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in table["rows"]:
        cells = [str(row[c]) for c in table["columns"]]
        cells += [str(len(row["runs"])), ",".join(map(str, row["folds"])), str(row["n"])]
        cells += [cell(row, q) for q in quantities]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    text += ("\n\nPercent; mean ± sample std (ddof=1) over the runs of a row, which differ in the seed only; "
             "UA std over speakers and worst speaker UA are computed per run over its test speakers.")
    for note in table["notes"]:
        text += f"\n\n**Note**: {note}."
    return text


def table_rows_csv(table: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) for a CSV: the differing fields, runs, folds, n, then mean and std per score."""
    quantities = [*REPEAT_QUANTITIES, *(q for q in _quantities(table) if q.startswith("ccc_"))]
    header = [*table["columns"], "runs", "folds", "n", *(f"{q}_{s}" for q in quantities for s in ("mean", "std"))]
    rows = [[*(row[c] for c in table["columns"]), len(row["runs"]), " ".join(map(str, row["folds"])), row["n"],
             *(row[s].get(q, "") for q in quantities for s in ("mean", "std"))] for row in table["rows"]]
    return header, rows
