"""Front-ends: upstream encoders split into a cached frozen prefix and a trainable top, and fbank."""

from sier.features.cache import CacheStatus, FeatureStore, status
from sier.features.config import FBANK, FeatureConfig
from sier.features.extract import build_frontend, cache_key, compute_features, extract_features, open_store
from sier.features.fbank import FbankFrontend
from sier.features.loading import (
    Preprocessing,
    feature_dim,
    frames_per_second,
    load_upstream,
    num_cached_layers,
    upstream_config,
)
from sier.features.upstream import FrozenPrefix, TrainableTop, build_top, split_upstream

__all__ = [
    "FBANK",
    "CacheStatus",
    "FbankFrontend",
    "FeatureConfig",
    "FeatureStore",
    "FrozenPrefix",
    "Preprocessing",
    "TrainableTop",
    "build_frontend",
    "build_top",
    "cache_key",
    "compute_features",
    "extract_features",
    "feature_dim",
    "frames_per_second",
    "load_upstream",
    "num_cached_layers",
    "open_store",
    "split_upstream",
    "status",
    "upstream_config",
]
