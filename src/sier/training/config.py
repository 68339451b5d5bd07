"""TrainConfig: everything a cross-validated training run depends on, typed and frozen.

A YAML file (`--config`) holds any subset of these fields by name; command-line flags
override it; the resolved config is written to `<experiment>/config.yaml`. Values that
follow from the data (input size, number of classes, speakers per fold, steps per epoch)
are computed in code, never stored here.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

from sier.configs import from_mapping
from sier.errors import SierError, TrainingError
from sier.splits import PROTOCOLS

BALANCES = ("weights", "sampler", "none")
UPSTREAM_DROPOUTS = ("finetune", "pretrained")  # the keys of sier.features.upstream.TOP_DROPOUTS
MONITORS = ("val_ua", "val_wa", "val_f1", "val_loss", "val_ccc")
TASKS = ("classes", "dimensions")
# Fields that may differ when resuming: where and how the run executes, not what it computes.
RUNTIME_FIELDS = ("folds", "devices", "accelerator", "strategy", "num_nodes", "num_workers", "progress", "log_interval")


@dataclass(frozen=True)
class TrainConfig:
    """A training run: data, features, model, optimisation, augmentation and runtime."""

    # --- data
    corpus: str | None = None  # layout of corpus_root (iemocap, emodb, ravdess, ...); None: the label map's (iemocap)
    corpus_root: str | None = None  # corpus tree (IEMOCAP_full_release or its parent, ...); or give `manifest`
    manifest: tuple[str, ...] | None = None  # manifest CSV(s) from `sier prepare`, instead of corpus_root; several are pooled
    label_map: str | None = None  # named label map (iemocap-4, iemocap-6, emodb-7, ...); None = the corpus's 4 classes
    subset: str = "all"  # recordings kept: IEMOCAP "improvised"/"scripted", MSP-IMPROV "read"/"improvised"/"natural"
    protocol: str = "session"  # "session", "speaker", "corpus" (leave one out) or "official" (MSP-Podcast's partitions)
    folds: tuple[int, ...] | None = None  # fold indices to run (e.g. (0, 2)); None = every fold
    # --- features (see sier.features.FeatureConfig)
    upstream: str = "facebook/hubert-base-ls960"  # HF hub id, local save_pretrained folder, or "fbank"
    revision: str | None = None  # hub revision of the upstream; None = default branch
    freeze_layers: int | None = None  # upstream layers frozen and cached; the rest train at upstream_lr_scale; None = all
    layer: int | None = None  # frozen upstream only: hidden state used (0..L); None = last
    layer_weighted: bool = False  # frozen upstream only: learned softmax-weighted sum of all hidden states
    feature_dtype: str = "float32"  # extraction precision ("float32" or "bfloat16")
    cache_dir: str = "cache"  # feature cache folder, shared between runs
    speaker_norm: bool = False  # standardise each speaker's features over all their utterances (frozen upstream/fbank)
    # --- model (see sier.models.ModelConfig)
    model: str = "enhanced"  # "baseline" (original GRU) or "enhanced"
    hidden_size: int = 128  # GRU hidden size per direction (the original --hidden_layer)
    num_gru_layers: int = 2  # stacked bidirectional GRU layers
    dropout: float = 0.3  # dropout probability throughout the model
    attention_dropout: float = 0.3  # enhanced: dropout on the attention probabilities (the output keeps `dropout`)
    adain: bool = True  # enhanced: per-utterance instance normalisation + affine (AdaIN)
    adain_style_rank: int = 0  # enhanced: >0: AdaIN affine predicted from the removed statistics (rank); 0 = fixed affine
    attention: bool = True  # enhanced: multi-head self-attention block
    num_heads: int = 8  # enhanced: attention heads (2 * hidden_size divisible by it)
    residual: bool = True  # enhanced: residual connections between GRU layers
    pooling: str = "mean_max"  # enhanced: "mean_max" or "mean_attn"
    speaker_adversarial: bool = False  # add a speaker head behind gradient reversal (fold's training speakers)
    adversarial_weight: float = 0.1  # weight of the speaker CE in the loss (times alpha(p))
    adversarial_gamma: float = 10.0  # alpha(p) = 2 / (1 + exp(-gamma p)) - 1 over training progress p
    speaker_hidden: int = 128  # hidden size of the speaker classifier
    task: str = "classes"  # "classes" (emotion classes) or "dimensions" (arousal, valence, dominance only; no class loss)
    dimension_weight: float = 0.0  # >0: also regress arousal, valence, dominance; loss + weight x (1 - mean CCC)
    all_rated: bool = False  # with dimension_weight: rated utterances of no class train/test the dimensions only
    # --- distillation (see sier.training.distill)
    teacher: str | None = None  # experiment directory of a trained teacher on the same folds; None = no distillation
    distill_weight: float = 0.5  # with a teacher: loss = (1 - w) CE + w T^2 KL(teacher || student)
    distill_temperature: float = 2.0  # T: softens both distributions
    # --- optimisation
    epochs: int = 50  # maximum epochs per fold
    batch_size: int = 16  # utterances per batch (per device)
    lr: float = 1e-4  # base learning rate (model body); heads and upstream top are scaled
    head_lr_scale: float = 2.0  # classifier heads train at lr * this
    upstream_lr_scale: float = 0.1  # trainable upstream top layers train at lr * this
    upstream_dropout: str = "finetune"  # dropouts of the trainable top: "finetune" (HuBERT recipe) or "pretrained"
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    warmup_epochs: float = 1.0  # linear warm-up length, in epochs (may be fractional)
    restart_epochs: float = 10.0  # first cosine cycle length after warm-up, in epochs; 0 = no annealing
    restart_mult: float = 1.0  # each cosine cycle is this many times longer than the last
    min_lr_ratio: float = 0.01  # cosine floor as a fraction of the base LR
    plateau_factor: float = 0.5  # LR multiplied by this after `plateau_patience` epochs without improvement
    plateau_patience: int = 3  # validations without improvement before a plateau decay; 0 = never
    grad_clip: float = 1.0  # gradient norm clipping (0 = off)
    monitor: str | None = None  # validation metric for early stopping, best model and plateau decay; None = val_ua
    # (val_ccc for task "dimensions")
    early_stopping_patience: int = 10  # epochs without improvement before stopping; 0 = never stop early
    calibrate: bool = False  # fit a temperature on each fold's validation speakers after training (probabilities only)
    balance: str = "weights"  # class balance: "weights" (weighted CE), "sampler" (balanced batches), "none"
    length_buckets: bool = False  # training batches of similar length (less padding), validation in length order
    # --- augmentation (training only; on cached features)
    time_masks: int = 2  # SpecAugment-like time masks per utterance
    time_mask_s: float = 0.2  # maximum width of one time mask, seconds
    channel_masks: int = 2  # feature-channel masks per utterance
    channel_mask_frac: float = 0.05  # maximum width of one channel mask, fraction of the feature channels
    max_train_s: float = 12.0  # training utterances longer than this are randomly cropped (0 = never)
    wave_augment: str = ""  # cached waveform variants, e.g. "speed:0.9,speed:1.1,noise:20" (sier.features.augment)
    wave_augment_prob: float = 0.5  # chance that a training item uses one of those variants instead of the clean audio
    # --- runtime
    seed: int = 0  # seeds Python, NumPy and torch; same seed -> same result on CPU
    deterministic: bool = True  # ask torch for deterministic algorithms (warns where none exists)
    devices: str = "auto"  # Lightning Trainer devices: "auto", a count ("2") or a list ("0,1")
    accelerator: str = "auto"  # "auto", "cpu", "gpu", "mps"
    strategy: str = "auto"  # "auto", "ddp", ...
    num_nodes: int = 1  # machines for multi-node DDP
    precision: str = "32-true"  # "32-true"; "16-mixed" or "bf16-mixed" on GPU
    num_workers: int = 0  # DataLoader worker processes (features are cached, 0 is usually enough)
    log_interval: int = 10  # log training loss every N steps
    progress: bool = True  # show progress bars
    name: str = "train"  # experiment name; the directory is <output_dir>/<name>_<YYYYmmdd-HHMMSS>
    output_dir: str = "experiments"  # where experiment directories are created

    def __post_init__(self) -> None:
        self._coerce_types()
        self._resolve_corpus()
        self._resolve_task()
        problems = []
        if self.protocol not in PROTOCOLS:
            problems.append(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if self.model not in ("baseline", "enhanced"):
            problems.append(f"model must be 'baseline' or 'enhanced', got {self.model!r}")
        if self.balance not in BALANCES:
            problems.append(f"balance must be one of {BALANCES}, got {self.balance!r}")
        if self.upstream_dropout not in UPSTREAM_DROPOUTS:
            problems.append(f"upstream_dropout must be one of {UPSTREAM_DROPOUTS}, got {self.upstream_dropout!r}")
        if self.task not in TASKS:
            problems.append(f"task must be one of {TASKS}, got {self.task!r}")
        problems += self._dimensions_only_problems()
        if self.monitor not in MONITORS:
            problems.append(f"monitor must be one of {MONITORS}, got {self.monitor!r}")
        for name in ("epochs", "batch_size", "num_nodes", "log_interval"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "head_lr_scale", "upstream_lr_scale"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 < self.plateau_factor <= 1.0:
            problems.append(f"plateau_factor must be in (0, 1], got {self.plateau_factor}")
        if not 0.0 <= self.distill_weight <= 1.0:
            problems.append(f"distill_weight must be in [0, 1], got {self.distill_weight}")
        if self.distill_temperature <= 0:
            problems.append(f"distill_temperature must be > 0, got {self.distill_temperature}")
        if self.dimension_weight < 0:
            problems.append(f"dimension_weight must be >= 0, got {self.dimension_weight}")
        if self.monitor == "val_ccc" and not self.dimension_weight:
            problems.append("monitor val_ccc needs dimension_weight > 0 (the dimensions are not learned otherwise)")
        if self.all_rated and not self.dimension_weight:
            problems.append("all_rated needs dimension_weight > 0 (its extra utterances only train the dimensions)")
        if self.all_rated and self.balance == "sampler":
            problems.append("all_rated cannot use balance 'sampler' (utterances of no class have no class to balance); "
                            "use 'weights'")
        if not 0.0 <= self.wave_augment_prob <= 1.0:
            problems.append(f"wave_augment_prob must be in [0, 1], got {self.wave_augment_prob}")
        try:
            from sier.features.augment import parse_augments

            parse_augments(self.wave_augment)
        except SierError as exc:
            problems.append(str(exc))
        if not self.manifest:  # a manifest's corpora are checked when it is read
            try:
                from sier.corpora.subsets import subset_filter

                subset_filter(self.corpus, self.subset)
            except SierError as exc:
                problems.append(str(exc))
        if problems:
            raise TrainingError("invalid training config: " + "; ".join(problems))

    def _resolve_task(self) -> None:
        """Task "dimensions" learns the dimensions of every rated utterance (all_rated, with
        dimension_weight 1 unless given) and selects on val_ccc unless told otherwise."""
        if self.task == "dimensions":
            object.__setattr__(self, "all_rated", True)
            if not self.dimension_weight:
                object.__setattr__(self, "dimension_weight", 1.0)
        if self.monitor is None:
            object.__setattr__(self, "monitor", "val_ccc" if self.task == "dimensions" else "val_ua")

    def _dimensions_only_problems(self) -> list[str]:
        """What task "dimensions" cannot be combined with: everything that needs the classes."""
        if self.task != "dimensions":
            return []
        problems = []
        if self.monitor != "val_ccc":
            problems.append(f"task dimensions selects the model on val_ccc (no class is learned), not {self.monitor}")
        if self.teacher:
            problems.append("task dimensions cannot distil a teacher (distillation transfers class probabilities)")
        if self.calibrate:
            problems.append("task dimensions has no class probabilities to calibrate; leave out --calibrate")
        return problems

    def _resolve_corpus(self) -> None:
        """Fill in corpus and label_map from each other (the resolved config names both) and
        check that they fit: a label map reads the raw labels of one corpus."""
        from sier.corpora.labels import DEFAULT_LABEL_MAPS, get_label_map

        try:
            corpus = self.corpus or (get_label_map(self.label_map).corpus if self.label_map else
                                     _manifest_corpus(self.manifest) or "iemocap")
            if corpus not in DEFAULT_LABEL_MAPS:
                raise TrainingError(f"corpus must be one of {list(DEFAULT_LABEL_MAPS)}, got {corpus!r}")
            label_map = get_label_map(self.label_map or DEFAULT_LABEL_MAPS[corpus], corpus).name
        except SierError as exc:
            raise TrainingError(f"invalid training config: {exc}") from None
        object.__setattr__(self, "corpus", corpus)
        object.__setattr__(self, "label_map", label_map)

    def _coerce_types(self) -> None:
        """YAML and flags give ints for floats and lists for tuples; accept those, refuse the rest."""
        for f in fields(self):
            value = getattr(self, f.name)
            kind = f.type.replace(" | None", "")
            if value is None:
                if "None" not in f.type:
                    raise TrainingError(f"invalid training config: {f.name} must not be empty")
                continue
            if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            elif kind == "str" and isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)  # e.g. devices: 2 in YAML
            elif kind == "tuple[int, ...]":
                if isinstance(value, str):
                    value = parse_int_list(value)
                elif isinstance(value, int):
                    value = (value,)
                value = tuple(value)
                if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                    raise TrainingError(f"invalid training config: {f.name} must be a list of integers, got {value!r}")
            elif kind == "tuple[str, ...]":
                value = (value,) if isinstance(value, (str, os.PathLike)) else tuple(value)
                value = tuple(os.fspath(v) if isinstance(v, os.PathLike) else v for v in value)
                if not value or not all(isinstance(v, str) for v in value):
                    raise TrainingError(f"invalid training config: {f.name} must be a path or a list of paths, "
                                        f"got {value!r}")
            expected = {"str": str, "int": int, "float": float, "bool": bool, "tuple[int, ...]": tuple,
                        "tuple[str, ...]": tuple}[kind]
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise TrainingError(f"invalid training config: {f.name} must be {f.type}, got {value!r}")
            object.__setattr__(self, f.name, value)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-able dict (tuples become lists)."""
        data = asdict(self)
        for name in ("folds", "manifest"):
            if data[name] is not None:
                data[name] = list(data[name])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from a mapping of field names; unknown keys raise TrainingError."""
        return from_mapping(cls, data, TrainingError, "training config", "see `sier train --help`")

    def override(self, **changes: Any) -> TrainConfig:
        """A copy with `changes` applied (validated again)."""
        return replace(self, **changes)


def _manifest_corpus(paths: tuple[str, ...] | None) -> str | None:
    """The one corpus of the manifests' rows, so that a run on an EmoDB manifest names emodb and
    its label map; None for pooled corpora (their 4-class maps share IEMOCAP's classes) or when
    a manifest cannot be read (reading it for training then says why)."""
    from sier.corpora.records import read_manifests

    try:
        corpora = {u.corpus for u in read_manifests(paths)} if paths else set()
    except SierError:
        return None
    return corpora.pop() if len(corpora) == 1 else None


def parse_int_list(text: str) -> tuple[int, ...]:
    """'0,2' -> (0, 2); TrainingError on anything else."""
    try:
        return tuple(int(x) for x in text.replace(" ", "").split(",") if x)
    except ValueError:
        raise TrainingError(f"expected comma-separated integers such as 0,2; got {text!r}") from None


def load_config_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping in a YAML config file (not yet validated)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise TrainingError(f"{path}: cannot read config ({exc.strerror}).") from exc
    except yaml.YAMLError as exc:
        raise TrainingError(f"{path}: not valid YAML ({exc}).") from exc
    if not isinstance(data, dict):
        raise TrainingError(f"{path}: a training config is a mapping of field names to values.")
    return data


def save_config_yaml(path: str | os.PathLike, config: TrainConfig) -> None:
    import yaml

    from sier.fileio import write_text

    write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


def feature_config(config: TrainConfig):
    """The sier.features.FeatureConfig this run extracts with."""
    from sier.features.config import FeatureConfig

    return FeatureConfig(
        upstream=config.upstream,
        revision=config.revision,
        freeze_layers=config.freeze_layers,
        layer=config.layer,
        layer_weighted=config.layer_weighted,
        dtype=config.feature_dtype,
    )
