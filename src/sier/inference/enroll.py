"""Enrolment: a speaker's feature statistics, for models trained with `--speaker_norm`.

Such a model expects each speaker's features standardised with that speaker's mean and std
over many utterances (sier.features.speaker_norm). `sier enroll --model CKPT audio...`
computes them from some of the speaker's speech (the more, the closer to what training saw:
every utterance of a training speaker) and writes them as JSON; `predict`, `stream` and
`serve --speaker_stats FILE` then standardise every window with them. The file names the
checkpoint's features, and a model of other features refuses it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from sier.errors import InferenceError
from sier.fileio import read_json, write_json

FORMAT = "sier-speaker-stats-1"


@dataclass(frozen=True)
class SpeakerStats:
    """One speaker's feature mean and std ([D] or [L, 1, D]) for one feature configuration."""

    mean: torch.Tensor
    std: torch.Tensor
    feature_config: dict[str, Any]
    frames: int
    files: int

    def apply(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.std

    def save(self, path: str | os.PathLike) -> None:
        write_json(path, {"format": FORMAT, "feature_config": self.feature_config, "frames": self.frames,
                          "files": self.files, "shape": list(self.mean.shape),
                          "mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist()})

    @classmethod
    def load(cls, path: str | os.PathLike) -> SpeakerStats:
        path = Path(path)
        if not path.is_file():
            raise InferenceError(f"{path}: speaker statistics not found; write them with `sier enroll`.")
        data = read_json(path)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InferenceError(f"{path}: not a file written by `sier enroll`; re-run it.")
        shape = tuple(data["shape"])
        return cls(torch.tensor(data["mean"]).reshape(shape), torch.tensor(data["std"]).reshape(shape),
                   data["feature_config"], int(data["frames"]), int(data["files"]))

    def check(self, feature_config: dict[str, Any], source: str) -> None:
        """InferenceError unless these statistics were computed with `feature_config`."""
        if self.feature_config != feature_config:
            raise InferenceError(f"{source}: the speaker statistics were computed for other features "
                                 f"({self.feature_config.get('upstream')}); enrol again with this model.")


def enroll(checkpoint: str | os.PathLike, audio: Sequence[str | os.PathLike]) -> SpeakerStats:
    """The speaker statistics of the audio files (or folders) `audio`, in the front-end features
    of `checkpoint`; InferenceError when no file could be read."""
    from sier.audio import SkipReport, iter_audio
    from sier.features.config import FeatureConfig
    from sier.features.extract import build_frontend, compute_features
    from sier.features.speaker_norm import frame_moments
    from sier.inference.predict import expand_paths
    from sier.models.checkpoint import load_checkpoint

    meta = load_checkpoint(checkpoint).meta
    if "feature_config" not in meta:
        raise InferenceError(f"{checkpoint}: checkpoint meta lacks feature_config; it was not written by sier train.")
    if not meta.get("speaker_norm"):
        raise InferenceError(f"{checkpoint}: not trained with --speaker_norm; it needs no enrolment.")
    frontend, _ = build_frontend(FeatureConfig.from_dict(meta["feature_config"]))
    frontend.eval()
    skips = SkipReport()
    features = [compute_features(samples, frontend) for _, samples in iter_audio(expand_paths(audio, skips), skips)]
    if not features:
        raise InferenceError(f"no usable audio to enrol the speaker from ({skips.summary()}).")
    mean, std = frame_moments(features)
    return SpeakerStats(mean, std, dict(meta["feature_config"]), sum(f.shape[-2] for f in features), len(features))
