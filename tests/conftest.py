"""Shared fixtures: one small synthetic corpus per test session (offline, a second or two)."""

from __future__ import annotations

import pytest

from sier.corpora.iemocap import PrepareResult, read_iemocap
from sier.corpora.synth import synthesize_corpus

# Size of the shared corpus: 10 speakers x 16 = 160 turns, 150 kept by iemocap-4
# (see sier.corpora.synth.label_counts(16)); spoken length 1-2 s each.
SYNTH_SEED = 0
SYNTH_PER_SPEAKER = 16
SYNTH_DURATION_S = (1.0, 2.0)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """Path of a synthetic IEMOCAP_full_release tree (Session1..5), made once per session.

    Read-only for tests: copy it before changing anything in it."""
    out = tmp_path_factory.mktemp("synth")
    return synthesize_corpus(out, seed=SYNTH_SEED, per_speaker=SYNTH_PER_SPEAKER, duration_s=SYNTH_DURATION_S)


@pytest.fixture(scope="session")
def synth_manifest(synth_root) -> PrepareResult:
    """`read_iemocap(synth_root)` under iemocap-4; `.utterances` is the manifest."""
    return read_iemocap(synth_root)
