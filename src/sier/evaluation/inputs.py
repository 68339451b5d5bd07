"""What `sier evaluate` is given and whether it fits: experiment directories, checkpoint specs
(a file, a glob, or a whole experiment), and the checks that keep an evaluation
speaker-independent (a checkpoint is tested only on speakers it never trained on, with its
own classes and features; repetitions test the same utterances)."""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from sier.corpora.records import Utterance, read_manifest
from sier.errors import EvaluationError
from sier.evaluation.report import ModelRun
from sier.splits import Fold, load_folds

CHECKPOINT_NAME = re.compile(r"^best_model_fold_(?P<fold>\d+)\.(pth|safetensors)$")
MODELS_DIR = "models"


@dataclass(frozen=True)
class Experiment:
    """The parts of an experiment directory that evaluation reads."""

    directory: Path
    config: dict[str, Any]  # config.yaml as written by `sier train`
    utterances: dict[str, Utterance]  # manifest, by id
    folds: dict[int, Fold]  # folds.json, by index


def read_experiment(directory: str | os.PathLike) -> Experiment:
    """Read config.yaml, manifest.csv and folds.json of an experiment; EvaluationError names what is missing."""
    import yaml

    directory = Path(directory)
    missing = [n for n in ("config.yaml", "manifest.csv", "folds.json") if not (directory / n).is_file()]
    if missing:
        raise EvaluationError(
            f"{directory}: not a sier experiment directory ({', '.join(missing)} missing); a checkpoint must sit "
            f"in <experiment>/{MODELS_DIR}/ of a directory written by `sier train`."
        )
    try:
        config = yaml.safe_load((directory / "config.yaml").read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise EvaluationError(f"{directory / 'config.yaml'}: not valid YAML ({exc}).") from exc
    return Experiment(
        directory,
        config,
        {u.id: u for u in read_manifest(directory / "manifest.csv")},
        {f.index: f for f in load_folds(directory / "folds.json")},
    )


def _expected_folds(exp: Experiment) -> list[int]:
    chosen = exp.config.get("folds")
    return sorted(int(k) for k in chosen) if chosen else sorted(exp.folds)


def resolve_checkpoints(spec: str | os.PathLike) -> list[Path]:
    """Checkpoint files named by `spec`: a file, a glob (quoted on the shell), or an experiment directory.

    An experiment directory must hold models/best_model_fold_<k>.pth for every fold it
    trained (config.yaml `folds`, else every fold of folds.json); missing ones are named.
    """
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        exp = read_experiment(path)
        expected = _expected_folds(exp)
        found = {k: p for k in expected for p in [path / MODELS_DIR / f"best_model_fold_{k}.pth"] if p.is_file()}
        missing = [k for k in expected if k not in found]
        if missing:
            raise EvaluationError(
                f"{path}: no checkpoint for fold(s) {missing} in {path / MODELS_DIR} (expected "
                f"best_model_fold_<k>.pth for folds {expected}); finish the run with `sier train --resume {path}` "
                "or pass the checkpoints that exist (a file or a quoted glob)."
            )
        return [found[k] for k in expected]
    if glob.has_magic(text):
        matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(text)) if Path(p).is_file())
        if not matches:
            raise EvaluationError(f"{text}: the pattern matches no file; check the path (quote it on the shell).")
        return matches
    if path.is_file():
        return [path]
    raise EvaluationError(f"{text}: no such checkpoint file or experiment directory.")


def unscorable_labels(utterances: Iterable[Utterance], classes: Sequence[str], dimensional: bool) -> list[str]:
    """The labels of `utterances` that are not `classes`, except those of rated utterances when
    the model predicts the dimensions (all_rated: they are scored on the dimensions only)."""
    from sier.corpora.dimensions import has_rating

    return sorted({u.label for u in utterances if u.label not in classes and not (dimensional and has_rating(u))})


def check_checkpoint(path: Path, meta: dict[str, Any], exp: Experiment, dimensional: bool = False) -> Fold:
    """The fold the checkpoint belongs to, after checking that it fits the experiment's data
    (`dimensional`: the model predicts the dimensions)."""
    from sier.corpora.labels import get_label_map

    fold_index = meta.get("fold")
    match = CHECKPOINT_NAME.match(path.name)
    if fold_index is None and match:
        fold_index = int(match["fold"])
    if fold_index is None or int(fold_index) not in exp.folds:
        raise EvaluationError(
            f"{path}: fold {fold_index!r} of the checkpoint is not a fold of {exp.directory / 'folds.json'} "
            f"(folds {sorted(exp.folds)})."
        )
    fold = exp.folds[int(fold_index)]
    classes = list(meta.get("classes") or [])
    label_map = exp.config.get("label_map")
    if label_map and meta.get("label_map") and meta["label_map"] != label_map:
        raise EvaluationError(
            f"{path}: trained with label map {meta['label_map']!r}, but the experiment's data uses {label_map!r}; "
            "evaluate it with the experiment it was trained in."
        )
    if label_map and classes and tuple(classes) != tuple(get_label_map(label_map).classes):
        raise EvaluationError(f"{path}: its classes {classes} differ from those of label map {label_map!r}.")
    unknown = unscorable_labels((exp.utterances[i] for i in fold.test if i in exp.utterances), classes, dimensional)
    if unknown:
        raise EvaluationError(f"{path}: test labels {unknown} are not among the checkpoint's classes {classes}.")
    upstream = (meta.get("feature_config") or {}).get("upstream")
    if exp.config.get("upstream") and upstream and upstream != exp.config["upstream"]:
        raise EvaluationError(
            f"{path}: trained on features of upstream {upstream!r}, but {exp.directory / 'config.yaml'} "
            f"uses {exp.config['upstream']!r}; the checkpoint belongs to another experiment."
        )
    test_speakers = set(fold.test_speakers) | {exp.utterances[i].speaker for i in fold.test if i in exp.utterances}
    seen = sorted(test_speakers & set(meta.get("speakers") or []))
    if seen:
        raise EvaluationError(
            f"{path}: trained on {seen}, who are test speakers of fold {fold.index}; a speaker-independent "
            "evaluation never tests on training speakers. Is the checkpoint from this experiment?"
        )
    return fold


def check_target(path: Path, meta: dict[str, Any], target: Sequence[Utterance], source: str,
                 dimensional: bool = False) -> None:
    """A cross-corpus test set fits the checkpoint: its labels are classes of the model (or, for
    a model that predicts the dimensions, its utterances of no class are rated) and none of its
    speakers trained the model."""
    classes = list(meta.get("classes") or [])
    unknown = unscorable_labels(target, classes, dimensional)
    if unknown:
        raise EvaluationError(
            f"{source}: labels {unknown} are not among the classes {classes} of {path}; prepare the corpus "
            "with a label map of the same classes (the 4-class maps iemocap-4, emodb-4, ravdess-4, ... all match)."
        )
    seen = sorted({u.speaker for u in target} & set(meta.get("speakers") or []))
    if seen:
        raise EvaluationError(
            f"{source}: speakers {seen[:5]} trained {path}; a cross-corpus test set must hold unseen speakers only."
        )


def check_repetitions(runs: Sequence[ModelRun], specs: Sequence[str | os.PathLike]) -> None:
    """Repetitions are other runs (no checkpoint twice) of the same test: folds, utterances, classes."""
    seen: dict[str, str] = {}
    for run, spec in zip(runs, specs):
        for path in run.checkpoints.values():
            key = str(Path(path).resolve())
            if key in seen:
                raise EvaluationError(f"{spec}: checkpoint {path} is also given by {seen[key]}; each repetition must "
                                      "be another training run (another seed).")
            seen[key] = str(spec)
    first = runs[0].predictions
    keys = sorted(zip(first.fold.tolist(), first.ids.tolist()))
    for run, spec in zip(runs[1:], specs[1:]):
        t = run.predictions
        if t.classes != first.classes or sorted(zip(t.fold.tolist(), t.ids.tolist())) != keys:
            raise EvaluationError(
                f"{spec}: tests other utterances, folds or classes than {specs[0]}; repetitions must be runs of the "
                "same data, label map, protocol and folds that differ in the seed only.")
