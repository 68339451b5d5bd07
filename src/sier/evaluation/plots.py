"""Figures of an evaluation, each written as a PNG; every function returns the path it wrote.

Figures are built with `matplotlib.figure.Figure` (Agg canvas), not pyplot, so nothing
global changes and no display is needed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from sier.constants import SAMPLE_RATE

log = logging.getLogger(__name__)

MODEL_COLORS = {"original": "#7f7f7f", "enhanced": "#1f77b4"}
DPI = 110
MAX_BARS = 40  # more groups (speakers of CREMA-D, MSP-Podcast) are drawn ranked, not as labelled bars
MAX_LEGEND = 20  # more colours (speakers) in a t-SNE panel get no legend


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _save(fig, path: str | os.PathLike) -> Path:
    from sier.fileio import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _color(model: str, i: int) -> str:
    return MODEL_COLORS.get(model, f"C{i + 2}")


def log_mel_spectrogram(samples: np.ndarray) -> np.ndarray:
    """Log-mel spectrogram [FBANK_N_MELS, frames] of mono `samples` [samples] at SAMPLE_RATE.

    The same features as the `fbank` upstream (sier.features.fbank.FbankFrontend, 50 frames/s),
    transposed for drawing with time on the x axis.
    """
    import torch

    from sier.features.fbank import FbankFrontend

    with torch.no_grad():
        spec = FbankFrontend()(torch.as_tensor(np.asarray(samples, dtype=np.float32))[None])
    return spec.T.numpy()


def training_curves(curves: Mapping[int, Sequence[Mapping[str, float]]], path: str | os.PathLike,
                    title: str) -> Path:
    """Loss, validation UA/WA (a model of the dimensions only: validation CCC) and learning rate /
    GRL alpha per epoch, one line per fold.

    `curves[fold]` is the rows of metrics/fold_<k>.csv (epoch, lr, alpha, train_loss,
    val_loss, val_wa, val_ua, val_f1).
    """
    fig = _figure(13, 3.6)
    ax_loss, ax_acc, ax_lr = fig.subplots(1, 3)
    ax_alpha = None  # a second axis for the gradient-reversal alpha, when one is scheduled
    # a model of the dimensions only has no class metric: its validation CCC instead
    by_ccc = not any(np.isfinite(r.get("val_ua", np.nan)) for rows in curves.values() for r in rows)
    for i, (fold, rows) in enumerate(sorted(curves.items())):
        epoch = [r.get("epoch", j) for j, r in enumerate(rows)]
        col = f"C{i % 10}"
        ax_loss.plot(epoch, [r.get("train_loss", np.nan) for r in rows], color=col, label=f"fold {fold} train")
        ax_loss.plot(epoch, [r.get("val_loss", np.nan) for r in rows], color=col, ls="--", label=f"fold {fold} val")
        if by_ccc:
            ax_acc.plot(epoch, [r.get("val_ccc", np.nan) for r in rows], color=col, label=f"fold {fold} CCC")
        else:
            ax_acc.plot(epoch, [r.get("val_ua", np.nan) for r in rows], color=col, label=f"fold {fold} UA")
            ax_acc.plot(epoch, [r.get("val_wa", np.nan) for r in rows], color=col, ls=":", label=f"fold {fold} WA")
        ax_lr.plot(epoch, [r.get("lr", np.nan) for r in rows], color=col, label=f"fold {fold} lr")
        if any(np.isfinite(r.get("alpha", np.nan)) and r.get("alpha", 0) != 0 for r in rows):
            ax_alpha = ax_alpha or ax_lr.twinx()
            ax_alpha.plot(epoch, [r.get("alpha", np.nan) for r in rows], color=col, ls="-.")
            ax_alpha.set_ylabel("GRL alpha (dash-dot)")
    ax_loss.set(title="loss (solid train, dashed val)", xlabel="epoch", ylabel="loss")
    ax_acc.set(title="validation CCC (mean of the dimensions)" if by_ccc else "validation UA (solid) / WA (dotted)",
               xlabel="epoch", ylabel="CCC" if by_ccc else "accuracy")
    ax_lr.set(title="learning rate (solid)" + (", GRL alpha (dash-dot)" if ax_alpha else ""), xlabel="epoch",
              ylabel="lr")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    ax_acc.legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    return _save(fig, path)


def confusion(counts: Sequence[Sequence[int]], normalized: Sequence[Sequence[float]], classes: Sequence[str],
              path: str | os.PathLike, title: str) -> Path:
    """Confusion matrix as counts (left) and row-normalised (right); rows = reference, columns = predicted."""
    fig = _figure(9, 4.2)
    for ax, data, fmt, name in zip(fig.subplots(1, 2), (np.asarray(counts), np.asarray(normalized)),
                                   ("{:d}", "{:.2f}"), ("counts", "row-normalised")):
        vmax = 1.0 if name == "row-normalised" else (data.max() if data.size and data.max() > 0 else 1)
        image = ax.imshow(data, cmap="Blues", vmin=0, vmax=vmax)
        ax.set_xticks(range(len(classes)), classes)
        ax.set_yticks(range(len(classes)), classes)
        ax.set(xlabel="predicted", ylabel="reference", title=name)
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                value = int(data[i, j]) if fmt == "{:d}" else float(data[i, j])
                ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=9,
                        color="white" if data[i, j] > 0.6 * vmax else "black")
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(title)
    return _save(fig, path)


def ranked_groups(values: Mapping[str, Mapping[Any, float]], path: str | os.PathLike, title: str, ylabel: str = "UA",
                  reference: Mapping[str, float] | None = None, ylim: tuple[float, float] = (0, 1.08)) -> Path:
    """For too many groups to label (hundreds of speakers): each model's per-group values sorted,
    against their rank, so the spread and the worst groups show; the tables name the groups."""
    fig = _figure(8.0, 3.8)
    ax = fig.subplots()
    for i, (model, by_group) in enumerate(values.items()):
        heights = np.sort(np.array([v for v in by_group.values() if np.isfinite(v)]))
        ax.plot(np.arange(1, len(heights) + 1), heights, marker=".", ms=3, lw=1, color=_color(model, i),
                label=f"{model} ({len(heights)})")
        if reference and model in reference:
            ax.axhline(reference[model], color=_color(model, i), ls="--", lw=1, label=f"{model} pooled")
    ax.set(xlabel="groups, sorted by value (rank)", ylabel=ylabel, title=title, ylim=ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


def group_bars(values: Mapping[str, Mapping[Any, float]], counts: Mapping[Any, int], path: str | os.PathLike,
               title: str, ylabel: str = "UA", reference: Mapping[str, float] | None = None,
               order: Sequence[Any] | None = None, ylim: tuple[float, float] = (0, 1.08)) -> Path:
    """Bars per group (speaker, gender, session), one bar per model side by side.

    `values[model][group]` is the metric; `counts[group]` (utterances) is printed under the
    group name; `reference[model]`, if given, draws that model's pooled value as a line.
    Groups appear in `order` (default: sorted), groups missing from it after those in it.
    """
    models = list(values)
    present = {g for v in values.values() for g in v}
    groups = [g for g in (order or []) if g in present] + sorted(present - set(order or []), key=str)
    if len(groups) > MAX_BARS:
        return ranked_groups(values, path, title, ylabel, reference, ylim)
    width = 0.8 / max(1, len(models))
    fig = _figure(max(5.0, 0.9 * len(groups) * max(1, len(models)) / 1.5 + 2), 3.8)
    ax = fig.subplots()
    x = np.arange(len(groups))
    for i, model in enumerate(models):
        heights = [values[model].get(g, np.nan) for g in groups]
        bars = ax.bar(x + (i - (len(models) - 1) / 2) * width, heights, width, label=model, color=_color(model, i))
        ax.bar_label(bars, labels=[f"{h:.2f}" if np.isfinite(h) else "" for h in heights], fontsize=7, padding=1)
        if reference and model in reference:
            ax.axhline(reference[model], color=_color(model, i), ls="--", lw=1, label=f"{model} pooled")
    ax.set_xticks(x, [f"{g}\n(n={counts[g]})" if g in counts else str(g) for g in groups], fontsize=8)
    ax.set(ylabel=ylabel, title=title, ylim=ylim)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


def per_class_f1(values: Mapping[str, Mapping[str, float]], path: str | os.PathLike, title: str,
                 classes: Sequence[str] | None = None) -> Path:
    """Per-class F1 bars, one bar per model side by side (`values[model][class]`), classes in `classes` order."""
    return group_bars(values, {}, path, title, ylabel="F1", order=classes)


def layer_weight_bars(summaries: Mapping[str, Mapping[str, Any]], path: str | os.PathLike, title: str) -> Path:
    """Mean softmax weight of each upstream hidden state per model (`summaries[model]` from
    sier.evaluation.layers.layer_weight_summary), the std over folds as error bars, and the
    uniform weight every layer starts from as a dashed line."""
    models = list(summaries)
    count = max(len(s["mean"]) for s in summaries.values())
    width = 0.8 / max(1, len(models))
    fig = _figure(max(6.5, 0.45 * count * max(1, len(models)) + 3), 3.6)
    ax = fig.subplots()
    x = np.arange(count)
    for i, model in enumerate(models):
        s = summaries[model]
        ax.bar(x[: len(s["mean"])] + (i - (len(models) - 1) / 2) * width, s["mean"], width, yerr=s["std"],
               capsize=2, label=f"{model} (centre {s['centre']:.1f})", color=_color(model, i))
    ax.axhline(1.0 / count, color="black", ls="--", lw=1, label="uniform (start)")
    ax.set_xticks(x, [str(k) for k in x], fontsize=8)
    ax.set(xlabel="hidden state (0: input of layer 1; k: output of layer k)", ylabel="softmax weight")
    ax.set_title(title, wrap=True)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


def reliability(bins: Mapping[str, Sequence[Mapping[str, Any]]], path: str | os.PathLike, title: str) -> Path:
    """Reliability diagram: accuracy against mean confidence of each confidence bin, one line
    per model (`bins[model]` from sier.evaluation.calibration), marker area by the bin's
    rows; the diagonal is perfect calibration (below it: overconfident)."""
    fig = _figure(6.5, 4.2)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="black", ls="--", lw=1, label="calibrated")
    for i, (model, rows) in enumerate(bins.items()):
        total = max(1, sum(r["n"] for r in rows))
        ax.plot([r["confidence"] for r in rows], [r["accuracy"] for r in rows], color=_color(model, i), lw=1.2,
                marker="o", label=model)
        ax.scatter([r["confidence"] for r in rows], [r["accuracy"] for r in rows], color=_color(model, i),
                   s=[400 * r["n"] / total for r in rows], alpha=0.35)
    ax.set(xlabel="confidence of the predicted class", ylabel="accuracy", xlim=(0, 1.02), ylim=(0, 1.02))
    ax.set_title(title, wrap=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def probe_bars(per_fold: Mapping[str, Sequence[Mapping[str, Any]]], path: str | os.PathLike, title: str) -> Path:
    """Speaker-probe accuracy per fold and model, with each fold's chance level as a black tick."""
    models = list(per_fold)
    folds = sorted({r["fold"] for rows in per_fold.values() for r in rows})
    width = 0.8 / max(1, len(models))
    fig = _figure(max(5.0, 1.2 * len(folds) + 2), 3.6)
    ax = fig.subplots()
    x = np.arange(len(folds))
    for i, model in enumerate(models):
        by_fold = {r["fold"]: r for r in per_fold[model]}
        xs = x + (i - (len(models) - 1) / 2) * width
        acc = [by_fold[f]["accuracy"] if f in by_fold else np.nan for f in folds]
        chance = [by_fold[f]["chance"] if f in by_fold else np.nan for f in folds]
        bars = ax.bar(xs, acc, width, label=model, color=_color(model, i))
        ax.bar_label(bars, labels=[f"{a:.2f}" if np.isfinite(a) else "" for a in acc], fontsize=7, padding=1)
        ax.hlines(chance, xs - width / 2, xs + width / 2, colors="black", lw=2,
                  label="chance (majority speaker)" if i == 0 else None)
    ax.set_xticks(x, [f"fold {f}" for f in folds])
    ax.set(ylabel="probe accuracy", ylim=(0, 1.08))
    ax.set_title(title, wrap=True)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


def _perplexity(n: int) -> float:
    return float(max(2.0, min(30.0, (n - 1) / 3.0)))


def tsne(embeddings: Mapping[int, np.ndarray], emotions: Mapping[int, Sequence[str]],
         speakers: Mapping[int, Sequence[str]], path: str | os.PathLike, title: str, seed: int = 0,
         max_points: int = 1000, max_folds: int = 5, classes: Sequence[str] | None = None) -> Path | None:
    """t-SNE per fold (each fold's model has its own embedding space), coloured by emotion | speaker.

    One row per fold (at most `max_folds`), at most `max_points` utterances per fold (a
    fixed random subset); perplexity = clip((n - 1) / 3, 2, 30). Emotion colours follow
    `classes` (logit order, the same colour in every fold); None if no fold has 5 points.
    """
    from sklearn.manifold import TSNE

    folds = [f for f in sorted(embeddings) if len(embeddings[f]) >= 5][:max_folds]
    if not folds:
        return None
    fig = _figure(10, 4.2 * len(folds))
    axes = np.atleast_2d(fig.subplots(len(folds), 2))
    rng = np.random.default_rng(seed)
    for row, fold in zip(axes, folds):
        x = np.asarray(embeddings[fold], dtype=np.float64)
        keep = np.sort(rng.choice(len(x), max_points, replace=False)) if len(x) > max_points else np.arange(len(x))
        xy = TSNE(n_components=2, perplexity=_perplexity(len(keep)), random_state=seed, init="pca").fit_transform(x[keep])
        for ax, colour_by, name in zip(row, (emotions[fold], speakers[fold]), ("emotion", "speaker")):
            values = np.asarray(colour_by, dtype=object)[keep]
            palette = list(classes) if name == "emotion" and classes else sorted(set(values.tolist()))
            palette += sorted(set(values.tolist()) - set(palette))
            for i, value in enumerate(palette):
                sel = values == value
                if sel.any():
                    ax.scatter(xy[sel, 0], xy[sel, 1], s=8, alpha=0.7, color=f"C{i % 10}",
                               label=f"{value} ({sel.sum()})")
            if len(palette) <= MAX_LEGEND:
                ax.set(title=f"fold {fold}: by {name}", xticks=[], yticks=[])
                ax.legend(fontsize=7, markerscale=2, loc="best")
            else:  # hundreds of speakers: a legend would hide the plot; colours repeat
                ax.set(title=f"fold {fold}: by {name} ({len(palette)}, colours repeat)", xticks=[], yticks=[])
    fig.suptitle(title)
    return _save(fig, path)


def attention_received(attention: np.ndarray) -> np.ndarray:
    """[T] attention each frame receives: the [heads, T, T] (or [T, T]) map averaged over heads and queries."""
    att = np.asarray(attention, dtype=np.float64)
    if att.ndim == 3:
        att = att.mean(axis=0)
    return att.mean(axis=0)


def attention_example(samples: np.ndarray, maps: Mapping[str, np.ndarray], path: str | os.PathLike,
                      title: str) -> Path:
    """Log-mel spectrogram of `samples` [samples, at SAMPLE_RATE] with, under it on the same time axis, the attention
    each frame receives for each model in `maps` (model -> [heads, T, T] or [T, T] or [T]).

    The T frames of a map are spread evenly over the audio's duration.
    """
    spec = log_mel_spectrogram(samples)
    duration = len(samples) / SAMPLE_RATE  # seconds
    fig = _figure(10, 2.6 + 1.3 * len(maps))
    axes = np.atleast_1d(fig.subplots(1 + len(maps), 1, sharex=True,
                                      gridspec_kw={"height_ratios": [3] + [1] * len(maps)}))
    axes[0].imshow(spec, origin="lower", aspect="auto", cmap="magma", extent=(0, duration, 0, spec.shape[0]))
    axes[0].set(ylabel="mel bin", title=title)
    for ax, (model, att) in zip(axes[1:], maps.items()):
        received = np.asarray(att) if np.asarray(att).ndim == 1 else attention_received(att)
        ax.imshow(received[None, :], aspect="auto", cmap="viridis", extent=(0, duration, 0, 1))
        t = (np.arange(len(received)) + 0.5) * duration / len(received)
        twin = ax.twinx()
        twin.plot(t, received, color="white", lw=1)
        twin.set(yticks=[], ylim=(0, received.max() * 1.1 if received.max() > 0 else 1))
        ax.set(yticks=[], ylabel=f"{model}\nattention", xlim=(0, duration))
    axes[-1].set_xlabel("time (s)")
    return _save(fig, path)
