"""Cross-validation runs on the synthetic corpus (fbank, tiny models, CPU): the experiment
layout, the adversary's speakers, the best checkpoint, early stopping, resume after a crash,
determinism, `train_enhanced.py` with the original flags, and a short real learning run."""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml

from sier.cli import main
from sier.corpora.emodb import read_emodb
from sier.corpora.records import write_manifest
from sier.corpora.synth_emodb import synthesize_emodb
from sier.evaluation.run import evaluate
from sier.models import load_checkpoint
from sier.splits import load_folds
from sier.training.config import TrainConfig
from sier.training.crossval import run_crossval
from sier.training.outputs import read_metrics, read_predictions

from conftest import SYNTH_DURATION_S
from test_training import ORIGINAL_FLAGS
from tiny_models import save_tiny

ROOT = Path(__file__).resolve().parents[1]
PER_SPEAKER = 6  # utterances per speaker in the small runs: 36 train / 12 val / 12 test per session fold
EPOCHS = 2
BATCH = 8  # 5 training steps per epoch


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models on a shared 2-core machine: one torch thread is faster than two that wait on
    each other. Restores the thread count and the deterministic flag the Trainer sets globally."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """One fbank feature cache for every run of this module."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def small_manifest(synth_manifest, tmp_path_factory) -> Path:
    """The first PER_SPEAKER utterances of every speaker of the shared corpus, as a manifest CSV."""
    seen: dict[str, int] = {}
    kept = []
    for u in synth_manifest.utterances:
        if seen.get(u.speaker, 0) < PER_SPEAKER:
            seen[u.speaker] = seen.get(u.speaker, 0) + 1
            kept.append(u)
    path = tmp_path_factory.mktemp("manifest") / "small.csv"
    write_manifest(path, kept)
    return path


def tiny_config(manifest: Path, cache: Path, out: Path, **changes) -> TrainConfig:
    base = dict(
        manifest=str(manifest), upstream="fbank", cache_dir=str(cache), output_dir=str(out), name="t",
        model="enhanced", hidden_size=4, num_heads=2, num_gru_layers=1, speaker_adversarial=True, speaker_hidden=4,
        epochs=EPOCHS, batch_size=BATCH, lr=3e-3, warmup_epochs=0.5, restart_epochs=1, folds=(0, 1),
        max_train_s=0.6, progress=False,
    )
    return TrainConfig(**{**base, **changes})


def quiet_run(config: TrainConfig, **kw) -> Path:
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        return run_crossval(config, argv=["test"], **kw)


def only_dir(parent: Path) -> Path:
    dirs = [p for p in parent.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


@pytest.fixture(scope="module")
def reference(small_manifest, cache_dir, tmp_path_factory) -> Path:
    """An uninterrupted two-fold run of the enhanced model with the speaker adversary."""
    return quiet_run(tiny_config(small_manifest, cache_dir, tmp_path_factory.mktemp("reference")))


# ------------------------------------------------------------------ layout and contents


def test_experiment_directory_layout(reference: Path):
    assert reference.name.startswith("t_")
    for name in ("config.yaml", "environment.json", "manifest.csv", "folds.json", "summary.json", "summary.csv"):
        assert (reference / name).is_file(), name
    for k in (0, 1):
        for path in (f"models/best_model_fold_{k}.pth", f"checkpoints/fold_{k}/last.ckpt", f"metrics/fold_{k}.csv",
                     f"predictions/fold_{k}.csv", f"plots/fold_{k}_curves.png"):
            assert (reference / path).is_file(), path
    assert not (reference / "predictions/fold_2.csv").exists()  # --folds 0,1 only

    config = yaml.safe_load((reference / "config.yaml").read_text())
    assert config["folds"] == [0, 1] and config["upstream"] == "fbank" and config["speaker_adversarial"] is True
    env = json.loads((reference / "environment.json").read_text())
    assert env["seed"] == 0 and env["argv"] == ["test"] and "torch" in env and "lightning" in env

    folds = load_folds(reference / "folds.json")
    rows = read_metrics(reference / "metrics/fold_0.csv")
    assert [r["epoch"] for r in rows] == list(range(EPOCHS))
    assert set(rows[0]) == {"epoch", "lr", "alpha", "train_loss", "val_loss", "val_wa", "val_ua", "val_f1"}
    # alpha(p) at the end of each epoch: p = steps done / all steps = (epoch + 1) / EPOCHS
    assert [r["alpha"] for r in rows] == pytest.approx([0.986614, 0.999909], abs=1e-5)
    preds = read_predictions(reference / "predictions/fold_0.csv")
    assert [p["id"] for p in preds] == list(folds[0].test)
    assert {p["speaker"] for p in preds} == set(folds[0].test_speakers)
    assert all(abs(sum(float(p[f"prob_{c}"]) for c in ("neu", "hap", "ang", "sad")) - 1) < 1e-4 for p in preds)

    summary = json.loads((reference / "summary.json").read_text())
    assert [f["fold"] for f in summary["folds"]] == [0, 1]
    assert summary["pooled"]["n"] == len(folds[0].test) + len(folds[1].test)
    assert set(summary["mean"]) == {"wa", "ua", "f1"}


def test_speaker_head_covers_only_the_folds_training_speakers(reference: Path):
    folds = load_folds(reference / "folds.json")
    for k in (0, 1):
        ckpt = load_checkpoint(reference / f"models/best_model_fold_{k}.pth")
        assert ckpt.meta["speakers"] == list(folds[k].train_speakers)
        assert ckpt.model_config.num_speakers == len(folds[k].train_speakers) == 6
        assert not set(ckpt.meta["speakers"]) & (set(folds[k].val_speakers) | set(folds[k].test_speakers))
        assert ckpt.meta["fold"] == k and ckpt.meta["classes"] == ["neu", "hap", "ang", "sad"]


def test_best_checkpoint_is_the_best_validation_ua_epoch(reference: Path):
    for k in (0, 1):
        rows = read_metrics(reference / f"metrics/fold_{k}.csv")
        best = load_checkpoint(reference / f"models/best_model_fold_{k}.pth").meta["best"]
        ua = [r["val_ua"] for r in rows]
        assert best["epoch"] == ua.index(max(ua))  # first epoch of the maximum
        assert best["val_ua"] == pytest.approx(max(ua), abs=1e-5)
        summary = json.loads((reference / "summary.json").read_text())
        assert summary["folds"][k]["best_epoch"] == best["epoch"]


def test_early_stopping_ends_a_fold_without_improvement(small_manifest, cache_dir, tmp_path):
    # lr so small that validation UA cannot change: epoch 0 is the best, patience 1 stops after epoch 1
    exp = quiet_run(tiny_config(small_manifest, cache_dir, tmp_path, folds=(0,), epochs=6, lr=1e-12,
                                speaker_adversarial=False, early_stopping_patience=1))
    rows = read_metrics(exp / "metrics/fold_0.csv")
    assert [r["epoch"] for r in rows] == [0, 1]
    assert rows[0]["val_ua"] == rows[1]["val_ua"]
    assert load_checkpoint(exp / "models/best_model_fold_0.pth").meta["best"]["epoch"] == 0
    assert (exp / "predictions/fold_0.csv").is_file()


# ------------------------------------------------------------------ resume and determinism


class CrashInFold(L.Callback):
    """Raises after `steps` optimizer steps of the `fold`-th fit (0-based) this callback sees."""

    def __init__(self, fold: int, steps: int) -> None:
        self.fold, self.steps, self.fits = fold, steps, -1

    def on_fit_start(self, trainer, pl_module) -> None:
        self.fits += 1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.fits == self.fold and trainer.global_step >= self.steps:
            raise RuntimeError("simulated crash")


def test_resume_after_a_crash_skips_finished_folds(reference, small_manifest, cache_dir, tmp_path, capsys):
    config = tiny_config(small_manifest, cache_dir, tmp_path)
    crash_step = 7  # epoch 1 of fold 1, after its epoch-0 checkpoint
    with pytest.raises(RuntimeError, match="simulated crash"):
        quiet_run(config, extra_callbacks=[CrashInFold(fold=1, steps=crash_step)])
    exp = only_dir(tmp_path)
    assert (exp / "predictions/fold_0.csv").is_file()
    assert not (exp / "predictions/fold_1.csv").exists() and not (exp / "summary.json").exists()
    assert [r["epoch"] for r in read_metrics(exp / "metrics/fold_1.csv")] == [0]
    assert (exp / "checkpoints/fold_1/last.ckpt").is_file()

    # determinism: fold 0 ran to the end in both runs, with the same seed -> identical files
    for name in ("metrics/fold_0.csv", "predictions/fold_0.csv"):
        assert (exp / name).read_text() == (reference / name).read_text(), name

    finished = {p: p.stat().st_mtime_ns for p in (exp / "models/best_model_fold_0.pth", exp / "predictions/fold_0.csv")}
    capsys.readouterr()
    assert main(["train", "--resume", str(exp)]) == 0  # through the CLI
    out = capsys.readouterr().out
    assert "fold 0: finished earlier, skipped" in out
    assert f"resuming fold 1 from {exp / 'checkpoints/fold_1/last.ckpt'}" in out
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # fold 0 not retrained

    rows = read_metrics(exp / "metrics/fold_1.csv")
    reference_rows = read_metrics(reference / "metrics/fold_1.csv")
    assert [r["epoch"] for r in rows] == list(range(EPOCHS))  # completed, each epoch once
    # bit-identical to the run that never stopped: the weights, optimiser, scheduler, adversary
    # and the random state (batches, masks, dropout) all continued from the checkpoint
    assert rows == reference_rows
    for name in ("predictions/fold_1.csv", "summary.csv"):
        assert (exp / name).read_text() == (reference / name).read_text(), name
    summary = json.loads((exp / "summary.json").read_text())
    assert [f["fold"] for f in summary["folds"]] == [0, 1]
    assert len(read_predictions(exp / "predictions/fold_1.csv")) == len(load_folds(exp / "folds.json")[1].test)


class BatchLengths(L.Callback):
    """Records the utterance lengths (frames) of every training batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.batches.append(batch["lengths"].tolist())


def test_length_batches_group_lengths_and_resume_bit_identically(small_manifest, cache_dir, tmp_path):
    """--length_buckets: training batches of similar length (uncropped 1-2 s utterances here),
    and a fold interrupted in its second epoch resumes to the same bytes as a run that never
    stopped (the batch order and jitter come from the saved shuffle generator)."""
    config = tiny_config(small_manifest, cache_dir, tmp_path / "ref", folds=(0,), length_buckets=True,
                         max_train_s=0.0, epochs=3)
    recorder = BatchLengths()
    reference = quiet_run(config, extra_callbacks=[recorder])
    spread = [max(b) - min(b) for b in recorder.batches if len(b) == BATCH]
    everything = sorted(n for b in recorder.batches[:5] for n in b)  # one epoch: 36 utterances
    assert max(spread) < (everything[-1] - everything[0]) / 2, (spread, everything)

    crashed = config.override(output_dir=str(tmp_path / "crash"))
    with pytest.raises(RuntimeError, match="simulated crash"):
        quiet_run(crashed, extra_callbacks=[CrashInFold(fold=0, steps=7)])
    exp = only_dir(tmp_path / "crash")
    assert main(["train", "--resume", str(exp), "--no_progress"]) == 0
    for name in ("metrics/fold_0.csv", "predictions/fold_0.csv"):
        assert (exp / name).read_text() == (reference / name).read_text(), name


def test_resume_refuses_to_change_what_the_run_computes(reference, capsys):
    assert main(["train", "--resume", str(reference), "--lr", "0.5"]) == 1
    assert "cannot change ['lr']" in capsys.readouterr().err


def test_seeds_start_one_experiment_per_seed(small_manifest, cache_dir, tmp_path, capsys):
    """`--seeds 0,3`: two experiments named by seed; the first equals a plain run with seed 0
    (same predictions), the second differs; the closing line is the evaluate command."""
    args = ["train", "--manifest", str(small_manifest), "--upstream", "fbank", "--cache_dir", str(cache_dir),
            "--output_dir", str(tmp_path), "--name", "rep", "--hidden_size", "4", "--num_heads", "2",
            "--num_gru_layers", "1", "--epochs", "1", "--batch_size", str(BATCH), "--folds", "0", "--no_progress"]
    assert main([*args, "--seeds", "0,3"]) == 0
    out = capsys.readouterr().out
    s0, s3 = sorted(tmp_path.glob("rep_s0_*")) + sorted(tmp_path.glob("rep_s3_*"))
    assert f"sier evaluate --enhanced_model_path {s0} {s3}" in out
    assert [yaml.safe_load((d / "config.yaml").read_text())["seed"] for d in (s0, s3)] == [0, 3]
    assert main([*args, "--name", "plain"]) == 0
    (plain,) = tmp_path.glob("plain_*")
    fold0 = lambda d: (d / "predictions" / "fold_0.csv").read_text()  # noqa: E731
    assert fold0(s0) == fold0(plain) and fold0(s3) != fold0(s0)
    capsys.readouterr()
    assert main([*args, "--seeds", "0,0"]) == 1 and "distinct seeds" in capsys.readouterr().err
    assert main([*args, "--seeds", "1,2", "--seed", "4"]) == 1 and "neither --seed nor --resume" in capsys.readouterr().err


# ------------------------------------------------------------------ the original script


def test_train_enhanced_script_accepts_the_original_flags(small_manifest, tmp_path, monkeypatch, capsys):
    """`python train_enhanced.py <original flags>` on a tiny random 8-layer HuBERT: layers 1-6
    frozen and cached, 7-8 fine-tuned. Only --epochs (last flag wins) and the sizes are cut."""
    upstream = save_tiny(tmp_path / "tiny-hubert", "hubert", num_layers=8)
    argv = ["train_enhanced.py", "--manifest", str(small_manifest), "--upstream", str(upstream),
            "--cache_dir", str(tmp_path / "cache"), "--output_dir", str(tmp_path / "exp"), "--folds", "0",
            "--num_heads", "2", "--no_progress", *ORIGINAL_FLAGS, "--epochs", "1", "--hidden_layer", "8"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(ROOT / "train_enhanced.py"), run_name="__main__")
    assert stop.value.code == 0, capsys.readouterr().err
    exp = only_dir(tmp_path / "exp")
    config = TrainConfig.from_dict(yaml.safe_load((exp / "config.yaml").read_text()))
    assert (config.batch_size, config.lr, config.dropout) == (16, 1e-4, 0.3)
    assert (config.freeze_layers, config.log_interval) == (6, 10)
    assert config.speaker_adversarial and config.adversarial_weight == 0.1 and config.hidden_size == 8
    ckpt = load_checkpoint(exp / "models/best_model_fold_0.pth")
    assert ckpt.meta["upstream_top"]["first_layer"] == 6 and ckpt.has_upstream_top()
    top_config = ckpt.meta["upstream_top"]["config"]  # the tiny upstream has every dropout at 0
    assert (top_config["hidden_dropout"], top_config["attention_dropout"], top_config["activation_dropout"]) \
        == (0.0, 0.0, 0.1)  # --upstream_dropout finetune, the default
    assert ckpt.model_config.input_dim == 64
    assert len(read_predictions(exp / "predictions/fold_0.csv")) == PER_SPEAKER * 2


# ------------------------------------------------------------------ it learns


@pytest.mark.slow
def test_short_training_run_beats_chance_on_held_out_speakers(synth_root, cache_dir, tmp_path):
    """Baseline GRU on fbank, session fold 0 (train Ses03-05, validate Ses02, test Ses01),
    12 epochs. Measured (seed 0; 2-core CPU): test UA 0.675 (seed 1: 0.65); chance is 0.25.
    The same model on the ten new voices of the EmoDB-layout synthetic corpus
    (cross-corpus, 200 utterances of 4 balanced classes): UA 0.51 (seeds 1, 2: 0.50, 0.495)."""
    config = TrainConfig(
        corpus_root=str(synth_root), upstream="fbank", cache_dir=str(cache_dir), output_dir=str(tmp_path),
        model="baseline", hidden_size=16, num_gru_layers=1, epochs=12, lr=3e-3, warmup_epochs=1,
        restart_epochs=0, early_stopping_patience=0, folds=(0,), progress=False,
    )
    exp = quiet_run(config)
    fold = json.loads((exp / "summary.json").read_text())["folds"][0]
    assert fold["test_speakers"] == ["Ses01F", "Ses01M"] and fold["n"] == 30
    assert fold["ua"] >= 0.45, fold
    rows = read_metrics(exp / "metrics/fold_0.csv")
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    emodb = synthesize_emodb(tmp_path / "synth", seed=0, per_emotion=5, duration_s=SYNTH_DURATION_S)
    write_manifest(tmp_path / "emodb.csv", read_emodb(emodb).utterances)
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        report = evaluate(exp, test_manifest=tmp_path / "emodb.csv", out=tmp_path / "cross", n_boot=50,
                          max_attention_examples=0, progress=False)
    cross = report.results["models"]["enhanced"]["metrics"]["pooled"]  # the one model given is reported so
    assert cross["n"] == 200 and cross["ua"] >= 0.40, cross


def test_waveform_augmentation_trains_on_cached_variants(small_manifest, cache_dir, tmp_path):
    exp = quiet_run(tiny_config(small_manifest, cache_dir, tmp_path, folds=(0,), epochs=1,
                                wave_augment="speed:1.1,noise:20", wave_augment_prob=0.5))
    keys = [json.loads(p.read_text()).get("augment") for p in cache_dir.glob("*/key.json")]
    assert {"speed:1.1", "noise:20"} <= set(keys)
    assert (exp / "predictions" / "fold_0.csv").is_file()
