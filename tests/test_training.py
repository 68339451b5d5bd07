"""Unit tests of training: LR groups, the adversary's alpha and loss, schedules, datasets,
config YAML + flag precedence and the `train_enhanced.py` flags. No Trainer.fit here
(the runs are in test_crossval.py)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sier.cli import build_parser
from sier.commands.train import resolve
from sier.corpora.records import Utterance
from sier.errors import TrainingError
from sier.models import ModelConfig, build_model
from sier.models.pipeline import SERModel
from sier.training.config import TrainConfig, load_config_yaml, save_config_yaml
from sier.training.data import (
    NO_CLASS,
    FeatureAugment,
    UtteranceDataset,
    balanced_sampler,
    class_weights,
    collate,
    run_model,
)
from sier.training.module import BestModelSaver, EpochRecorder, SERModule, optimizer_groups
from sier.training.schedules import WarmupCosineRestarts, adversary_alpha, warmup_cosine_factor

from tiny_models import tiny_model

# The original script's flags (README of the seed project), in its order.
ORIGINAL_FLAGS = ["--epochs", "50", "--batch_size", "16", "--lr", "1e-4", "--hidden_layer", "128", "--dropout", "0.3",
                  "--speaker_adversarial", "--adversarial_weight", "0.1", "--freeze_layers", "6",
                  "--log_interval", "10"]


def head_model(kind: str = "enhanced", input_dim: int = 16, num_speakers: int = 3) -> nn.Module:
    return build_model(ModelConfig(kind=kind, input_dim=input_dim, num_classes=4, hidden_size=4, num_heads=2,
                                   num_gru_layers=2, num_speakers=num_speakers, speaker_hidden=4, dropout=0.0))


def ser_model_with_top(freeze_layers: int = 1, num_layers: int = 2) -> SERModel:
    """A tiny random HuBERT (hidden 64) whose layers freeze_layers+1..num_layers are trainable."""
    from sier.features.upstream import TrainableTop

    top = TrainableTop.from_upstream(tiny_model("hubert", num_layers=num_layers), freeze_layers)
    return SERModel(head_model(input_dim=64), top.train())


# ------------------------------------------------------------------ LR groups


def test_optimizer_groups_scale_upstream_body_and_heads():
    model = ser_model_with_top()
    config = TrainConfig(upstream="fbank", lr=1e-3)  # defaults: upstream 0.1x, heads 2x
    groups = {g["name"]: g for g in optimizer_groups(model, config)}
    assert list(groups) == ["upstream", "body", "heads"]
    assert groups["upstream"]["lr"] == pytest.approx(1e-4)
    assert groups["body"]["lr"] == pytest.approx(1e-3)
    assert groups["heads"]["lr"] == pytest.approx(2e-3)

    def ids(params):
        return {id(p) for p in params}

    head = model.head
    assert ids(groups["upstream"]["params"]) == ids(model.upstream_top.parameters())
    assert ids(groups["heads"]["params"]) == ids(head.emotion_head.parameters()) | ids(head.speaker_head.parameters())
    body = ids(groups["body"]["params"])
    for part in (*head.gru_blocks, head.attention, head.adain, head.projection):  # GRU and attention: 1x
        assert ids(part.parameters()) <= body
    # every trainable parameter exactly once
    all_ids = [id(p) for g in groups.values() for p in g["params"]]
    assert len(all_ids) == len(set(all_ids)) == sum(1 for p in model.parameters() if p.requires_grad)


def test_optimizer_groups_skip_frozen_and_empty_groups():
    model = SERModel(head_model(kind="baseline"))
    for p in model.head.emotion_head.parameters():
        p.requires_grad_(False)
    groups = optimizer_groups(model, TrainConfig(upstream="fbank", head_lr_scale=3.0))
    assert [g["name"] for g in groups] == ["body", "heads"]  # no upstream top: no empty group
    heads = {id(p) for p in groups[1]["params"]}
    assert heads == {id(p) for p in model.head.speaker_head.parameters()}
    assert groups[1]["lr"] == pytest.approx(3e-4)


def test_configure_optimizers_is_adamw_with_weight_decay_and_step_scheduler():
    model = ser_model_with_top()
    config = TrainConfig(upstream="fbank", lr=1e-3, weight_decay=0.05, warmup_epochs=2, restart_epochs=3)
    module = SERModule(model, config, num_classes=4)
    module.trainer = SimpleNamespace(estimated_stepping_batches=100, max_epochs=10)  # 10 steps per epoch
    out = module.configure_optimizers()
    opt, sched = out["optimizer"], out["lr_scheduler"]
    assert isinstance(opt, torch.optim.AdamW)
    assert sched["interval"] == "step"
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05] * 3
    assert [g["initial_lr"] for g in opt.param_groups] == pytest.approx([1e-4, 1e-3, 2e-3])
    scheduler = sched["scheduler"]
    assert (scheduler.warmup_steps, scheduler.cycle_steps) == (20, 30)  # epochs x steps per epoch
    assert opt.param_groups[1]["lr"] == pytest.approx(1e-3 / 20)  # first warm-up step


# ------------------------------------------------------------------ adversary


def test_alpha_schedule_formula():
    for p in (0.0, 0.1, 0.25, 0.5, 0.9, 1.0):
        assert adversary_alpha(p) == pytest.approx(2 / (1 + math.exp(-10 * p)) - 1)
    assert adversary_alpha(0.0) == 0.0
    assert adversary_alpha(0.5) == pytest.approx(0.9866, abs=1e-4)
    assert adversary_alpha(-1.0) == 0.0 and adversary_alpha(2.0) == adversary_alpha(1.0)  # clipped
    values = [adversary_alpha(i / 20) for i in range(21)]
    assert values == sorted(values) and values[-1] < 1.0
    assert adversary_alpha(0.5, gamma=1.0) == pytest.approx(2 / (1 + math.exp(-0.5)) - 1)


def test_module_alpha_follows_training_progress():
    module = SERModule(SERModel(head_model()), TrainConfig(upstream="fbank", adversarial_gamma=5.0), num_classes=4)
    assert module.alpha() == 0.0  # no trainer yet: p = 0
    module.trainer = SimpleNamespace(estimated_stepping_batches=40)
    module.trainer.global_step = 10  # LightningModule.global_step reads trainer.global_step
    assert module.progress() == pytest.approx(0.25)
    assert module.alpha() == pytest.approx(2 / (1 + math.exp(-5 * 0.25)) - 1)


def _batch(speakers: list[int], frames: int = 12, dim: int = 16) -> dict:
    torch.manual_seed(1)
    b = len(speakers)
    return {
        "features": torch.randn(b, frames, dim),
        "lengths": torch.tensor([frames - i for i in range(b)]),
        "labels": torch.tensor([i % 4 for i in range(b)]),
        "speakers": torch.tensor(speakers),
        "index": torch.arange(b),
    }


def test_training_loss_is_emotion_ce_plus_weighted_speaker_ce_on_training_speakers():
    """loss = CE_w(emotion) + w * CE(speaker over utterances of the fold's training speakers);
    alpha(p) enters through gradient reversal (see the gradient test below)."""
    torch.manual_seed(0)
    weight = torch.tensor([0.5, 1.0, 1.5, 1.0])
    module = SERModule(SERModel(head_model()), TrainConfig(upstream="fbank", adversarial_weight=0.3),
                       num_classes=4, class_weight=weight)
    module.log = lambda *a, **k: None  # not attached to a Trainer
    module.eval()  # no dropout: the same forward twice
    batch = _batch([0, 2, -1, 1, -1])  # -1: a speaker the speaker head does not cover
    loss = module.training_step(batch, 0)
    out = module.model(batch["features"], batch["lengths"])
    known = batch["speakers"] >= 0
    expected = F.cross_entropy(out["emotion_logits"], batch["labels"], weight=weight) + 0.3 * F.cross_entropy(
        out["speaker_logits"][known], batch["speakers"][known])
    assert out["speaker_logits"].shape == (5, 3)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_speaker_loss_gradient_is_reversed_and_scaled_by_alpha_times_weight():
    """Encoder gradient = grad CE_emotion - alpha * w * grad CE_speaker; the speaker head gets + w * grad."""
    torch.manual_seed(0)
    alpha, w = 0.6, 0.25
    module = SERModule(SERModel(head_model()), TrainConfig(upstream="fbank", adversarial_weight=w), num_classes=4)
    module.log = lambda *a, **k: None
    module.alpha = lambda: alpha
    module.eval()
    batch = _batch([0, 1, 2, 0])
    encoder = module.model.head.projection[0].weight
    speaker_out = module.model.head.speaker_head.classifier.net[-1].weight  # last layer of the speaker MLP
    g_total = torch.autograd.grad(module.training_step(batch, 0), [encoder, speaker_out])

    out = module.model(batch["features"], batch["lengths"], alpha=1.0)
    ce_emotion = F.cross_entropy(out["emotion_logits"], batch["labels"])
    ce_speaker = F.cross_entropy(out["speaker_logits"], batch["speakers"])
    g_emotion = torch.autograd.grad(ce_emotion, encoder, retain_graph=True)[0]
    g_speaker_reversed = torch.autograd.grad(ce_speaker, [encoder, speaker_out])  # alpha=1: -grad at the encoder
    torch.testing.assert_close(g_total[0], g_emotion + alpha * w * g_speaker_reversed[0], rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(g_total[1], w * g_speaker_reversed[1], rtol=1e-4, atol=1e-7)


def test_dataset_indexes_only_training_speakers():
    utts = [Utterance(f"u{i}", f"u{i}.wav", spk, 1, "F", lab, 1.0, "t")
            for i, (spk, lab) in enumerate([("A", "neu"), ("B", "ang"), ("C", "sad"), ("A", "hap")])]

    class Store:
        def load(self, utt_id):
            return torch.ones(int(utt_id[1:]) + 3, 2, dtype=torch.float16)

    ds = UtteranceDataset(utts, Store(), ("neu", "hap", "ang", "sad"), speakers=("A", "B"))
    assert ds.speakers.tolist() == [0, 1, -1, 0]
    assert ds.labels.tolist() == [0, 2, 3, 1]
    assert ds.class_counts() == [1, 1, 1, 1]
    batch = collate([ds[i] for i in range(4)])
    assert batch["features"].shape == (4, 6, 2) and batch["features"].dtype == torch.float32
    assert batch["lengths"].tolist() == [3, 4, 5, 6]
    assert batch["features"][0, 3:].abs().sum() == 0  # zero padding
    assert UtteranceDataset(utts, Store(), ("neu", "hap")).labels.tolist() == [0, NO_CLASS, NO_CLASS, 1]



def test_run_model_batches_in_order_without_gradients():
    utts = [Utterance(f"u{i}", f"u{i}.wav", "A", 1, "F", "neu", 1.0, "t") for i in range(5)]

    class Store:
        def load(self, utt_id):
            return torch.full((int(utt_id[1:]) + 1, 2), float(utt_id[1:]), dtype=torch.float16)

    seen = []

    def model(features, lengths):
        seen.append(torch.is_inference_mode_enabled())
        return {"last": features[torch.arange(len(lengths)), lengths - 1, 0]}

    outs = list(run_model(model, UtteranceDataset(utts, Store(), ("neu",)), batch_size=2))
    assert [len(b["lengths"]) for b, _ in outs] == [2, 2, 1] and all(seen)
    assert torch.cat([o["last"] for _, o in outs]).tolist() == [0, 1, 2, 3, 4]

# ------------------------------------------------------------------ class balance, augmentation


def test_class_weights_inverse_frequency_average_one_per_utterance():
    counts = torch.tensor([10.0, 30.0, 0.0, 20.0])
    w = class_weights(counts.int().tolist())
    assert w.tolist() == pytest.approx([60 / 30, 60 / 90, 0.0, 60 / 60])  # N / (C_present * n_c)
    assert (w * counts)[[0, 1, 3]].tolist() == pytest.approx([20.0] * 3)  # equal total weight per class
    assert (w * counts).sum().item() / counts.sum().item() == pytest.approx(1.0)


def test_balanced_sampler_draws_classes_equally_and_is_seeded():
    labels = torch.tensor([0] * 80 + [1] * 15 + [2] * 5)
    draws = [i for seed in range(20) for i in balanced_sampler(labels, 3, seed=seed)]
    counts = torch.bincount(labels[torch.tensor(draws)], minlength=3).float() / len(draws)
    assert counts.tolist() == pytest.approx([1 / 3] * 3, abs=0.04)
    assert list(balanced_sampler(labels, 3, seed=7)) == list(balanced_sampler(labels, 3, seed=7))


def test_feature_augment_crops_and_masks_with_the_utterance_mean():
    torch.manual_seed(0)
    feats = torch.arange(200 * 8, dtype=torch.float32).reshape(200, 8)
    cropped = FeatureAugment(time_masks=0, channel_masks=0, max_frames=50)(feats)
    assert cropped.shape == (50, 8)
    start = int(cropped[0, 0].item()) // 8
    assert torch.equal(cropped, feats[start:start + 50])
    masked = FeatureAugment(time_masks=3, time_mask_frames=10, channel_masks=2, channel_mask_width=2)(feats)
    assert masked.shape == feats.shape
    changed = masked != feats
    assert changed.any()
    fill = feats.mean(dim=0)
    assert torch.allclose(masked[changed], fill.expand_as(feats)[changed])


# ------------------------------------------------------------------ LR schedule


def test_warmup_then_cosine_restarts():
    f = [warmup_cosine_factor(s, warmup_steps=4, cycle_steps=10, min_ratio=0.1) for s in range(4 + 25)]
    assert f[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert f[4] == 1.0  # a cycle starts at the full LR
    assert f[4 + 5] == pytest.approx(0.1 + 0.9 * 0.5)  # half-way down the cosine
    assert all(a > b for a, b in zip(f[4:14], f[5:14]))  # decreasing within the cycle
    assert min(f[4:14]) > 0.1
    assert f[14] == 1.0 and f[24] == 1.0  # warm restarts
    # cycles growing x2: 10 then 20 steps
    g = [warmup_cosine_factor(s, 0, 10, cycle_mult=2.0) for s in range(40)]
    assert g[10] == 1.0 and g[20] < 1.0 and g[30] == 1.0
    assert g[20] == pytest.approx(0.5)
    assert warmup_cosine_factor(50, 2, 0) == 1.0  # cycle_steps 0: no annealing


def _scheduler(**kw) -> tuple[torch.optim.Optimizer, WarmupCosineRestarts]:
    params = [nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))]
    opt = torch.optim.AdamW([{"params": [params[0]], "lr": 1.0}, {"params": [params[1]], "lr": 2.0}])
    return opt, WarmupCosineRestarts(opt, **{"warmup_steps": 2, "cycle_steps": 4, "min_ratio": 0.0, **kw})


def test_scheduler_sets_every_group_lr_per_step():
    opt, sched = _scheduler()
    lrs = []
    for _ in range(8):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    c = 0.5 * math.cos(math.pi / 4)
    assert [a for a, _ in lrs] == pytest.approx([0.5, 1.0, 1.0, 0.5 + c, 0.5, 0.5 - c, 1.0, 0.5 + c])
    assert [b for _, b in lrs] == pytest.approx([2 * a for a, _ in lrs])  # groups keep their ratio


def test_plateau_decay_after_patience_and_state_round_trip():
    opt, sched = _scheduler(cycle_steps=0, plateau_factor=0.5, plateau_patience=2, mode="max")
    for _ in range(3):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == 1.0
    assert sched.report(0.5) is False  # first value: the best so far
    assert sched.report(0.4) is False  # 1 bad
    assert sched.report(0.6) is False  # improvement resets the count
    assert sched.report(0.6) is False  # equal is not better
    assert sched.report(0.1) is True  # 2 bad in a row: x0.5
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.5, 1.0])
    opt.step()
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.5, 1.0])  # the decay persists over steps
    state = sched.state_dict()

    opt2, sched2 = _scheduler(cycle_steps=0, plateau_factor=0.5, plateau_patience=2, mode="max")
    sched2.load_state_dict(state)
    assert (sched2.plateau_scale, sched2.best, sched2.bad_reports) == (0.5, 0.6, 0)
    assert sched2.factor() == sched.factor()
    # mode "min" (val_loss) and patience 0 = never
    _, low = _scheduler(cycle_steps=0, plateau_patience=1, mode="min")
    assert low.report(1.0) is False and low.report(0.9) is False and low.report(0.95) is True
    _, never = _scheduler(cycle_steps=0, plateau_patience=0)
    assert not any(never.report(v) for v in (1.0, 0.0, 0.0, 0.0))


# ------------------------------------------------------------------ per-epoch callbacks


def _row(epoch: int, ua: float, loss: float = 1.0) -> dict:
    return {"epoch": epoch, "lr": 1e-3, "alpha": 0.0, "train_loss": 1.0, "val_loss": loss, "val_wa": ua,
            "val_ua": ua, "val_f1": ua}


def _feed(callback, rows):
    trainer = SimpleNamespace(sanity_checking=False, is_global_zero=True)
    for row in rows:
        callback.on_validation_end(trainer, SimpleNamespace(epoch_row=row))


def test_best_model_saver_saves_on_improvement_of_the_monitored_metric():
    saved = []
    saver = BestModelSaver(lambda module, best: saved.append(best), "val_ua", "max")
    _feed(saver, [_row(0, 0.3), _row(1, 0.5), _row(2, 0.4), _row(3, 0.5), _row(4, 0.6), _row(5, float("nan"))])
    assert [b["epoch"] for b in saved] == [0, 1, 4]  # ties and NaN do not replace the best
    assert saver.best == {"epoch": 4, "val_ua": 0.6}
    restored = BestModelSaver(lambda *a: None, "val_ua")
    restored.load_state_dict(saver.state_dict())  # resume keeps the best so far
    assert restored.best == saver.best

    by_loss = []
    saver = BestModelSaver(lambda module, best: by_loss.append(best["epoch"]), "val_loss", "min")
    _feed(saver, [_row(0, 0.5, loss=1.0), _row(1, 0.9, loss=1.2), _row(2, 0.1, loss=0.8)])
    assert by_loss == [0, 2] and saver.best["val_ua"] == 0.1


def test_epoch_recorder_writes_one_row_per_epoch_and_survives_resume(tmp_path):
    recorder = EpochRecorder(tmp_path / "m.csv")
    _feed(recorder, [_row(0, 0.3), _row(1, 0.4)])
    resumed = EpochRecorder(tmp_path / "m.csv")
    resumed.load_state_dict(recorder.state_dict())
    _feed(resumed, [_row(1, 0.45), _row(2, 0.5)])  # epoch 1 rerun after a crash: replaced, not repeated
    lines = (tmp_path / "m.csv").read_text().splitlines()
    assert lines[0] == "epoch,lr,alpha,train_loss,val_loss,val_wa,val_ua,val_f1"
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1", "2"]
    assert lines[2].split(",")[6] == "0.45"


# ------------------------------------------------------------------ config, flags


def test_config_round_trips_through_yaml(tmp_path):
    config = TrainConfig(upstream="fbank", folds=(0, 2), lr=3e-4, devices="0,1", speaker_adversarial=True)
    save_config_yaml(tmp_path / "c.yaml", config)
    assert TrainConfig.from_dict(load_config_yaml(tmp_path / "c.yaml")) == config


def test_config_coerces_yaml_types_and_rejects_bad_values():
    config = TrainConfig.from_dict({"lr": 1, "folds": "0,3", "devices": 2, "warmup_epochs": 0})
    assert (config.lr, config.folds, config.devices, config.warmup_epochs) == (1.0, (0, 3), "2", 0.0)
    assert TrainConfig(folds=1).folds == (1,)
    with pytest.raises(TrainingError, match="unknown training config key"):
        TrainConfig.from_dict({"learning_rate": 1e-3})
    with pytest.raises(TrainingError, match="epochs must be >= 1"):
        TrainConfig(epochs=0)
    with pytest.raises(TrainingError, match="monitor"):
        TrainConfig(monitor="val_acc")
    with pytest.raises(TrainingError, match="upstream_dropout"):
        TrainConfig(upstream_dropout="none")
    with pytest.raises(TrainingError, match="must be int"):
        TrainConfig(batch_size="16")
    assert TrainConfig().override(lr=2).lr == 2.0


def _resolve(argv: list[str]):
    return resolve(build_parser().parse_args(["train", *argv]))


def test_precedence_defaults_then_yaml_then_flags(tmp_path):
    (tmp_path / "ablation.yaml").write_text("model: baseline\nlr: 0.0005\nepochs: 7\nadain: false\nfolds: [1, 2]\n")
    config, resume, given = _resolve(["--config", str(tmp_path / "ablation.yaml"), "--lr", "0.002", "--adain"])
    assert resume is None
    assert config.lr == 0.002  # flag beats YAML
    assert config.adain is True  # a typed boolean flag beats YAML too
    assert (config.model, config.epochs, config.folds) == ("baseline", 7, (1, 2))  # YAML beats defaults
    assert config.batch_size == TrainConfig().batch_size  # neither: the default
    assert given == {"lr": 0.002, "adain": True}  # only what was typed


def test_bad_yaml_key_is_a_training_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("hidden_layer: 64\n")  # a flag alias, not a field name
    with pytest.raises(TrainingError, match="unknown training config key"):
        _resolve(["--config", str(tmp_path / "bad.yaml")])


def test_original_train_enhanced_flags_parse():
    config, _, _ = _resolve(["--corpus_root", "IEMOCAP", *ORIGINAL_FLAGS])
    assert (config.epochs, config.batch_size, config.lr, config.hidden_size, config.dropout) == (50, 16, 1e-4, 128, 0.3)
    assert config.speaker_adversarial is True and config.adversarial_weight == 0.1
    assert (config.freeze_layers, config.log_interval) == (6, 10)
    assert config.model == "enhanced" and config.corpus_root == "IEMOCAP"


def test_resume_flags_keep_only_what_was_typed():
    config, resume, given = _resolve(["--resume", "experiments/x", "--devices", "2", "--no_progress"])
    assert config is None and resume == "experiments/x"
    assert given == {"devices": "2", "progress": False}
