"""Benchmark: one training step of a trainable upstream top on IEMOCAP-like batches, with the
top run on the valid frames only (packed, how `TrainableTop` runs) or on the padded batch.

The top is layers 7..12 of a random HuBERT of hubert-base size (`--freeze_layers 6`, the
fine-tuning dropouts), the input random `[16, T, 768]` batches of cached-prefix shape. The
utterance lengths are drawn like IEMOCAP's (log-normal, median 3.5 s, 0.6-30 s, cropped at
12 s as training does); the same utterances are cut into random batches and into
`--length_buckets` batches (`LengthBatchSampler`). A step is forward + backward of the top
(the head is not included: see bench_features.py for whole epochs). The packed and padded
tops take turns on each batch. Prints figures; asserts nothing. About 4 minutes on 2 cores.

    python bench/bench_top.py [--utterances 64] [--threads 2] [--seed 0] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sier.constants import SAMPLE_RATE
from sier.features import TrainableTop
from sier.training.batching import LengthBatchSampler, padding_fraction

FRAMES_PER_S = SAMPLE_RATE // 320  # HuBERT's conv encoder: one frame per 20 ms


def iemocap_like_seconds(count: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return np.clip(np.exp(rng.normal(1.25, 0.6, count)), 0.6, 12.0).tolist()


def step_seconds(top: TrainableTop, frames: list[int], pack: bool, gen: torch.Generator, device: str) -> float:
    """Forward + backward of `top` on one padded batch of utterances of `frames` frames."""
    lengths = torch.tensor(frames)
    hidden = torch.randn(len(frames), max(frames), top.config.hidden_size, generator=gen).to(device)
    valid = (torch.arange(max(frames))[None, :] < lengths[:, None]).float()[..., None].to(device)
    top.pack_frames = pack
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    start = time.perf_counter()
    out = top(hidden, lengths.to(device))
    (out * valid).square().mean().backward()
    sync()
    seconds = time.perf_counter() - start
    top.zero_grad(set_to_none=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=64, help="drawn lengths (default 64: 4 batches of 16)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (fp32; TF32 as torch's default)")
    args = parser.parse_args()
    from transformers import HubertConfig, HubertModel

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    top = TrainableTop.from_upstream(HubertModel(HubertConfig()), 6).train().to(args.device)
    seconds = iemocap_like_seconds(args.utterances, args.seed)
    frames = [int(s * FRAMES_PER_S) for s in seconds]
    order = torch.randperm(len(frames), generator=torch.Generator().manual_seed(args.seed)).tolist()
    batchings = {
        "random batches": [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)],
        "--length_buckets": list(LengthBatchSampler(order, seconds, args.batch_size,
                                                    torch.Generator().manual_seed(args.seed))),
    }
    where = f"{torch.get_num_threads()} threads" if args.device == "cpu" else torch.cuda.get_device_name(0)
    print(f"torch {torch.__version__}, {where}; top: layers 7..12 of a random "
          f"hubert-base; {len(frames)} utterances of {min(seconds):.1f}-{max(seconds):.1f} s "
          f"(median {np.median(seconds):.1f} s), batches of {args.batch_size}")
    gen = torch.Generator().manual_seed(args.seed)
    step_seconds(top, frames[: args.batch_size], True, gen, args.device)  # warm-up: first allocations
    step_seconds(top, frames[: args.batch_size], False, gen, args.device)
    for name, batches in batchings.items():
        totals = {True: 0.0, False: 0.0}
        for batch in batches:
            for pack in (False, True):
                totals[pack] += step_seconds(top, [frames[i] for i in batch], pack, gen, args.device)
        per_utt = {pack: 1000 * t / len(frames) for pack, t in totals.items()}
        print(f"  {name} ({100 * padding_fraction(batches, frames):.0f}% padding): padded top "
              f"{per_utt[False]:.0f} ms per utterance, packed {per_utt[True]:.0f} ms "
              f"-> {totals[False] / totals[True]:.2f}x")


if __name__ == "__main__":
    main()
