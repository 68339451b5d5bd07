"""What a trained fold leaves behind: its test predictions, curves and the experiment summary."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Sequence

from sier.fileio import write_json, write_text
from sier.splits import Fold
from sier.training.config import TrainConfig
from sier.training.layout import Experiment, best_model_path, predictions_path


def inference_device(config: TrainConfig) -> str:
    """Where a trained model runs outside the Trainer: the GPU where the run may use one."""
    import torch

    return "cuda" if torch.cuda.is_available() and config.accelerator in ("auto", "gpu", "cuda") else "cpu"


def write_predictions(exp: Experiment, fold: Fold, store: Any, test_set: Any, config: TrainConfig) -> None:
    """predictions/fold_<k>.csv from the best checkpoint: id, speaker, session, gender, label, pred, prob_*
    (and pred_/rated_<dimension> for a model with dimensions; a model of the dimensions only
    has no pred and prob_* columns)."""
    import torch

    from sier.corpora.dimensions import PRED_DIMENSIONS, RATED_DIMENSIONS, dimension_cells, normalized
    from sier.models.pipeline import load_ser_model
    from sier.training.data import run_model

    model, ckpt = load_ser_model(best_model_path(exp.directory, fold.index))
    classes = [] if ckpt.dimensions_only else ckpt.meta["classes"]
    device = inference_device(config)
    model.to(device)
    outs = [out for _, out in run_model(model, test_set, config.batch_size, device)]
    probs = torch.cat([o["emotion_logits"].float().softmax(-1).cpu() for o in outs]).tolist() if outs and classes \
        else [[] for _ in test_set.utterances]
    with_dims = bool(outs) and "dimensions" in outs[0]
    dims = torch.cat([o["dimensions"].float().cpu() for o in outs]).tolist() if with_dims else []
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "speaker", "session", "gender", "label", *(["pred"] if classes else []),
                     *[f"prob_{c}" for c in classes], *((*PRED_DIMENSIONS, *RATED_DIMENSIONS) if with_dims else ())])
    for i, (utt, p) in enumerate(zip(test_set.utterances, probs)):
        pred = [classes[max(range(len(p)), key=p.__getitem__)]] if classes else []
        writer.writerow([utt.id, utt.speaker, utt.session, utt.gender, utt.label, *pred, *[f"{x:.6f}" for x in p],
                         *(dimension_cells(dims[i], normalized(utt)) if with_dims else ())])
    write_text(predictions_path(exp.directory, fold.index), buf.getvalue())


def read_metrics(path: Path) -> list[dict[str, float]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def plot_curves(metrics_csv: Path, out: Path, title: str = "") -> None:
    """Panels over epochs: train/val loss, val WA/UA, val macro-F1, val CCC of the dimensions
    (for a model with them), learning rate. Curves without a value (the class metrics of a
    model of the dimensions only) are left out, and so are panels left empty."""
    import math

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from sier.corpora.dimensions import DIMENSIONS

    rows = read_metrics(metrics_csv) if metrics_csv.is_file() else []
    epochs = [r["epoch"] for r in rows]
    panels = [
        ("loss", [("train_loss", "train"), ("val_loss", "val")]),
        ("accuracy", [("val_wa", "val WA"), ("val_ua", "val UA")]),
        ("macro F1", [("val_f1", "val F1")]),
        ("CCC (validation)", [("val_ccc", "mean"), *((f"val_ccc_{d}", d) for d in DIMENSIONS)]),
        ("learning rate (body)", [("lr", "lr")]),
    ]
    panels = [(name, [(k, label) for k, label in series if any(math.isfinite(r.get(k, math.nan)) for r in rows)])
              for name, series in panels]
    panels = [(name, series) for name, series in panels if series] or panels[:1]
    fig = Figure(figsize=(10, 3.5 * math.ceil(len(panels) / 2)), constrained_layout=True)
    FigureCanvasAgg(fig)
    for i, (name, series) in enumerate(panels):
        ax = fig.add_subplot(math.ceil(len(panels) / 2), 2, i + 1)
        for key, label in series:
            ax.plot(epochs, [r[key] for r in rows], marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        if series:
            ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    out.parent.mkdir(parents=True, exist_ok=True)
    from sier.fileio import atomic_path

    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def read_predictions(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def summarize(exp: Experiment, fold_indices: Sequence[int]) -> dict[str, Any]:
    """summary.json and summary.csv over the folds with predictions: per fold, mean, std (ddof=0), pooled."""
    import numpy as np

    from sier.training.metrics import classification_scores

    if exp.config.task == "dimensions":
        return _summarize_dimensions(exp, fold_indices)
    index = {c: i for i, c in enumerate(exp.classes)}
    folds_by_index = {f.index: f for f in exp.folds}
    per_fold, all_labels, all_preds, all_rows = [], [], [], []
    for k in fold_indices:
        path = predictions_path(exp.directory, k)
        if not path.is_file():
            continue
        rows = read_predictions(path)
        all_rows += rows  # the CCC of the dimensions counts every rated row
        rows = [r for r in rows if r["label"] in index]  # class scores: not the rows of no class (all_rated)
        labels, preds = [index[r["label"]] for r in rows], [index[r["pred"]] for r in rows]
        all_labels += labels
        all_preds += preds
        best = _best_of(exp.directory, k)
        per_fold.append({"fold": k, "test_speakers": list(folds_by_index[k].test_speakers),
                         **classification_scores(labels, preds), "best_epoch": best.get("epoch"),
                         "val_ua": best.get("val_ua")})
    keys = ("wa", "ua", "f1")
    summary = {
        "protocol": exp.protocol,
        "classes": list(exp.classes),
        "folds": per_fold,
        "mean": {m: float(np.mean([f[m] for f in per_fold])) if per_fold else None for m in keys},
        "std": {m: float(np.std([f[m] for f in per_fold])) if per_fold else None for m in keys},
        "pooled": classification_scores(all_labels, all_preds),
    }
    if all_rows and "pred_arousal" in all_rows[0]:  # a model with the dimension head (PRED_DIMENSIONS)
        summary["pooled_ccc"] = _pooled_ccc(all_rows)
    write_json(exp.directory / "summary.json", summary)
    write_text(exp.directory / "summary.csv", _summary_csv(summary))
    return summary


def _summarize_dimensions(exp: Experiment, fold_indices: Sequence[int]) -> dict[str, Any]:
    """summary.json and summary.csv of a run of the dimensions only: the CCC of each dimension
    per fold (over its rated test utterances), mean and std over folds (ddof=0), pooled."""
    import numpy as np

    from sier.corpora.dimensions import DIMENSIONS, RATED_DIMENSIONS

    folds_by_index = {f.index: f for f in exp.folds}
    per_fold, all_rows = [], []
    for k in fold_indices:
        path = predictions_path(exp.directory, k)
        if not path.is_file():
            continue
        rows = read_predictions(path)
        all_rows += rows
        best = _best_of(exp.directory, k)
        per_fold.append({"fold": k, "test_speakers": list(folds_by_index[k].test_speakers),
                         "n": sum(1 for r in rows if any(r.get(c) for c in RATED_DIMENSIONS)),
                         "ccc": _pooled_ccc(rows), "best_epoch": best.get("epoch"), "val_ccc": best.get("val_ccc")})
    summary = {
        "protocol": exp.protocol,
        "task": "dimensions",
        "folds": per_fold,
        "mean": {d: float(np.mean([f["ccc"][d] for f in per_fold])) if per_fold else None for d in DIMENSIONS},
        "std": {d: float(np.std([f["ccc"][d] for f in per_fold])) if per_fold else None for d in DIMENSIONS},
        "pooled_ccc": _pooled_ccc(all_rows) if all_rows else {},
        "n": sum(f["n"] for f in per_fold),
    }
    write_json(exp.directory / "summary.json", summary)
    write_text(exp.directory / "summary.csv", _summary_csv(summary))
    return summary


def _pooled_ccc(rows: Sequence[dict[str, str]]) -> dict[str, float]:
    """CCC of each dimension over the test rows that are rated (see sier.evaluation.dimensions)."""
    import torch

    from sier.corpora.dimensions import DIMENSIONS, PRED_DIMENSIONS, RATED_DIMENSIONS
    from sier.training.metrics import concordance

    out = {}
    for d, pred_col, rated_col in zip(DIMENSIONS, PRED_DIMENSIONS, RATED_DIMENSIONS):
        rated = [r for r in rows if r.get(rated_col)]
        out[d] = float(concordance(torch.tensor([float(r[pred_col]) for r in rated]),
                                   torch.tensor([float(r[rated_col]) for r in rated])))
    return out


def _best_of(exp_dir: Path, k: int) -> dict[str, Any]:
    from sier.models import load_checkpoint

    path = best_model_path(exp_dir, k)
    return dict(load_checkpoint(path).meta.get("best") or {}) if path.is_file() else {}


def _summary_csv(summary: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    keys = _summary_keys(summary)
    dims_only = summary.get("task") == "dimensions"
    writer.writerow(["fold", "test_speakers", "n", *(f"ccc_{k}" if dims_only else k for k in keys)])
    for f in summary["folds"]:
        scores = f["ccc"] if dims_only else f
        writer.writerow([f["fold"], " ".join(f["test_speakers"]), f["n"], *(f"{scores[m]:.4f}" for m in keys)])
    if summary["folds"]:
        for name in ("mean", "std"):
            writer.writerow([name, "", "", *(f"{summary[name][m]:.4f}" for m in keys)])
        pooled = summary["pooled_ccc"] if dims_only else summary["pooled"]
        n = summary["n"] if dims_only else pooled["n"]
        writer.writerow(["pooled", "", n, *(f"{pooled[m]:.4f}" for m in keys)])
    return buf.getvalue()


def _summary_keys(summary: dict[str, Any]) -> tuple[str, ...]:
    """The scores of a summary: WA, UA, F1; or, for a run of the dimensions only, their CCCs."""
    from sier.corpora.dimensions import DIMENSIONS

    return DIMENSIONS if summary.get("task") == "dimensions" else ("wa", "ua", "f1")


def summary_table(summary: dict[str, Any]) -> str:
    """The printed table: one row per fold, mean +- std, pooled; figures in percent (CCC x 100
    for a run of the dimensions only)."""
    dims_only = summary.get("task") == "dimensions"
    keys = _summary_keys(summary)
    names = [f"CCC {k[:3]}" if dims_only else f"{k.upper()} %" for k in keys]
    lines = [f"{'fold':>6}  {'test speakers':<16} {'n':>5} " + " ".join(f"{n:>7}" for n in names)]
    for f in summary["folds"]:
        scores = f["ccc"] if dims_only else f
        lines.append(f"{f['fold']:>6}  {','.join(f['test_speakers']):<16} {f['n']:>5} "
                     + " ".join(f"{100 * scores[m]:>7.2f}" for m in keys))
    if summary["folds"]:
        mean, std = summary["mean"], summary["std"]
        pooled = summary["pooled_ccc"] if dims_only else summary["pooled"]
        n = summary["n"] if dims_only else pooled["n"]
        lines.append(f"{'mean':>6}  {'+- std over folds':<16} {'':>5} "
                     + " ".join(f"{100 * mean[m]:>5.2f}+-{100 * std[m]:.2f}" for m in keys))
        lines.append(f"{'pooled':>6}  {'all test utts':<16} {n:>5} " + " ".join(f"{100 * pooled[m]:>7.2f}" for m in keys))
    if "pooled_ccc" in summary and not dims_only:
        lines.append("CCC of the dimensions, pooled test utterances: "
                     + ", ".join(f"{d} {v:.3f}" for d, v in summary["pooled_ccc"].items()))
    return "\n".join(lines)
