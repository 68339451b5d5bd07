"""Length batching: every utterance once per epoch, far less padding than random batches,
random and reproducible batch order, any base sampler; evaluation batches in length order;
the flag."""

from __future__ import annotations

import torch
from torch.utils.data import RandomSampler, WeightedRandomSampler

from sier.training.batching import LengthBatchSampler, length_sorted_batches, padding_fraction
from sier.training.config import TrainConfig
from sier.training.module import RngState


def lengths_like_iemocap(n: int, seed: int = 0) -> list[float]:
    """Skewed lengths in seconds: many short utterances, a few long ones (median 3.5 s,
    0.6-30 s), cropped at 12 s as training does."""
    g = torch.Generator().manual_seed(seed)
    return torch.empty(n).log_normal_(1.25, 0.6, generator=g).clamp(0.6, 12.0).tolist()


def sampler(n: int, seed: int, lengths: list[float], batch_size: int = 16, pool: int = 50) -> LengthBatchSampler:
    g = torch.Generator().manual_seed(seed)
    return LengthBatchSampler(RandomSampler(range(n), generator=g), lengths, batch_size, g, pool)


def test_each_index_once_per_epoch_in_batches_of_at_most_batch_size():
    lengths = lengths_like_iemocap(1000)
    s = sampler(1000, 0, lengths, batch_size=16, pool=10)  # pools of 160: the last of 7 holds 40
    batches = list(s)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert len(batches) == len(s) == 6 * 10 + 3
    assert max(len(b) for b in batches) == 16 and sum(len(b) < 16 for b in batches) == 1


def test_length_batches_pad_far_less_than_random_batches():
    lengths = lengths_like_iemocap(2000)
    by_length = list(sampler(2000, 0, lengths))
    order = torch.randperm(2000, generator=torch.Generator().manual_seed(0)).tolist()
    random = [order[i : i + 16] for i in range(0, 2000, 16)]
    assert padding_fraction(random, lengths) > 0.5  # most of a random batch is padding at this spread
    assert padding_fraction(by_length, lengths) < 0.15
    exact = list(LengthBatchSampler(RandomSampler(range(2000), generator=torch.Generator().manual_seed(0)),
                                    lengths, 16, torch.Generator().manual_seed(0), jitter=0.0))
    assert padding_fraction(exact, lengths) < 0.05


def test_batches_change_every_epoch_and_repeat_with_the_seed():
    lengths = lengths_like_iemocap(500)
    s = sampler(500, 0, lengths)
    first, second = list(s), list(s)
    assert first != second
    # not only their order, their members: even when one pool holds every utterance
    pairs = [{(i, j) for b in epoch for i in b for j in b if i < j} for epoch in (first, second)]
    assert len(pairs[0] & pairs[1]) < 0.6 * len(pairs[0])
    again = sampler(500, 0, lengths)
    assert [list(again), list(again)] == [first, second]


def test_batch_order_is_not_sorted_by_length():
    lengths = lengths_like_iemocap(800)
    means = [sum(lengths[i] for i in b) / len(b) for b in sampler(800, 1, lengths)]
    assert means != sorted(means) and means != sorted(means, reverse=True)


def test_a_weighted_base_sampler_keeps_its_draws():
    lengths = lengths_like_iemocap(100)
    g = torch.Generator().manual_seed(0)
    weights = torch.tensor([10.0] * 10 + [0.0] * 90)
    base = WeightedRandomSampler(weights.double(), num_samples=64, replacement=True, generator=g)
    batches = list(LengthBatchSampler(base, lengths, 16, g))
    drawn = [i for b in batches for i in b]
    assert len(drawn) == 64 and set(drawn) <= set(range(10))


def test_evaluation_batches_in_length_order():
    lengths = [3.0, 1.0, 2.0, 5.0, 4.0]
    assert length_sorted_batches(lengths, 2) == [[1, 2], [0, 4], [3]]


def test_rng_state_tracks_each_generator_once():
    a, b = torch.Generator(), torch.Generator()
    state = RngState(a, None)
    state.track(a, b, None, b)
    assert state.generators == [a, b]


def test_length_buckets_are_opt_in_with_a_flag():
    from sier.cli import build_parser
    from sier.commands.train import resolve

    assert not TrainConfig().length_buckets
    for flag, value in (("--length_buckets", True), ("--no_length_buckets", False)):
        args = build_parser().parse_args(["train", "--corpus_root", "x", flag])
        assert resolve(args)[0].length_buckets is value
