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
    (and pred_/rated_<dimension> for a model with dimensions)."""
    import torch

    from sier.corpora.dimensions import PRED_DIMENSIONS, RATED_DIMENSIONS, dimension_cells, normalized
    from sier.models.pipeline import load_ser_model
    from sier.training.data import run_model

    model, ckpt = load_ser_model(best_model_path(exp.directory, fold.index))
    classes = ckpt.meta["classes"]
    device = inference_device(config)
    model.to(device)
    outs = [out for _, out in run_model(model, test_set, config.batch_size, device)]
    probs_t = torch.cat([o["emotion_logits"].float().softmax(-1).cpu() for o in outs]) if outs \
        else torch.zeros(0, len(classes))
    with_dims = bool(outs) and "dimensions" in outs[0]
    dims = torch.cat([o["dimensions"].float().cpu() for o in outs]).tolist() if with_dims else []
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "speaker", "session", "gender", "label", "pred", *[f"prob_{c}" for c in classes],
                     *((*PRED_DIMENSIONS, *RATED_DIMENSIONS) if with_dims else ())])
    for i, (utt, p) in enumerate(zip(test_set.utterances, probs_t.tolist())):
        pred = classes[max(range(len(p)), key=p.__getitem__)]
        writer.writerow([utt.id, utt.speaker, utt.session, utt.gender, utt.label, pred, *[f"{x:.6f}" for x in p],
                         *(dimension_cells(dims[i], normalized(utt)) if with_dims else ())])
    write_text(predictions_path(exp.directory, fold.index), buf.getvalue())


def read_metrics(path: Path) -> list[dict[str, float]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def plot_curves(metrics_csv: Path, out: Path, title: str = "") -> None:
    """Four panels over epochs: train/val loss, val WA/UA, val macro-F1, learning rate."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = read_metrics(metrics_csv) if metrics_csv.is_file() else []
    epochs = [r["epoch"] for r in rows]
    fig = Figure(figsize=(10, 7), constrained_layout=True)
    FigureCanvasAgg(fig)
    panels = [
        ("loss", [("train_loss", "train"), ("val_loss", "val")]),
        ("accuracy", [("val_wa", "val WA"), ("val_ua", "val UA")]),
        ("macro F1", [("val_f1", "val F1")]),
        ("learning rate (body)", [("lr", "lr")]),
    ]
    for i, (name, series) in enumerate(panels):
        ax = fig.add_subplot(2, 2, i + 1)
        for key, label in series:
            ax.plot(epochs, [r[key] for r in rows], marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
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
    writer.writerow(["fold", "test_speakers", "n", "wa", "ua", "f1"])
    for f in summary["folds"]:
        writer.writerow([f["fold"], " ".join(f["test_speakers"]), f["n"], *(f"{f[m]:.4f}" for m in ("wa", "ua", "f1"))])
    if summary["folds"]:
        for name in ("mean", "std"):
            writer.writerow([name, "", "", *(f"{summary[name][m]:.4f}" for m in ("wa", "ua", "f1"))])
        p = summary["pooled"]
        writer.writerow(["pooled", "", p["n"], *(f"{p[m]:.4f}" for m in ("wa", "ua", "f1"))])
    return buf.getvalue()


def summary_table(summary: dict[str, Any]) -> str:
    """The printed table: one row per fold, mean +- std, pooled; figures in percent."""
    lines = [f"{'fold':>6}  {'test speakers':<16} {'n':>5} {'WA %':>7} {'UA %':>7} {'F1 %':>7}"]
    for f in summary["folds"]:
        lines.append(f"{f['fold']:>6}  {','.join(f['test_speakers']):<16} {f['n']:>5} "
                     f"{100 * f['wa']:>7.2f} {100 * f['ua']:>7.2f} {100 * f['f1']:>7.2f}")
    if summary["folds"]:
        mean, std, p = summary["mean"], summary["std"], summary["pooled"]
        lines.append(f"{'mean':>6}  {'+- std over folds':<16} {'':>5} "
                     + " ".join(f"{100 * mean[m]:>5.2f}+-{100 * std[m]:.2f}" for m in ("wa", "ua", "f1")))
        lines.append(f"{'pooled':>6}  {'all test utts':<16} {p['n']:>5} "
                     f"{100 * p['wa']:>7.2f} {100 * p['ua']:>7.2f} {100 * p['f1']:>7.2f}")
    if "pooled_ccc" in summary:
        lines.append("CCC of the dimensions, pooled test utterances: "
                     + ", ".join(f"{d} {v:.3f}" for d, v in summary["pooled_ccc"].items()))
    return "\n".join(lines)
