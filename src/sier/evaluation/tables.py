"""The numbers of an evaluation as CSV tables, one row per (model, scope, ...): values are fractions.

overall.csv, per_class.csv, confusion.csv, per_group.csv, spread.csv and probe.csv for every
report; comparison.csv and paired_tests.csv when two models are compared; dimensions.csv (CCC
pooled and per speaker) for models with the dimension head.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Sequence

from sier.corpora.dimensions import DIMENSIONS
from sier.evaluation.metrics import HEADLINE
from sier.evaluation.speakers import ALL_GROUP_KEYS

from sier.fileio import write_text

REPETITION_COLUMNS = ("source", "n", "wa", "ua", "macro_f1", "speaker_ua_std", "speaker_ua_min")

SPREAD_COLUMNS = ("n_groups", "mean", "std", "variance", "min", "max", "spread", "worst", "best")
PAIRED_COLUMNS = ("test", "n", "n_speakers", "method", "statistic", "p_value", "delta_ua", "ci_low", "ci_high",
                  "both_right", "only_original_right", "only_enhanced_right", "both_wrong")


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text(path, buf.getvalue())
    return path


def dimension_rows(scores: dict[str, Any]) -> list[tuple[str, Any, int, list[float]]]:
    """(scope, group, n, CCC per dimension): the pooled row, one per fold where the scores have
    them (sier.evaluation.dimensional), then one per speaker, gender, session, ..."""
    pooled = scores["pooled"]
    rows = [("pooled", "", max(p["n"] for p in pooled.values()), [pooled[d]["ccc"] for d in DIMENSIONS])]
    rows += [("fold", k, f["n"], [f.get(d, float("nan")) for d in DIMENSIONS]) for k, f in scores.get("folds", {}).items()]
    rows += [(key, r["group"], r["n"], [r[d] for d in DIMENSIONS])
             for key in ALL_GROUP_KEYS for r in scores.get(f"per_{key}", [])]
    return rows


def probe_rows(name: str, probe: dict[str, Any]) -> list[list[Any]]:
    """The rows of probe.csv of one model: one per probed fold."""
    return [[name, p["fold"], p["n"], p["n_speakers"], p.get("n_speakers_available"), p["cv_splits"], p["accuracy"],
             p["balanced_accuracy"], p["chance"], p["balanced_chance"]] for p in probe["per_fold"]]


def write_tables(out: Path, results: dict[str, Any]) -> list[Path]:
    """Write the CSV tables of `results` (the content of evaluation.json) into `out`; their paths."""
    models = results["models"]
    overall, per_class, confusion, groups, spreads, probe = [], [], [], [], [], []
    for name, r in models.items():
        scopes = [(f"fold {k}", m) for k, m in r["metrics"]["folds"].items()] + [("pooled", r["metrics"]["pooled"])]
        for scope, m in scopes:
            overall.append([name, scope, m["n"], *(m[k] for k in HEADLINE)])
            for c in m["per_class"]:
                per_class.append([name, scope, c["class"], c["precision"], c["recall"], c["f1"], c["support"]])
            for i, true in enumerate(r["classes"]):
                for j, pred in enumerate(r["classes"]):
                    confusion.append([name, scope, true, pred, m["confusion"][i][j]])
        for key in ALL_GROUP_KEYS:
            for g in r["speakers"].get(f"per_{key}", []):
                groups.append([name, key, g["group"], g["n"], g["wa"], g["ua"], g["macro_f1"]])
            for metric, sp in r["speakers"].get(f"{key}_spread", {}).items():
                spreads.append([name, key, metric, *(sp.get(k) for k in SPREAD_COLUMNS)])
        balance = r["speakers"]["class_balance"]
        if balance:
            spreads.append([name, "class", "f1", balance["n_classes"], balance["f1_mean"], balance["f1_std"],
                            balance["f1_std"] ** 2, balance["f1_min"], balance["f1_max"], balance["f1_range"],
                            balance["worst_class"], balance["best_class"]])
        probe += probe_rows(name, r["probe"])
    paths = [
        write_csv(out / "overall.csv", ["model", "scope", "n", *HEADLINE], overall),
        write_csv(out / "per_class.csv", ["model", "scope", "class", "precision", "recall", "f1", "support"], per_class),
        write_csv(out / "confusion.csv", ["model", "scope", "reference", "predicted", "count"], confusion),
        write_csv(out / "per_group.csv", ["model", "key", "group", "n", "wa", "ua", "macro_f1"], groups),
        write_csv(out / "spread.csv", ["model", "key", "metric", *SPREAD_COLUMNS], spreads),
        write_csv(out / "probe.csv", ["model", "fold", "n", "n_speakers", "n_speakers_available", "cv_splits",
                                 "accuracy", "balanced_accuracy", "chance", "balanced_chance"], probe),
    ]
    return paths + _optional_tables(out, models) + _comparison_tables(out, results)


def _optional_tables(out: Path, models: dict[str, Any]) -> list[Path]:
    """The tables of what only some evaluations have: repetitions, conditions, dimensions,
    calibration bins, layer weights."""
    paths: list[Path] = []
    reps = [[name, i + 1, *(r[k] for k in REPETITION_COLUMNS)]
            for name, m in models.items() for i, r in enumerate(m.get("repetitions", {}).get("per_repetition", []))]
    if reps:
        paths.append(write_csv(out / "repetitions.csv", ["model", "repetition", *REPETITION_COLUMNS], reps))
    ccc = [f"ccc_{d}" for d in DIMENSIONS]
    altered = [[name, c, *(r[k] for k in REPETITION_COLUMNS[1:]), *(r.get(k, "") for k in ccc)]
               for name, m in models.items() for c, r in m.get("conditions", {}).items()]
    if altered:
        paths.append(write_csv(out / "conditions.csv", ["model", "condition", *REPETITION_COLUMNS[1:], *ccc], altered))
    dims = [[name, scope, group, n, *values] for name, m in models.items() if "dimensions" in m
             for scope, group, n, values in dimension_rows(m["dimensions"])]
    if dims:
        paths.append(write_csv(out / "dimensions.csv", ["model", "scope", "group", "n", *DIMENSIONS], dims))
    cal = [[name, b["low"], b["high"], b["n"], b["confidence"], b["accuracy"]]
           for name, m in models.items() if "calibration" in m for b in m["calibration"]["bins"]]
    if cal:
        paths.append(write_csv(out / "calibration.csv", ["model", "bin_low", "bin_high", "n", "confidence", "accuracy"], cal))
    layers = [[name, row, *weights] for name, m in models.items() if "layer_weights" in m
              for row, weights in _layer_rows(m["layer_weights"])]
    if layers:
        width = max(len(r) for r in layers) - 2
        paths.append(write_csv(out / "layer_weights.csv", ["model", "row", *(f"layer_{k}" for k in range(width))], layers))
    return paths


def _comparison_tables(out: Path, results: dict[str, Any]) -> list[Path]:
    """comparison.csv and paired_tests.csv of two models (and their repetitions), or none."""
    paths: list[Path] = []
    if "repetitions" in results.get("comparison", {}):
        rows = results["comparison"]["repetitions"]
        paths.append(write_csv(out / "repetitions_comparison.csv", list(rows[0]), [list(r.values()) for r in rows]))
    if "comparison" in results:
        rows = results["comparison"]["rows"]
        paths.append(write_csv(out / "comparison.csv", ["quantity", "original", "enhanced", "delta", "better_is", "better"],
                          [[r[k] for k in ("quantity", "original", "enhanced", "delta", "better_is", "better")]
                           for r in rows]))
        m, b = results["comparison"]["mcnemar"], results["comparison"]["bootstrap_ua"]
        paths.append(write_csv(out / "paired_tests.csv", PAIRED_COLUMNS, [
            ["mcnemar", m["n"], None, m["method"], m["statistic"], m["p_value"], None, None, None,
             m["both_right"], m["only_original_right"], m["only_enhanced_right"], m["both_wrong"]],
            ["bootstrap_ua_over_speakers", results["comparison"]["n_paired"], b["n_speakers"],
             f"{b['n_boot']} draws, percentile interval", None, b["p_value"], b["delta"], b["ci_low"], b["ci_high"],
             None, None, None, None],
        ]))
    return paths


def _layer_rows(summary: dict[str, Any]) -> list[tuple[str, list[float]]]:
    """("fold k", weights) per fold, then ("mean", ...) and ("std", ...) over folds."""
    return [(f"fold {k}", w) for k, w in summary["folds"].items()] + [("mean", summary["mean"]), ("std", summary["std"])]
