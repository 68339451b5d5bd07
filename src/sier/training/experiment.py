"""Setting up an experiment: the utterances a run trains on (manifests or a corpus tree, under the
label map and subset), a new experiment directory with its config, environment, manifest and
folds, and reopening one to resume it (layout: sier.training.layout)."""

from __future__ import annotations

import logging
import os
import platform
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from sier import __version__
from sier.corpora.records import PrepareResult, Utterance, read_manifest, read_manifests, write_manifest
from sier.errors import TrainingError
from sier.fileio import read_json, write_json
from sier.splits import load_folds, make_folds, save_folds
from sier.training.config import RUNTIME_FIELDS, TrainConfig, load_config_yaml, save_config_yaml
from sier.training.layout import Experiment

log = logging.getLogger(__name__)


def read_utterances(config: TrainConfig) -> list[Utterance]:
    """The manifests' utterances (pooled), or those read from corpus_root under the label map;
    with dimension_weight > 0, TrainingError unless some of them are rated for the dimensions.
    Task "dimensions" keeps the rated ones only: nothing else can teach or test it."""
    utterances = _read_utterances(config)
    if config.task == "dimensions":
        from sier.corpora.dimensions import has_rating

        unrated = sum(1 for u in utterances if not has_rating(u))
        if unrated:
            log.info("task dimensions: %d unrated utterance(s) left out", unrated)
        utterances = [u for u in utterances if has_rating(u)] or utterances  # none rated: the check below says so
    if config.dimension_weight:
        from sier.corpora.dimensions import SCALES, rated

        if not rated(utterances):
            corpora = ", ".join(sorted({u.corpus for u in utterances}))
            raise TrainingError(
                f"dimension_weight {config.dimension_weight}: no utterance of {corpora} is rated for arousal, valence "
                f"or dominance (sier reads them for {', '.join(SCALES)}; a manifest from before they were read "
                "lacks them: re-run `sier prepare`); pass --dimension_weight 0.")
        log.info("dimensions: %d of %d utterances rated", rated(utterances), len(utterances))
    return utterances


def _read_utterances(config: TrainConfig) -> list[Utterance]:
    if config.manifest:
        return _manifest_utterances(config)
    if not config.corpus_root:
        raise TrainingError(
            "no data given: pass --corpus_root PATH (IEMOCAP_full_release or its parent; with --corpus "
            "emodb or ravdess, their trees) or --manifest CSV (written by `sier prepare`)."
        )
    from sier.corpora.registry import read_corpus

    result = read_corpus(config.corpus, config.corpus_root, config.label_map, config.subset, config.all_rated)
    for warning in result.warnings:
        log.warning("%s", warning)
    for note in result.notes:
        log.info("%s", note)
    if not result.utterances:
        raise TrainingError(f"{config.corpus_root}: no labelled utterance with a wav was found.")
    return result.utterances


def _manifest_utterances(config: TrainConfig) -> list[Utterance]:
    from sier.corpora.labels import get_label_map
    from sier.corpora.registry import keep_rated_outside
    from sier.corpora.subsets import select_subset

    utterances = select_subset(read_manifests(config.manifest), config.subset)
    classes = get_label_map(config.label_map).classes
    if config.all_rated:  # rows of no class stay where rated (`sier prepare --all_rated` wrote them)
        result = keep_rated_outside(PrepareResult(utterances), classes)
        for note in result.notes:
            log.info("%s", note)
        return result.utterances
    unknown = sorted({u.label for u in utterances} - set(classes))
    if unknown:  # before features are extracted, not when the first fold starts
        raise TrainingError(
            f"{', '.join(config.manifest)}: labels {unknown} are not classes of the label map {config.label_map} "
            f"{list(classes)}; pass the --label_map the manifest was prepared with (or, for a manifest written by "
            "`sier prepare --all_rated`, --all_rated).")
    return utterances


def environment_info(config: TrainConfig, argv: Sequence[str] | None) -> dict[str, Any]:
    import lightning
    import torch
    import torchmetrics
    import transformers

    cuda = torch.cuda.is_available()
    return {
        "sier": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "lightning": lightning.__version__,
        "torchmetrics": torchmetrics.__version__,
        "seed": config.seed,
        "argv": list(argv) if argv is not None else sys.argv[1:],
        "cuda": {
            "available": cuda,
            "version": torch.version.cuda,
            "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        },
        "created": datetime.now().isoformat(timespec="seconds"),
    }


def new_experiment_dir(config: TrainConfig) -> Path:
    """<output_dir>/<name>_<YYYYmmdd-HHMMSS>; a -2, -3, ... suffix if that exists already."""
    base = Path(config.output_dir) / f"{config.name}_{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def create_experiment(config: TrainConfig, utterances: list[Utterance], argv: Sequence[str] | None) -> Experiment:
    """Make the folds and the directory; write config.yaml, environment.json, manifest.csv, folds.json."""
    from sier.corpora.labels import get_label_map

    from sier.corpora.coverage import class_gaps

    classes = get_label_map(config.label_map).classes
    folds = make_folds(utterances, config.protocol)
    if config.task == "classes":
        for gap in class_gaps(folds, utterances, classes):
            log.warning("%s: that part cannot learn or score the class", gap)
    exp = new_experiment_dir(config)
    save_config_yaml(exp / "config.yaml", config)
    write_json(exp / "environment.json", environment_info(config, argv))
    write_manifest(exp / "manifest.csv", utterances)
    save_folds(exp / "folds.json", folds, config.protocol)
    return Experiment(exp, config, utterances, folds, config.protocol, classes)


def open_experiment(directory: str | os.PathLike, overrides: dict[str, Any] | None = None) -> Experiment:
    """Reopen an experiment directory to resume it; only runtime fields may be overridden."""
    from sier.corpora.labels import get_label_map

    exp = Path(directory)
    if not (exp / "config.yaml").is_file() or not (exp / "folds.json").is_file():
        raise TrainingError(f"{exp}: not a sier experiment directory (config.yaml / folds.json missing).")
    config = TrainConfig.from_dict(load_config_yaml(exp / "config.yaml"))
    overrides = dict(overrides or {})
    changed = sorted(k for k, v in overrides.items() if k not in RUNTIME_FIELDS and getattr(config, k) != v)
    if changed:
        raise TrainingError(
            f"cannot change {changed} when resuming {exp}; start a new experiment instead "
            f"(only {', '.join(RUNTIME_FIELDS)} may differ)."
        )
    config = config.override(**{k: v for k, v in overrides.items() if k in RUNTIME_FIELDS})
    protocol = read_json(exp / "folds.json").get("protocol", config.protocol)
    utterances = read_manifest(exp / "manifest.csv")
    return Experiment(exp, config, utterances, load_folds(exp / "folds.json"), protocol,
                      get_label_map(config.label_map).classes)
