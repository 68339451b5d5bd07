"""Checks that need a CUDA GPU, skipped without one: the models, the feature extraction and
a training fold on the GPU, each against the CPU. `bench/device_check.sh` runs them on a
GPU machine. `SIER_TEST_DEVICE=cpu` runs the same code with the CPU in the GPU's place,
which checks the tests themselves (their comparisons then hold trivially).

On CUDA the GRUs run cuDNN (`torch.gru`), while CPU training runs sier's own recurrence
and dropout, so equal outputs and gradients here mean the two paths compute one function.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from pathlib import Path

import pytest
import torch

from sier.models import ModelConfig, build_model

DEVICE = os.environ.get("SIER_TEST_DEVICE") or ("cuda" if torch.cuda.is_available() else "")
pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not DEVICE, reason="needs a CUDA GPU (or SIER_TEST_DEVICE=cpu to check the tests)")]


@pytest.fixture(autouse=True)
def full_precision():
    """No TF32 in cuDNN's RNNs and convolutions or in matmuls, so fp32 means fp32."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def batch(dim: int = 24, lengths: tuple[int, ...] = (37, 20, 9)) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(len(lengths), max(lengths), dim, generator=g)
    lens = torch.tensor(lengths)
    x[torch.arange(max(lengths))[None, :] >= lens[:, None]] = 0.0
    return x, lens


def model_pair(**cfg) -> tuple[torch.nn.Module, torch.nn.Module]:
    config = ModelConfig(input_dim=24, hidden_size=16, num_heads=4, **cfg)
    torch.manual_seed(0)
    cpu, device = build_model(config), build_model(config)
    device.load_state_dict(cpu.state_dict())
    return cpu, device.to(DEVICE)


MODELS = {
    "baseline": dict(kind="baseline"),
    "enhanced": dict(kind="enhanced", num_speakers=5),
}


@pytest.mark.parametrize("name", MODELS)
def test_inference_on_the_device_matches_the_cpu(name):
    cpu, device = model_pair(**MODELS[name])
    x, lengths = batch()
    with torch.no_grad():
        ref = cpu.eval()(x, lengths)
        out = device.eval()(x.to(DEVICE), lengths.to(DEVICE))
    for key in ("emotion_logits", "embedding"):
        torch.testing.assert_close(out[key].cpu(), ref[key], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_training_gradients_on_the_device_match_the_cpu(name):
    """Dropout off, so both devices compute the same loss: cuDNN's GRU backward against
    sier's CPU recurrence, the adversary's reversed gradient included."""
    cpu, device = model_pair(**MODELS[name], dropout=0.0, attention_dropout=0.0)
    x, lengths = batch()
    labels = torch.tensor([0, 3, 1])
    for model, dev in ((cpu, "cpu"), (device, DEVICE)):
        out = model.train()(x.to(dev), lengths.to(dev), alpha=0.5)
        loss = torch.nn.functional.cross_entropy(out["emotion_logits"], labels.to(dev))
        if out.get("speaker_logits") is not None:
            loss = loss + torch.nn.functional.cross_entropy(out["speaker_logits"], labels.to(dev))
        loss.backward()
    for (name_, p_cpu), p_dev in zip(cpu.named_parameters(), device.parameters(), strict=True):
        torch.testing.assert_close(p_dev.grad.cpu(), p_cpu.grad, atol=1e-4, rtol=1e-3, msg=name_)


def test_mixed_precision_training_step_stays_close_to_fp32():
    dtype = torch.bfloat16 if DEVICE == "cpu" or torch.cuda.is_bf16_supported() else torch.float16
    _, device = model_pair(kind="enhanced", num_speakers=5, dropout=0.0, attention_dropout=0.0)
    x, lengths = batch()
    x, lengths = x.to(DEVICE), lengths.to(DEVICE)
    with torch.no_grad():
        ref = device.eval()(x, lengths)["emotion_logits"]
    with torch.autocast(DEVICE, dtype=dtype):
        out = device.train()(x, lengths, alpha=0.5)
    logits = out["emotion_logits"].float()
    assert (logits - ref).abs().max() < 0.05 * (ref.max() - ref.min()) + 0.05
    out["emotion_logits"].float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in device.parameters() if p.grad is not None)


def test_packed_upstream_top_trains_on_the_device_as_on_the_cpu():
    """The fine-tuned top runs on the batch's valid frames (index_select / index_copy, whose
    backward sums into a buffer); its outputs and gradients on the device match the CPU's,
    and a bf16 autocast step gives finite gradients."""
    from sier.features import FeatureConfig, Preprocessing, split_upstream
    from tiny_models import tiny_model

    _, top = split_upstream(tiny_model("hubert", 3), FeatureConfig(upstream="tiny", freeze_layers=1),
                            Preprocessing(False))
    x, lengths = batch(dim=64)
    tops = {"cpu": top.eval(), DEVICE: copy.deepcopy(top).to(DEVICE)}
    outs = {}
    for dev, t in tops.items():
        out = t(x.to(dev), lengths.to(dev))
        out.square().sum().backward()
        outs[dev] = out.detach().cpu()
    torch.testing.assert_close(outs[DEVICE], outs["cpu"], atol=1e-4, rtol=1e-4)
    for (name, p_cpu), p_dev in zip(tops["cpu"].named_parameters(), tops[DEVICE].parameters(), strict=True):
        torch.testing.assert_close(p_dev.grad.cpu(), p_cpu.grad, atol=1e-4, rtol=1e-3, msg=name)
    device_top = tops[DEVICE].train()
    device_top.zero_grad()
    dtype = torch.bfloat16 if DEVICE == "cpu" or torch.cuda.is_bf16_supported() else torch.float16
    with torch.autocast(DEVICE, dtype=dtype):
        out = device_top(x.to(DEVICE), lengths.to(DEVICE))
    out.float().square().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in device_top.parameters())


def test_features_extracted_on_the_device_match_the_cpu(synth_manifest, tmp_path):
    from sier.features import FeatureConfig, extract_features
    from tiny_models import save_tiny

    upstream = save_tiny(tmp_path / "tiny-hubert", "hubert", num_layers=2)
    utts = synth_manifest.utterances[:6]
    cfg = FeatureConfig(upstream=str(upstream))
    stores = {dev: extract_features(utts, cfg, tmp_path / f"cache-{dev}", progress=False, device=dev)
              for dev in ("cpu", DEVICE)}
    for u in utts:
        a, b = stores["cpu"].load(u.id).float(), stores[DEVICE].load(u.id).float()
        assert a.shape == b.shape
        # cached as float16: the devices may round a value differently by one step
        torch.testing.assert_close(b, a, atol=2e-3, rtol=2e-3)


def test_a_fold_trains_on_the_device_with_lightning(synth_root, tmp_path):
    from sier.training.config import TrainConfig
    from sier.training.crossval import run_crossval
    from sier.training.outputs import read_metrics

    gpu = DEVICE != "cpu"
    config = TrainConfig(
        corpus_root=str(synth_root), upstream="fbank", cache_dir=str(tmp_path / "cache"),
        output_dir=str(tmp_path / "out"), hidden_size=16, num_heads=4, num_gru_layers=1,
        speaker_adversarial=True, epochs=2, lr=3e-3, folds=(0,), progress=False,
        accelerator="gpu" if gpu else "cpu", devices="1", precision="16-mixed" if gpu else "32-true",
    )
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        exp = run_crossval(config, argv=["test"])
    rows = read_metrics(exp / "metrics/fold_0.csv")
    assert [r["epoch"] for r in rows] == [0, 1]
    assert all(r["train_loss"] == r["train_loss"] for r in rows)  # not NaN
    summary = json.loads((Path(exp) / "summary.json").read_text())
    assert summary["folds"][0]["n"] > 0
