"""Benchmark: training epochs from the feature cache versus the frozen upstream on the fly,
and upstream extraction throughput as a fraction of this machine's fp32 matmul peak.

Uses a base-sized HuBERT (HubertConfig() defaults, random init, built in memory: no download)
and a few synthetic utterances. Prints figures; asserts nothing.

    HF_HUB_OFFLINE=1 python bench/bench_features.py [--utterances 8] [--seconds 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import nn

from sier.constants import SAMPLE_RATE
from sier.corpora.records import Utterance
from sier.features import FeatureConfig, Preprocessing, compute_features, extract_features, split_upstream


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """Best fp32 matmul rate in FLOP/s over `repeats` products of two n x n matrices."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def count_flops(module: nn.Module, x: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:  # not inference_mode: see STACK-NOTES
        module(x)
    return counter.get_total_flops()


def head_model(dim: int) -> tuple[nn.Module, str]:
    """The sier enhanced head, or a stand-in BiGRU + linear when sier.models is not importable."""
    try:
        from sier.models import ModelConfig, build_model

        return build_model(ModelConfig(input_dim=dim, num_classes=4)), "sier.models EnhancedGRU (defaults)"
    except ImportError:
        class StandIn(nn.Module):
            def __init__(self):
                super().__init__()
                self.gru = nn.GRU(dim, 128, num_layers=2, batch_first=True, bidirectional=True)
                self.out = nn.Linear(256, 4)

            def forward(self, x, lengths, alpha=0.0):
                return {"emotion_logits": self.out(self.gru(x)[0].mean(1))}

        return StandIn(), "stand-in BiGRU(2x128) + linear"


def pad(items: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([t.shape[0] for t in items])
    batch = torch.zeros(len(items), int(lengths.max()), items[0].shape[-1])
    for i, t in enumerate(items):
        batch[i, : t.shape[0]] = t
    return batch, lengths


def epoch(get_features, ids, head, top, optimizer, batch_size: int) -> float:
    """One training epoch; `get_features(utt_id)` gives `[T, D]`. Returns seconds."""
    labels = torch.arange(len(ids)) % 4
    start = time.perf_counter()
    for i in range(0, len(ids), batch_size):
        feats, lengths = pad([get_features(u) for u in ids[i : i + batch_size]])
        if top is not None:
            feats = top(feats, lengths)
        logits = head(feats, lengths)["emotion_logits"]
        loss = nn.functional.cross_entropy(logits, labels[i : i + batch_size])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--utterances", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch_size", type=int, default=4)
    args = parser.parse_args()
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    model = HubertModel(HubertConfig()).eval()  # hubert-base sized, random weights
    total_layers = model.config.num_hidden_layers
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; hubert-base random, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params")
    peak = matmul_peak()
    print(f"fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s")

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        utts = []
        for i in range(args.utterances):
            path = Path(tmp) / f"u{i}.wav"
            seconds = args.seconds * (0.9 + 0.2 * rng.random())
            sf.write(path, (0.1 * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32), SAMPLE_RATE)
            utts.append(Utterance(f"u{i}", str(path), "s", 1, "F", "neu", seconds, "bench"))
        waves = {u.id: sf.read(u.path, dtype="float32")[0] for u in utts}
        audio_s = sum(w.size for w in waves.values()) / SAMPLE_RATE
        ids = [u.id for u in utts]

        folder = Path(tmp) / "hubert-base-random"
        model.save_pretrained(folder)  # through the user's path: a local folder, loaded by load_upstream
        for freeze in (total_layers, total_layers // 2):
            cfg = FeatureConfig(upstream=str(folder), freeze_layers=freeze)
            start = time.perf_counter()
            store = extract_features(utts, cfg, Path(tmp) / "cache", progress=False, device="cpu")
            extract_s = time.perf_counter() - start
            prefix, top = split_upstream(model, cfg, Preprocessing(do_normalize=False))
            start = time.perf_counter()
            for u in ids:
                compute_features(waves[u], prefix)
            compute_s = time.perf_counter() - start

            flops = sum(count_flops(prefix, torch.from_numpy(waves[u])[None]) for u in ids)
            rate = flops / compute_s
            print(f"\nfreeze_layers={freeze}/{total_layers}: extract_features {audio_s:.1f} audio-s in {extract_s:.2f} s "
                  f"(with model load and cache writes); prefix alone {compute_s:.2f} s (RTF {compute_s / audio_s:.3f}), "
                  f"{flops / audio_s / 1e9:.1f} GFLOP per audio-s, {rate / 1e9:.1f} GFLOP/s = {100 * rate / peak:.0f}% of peak")

            results = {}
            for mode in ("cache", "on the fly"):
                torch.manual_seed(0)
                head, head_name = head_model(model.config.hidden_size)
                trainable = list(head.parameters()) + (list(top.parameters()) if top is not None else [])
                optimizer = torch.optim.AdamW(trainable, lr=1e-4)
                if top is not None:
                    top.train()
                head.train()
                if mode == "cache":
                    get = store.load
                else:
                    get = lambda u: compute_features(waves[u], prefix)  # noqa: E731
                epoch(get, ids[: args.batch_size], head, top, optimizer, args.batch_size)  # warm-up
                results[mode] = min(epoch(get, ids, head, top, optimizer, args.batch_size) for _ in range(2))
            print(f"  head: {head_name}; epoch of {len(ids)} utterances: cache {results['cache']:.3f} s, "
                  f"on the fly {results['on the fly']:.3f} s -> speed-up {results['on the fly'] / results['cache']:.1f}x")


if __name__ == "__main__":
    main()
