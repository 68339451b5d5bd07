"""Feature cache: keys, atomic entries, resume after an interrupted extraction, status, CLI."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
import torch

import sier.features.extract as extract_mod
from sier.cli import main
from sier.constants import SAMPLE_RATE
from sier.corpora.records import Utterance, write_manifest
from sier.features import FeatureConfig, cache_key, extract_features, open_store, status
from tiny_models import save_tiny

L = 2
REAL_COMPUTE = extract_mod.compute_features_batch


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    return str(save_tiny(tmp_path_factory.mktemp("up") / "tiny-hubert", "hubert", L))


def _corpus(root, n=5, bad=()):
    rng = np.random.default_rng(0)
    utts = []
    for i in range(n):
        path = root / f"utt{i}.wav"
        if i in bad:
            path.write_bytes(b"not a wav")
        else:
            sf.write(path, rng.standard_normal(int(SAMPLE_RATE * (0.5 + 0.1 * i))).astype(np.float32) * 0.1, SAMPLE_RATE)
        utts.append(Utterance(f"Ses01F_impro01_F00{i}", str(path), "Ses01F", 1, "F", "neu", 0.5 + 0.1 * i, "test"))
    return utts


def _count_calls(monkeypatch, fail_after=None):
    """Record each batch the extraction computes (a list of its waveforms' sizes); raise
    instead of computing once `fail_after` batches are done."""
    calls = []

    def counted(waveforms, prefix):
        if fail_after is not None and len(calls) >= fail_after:
            raise RuntimeError("simulated crash")
        calls.append([w.size for w in waveforms])
        return REAL_COMPUTE(waveforms, prefix)

    monkeypatch.setattr(extract_mod, "compute_features_batch", counted)
    return calls


def test_extract_load_and_resume_after_interrupt(tmp_path, upstream, monkeypatch):
    utts = _corpus(tmp_path)[::-1]  # 0.9 s down to 0.5 s: the extraction goes shortest first
    cfg = FeatureConfig(upstream=upstream, freeze_layers=1)
    # 2 s of padded audio per batch: [0.5, 0.6], [0.7, 0.8], [0.9]
    calls = _count_calls(monkeypatch, fail_after=1)
    with pytest.raises(RuntimeError, match="simulated"):
        extract_features(utts, cfg, tmp_path / "cache", progress=False, batch_s=2.0)
    assert calls == [[8000, 9600]]
    store = open_store(utts, cfg, tmp_path / "cache")
    assert sorted(store.ids) == sorted(u.id for u in utts[-2:]) and not list(store.directory.glob(".*.tmp"))

    calls = _count_calls(monkeypatch)
    store = extract_features(utts, cfg, tmp_path / "cache", progress=False, batch_s=2.0)
    assert calls == [[11200, 12800], [14400]] and sorted(store.ids) == sorted(u.id for u in utts)
    x = store.load(utts[-1].id)
    assert str(x.dtype) == "torch.float32" and x.shape == (24, 64) and store.dim == 64 and store.num_layers == 1
    assert np.load(store.path(utts[-1].id)).dtype == np.float16

    calls = _count_calls(monkeypatch)
    extract_features(utts, cfg, tmp_path / "cache", progress=False)
    assert calls == []  # everything cached: nothing computed (and the model is not even loaded)


def test_padded_groups_keep_padded_size_count_and_padding_within_bounds():
    def groups(sizes, budget, **kw):
        return list(extract_mod.padded_groups(sizes, lambda n: n, budget, **kw))

    # [3, 4, 4]: 3 x 4 = 12; adding 9 would pad 4 x 9; 9 alone; [2, 20] would be 40; 20 > budget goes alone
    assert groups([3, 4, 4, 9, 2, 20, 5], 12, max_items=3, max_padding=1.0) == [[3, 4, 4], [9], [2], [20], [5]]
    assert groups([1, 1, 1, 1], 100, max_items=3) == [[1, 1, 1], [1]]
    assert groups([1, 1], 0) == [[1], [1]]  # budget 0: one at a time
    assert groups([], 5) == []
    # padding: [10, 10, 9] pads 1 of 30; adding 12 would pad 2 + 2 + 3 = 7 of 48, over 10 %
    assert groups([10, 10, 9, 12, 12], 100, max_padding=0.1) == [[10, 10, 9], [12, 12]]


def test_stale_keys(tmp_path, upstream):
    utts = _corpus(tmp_path, n=1)
    base = FeatureConfig(upstream=upstream, freeze_layers=1)
    keys = {
        str(cache_key(c))
        for c in (base, FeatureConfig(upstream=upstream, freeze_layers=0), FeatureConfig(upstream=upstream),
                  FeatureConfig(upstream=upstream, layer=1), FeatureConfig(upstream=upstream, layer_weighted=True),
                  FeatureConfig(upstream=upstream, freeze_layers=1, dtype="bfloat16"), FeatureConfig(upstream="fbank"))
    }
    assert len(keys) == 7
    assert cache_key(FeatureConfig(upstream=upstream)) == cache_key(FeatureConfig(upstream=upstream, freeze_layers=L))
    before = open_store(utts, base, tmp_path / "c").path(utts[0].id)
    sf.write(utts[0].path, np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE)  # the audio file changes
    os.utime(utts[0].path, ns=(1, 1))
    assert open_store(utts, base, tmp_path / "c").path(utts[0].id) != before


def test_local_folder_weights_change_key(tmp_path):
    folder = save_tiny(tmp_path / "m", "hubert", L)
    before = cache_key(FeatureConfig(upstream=str(folder)))
    save_tiny(folder, "hubert", L, seed=3)
    os.utime(folder / "model.safetensors", ns=(5, 5))
    assert cache_key(FeatureConfig(upstream=str(folder))) != before


def test_bad_audio_skipped_and_layer_weighted_and_sharding(tmp_path, upstream):
    utts = _corpus(tmp_path, n=4, bad=(1,))
    cfg = FeatureConfig(upstream=upstream, layer_weighted=True)
    store = extract_features(utts, cfg, tmp_path / "cache", progress=False, rank=0, world_size=2)
    assert sorted(store.ids) == [utts[0].id, utts[2].id]
    store = extract_features(utts, cfg, tmp_path / "cache", progress=False, rank=1, world_size=2)
    assert len(store.ids) == 3 and len(store.skipped.skipped) == 1 and "utt1.wav" in store.skipped.summary()
    assert store.load(utts[3].id).shape[0] == L + 1 and store.num_layers == L + 1


def test_fbank_cache_and_status(tmp_path):
    utts = _corpus(tmp_path, n=2)
    store = extract_features(utts, FeatureConfig(upstream="fbank"), tmp_path / "cache", progress=False)
    assert store.load(utts[1].id).shape == (1 + (int(0.6 * SAMPLE_RATE) - 400) // 320, 80)
    (entry,) = status(tmp_path / "cache")
    assert entry.entries == 2 and entry.bytes > 0 and entry.key["upstream"] == "fbank"


def test_cli_features(tmp_path, upstream, capsys):
    utts = _corpus(tmp_path, n=2)
    write_manifest(tmp_path / "m.csv", utts)
    args = ["features", "--manifest", str(tmp_path / "m.csv"), "--upstream", upstream, "--cache_dir",
            str(tmp_path / "cache"), "--freeze_layers", "1", "--no_progress"]
    assert main(args) == 0
    assert main(args + ["--status"]) == 0
    out = capsys.readouterr().out
    assert "2 utterances" in out and "layers 1..1 of 2 frozen" in out and "input of layer 2" in out
    # one file at a time gives the same features as the default batches (the cache is float16)
    batched = open_store(utts, FeatureConfig(upstream=upstream, freeze_layers=1), tmp_path / "cache")
    assert main(args[:5] + ["--cache_dir", str(tmp_path / "alone")] + args[7:] + ["--batch_s", "0"]) == 0
    alone = open_store(utts, FeatureConfig(upstream=upstream, freeze_layers=1), tmp_path / "alone")
    for utt in utts:
        torch.testing.assert_close(batched.load(utt.id), alone.load(utt.id), atol=2e-3, rtol=2e-3)
    assert main(["features", "--manifest", str(tmp_path / "m.csv"), "--upstream", "org/not-cached"]) == 1


def test_progress_bar_shows_rates(tmp_path, upstream, capsys):
    utts = _corpus(tmp_path, n=2)
    extract_features(utts, FeatureConfig(upstream=upstream), tmp_path / "cache", progress=True)
    err = capsys.readouterr().err  # not a terminal: the bar is drawn at start and at the end only
    assert "2/2" in err and "file/s" in err and "audio-s/s" in err
    assert err.count("audio-s/s") == 1


def test_entry_refuses_float16_overflow(tmp_path):
    from sier.errors import FeatureError
    from sier.features.cache import write_entry

    with pytest.raises(FeatureError, match="float16"):
        write_entry(tmp_path / "x.npy", np.array([[1.0, 7e4]], np.float32))
    assert list(tmp_path.iterdir()) == []
    write_entry(tmp_path / "y.npy", np.array([[1.0, -6e4]], np.float32))
    assert np.load(tmp_path / "y.npy").dtype == np.float16
