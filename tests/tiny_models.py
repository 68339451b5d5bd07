"""Tiny random upstreams for tests: built in memory, saved with save_pretrained, no download."""

from __future__ import annotations

from pathlib import Path

TINY = dict(
    hidden_size=64,
    num_attention_heads=4,
    intermediate_size=128,
    conv_dim=(32,) * 7,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=4,
    hidden_dropout=0.0,
    attention_dropout=0.0,
    activation_dropout=0.0,
    feat_proj_dropout=0.0,
    layerdrop=0.0,
)

# data2vec-audio's positional embedding is a stack of num_conv_pos_embeddings conv layers of
# width conv_pos_kernel_size (the others have one conv of width num_conv_pos_embeddings)
DATA2VEC_POS_CONV = dict(num_conv_pos_embeddings=2, conv_pos_kernel_size=15)


def tiny_config(model_type: str = "hubert", num_layers: int = 2, **overrides):
    """A tiny random config of `model_type` ("hubert", "wavlm", "wav2vec2" or "data2vec-audio")."""
    from transformers import Data2VecAudioConfig, HubertConfig, Wav2Vec2Config, WavLMConfig

    classes = {"hubert": HubertConfig, "wavlm": WavLMConfig, "wav2vec2": Wav2Vec2Config,
               "data2vec-audio": Data2VecAudioConfig}
    extra = DATA2VEC_POS_CONV if model_type == "data2vec-audio" else {}
    return classes[model_type](**{**TINY, **extra, "num_hidden_layers": num_layers, **overrides})


def tiny_model(model_type: str = "hubert", num_layers: int = 2, seed: int = 0, **overrides):
    """A tiny random model in eval mode."""
    import torch
    from transformers import AutoModel

    torch.manual_seed(seed)
    model = AutoModel.from_config(tiny_config(model_type, num_layers, **overrides))
    return model.eval()


def save_tiny(folder: str | Path, model_type: str = "hubert", num_layers: int = 2, do_normalize: bool = False,
              seed: int = 0, **overrides) -> Path:
    """Save a tiny random model and its feature extractor config into `folder`; return it."""
    from transformers import Wav2Vec2FeatureExtractor

    folder = Path(folder)
    tiny_model(model_type, num_layers, seed, **overrides).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(do_normalize=do_normalize, return_attention_mask=False).save_pretrained(folder)
    return folder
