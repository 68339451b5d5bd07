"""The Recognizer: a trained model built once from a checkpoint, waveform -> label + probabilities
(and arousal, valence, dominance where the model predicts them).

    rec = Recognizer.from_checkpoint("models/best_model_fold_1.pth")            # PyTorch
    rec = Recognizer.from_checkpoint(ckpt, runtime="onnx", onnx_path="m.onnx")  # onnxruntime
    pred = rec.predict(waveform)   # float32 mono 16 kHz [samples] -> Prediction(label, probs)

A model of the dimensions only (``sier train --task dimensions``) has no class: its
Recognizer has no classes and its predictions carry the dimensions alone (label None).

Runtimes:
- ``torch``: frozen front-end (fbank or upstream prefix) -> SERModel (trainable top + head).
- ``onnx``: an ONNX file written by :mod:`sier.inference.export`. A *classifier* graph
  (inputs ``features``, ``lengths``) runs after the PyTorch front-end; a *whole* graph
  (input ``waveform``) runs alone, the front-end included.

A Recognizer is safe to call from several threads at once (inference mode, no state).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from sier.audio import validate
from sier.constants import SAMPLE_RATE
from sier.errors import InferenceError

log = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnx")


@dataclass
class Prediction:
    """One classified piece of audio."""

    label: str | None  # the most probable class; None for a model of the dimensions only
    probs: dict[str, float]  # class -> probability, in the model's logit order ({} without classes)
    duration_s: float = 0.0  # length of the audio classified
    # arousal, valence, dominance on 0..1 (low..high of the training corpus's scale), from a
    # model trained with dimension_weight > 0 (either runtime); None otherwise
    dimensions: dict[str, float] | None = None

    @property
    def confidence(self) -> float | None:
        return None if self.label is None else self.probs[self.label]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.label is None else {
            "label": self.label, "confidence": round(self.confidence, 6),
            "probs": {k: round(v, 6) for k, v in self.probs.items()}}
        out["duration_s"] = round(self.duration_s, 3)
        if self.dimensions is not None:
            out["dimensions"] = {k: round(v, 6) for k, v in self.dimensions.items()}
        return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class Recognizer:
    """A loaded model ready for prediction (build it with :meth:`from_checkpoint`)."""

    frontend: nn.Module  # FbankFrontend or FrozenPrefix: [1, samples] -> [frames, D] (or [L, frames, D])
    model: nn.Module  # SERModel: features [B, T, D], lengths [B] -> dict with emotion_logits
    classes: list[str]  # logit order; [] for a model of the dimensions only
    runtime: str = "torch"
    session: Any = None  # onnxruntime.InferenceSession for runtime "onnx"
    onnx_kind: str | None = None  # "classifier" or "whole" for runtime "onnx"
    onnx_outputs: list[str] = field(default_factory=list)  # the graph's output names, in its order
    info: dict[str, Any] = field(default_factory=dict)  # what /health and reports show
    feature_config: dict[str, Any] = field(default_factory=dict)  # the checkpoint's, for ensembles to compare
    speaker_stats: Any = None  # SpeakerStats of the speaker, for a model trained with --speaker_norm

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, runtime: str = "torch", onnx_path: str | os.PathLike | None = None,
                        threads: int | None = None, speaker_stats: str | os.PathLike | None = None) -> "Recognizer":
        """Load a sier checkpoint (and its upstream, named in its feature config) once.

        runtime "onnx" needs `onnx_path` (from `sier export`). A model trained with
        --speaker_norm needs `speaker_stats` (a file from `sier enroll`). Raises
        CheckpointError, FeatureError or InferenceError with the file and the fix.
        """
        from sier.features.config import FeatureConfig
        from sier.features.extract import build_frontend
        from sier.models.pipeline import load_ser_model

        if runtime not in RUNTIMES:
            raise InferenceError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}.")
        model, ckpt = load_ser_model(path)
        meta = ckpt.meta
        if "feature_config" not in meta or "classes" not in meta:
            raise InferenceError(f"{path}: checkpoint meta lacks feature_config or classes; it was not written by sier train.")
        stats = _speaker_stats(path, meta, speaker_stats)
        fcfg = FeatureConfig.from_dict(meta["feature_config"])
        frontend, _ = build_frontend(fcfg)
        # a model of the dimensions only never trained its class head: no label may come from it
        task = "dimensions" if ckpt.dimensions_only else "classes"
        info = {"checkpoint": str(path), "upstream": fcfg.upstream, "label_map": meta.get("label_map"),
                "model_kind": ckpt.model_config.kind, "runtime": runtime, "task": task}
        classes = [] if ckpt.dimensions_only else list(meta["classes"])
        rec = cls(frontend.eval(), model.eval(), classes, runtime, info=info,
                  feature_config=dict(meta["feature_config"]), speaker_stats=stats)
        if runtime == "onnx":
            if onnx_path is None:
                raise InferenceError("--runtime onnx needs --onnx PATH (write one with `sier export`).")
            rec.attach_onnx(onnx_path, threads)
        return rec

    @property
    def dimensions_only(self) -> bool:
        return not self.classes

    def attach_onnx(self, onnx_path: str | os.PathLike, threads: int | None = None) -> None:
        """Run the network with onnxruntime from now on; checks that the graph's outputs are the
        checkpoint's (its class count, or the dimensions of a model of the dimensions only)."""
        from sier.inference.export import onnx_session

        session = onnx_session(onnx_path, threads)
        names = {i.name for i in session.get_inputs()}
        kind = "whole" if "waveform" in names else "classifier" if {"features", "lengths"} <= names else None
        if kind is None:
            raise InferenceError(f"{onnx_path}: not a sier ONNX export (inputs {sorted(names)}); re-run sier export.")
        outputs = {o.name: o for o in session.get_outputs()}
        expected = "dimensions" if self.dimensions_only else "emotion_logits"
        if expected not in outputs or (self.dimensions_only and "emotion_logits" in outputs):
            raise InferenceError(f"{onnx_path}: its outputs {sorted(outputs)} are not those of this checkpoint "
                                 f"({'the dimensions only' if self.dimensions_only else 'classes'}); "
                                 "export it from the same checkpoint.")
        classes = outputs["emotion_logits"].shape[-1] if "emotion_logits" in outputs else None
        if isinstance(classes, int) and classes != len(self.classes):
            raise InferenceError(f"{onnx_path}: has {classes} classes, the checkpoint {len(self.classes)}; "
                                 "export it from the same checkpoint.")
        self.runtime, self.session, self.onnx_kind = "onnx", session, kind
        self.onnx_outputs = list(outputs)
        self.info.update(runtime="onnx", onnx=str(onnx_path), onnx_kind=kind)

    # ------------------------------------------------------------ prediction

    def features(self, waveform: np.ndarray) -> torch.Tensor:
        """Front-end features of one waveform: [frames, D] (or [L, frames, D])."""
        from sier.features.extract import compute_features

        features = compute_features(waveform, self.frontend)
        return features if self.speaker_stats is None else self.speaker_stats.apply(features)

    def logits(self, waveform: np.ndarray) -> np.ndarray:
        """Logits [C] of one float32 mono 16 kHz waveform [samples] (already validated)."""
        if self.dimensions_only:
            raise InferenceError("a model of the dimensions only has no class logits.")
        return self.outputs(waveform)[0]

    def outputs(self, waveform: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(logits [C] or None for a model of the dimensions only, dimensions [3] on 0..1 or None)
        of one validated waveform."""
        if self.runtime == "onnx" and self.onnx_kind == "whole":  # no speaker_norm model exports (no stats)
            x = np.ascontiguousarray(waveform, dtype=np.float32)[None, :]
            return self._run_onnx({"waveform": x})
        feats = self.features(waveform)
        frames = feats.shape[-2]
        if frames < 1:
            raise InferenceError(f"audio of {waveform.size / SAMPLE_RATE:.3f} s gives no feature frame; it is too short.")
        lengths = np.array([frames], dtype=np.int64)
        if self.runtime == "onnx":
            return self._run_onnx({"features": feats[None].numpy(), "lengths": lengths})
        with torch.inference_mode():
            out = self.model(feats[None], torch.from_numpy(lengths))
        dims = out["dimensions"][0].float().numpy() if "dimensions" in out else None
        return None if self.dimensions_only else out["emotion_logits"][0].float().numpy(), dims

    def _run_onnx(self, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The ONNX graph's logits of one example (where it has them), and its dimensions where it
        has them (exports of models with the dimension head)."""
        out = dict(zip(self.onnx_outputs, self.session.run(None, inputs)))
        return (out["emotion_logits"][0] if "emotion_logits" in out else None,
                out["dimensions"][0] if "dimensions" in out else None)

    def predict(self, waveform: np.ndarray, source: str = "audio") -> Prediction:
        """Classify float32 mono audio at SAMPLE_RATE, shape [samples]; AudioError if unusable."""
        from sier.corpora.dimensions import DIMENSIONS

        waveform = validate(np.asarray(waveform, dtype=np.float32).reshape(-1), source)
        logits, dims = self.outputs(waveform)
        dimensions = None if dims is None else {d: float(v) for d, v in zip(DIMENSIONS, dims)}
        if logits is None:
            return Prediction(None, {}, waveform.size / SAMPLE_RATE, dimensions)
        probs = softmax(np.asarray(logits, dtype=np.float64))
        best = int(probs.argmax())
        return Prediction(self.classes[best], {c: float(p) for c, p in zip(self.classes, probs)},
                          waveform.size / SAMPLE_RATE, dimensions)

    def predict_many(self, waveforms: Sequence[np.ndarray]) -> list[Prediction]:
        """Classify several waveforms one by one (the front-end takes no padding)."""
        return [self.predict(w) for w in waveforms]

    def describe(self) -> dict[str, Any]:
        """JSON-able summary: task, classes, runtime, upstream, checkpoint."""
        return {**self.info, "classes": list(self.classes), "sample_rate": SAMPLE_RATE}


def _speaker_stats(path: str | os.PathLike, meta: dict[str, Any], stats_path: str | os.PathLike | None) -> Any:
    """The SpeakerStats a checkpoint needs (trained with --speaker_norm), or None; InferenceError
    when they are missing, not needed, or of other features."""
    from sier.inference.enroll import SpeakerStats

    if not meta.get("speaker_norm"):
        if stats_path is not None:
            raise InferenceError(f"{path}: not trained with --speaker_norm, so it takes no speaker statistics; "
                                 "leave --speaker_stats out.")
        return None
    if stats_path is None:
        raise InferenceError(f"{path}: trained with --speaker_norm, so it expects features standardised with the "
                             "speaker's statistics, which one file or a stream does not give: write them with "
                             f"`sier enroll --model {path} SPEECH... --out stats.json` and pass --speaker_stats "
                             "stats.json, or use a model trained without it (AdaIN normalises each utterance).")
    stats = SpeakerStats.load(stats_path)
    stats.check(meta["feature_config"], str(stats_path))
    return stats


class ProbabilityMean(nn.Module):
    """Several SER models as one: `emotion_logits` are the log of their mean class
    probabilities, so a softmax of them gives that mean (an ensemble of fold models);
    `dimensions` are the mean of theirs when every member predicts them."""

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(models)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        outs = [m(features, lengths) for m in self.members]
        probs = torch.stack([o["emotion_logits"].float().softmax(-1) for o in outs])
        result = {"emotion_logits": probs.mean(0).clamp_min(1e-12).log()}
        if all("dimensions" in o for o in outs):
            result["dimensions"] = torch.stack([o["dimensions"].float() for o in outs]).mean(0)
        return result


def ensemble_recognizer(paths: Sequence[str | os.PathLike], speaker_stats: str | os.PathLike | None = None) -> Recognizer:
    """One Recognizer over several checkpoints of the same features and classes (e.g. the fold
    models of an experiment): the front-end runs once, the class probabilities are averaged."""
    from sier.models.pipeline import load_ser_model

    if not paths:
        raise InferenceError("an ensemble needs at least one checkpoint.")
    first = Recognizer.from_checkpoint(paths[0], speaker_stats=speaker_stats)
    models = [first.model]
    for path in paths[1:]:
        model, ckpt = load_ser_model(path)
        if ckpt.dimensions_only != first.dimensions_only:
            raise InferenceError(f"{path}: {'a model of the dimensions only' if ckpt.dimensions_only else 'a classifier'}"
                                 f", unlike {paths[0]}; an ensemble needs models of one task.")
        if not first.dimensions_only and list(ckpt.meta.get("classes") or []) != first.classes:
            raise InferenceError(f"{path}: classes {ckpt.meta.get('classes')} differ from {paths[0]}'s {first.classes}; "
                                 "an ensemble needs models of one label map.")
        if ckpt.meta.get("feature_config") != first.feature_config or \
                bool(ckpt.meta.get("speaker_norm")) != (first.speaker_stats is not None):
            raise InferenceError(f"{path}: its features (upstream, layers, speaker normalisation) differ from "
                                 f"{paths[0]}'s; an ensemble shares one front-end.")
        models.append(model.eval())
    first.model = ProbabilityMean(models).eval()
    first.info.update(checkpoint=[str(p) for p in paths], ensemble=len(paths))
    return first


def experiment_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """The fold models of an experiment directory (models/best_model_fold_<k>.pth), by fold."""
    found = sorted(Path(directory).glob("models/best_model_fold_*.pth"),
                   key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    if not found:
        raise InferenceError(f"{directory}: no models/best_model_fold_<k>.pth; pass a checkpoint, or an experiment "
                             "directory written by `sier train`.")
    return found


def load_recognizer(model: str | os.PathLike, runtime: str = "torch", onnx: str | os.PathLike | None = None,
                    speaker_stats: str | os.PathLike | None = None) -> Recognizer:
    """`Recognizer.from_checkpoint` with a check that the files exist (for the CLI). An experiment
    directory gives the ensemble of its fold models (PyTorch runtime only). `speaker_stats`: a
    file from `sier enroll`, for models trained with --speaker_norm."""
    if Path(model).is_dir():
        if runtime != "torch":
            raise InferenceError(f"{model}: an ensemble of fold models runs on PyTorch only; export and serve one "
                                 "checkpoint for --runtime onnx.")
        return ensemble_recognizer(experiment_checkpoints(model), speaker_stats)
    if not Path(model).is_file():
        raise InferenceError(f"{model}: checkpoint not found; pass --model models/best_model_fold_<k>.pth "
                             "or an experiment directory (the ensemble of its fold models).")
    if onnx is not None and not Path(onnx).is_file():
        raise InferenceError(f"{onnx}: ONNX file not found; write one with `sier export --model {model} --out {onnx}`.")
    return Recognizer.from_checkpoint(model, runtime, onnx, speaker_stats=speaker_stats)
