"""The prediction table that every analysis reads: one row per test utterance.

Columns follow the `predictions/fold_<k>.csv` files of an experiment: id, speaker, session,
gender, label, pred, prob_<class>... (in logit order); `fold` is added when folds are
pooled, `corpus` where the evaluation knows it. A model trained with dimensions adds
pred_<dimension> and rated_<dimension> (arousal, valence, dominance on 0..1, see
sier.corpora.dimensions; rated is empty where the corpus gives none). A model of the
dimensions only (`sier train --task dimensions`) has no class: its table has no classes, no
prob_ columns and an empty pred. Held as numpy arrays (no pandas), so that metrics can
select rows cheaply.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from sier.corpora.dimensions import DIMENSIONS, PRED_DIMENSIONS, RATED_DIMENSIONS, dimension_cells
from sier.errors import EvaluationError
from sier.fileio import write_text

BASE_COLUMNS = ("id", "speaker", "session", "gender", "label", "pred")


@dataclass(frozen=True)
class Predictions:
    """Predictions of one model on test utterances (any number of folds).

    All arrays have length N; `probs` is [N, C] with columns in the order of `classes`.
    """

    classes: tuple[str, ...]  # logit order of the model
    ids: np.ndarray  # [N] str: utterance ids
    speaker: np.ndarray  # [N] str
    session: np.ndarray  # [N] int
    gender: np.ndarray  # [N] str
    label: np.ndarray  # [N] str: reference class
    pred: np.ndarray  # [N] str: predicted class (argmax of probs)
    probs: np.ndarray  # [N, C] float: softmax of the emotion logits
    fold: np.ndarray  # [N] int: fold whose model produced the row
    corpus: np.ndarray | None = None  # [N] str: corpus of the utterance ("" where unknown); None: all ""
    dims: np.ndarray | None = None  # [N, 3] float: predicted arousal, valence, dominance on 0..1; None: no such head
    rated: np.ndarray | None = None  # [N, 3] float: their ratings on 0..1, NaN where unknown (with dims)

    def __post_init__(self) -> None:
        if self.corpus is None:
            object.__setattr__(self, "corpus", np.full(len(self.ids), "", dtype=object))
        if self.dims is not None and self.rated is None:
            object.__setattr__(self, "rated", np.full((len(self.ids), len(DIMENSIONS)), np.nan))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dimensions_only(self) -> bool:
        """A model of the dimensions only: no class, only pred_/rated_<dimension> to score."""
        return not self.classes

    @property
    def correct(self) -> np.ndarray:
        """[N] bool: pred == label."""
        return self.pred == self.label

    def subset(self, mask: np.ndarray) -> "Predictions":
        """The rows where `mask` is true (or the rows at integer indices `mask`)."""
        return Predictions(
            self.classes, self.ids[mask], self.speaker[mask], self.session[mask], self.gender[mask],
            self.label[mask], self.pred[mask], self.probs[mask], self.fold[mask], self.corpus[mask],
            None if self.dims is None else self.dims[mask], None if self.rated is None else self.rated[mask],
        )

    def labelled_mask(self) -> np.ndarray:
        """[N] bool: the label is one of the classes. A run with `all_rated` also tests
        utterances of no class, which only the dimensions score."""
        return np.isin(self.label.astype(str), np.asarray(self.classes, dtype=str))

    def labelled(self) -> "Predictions":
        """The rows that class metrics score (see `labelled_mask`); this table if that is all."""
        mask = self.labelled_mask()
        return self if mask.all() else self.subset(mask)

    def folds(self) -> list[int]:
        return sorted({int(f) for f in self.fold})

    def corpora(self) -> list[str]:
        """The corpora of the rows, sorted (several after training on pooled manifests)."""
        return sorted({str(c) for c in self.corpus})


def make_predictions(
    classes: Sequence[str],
    ids: Sequence[str],
    speaker: Sequence[str],
    session: Sequence[int],
    gender: Sequence[str],
    label: Sequence[str],
    probs: np.ndarray,
    fold: int | Sequence[int] = 0,
    pred: Sequence[str] | None = None,
    corpus: Sequence[str] | None = None,
    dims: np.ndarray | None = None,
    rated: np.ndarray | None = None,
) -> Predictions:
    """Build a table from columns; `pred` defaults to the argmax of `probs`, `corpus` to "";
    `dims` and `rated` [N, 3] only for a model that predicts dimensions."""
    classes = tuple(classes)
    probs = np.asarray(probs, dtype=np.float64).reshape(len(ids), len(classes))
    if pred is None:
        pred = np.asarray(classes, dtype=object)[probs.argmax(axis=1)] if len(ids) and classes else [""] * len(ids)
    fold_arr = np.full(len(ids), fold, dtype=int) if np.isscalar(fold) else np.asarray(fold, dtype=int)
    return Predictions(
        classes=classes,
        ids=np.asarray(ids, dtype=object),
        speaker=np.asarray(speaker, dtype=object),
        session=np.asarray(session, dtype=int),
        gender=np.asarray(gender, dtype=object),
        label=np.asarray(label, dtype=object),
        pred=np.asarray(pred, dtype=object),
        probs=probs,
        fold=fold_arr,
        corpus=None if corpus is None else np.asarray(corpus, dtype=object),
        dims=None if dims is None else np.asarray(dims, dtype=np.float64).reshape(len(ids), len(DIMENSIONS)),
        rated=None if rated is None else np.asarray(rated, dtype=np.float64).reshape(len(ids), len(DIMENSIONS)),
    )


def concat(tables: Sequence[Predictions]) -> Predictions:
    """Stack tables of the same class order (e.g. the folds of one model)."""
    if not tables:
        raise EvaluationError("no predictions to pool; was any checkpoint evaluated?")
    classes = tables[0].classes
    for t in tables[1:]:
        if t.classes != classes:
            raise EvaluationError(f"cannot pool predictions of classes {classes} and {t.classes}")
    return Predictions(
        classes,
        *(np.concatenate([getattr(t, name) for t in tables]) for name in
          ("ids", "speaker", "session", "gender", "label", "pred")),
        np.concatenate([t.probs for t in tables]),
        np.concatenate([t.fold for t in tables]),
        np.concatenate([t.corpus for t in tables]),
        *((np.concatenate([t.dims for t in tables]), np.concatenate([t.rated for t in tables]))
          if all(t.dims is not None for t in tables) else (None, None)),
    )


def average_over_folds(table: Predictions) -> Predictions:
    """One row per utterance id, with the mean of its rows' probabilities (fold -1).

    For a cross-corpus evaluation, where every fold's model classified every utterance;
    a table with one row per id comes back unchanged."""
    order = list(dict.fromkeys(table.ids.tolist()))
    if len(order) == len(table):
        return table
    index = {uid: i for i, uid in enumerate(order)}
    rows = np.array([index[uid] for uid in table.ids], dtype=int)
    sums = np.zeros((len(order), len(table.classes)))
    np.add.at(sums, rows, table.probs)
    first = np.unique(rows, return_index=True)[1]  # each id's first row, in `order`
    per_id = np.bincount(rows, minlength=len(order))[:, None]
    probs = sums / per_id
    dims = None
    if table.dims is not None:
        dims = np.zeros((len(order), len(DIMENSIONS)))
        np.add.at(dims, rows, table.dims)
        dims /= per_id
    t = table.subset(first)
    return make_predictions(t.classes, t.ids, t.speaker, t.session, t.gender, t.label, probs, fold=-1,
                            corpus=t.corpus, dims=dims, rated=t.rated)


def write_predictions_csv(path: str | os.PathLike, table: Predictions) -> None:
    """Write the table as CSV: fold, id, speaker, session, gender, label, pred, corpus, prob_<class>..."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    with_dims = table.dims is not None
    writer.writerow(["fold", *BASE_COLUMNS, "corpus", *(f"prob_{c}" for c in table.classes),
                     *((*PRED_DIMENSIONS, *RATED_DIMENSIONS) if with_dims else ())])
    for i in range(len(table)):
        writer.writerow([
            int(table.fold[i]), table.ids[i], table.speaker[i], int(table.session[i]), table.gender[i],
            table.label[i], table.pred[i], table.corpus[i], *(repr(float(p)) for p in table.probs[i]),
            *(dimension_cells(table.dims[i], table.rated[i]) if with_dims else ()),
        ])
    write_text(path, buf.getvalue())


def _dimension_columns(rows: list[dict[str, str]], columns: Sequence[str]) -> tuple[np.ndarray | None, ...]:
    if not set(PRED_DIMENSIONS) <= set(columns):
        return None, None
    dims = np.array([[float(r[c]) for c in PRED_DIMENSIONS] for r in rows], dtype=np.float64)
    rated = np.array([[float(r.get(c) or "nan") for c in RATED_DIMENSIONS] for r in rows], dtype=np.float64)
    return dims, rated


def read_predictions_csv(path: str | os.PathLike, fold: int | None = None) -> Predictions:
    """Read `predictions/fold_<k>.csv` (or a file written by `write_predictions_csv`).

    Classes come from the prob_<class> columns, in their order. The fold is taken from a
    `fold` column, else from `fold`, else from a `fold_<k>` file name, else 0.
    """
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"{path}: predictions file not found.")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        classes = tuple(c[len("prob_"):] for c in columns if c.startswith("prob_"))
        dimensions_only = not classes and set(PRED_DIMENSIONS) <= set(columns)  # no pred column then
        missing = [c for c in BASE_COLUMNS if c not in columns and not (dimensions_only and c == "pred")]
        if missing or not (classes or dimensions_only):
            raise EvaluationError(
                f"{path}: not a sier predictions table (missing columns {missing or ['prob_<class>']})."
            )
        rows = list(reader)
    if fold is None and "fold" not in columns:
        stem = path.stem
        fold = int(stem.rsplit("_", 1)[1]) if stem.startswith("fold_") and stem[5:].isdigit() else 0
    try:
        return make_predictions(
            classes,
            [r["id"] for r in rows],
            [r["speaker"] for r in rows],
            [int(r["session"]) for r in rows],
            [r["gender"] for r in rows],
            [r["label"] for r in rows],
            np.array([[float(r[f"prob_{c}"]) for c in classes] for r in rows], dtype=np.float64),
            fold=[int(r["fold"]) for r in rows] if fold is None else fold,
            pred=[r.get("pred") or "" for r in rows],
            corpus=[r.get("corpus") or "" for r in rows],
            **dict(zip(("dims", "rated"), _dimension_columns(rows, columns))),
        )
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"{path}: malformed predictions row ({exc}).") from exc
