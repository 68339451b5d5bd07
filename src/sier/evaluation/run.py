"""`evaluate`: run fold checkpoints on their own fold's test speakers and write the report.

A model is given as a checkpoint (`<experiment>/models/best_model_fold_<k>.pth`), a glob
over such files, or a whole experiment directory (every fold it trained). Each checkpoint
is evaluated on the test speakers of its fold, read from the `folds.json` of the
experiment that holds it (the checkpoint's parent's parent), and is refused if it trained
on any of them.

Cross-corpus (`test_manifest`): each checkpoint is evaluated instead on every utterance of
another corpus's manifest (e.g. trained on IEMOCAP, tested on German EmoDB), whose
speakers it must never have trained on and whose labels must be among its classes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sier.corpora.records import Utterance, read_manifest
from sier.errors import EvaluationError
from sier.evaluation.compare import DEFAULT_BOOTSTRAP
from sier.evaluation.inputs import (
    Experiment,
    check_checkpoint,
    check_repetitions,
    check_target,
    read_experiment,
    resolve_checkpoints,
)
from sier.evaluation.layers import checkpoint_layer_weights
from sier.evaluation.predictions import Predictions, concat, make_predictions
from sier.evaluation.report import AttentionExample, ModelRun, Report, write_report

log = logging.getLogger(__name__)


def _attention_ids(utterances: Sequence[Utterance], classes: Sequence[str], limit: int) -> list[str]:
    """Up to `limit` test utterances for heat maps: the first of each class in turn (same for both models)."""
    picked: list[str] = []
    for round_ in range(limit):
        for c in classes:
            of_class = [u.id for u in utterances if u.label == c]
            if round_ < len(of_class) and len(picked) < limit:
                picked.append(of_class[round_])
    return picked


def _experiment_of(path: Path, experiments: dict[Path, Experiment]) -> Experiment:
    """The experiment holding checkpoint `path` (its parent's parent), read once; the error names `path`."""
    exp_dir = path.resolve().parent.parent
    if exp_dir not in experiments:
        try:
            experiments[exp_dir] = read_experiment(exp_dir)
        except EvaluationError as exc:
            raise EvaluationError(
                f"{path}: cannot tell which speakers to test it on: {exc}"
            ) from exc
    return experiments[exp_dir]


@dataclass
class FoldRun:
    """What one checkpoint gave on its fold's test set (or on another corpus's utterances)."""

    table: Predictions
    embeddings: np.ndarray  # [N, E], row i belongs to table row i
    attention: list[AttentionExample]
    checkpoint: Any
    experiment: Experiment
    # embeddings and speakers of the fold's test and validation utterances (or of the other
    # corpus): speakers the model never trained on, for the speaker probe
    probe_set: tuple[np.ndarray, np.ndarray]
    altered: dict[str, Predictions]  # condition name -> the same test utterances with their audio altered


def _run_fold(path: Path, experiments: dict[Path, Experiment], cache_dir: str | None, batch_size: int, device: Any,
              attention_limit: int, progress: bool, target: Sequence[Utterance] | None = None,
              target_source: str = "", conditions: Sequence[Any] = ()) -> FoldRun:
    """Run one checkpoint on its fold's test set (or on `target`, another corpus's utterances),
    and again with the audio altered by each of `conditions` (WaveAugments). `target_source`
    names `target` in errors."""
    from sier.models.pipeline import load_ser_model
    from sier.training.data import UtteranceDataset

    model, ckpt = load_ser_model(path)  # CheckpointError names the file when it is not ours
    exp = _experiment_of(path, experiments)
    fold, utterances = _test_set(path, ckpt, exp, target, target_source)
    classes = [] if ckpt.dimensions_only else list(ckpt.meta["classes"])  # a model of the dimensions: none
    cache = cache_dir or ckpt.meta.get("cache_dir") or exp.config.get("cache_dir") or "cache"
    kept, store = _features(ckpt.meta, utterances, cache, progress)
    if len(kept) < len(utterances):
        log.warning("%s: %d test utterance(s) without features left out", path.name, len(utterances) - len(kept))
    if not kept:
        raise EvaluationError(f"{path}: no test utterance of fold {fold.index} has features; check the audio paths.")
    model.to(device)
    table, test_emb, examples = _score(model, ckpt.meta, classes, fold.index, kept, store, batch_size, device,
                                       attention_limit)
    altered = {c.name: _altered_table(model, kept, ckpt.meta, classes, cache, c, fold.index, batch_size, device,
                                      progress) for c in conditions}
    if target is not None:  # every speaker of the other corpus is unseen: probe on them all
        speakers = np.array([u.speaker for u in kept], dtype=object)
        return FoldRun(table, test_emb, examples, ckpt, exp, (test_emb, speakers), altered)
    val_kept, val_store = _features(ckpt.meta, [exp.utterances[i] for i in fold.val], cache, progress)
    val_emb = _embed(model, UtteranceDataset(val_kept, val_store, ckpt.meta["classes"]), device, batch_size)
    probe_set = (np.concatenate([test_emb, val_emb]), np.array([u.speaker for u in kept + val_kept], dtype=object))
    return FoldRun(table, test_emb, examples, ckpt, exp, probe_set, altered)


def _test_set(path: Path, ckpt: Any, exp: Experiment, target: Sequence[Utterance] | None,
              source: str) -> tuple[Any, list[Utterance]]:
    """The checkpoint's fold and the utterances to test it on, after checking that they fit: its
    fold's test speakers, or the rows of `target` (for a model of the dimensions only, its rated
    rows)."""
    from sier.corpora.dimensions import has_rating

    dimensional = ckpt.model_config.num_dimensions > 0
    fold = check_checkpoint(path, ckpt.meta, exp, dimensional)
    if target is None:
        return fold, [exp.utterances[i] for i in fold.test]
    if ckpt.dimensions_only:
        target = [u for u in target if has_rating(u)]
        if not target:
            raise EvaluationError(
                f"{source}: no utterance is rated for arousal, valence or dominance, and {path} predicts nothing else "
                "(--task dimensions); test it on a corpus that rates them (IEMOCAP, MSP-IMPROV, MSP-Podcast).")
    check_target(path, ckpt.meta, target, source, dimensional)
    return fold, list(target)


def _features(meta: dict[str, Any], utterances: Sequence[Utterance], cache: str, progress: bool,
              augment: Any = None) -> tuple[list[Utterance], Any]:
    """(the utterances that have features, their feature store) as the checkpoint was trained
    on them (upstream, speaker normalisation); `augment` alters the audio first."""
    from sier.features import FeatureConfig, extract_features
    from sier.features.speaker_norm import normalize_if

    store = normalize_if(meta.get("speaker_norm", False), extract_features(
        utterances, FeatureConfig.from_dict(meta["feature_config"]), cache, progress, augment=augment), utterances)
    return [u for u in utterances if store.has(u.id)], store


def _score(model: Any, meta: dict[str, Any], classes: Sequence[str], fold: int, kept: Sequence[Utterance], store: Any,
           batch_size: int, device: Any, attention_limit: int) -> tuple[Predictions, np.ndarray, list[AttentionExample]]:
    """The predictions table of `kept`, their embeddings [N, E] and the attention of a few of
    them (the first of each class in turn; of each label, for a model of the dimensions only)."""
    import torch

    from sier.training.data import UtteranceDataset, run_model

    wanted = set(_attention_ids(kept, classes or sorted({u.label for u in kept}), attention_limit))
    probs, embeddings, examples, dims = [], [], [], []
    for batch, out in run_model(model, UtteranceDataset(kept, store, meta["classes"]), batch_size, device):
        p = out["emotion_logits"].float().softmax(-1).cpu()[:, : len(classes)]  # no column without classes
        probs.append(p)
        embeddings.append(out["embedding"].float().cpu())
        if "dimensions" in out:
            dims.append(out["dimensions"].float().cpu())
        for b, i in enumerate(batch["index"].tolist() if "attention" in out else []):
            utt = kept[i]
            if utt.id in wanted:
                n = int(batch["lengths"][b])
                examples.append(AttentionExample(utt.id, fold, utt.label, classes[int(p[b].argmax())] if classes else "",
                                                 utt.path, out["attention"][b, :, :n, :n].float().cpu().numpy()))
    table = _table(classes, fold, kept, torch.cat(probs).numpy(), torch.cat(dims).numpy() if dims else None)
    return table, torch.cat(embeddings).numpy(), examples


def _table(classes: Sequence[str], fold: int, rows: Sequence[Utterance], probs: np.ndarray,
           dims: np.ndarray | None = None) -> Predictions:
    """The predictions table of `rows` with their class probabilities [N, C] (and predicted
    dimensions [N, 3] on 0..1, for a model that has them; the ratings come from `rows`)."""
    from sier.corpora.dimensions import normalized

    return make_predictions(classes, [u.id for u in rows], [u.speaker for u in rows], [u.session for u in rows],
                            [u.gender for u in rows], [u.label for u in rows], probs, fold=fold,
                            corpus=[u.corpus for u in rows], dims=dims,
                            rated=None if dims is None else np.array([normalized(u) for u in rows]))


def _altered_table(model: Any, rows: Sequence[Utterance], meta: dict[str, Any], classes: Sequence[str], cache: str,
                   condition: Any, fold: int, batch_size: int, device: Any, progress: bool) -> Predictions:
    """The model's predictions of `rows` with their audio altered by `condition` (a WaveAugment),
    from features extracted (and cached) for that condition."""
    import torch

    from sier.training.data import UtteranceDataset, run_model

    kept, store = _features(meta, rows, cache, progress, augment=condition)
    outs = [o for _, o in run_model(model, UtteranceDataset(kept, store, meta["classes"]), batch_size, device)]
    probs = torch.cat([o["emotion_logits"].float().softmax(-1).cpu()[:, : len(classes)] for o in outs]).numpy()
    dims = torch.cat([o["dimensions"].float().cpu() for o in outs]).numpy() if "dimensions" in outs[0] else None
    return _table(classes, fold, kept, probs, dims)


def _embed(model: Any, dataset: Any, device: Any, batch_size: int) -> np.ndarray:
    """Pooled embeddings [N, E] of a dataset's utterances, in order."""
    from sier.training.data import run_model

    out = [np.zeros((0, model.head.cfg.embedding_dim), dtype=np.float32)]
    out += [o["embedding"].float().cpu().numpy() for _, o in run_model(model, dataset, batch_size, device)]
    return np.concatenate(out)


def _curves(exp: Experiment, fold: int) -> list[dict[str, float]] | None:
    from sier.training.layout import metrics_path
    from sier.training.outputs import read_metrics

    path = metrics_path(exp.directory, fold)
    return read_metrics(path) if path.is_file() else None


def evaluate_model(name: str, spec: str | os.PathLike | Sequence[str | os.PathLike], cache_dir: str | None = None,
                   batch_size: int = 16, device: str | None = None, max_attention_examples: int = 3,
                   progress: bool = True, test_manifest: str | os.PathLike | None = None,
                   conditions: str = "") -> ModelRun:
    """Evaluate every checkpoint of `spec` on its own fold's test speakers (or, with
    `test_manifest`, on every utterance of that manifest); one ModelRun.

    `conditions` ("noise:20,noise:5,speed:1.1", the syntax of sier.features.augment): each
    test set is also classified with its audio so altered (robustness; `ModelRun.conditions`).

    Several specs are repetitions of the model (runs with other seeds): each is evaluated the
    same way; the ModelRun is the first one's, with every repetition's predictions in `repeats`.
    They must test the same utterances in the same folds."""
    from sier.features.augment import parse_augments

    specs = [spec] if isinstance(spec, (str, os.PathLike)) else list(spec)
    if not specs:
        raise EvaluationError(f"no checkpoint or experiment given for the {name} model.")
    altered = parse_augments(conditions)  # FeatureError on bad text, before any work
    runs = [_evaluate_spec(name if len(specs) == 1 else f"{name} (repetition {i + 1}/{len(specs)})", one, cache_dir,
                           batch_size, device, max_attention_examples, progress, test_manifest,
                           altered if i == 0 else ())  # the other repetitions: headline scores only
            for i, one in enumerate(specs)]
    for run in runs:
        run.name = name
    if len(runs) > 1:
        check_repetitions(runs, specs)
        runs[0].repeats = [(str(r.experiment_dir), r.predictions) for r in runs]
    return runs[0]


def _evaluate_spec(name: str, spec: str | os.PathLike, cache_dir: str | None, batch_size: int, device: str | None,
                   max_attention_examples: int, progress: bool, test_manifest: str | os.PathLike | None,
                   conditions: Sequence[Any] = ()) -> ModelRun:
    """One ModelRun of every checkpoint of `spec` (see `evaluate_model`)."""
    import torch

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    paths = resolve_checkpoints(spec)
    target = read_manifest(test_manifest) if test_manifest else None
    if target is not None and not target:
        raise EvaluationError(f"{test_manifest}: the manifest holds no utterance.")
    experiments: dict[Path, Experiment] = {}
    tables, embeddings, attention, checkpoints, curves, probe_sets = [], [], [], {}, {}, {}
    condition_tables: dict[str, list[Predictions]] = {}
    layer_weights: dict[int, np.ndarray] = {}
    temperatures: dict[int, float] = {}
    info: dict[str, Any] = {}
    for n, path in enumerate(paths):
        print(f"[{name} {n + 1}/{len(paths)}] {path}")
        run = _run_fold(path, experiments, cache_dir, batch_size, device, max_attention_examples, progress, target,
                        str(test_manifest), conditions)
        ckpt, exp = run.checkpoint, run.experiment
        for condition, t in run.altered.items():
            condition_tables.setdefault(condition, []).append(t)
        fold = run.table.folds()[0]
        if fold in checkpoints:
            raise EvaluationError(f"{path}: fold {fold} is given twice ({checkpoints[fold]}); pass one checkpoint per fold.")
        tables.append(run.table)
        temperatures[fold] = float(ckpt.meta.get("temperature", 1.0))
        weights = checkpoint_layer_weights(ckpt.state_dict)
        if weights is not None:
            layer_weights[fold] = weights
        embeddings.append(run.embeddings)
        probe_sets[fold] = run.probe_set
        attention += run.attention
        checkpoints[fold] = str(path)
        rows = _curves(exp, fold)
        if rows:
            curves[fold] = rows
        info = {"model": ckpt.model_config.kind,
                "upstream": ckpt.meta.get("feature_config", {}).get("upstream"),
                "label map": ckpt.meta.get("label_map"),
                "protocol": exp.config.get("protocol")}
        if target is not None:
            corpora = ", ".join(sorted({u.corpus for u in target}))
            info["test data"] = (f"cross-corpus: all {len(target)} utterances of {len({u.speaker for u in target})} "
                                 f"speakers of {test_manifest} ({corpora})")
    attention = [ex for ex in attention if ex.fold == min(checkpoints)]  # heat maps of one fold
    table, embedded = concat(tables), np.concatenate(embeddings)
    # a model of the dimensions only scores every row; a classifier with all_rated, its labelled ones
    labelled = np.ones(len(table), dtype=bool) if table.dimensions_only else table.labelled_mask()
    if not labelled.all():  # all_rated: rows of no class count for the dimensions only
        tested = info.get("test data", "each fold's test speakers")
        info["test data"] = f"{tested}; {int((~labelled).sum())} rated utterances of no class scored for the dimensions only"
    return ModelRun(name, table.subset(labelled), embedded[labelled], attention, curves, checkpoints,
                    str(next(iter(experiments))) if len(experiments) == 1 else ", ".join(map(str, experiments)),
                    info, probe_sets, conditions={c: concat(ts) for c, ts in condition_tables.items()},
                    rated=None if labelled.all() else table, layer_weights=layer_weights,
                    temperatures=temperatures)


def evaluate(
    enhanced_model_path: str | os.PathLike | Sequence[str | os.PathLike],
    original_model_path: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    out: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    max_attention_examples: int = 3,
    batch_size: int = 16,
    device: str | None = None,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    progress: bool = True,
    test_manifest: str | os.PathLike | None = None,
    conditions: str = "",
) -> Report:
    """Evaluate the enhanced model (and the original, if given) and write the report.

    Each model path is a checkpoint, a glob over fold checkpoints, or an experiment
    directory; a list of them gives repetitions of the model (other seeds, see
    `evaluate_model` and sier.evaluation.repetitions). out: the report folder; default <enhanced experiment>/evaluation_<YYYYmmdd-HHMMSS>/.
    cache_dir: feature cache (default: the one each checkpoint was trained with). Returns the
    Report (paths of report.md, evaluation.json and figures, and the results dict).
    test_manifest: evaluate every checkpoint on all utterances of this manifest instead
    (cross-corpus; see the module docstring).
    conditions: also classify every test set with its audio altered ("noise:20,noise:5", see
    `evaluate_model`); the report adds a robustness section.
    Raises EvaluationError / CheckpointError on bad input, naming the file.
    """
    cache = str(cache_dir) if cache_dir else None
    runs = [evaluate_model("enhanced", enhanced_model_path, cache, batch_size, device, max_attention_examples, progress,
                           test_manifest, conditions)]
    if original_model_path:
        runs.append(evaluate_model("original", original_model_path, cache, batch_size, device,
                                   max_attention_examples, progress, test_manifest, conditions))
    if out is None:
        first = Path(next(iter(runs[0].checkpoints.values()))).resolve().parent.parent
        out = first / f"evaluation_{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    report = write_report(runs, out, max_attention_examples=max_attention_examples, n_boot=n_boot, seed=seed)
    return report
