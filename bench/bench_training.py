"""Benchmark: training throughput (utterances per second) and peak memory of one fold's
training loop on cached fbank features of the synthetic corpus, for the baseline model,
the enhanced model, and the enhanced model with the speaker adversary, each with random
batches and with batches of similar length (`sier train --length_buckets`, LengthBatchSampler).

What is timed: `Trainer.fit` epochs of the real SERModule (AdamW groups, LR schedule,
class-weighted loss, augmentation, gradient clipping) on the training part of session
fold 0, validation off; the first epoch is a warm-up and not counted. Features come from
the on-disk cache (float16 -> float32), as in `sier train`.

Wall-clock throughput depends on what else runs on the machine; the rate per CPU-second
of this process (`time.process_time`) is printed too, and is steadier on a shared machine.

Peak memory: each model runs in a fresh process; the figure is the growth of that
process's resident-set high-water mark (`resource.getrusage(RUSAGE_SELF).ru_maxrss`, which
counts torch's C++ allocations, unlike tracemalloc) from just before `fit` to its end.

The synthetic utterances last 1-3 s by default, so padding costs little there; with
`--durations 1,12` the spread is closer to IEMOCAP's (under 1 s to 12 s after cropping) and
the two batchings differ.

Prints figures; asserts nothing.

    HF_HUB_OFFLINE=1 python bench/bench_training.py [--per_speaker 16] [--epochs 3] [--durations 1,3]
        [--batching random,length] [--threads N]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

MODELS = {  # name -> TrainConfig changes over the defaults (hidden 128, 2 GRU layers, 8 heads)
    "baseline": dict(model="baseline"),
    "enhanced": dict(model="enhanced"),
    "enhanced + adversary": dict(model="enhanced", speaker_adversarial=True),
}


def maxrss_mb() -> float:
    """This process's peak resident set so far, MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def fit_one(name: str, batching: str, root: str, cache: str, args: argparse.Namespace) -> dict:
    """Train one model with "random" or "length" batches (in a fresh process); returns its
    timing and memory figures."""
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    from sier.corpora.iemocap import read_iemocap
    from sier.corpora.labels import get_label_map
    from sier.features import extract_features, frames_per_second
    from sier.models import build_model
    from sier.models.pipeline import SERModel
    from sier.splits import make_folds
    from sier.training.batching import LengthBatchSampler
    from sier.training.config import TrainConfig, feature_config
    from sier.training.crossval import _model_config
    from sier.training.data import FeatureAugment, UtteranceDataset, class_weights, collate
    from sier.training.module import SERModule

    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # start-up notices and tips
    warnings.filterwarnings("ignore", message=".*(LeafSpec|val_dataloader|does not have many workers).*")
    config = TrainConfig(upstream="fbank", cache_dir=cache, epochs=args.epochs, batch_size=args.batch_size,
                         progress=False, **MODELS[name])
    fcfg = feature_config(config)
    utts = read_iemocap(root).utterances
    store = extract_features(utts, fcfg, cache, progress=False)  # cached by the parent: loads only
    classes = get_label_map(config.label_map).classes
    fold = make_folds(utts, "session")[0]
    by_id = {u.id: u for u in utts}
    fps = frames_per_second(fcfg)
    augment = FeatureAugment(config.time_masks, round(config.time_mask_s * fps), config.channel_masks,
                             round(config.channel_mask_frac * store.dim), round(config.max_train_s * fps))
    train = UtteranceDataset([by_id[i] for i in fold.train], store, classes, fold.train_speakers, augment)
    shuffle = torch.Generator().manual_seed(0)
    if batching == "length":
        lengths = [min(u.duration_s, config.max_train_s) for u in train.utterances]
        batches = LengthBatchSampler(RandomSampler(train, generator=shuffle), lengths, config.batch_size, shuffle)
        loader = DataLoader(train, batch_sampler=batches, collate_fn=collate, generator=shuffle)
    else:
        loader = DataLoader(train, batch_size=config.batch_size, shuffle=True, collate_fn=collate, generator=shuffle)
    L.seed_everything(0, verbose=False)
    model_cfg = _model_config(config, store, classes, fold)
    module = SERModule(SERModel(build_model(model_cfg)), config, len(classes), class_weights(train.class_counts()))

    class EpochTimer(L.Callback):
        def __init__(self) -> None:
            self.seconds: list[tuple[float, float]] = []  # (wall, CPU of this process) per epoch

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.start = (time.perf_counter(), time.process_time())

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self.seconds.append((time.perf_counter() - self.start[0], time.process_time() - self.start[1]))

    timer = EpochTimer()
    trainer = L.Trainer(max_epochs=config.epochs, accelerator="cpu", devices=1, limit_val_batches=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        gradient_clip_val=config.grad_clip, callbacks=[timer])
    rss_before = maxrss_mb()
    trainer.fit(module, loader)
    timed = timer.seconds[1:] or timer.seconds  # epoch 0 is the warm-up
    frames = sum(min(store.load(u).shape[0], augment.max_frames or 10**9) for u in fold.train)
    return {
        "name": name,
        "batching": batching,
        "params": sum(p.numel() for p in module.parameters()),
        "utts": len(train),
        "audio_s": frames / fps,
        "epoch_s": min(t[0] for t in timed),
        "epoch_cpu_s": min(t[1] for t in timed),
        "rss_before": rss_before,
        "rss_delta": maxrss_mb() - rss_before,
        "threads": torch.get_num_threads(),
    }


def _child(queue, *a) -> None:
    queue.put(fit_one(*a))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per_speaker", type=int, default=16, help="synthetic utterances per speaker (default 16)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per model, the first one a warm-up (default 3)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--durations", default="1,3", help="min,max spoken seconds of the synthetic utterances")
    parser.add_argument("--batching", default="random,length", help="comma list of random, length")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = parser.parse_args()

    import torch

    from sier.corpora.iemocap import read_iemocap
    from sier.corpora.synth import synthesize_corpus
    from sier.features import FeatureConfig, extract_features

    with tempfile.TemporaryDirectory() as tmp:
        low, high = (float(x) for x in args.durations.split(","))
        root = synthesize_corpus(Path(tmp) / "synth", seed=0, per_speaker=args.per_speaker, duration_s=(low, high))
        cache = str(Path(tmp) / "cache")
        start = time.perf_counter()
        extract_features(read_iemocap(root).utterances, FeatureConfig(upstream="fbank"), cache, progress=False)
        print(f"torch {torch.__version__}; synthetic corpus {args.per_speaker}/speaker, fbank cached in "
              f"{time.perf_counter() - start:.1f} s; session fold 0 training part, batch {args.batch_size}, "
              f"model defaults (hidden 128, 2 GRU layers, 8 heads); load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs")
        ctx = mp.get_context("spawn")
        rates: dict[tuple[str, str], float] = {}
        for name in MODELS:
            for batching in args.batching.split(","):
                queue = ctx.Queue()
                proc = ctx.Process(target=_child, args=(queue, name, batching, str(root), cache, args))
                proc.start()
                r = queue.get()
                proc.join()
                rates[name, batching] = r["utts"] / r["epoch_s"]
                print(f"{r['name']:<22} {batching:<6} batches, {r['params'] / 1e3:7.1f} k params, {r['threads']} threads: "
                      f"{r['utts']} utts ({r['audio_s']:.0f} s of audio after cropping) per epoch in {r['epoch_s']:.2f} s "
                      f"-> {rates[name, batching]:.1f} utt/s ({r['audio_s'] / r['epoch_s']:.1f} audio-s/s), "
                      f"{r['utts'] / r['epoch_cpu_s']:.1f} utt per CPU-s; "
                      f"peak RSS +{r['rss_delta']:.0f} MB over {r['rss_before']:.0f} MB (ru_maxrss)")
            if (name, "random") in rates and (name, "length") in rates:
                print(f"{'':<22} length / random batches: {rates[name, 'length'] / rates[name, 'random']:.2f}x")


if __name__ == "__main__":
    main()
