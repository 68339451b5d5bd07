"""The sier checkpoint format: round trip, upstream-top keys, and every refusal."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from torch import nn

from sier.errors import CheckpointError
from sier.models import (
    CHECKPOINT_FORMAT,
    UPSTREAM_PREFIX,
    ModelConfig,
    build_model,
    load_checkpoint,
    save_checkpoint,
)

META = {
    "classes": ["ang", "hap", "neu", "sad"],
    "label_map": "iemocap-4",
    "speakers": ["Ses01F", "Ses01M", "Ses02F"],
    "fold": 0,
    "feature_config": {"upstream": "tiny", "layers": [2, 3]},
    "metrics": {"ua": 0.61, "wa": 0.63},
    "sier_version": "0.1.0",
}


def tiny(**overrides) -> ModelConfig:
    base = dict(input_dim=10, hidden_size=8, num_heads=4, speaker_hidden=8, num_speakers=3)
    return ModelConfig(**{**base, **overrides})


def payload(cfg: ModelConfig, **changes) -> dict:
    data = {
        "format": CHECKPOINT_FORMAT,
        "version": 1,
        "model_config": cfg.to_dict(),
        "meta": {},
        "state_dict": build_model(cfg).state_dict(),
    }
    return {**data, **changes}


class Evil:
    """Unpickling this calls os.mkdir(target): a stand-in for arbitrary code."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (os.mkdir, (self.target,))


@pytest.mark.parametrize("kind", ["baseline", "enhanced"])
def test_round_trip_gives_the_same_outputs(tmp_path, kind):
    cfg = tiny(kind=kind)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    path = tmp_path / "models" / "best_model_fold_0.pth"
    save_checkpoint(path, model, cfg, META)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left behind

    ckpt = load_checkpoint(path)
    assert ckpt.model_config == cfg and ckpt.meta == META and not ckpt.has_upstream_top()
    rebuilt = ckpt.build_model()
    assert not rebuilt.training
    x, lengths = torch.randn(3, 9, 10), torch.tensor([9, 2, 5])
    with torch.no_grad():
        before, after = model(x, lengths), rebuilt(x, lengths)
    assert list(before) == list(after)
    for key in before:
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=0)


def test_meta_is_stored_as_plain_json(tmp_path):
    cfg = tiny()
    save_checkpoint(tmp_path / "c.pth", build_model(cfg), cfg, {"speakers": ("a", "b"), "fold": 2})
    assert load_checkpoint(tmp_path / "c.pth").meta == {"speakers": ["a", "b"], "fold": 2}
    with pytest.raises(CheckpointError, match="JSON-able"):
        save_checkpoint(tmp_path / "d.pth", build_model(cfg), cfg, {"when": object()})
    assert not (tmp_path / "d.pth").exists()


def test_upstream_top_keys_are_kept_apart(tmp_path):
    cfg = tiny()
    model, top = build_model(cfg), nn.Linear(4, 10)
    save_checkpoint(tmp_path / "c.pth", model, cfg, META, upstream_top=top)
    ckpt = load_checkpoint(tmp_path / "c.pth")
    assert ckpt.has_upstream_top()
    assert set(ckpt.prefixed_state_dict(UPSTREAM_PREFIX)) == {"weight", "bias"}
    assert set(ckpt.head_state_dict()) == set(model.state_dict())
    torch.testing.assert_close(ckpt.prefixed_state_dict(UPSTREAM_PREFIX)["weight"], top.weight.detach())
    ckpt.build_model()  # strict on head keys, upstream keys not in the way
    fresh = nn.Linear(4, 10)
    fresh.load_state_dict(ckpt.prefixed_state_dict(UPSTREAM_PREFIX))


def test_save_refuses_a_model_that_does_not_match_its_config(tmp_path):
    with pytest.raises(CheckpointError, match="do not match its model config"):
        save_checkpoint(tmp_path / "c.pth", build_model(tiny()), tiny(hidden_size=12), META)
    assert not (tmp_path / "c.pth").exists()


def test_build_model_refuses_edited_weights(tmp_path):
    cfg = tiny()
    state = dict(build_model(cfg).state_dict())
    state["extra.weight"] = torch.zeros(2)
    torch.save(payload(cfg, state_dict=state), tmp_path / "c.pth")
    ckpt = load_checkpoint(tmp_path / "c.pth")
    with pytest.raises(CheckpointError, match="c.pth.*do not match"):
        ckpt.build_model()


@pytest.mark.parametrize(
    "write, needle",
    [
        (lambda p: p.write_bytes(os.urandom(512)), "not a readable torch file"),
        (lambda p: p.write_bytes(b""), "not a readable torch file"),
        (lambda p: torch.save(build_model(tiny()).state_dict(), p), "bare state_dict"),
        (lambda p: torch.save({"format": "other", "weights": [1, 2]}, p), "not a sier checkpoint"),
        (lambda p: torch.save([1, 2, 3], p), "not a sier checkpoint"),
        (lambda p: torch.save(payload(tiny(), version=2), p), "version 2"),
        (lambda p: torch.save(payload(tiny(), meta=None), p), "damaged"),
        (lambda p: torch.save(payload(tiny(), state_dict={"a": 1}), p), "non-tensor"),
        (lambda p: torch.save(payload(tiny(), model_config={"hiden_size": 3}), p), "hiden_size"),
    ],
)
def test_load_refuses_files_that_are_not_sier_checkpoints(tmp_path, write, needle):
    path = tmp_path / "thing.pth"
    write(path)
    with pytest.raises(CheckpointError, match=needle) as info:
        load_checkpoint(path)
    assert "thing.pth" in str(info.value)


def test_load_refuses_a_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.pth")


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_load_never_runs_code_from_the_file(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    evil = payload(tiny(), meta={"x": Evil(marker)})
    if writer == "torch":
        torch.save(evil, path)
    else:
        path.write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(CheckpointError, match="evil.pth: refused.*could run code"):
        load_checkpoint(path)
    assert not marker.exists()
    # the file really is malicious: an unsafe load would have run it
    if writer == "torch":
        torch.load(path, weights_only=False)
    else:
        pickle.loads(path.read_bytes())
    assert marker.is_dir()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_load_refuses_a_modern_pickle_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"x": Evil(marker)}, protocol=5))
    with pytest.raises(CheckpointError, match="evil.pkl: not a readable torch file"):
        load_checkpoint(path)
    assert not marker.exists()
