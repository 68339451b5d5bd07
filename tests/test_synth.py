"""The synthetic corpus: layout, determinism, counts, the speaker shortcut, learnability."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sier.cli import main
from sier.corpora.iemocap import UTTERANCE_ID, read_iemocap
from sier.corpora.labels import get_label_map
from sier.corpora.synth import SPEAKERS, label_counts, read_info, synthesize_corpus
from sier.errors import CorpusError
from sier.splits import make_folds


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = synthesize_corpus(tmp_path / "a", seed=3, per_speaker=3)
    b = synthesize_corpus(tmp_path / "b", seed=3, per_speaker=3)
    c = synthesize_corpus(tmp_path / "c", seed=4, per_speaker=3)
    da, db, dc = _digests(a), _digests(b), _digests(c)
    assert da == db and len(da) > 30
    wavs = [k for k in da if k.endswith(".wav")]
    # Turn ids are a function of the seed too; compare what both trees hold.
    common = [k for k in wavs if k in dc]
    assert all(da[k] != dc[k] for k in common)
    assert da != dc


def test_layout_and_wav_format(synth_root):
    for n in range(1, 6):
        assert sorted((synth_root / f"Session{n}" / "dialog" / "EmoEvaluation").glob("*.txt"))
    wav = next(synth_root.glob("Session1/sentences/wav/*/*.wav"))
    info = sf.info(str(wav))
    assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
    assert UTTERANCE_ID.match(wav.stem) and wav.parent.name == wav.stem.rsplit("_", 1)[0]
    label_file = next((synth_root / "Session2" / "dialog" / "EmoEvaluation").glob("*.txt"))
    lines = label_file.read_text().splitlines()
    assert lines[0].startswith("% [START_TIME - END_TIME]")
    assert lines[2].count("\t") == 3 and lines[3].startswith("C-E1:\t") and lines[3].endswith(";\t()")
    assert any(line.startswith("A-E1:\tval ") for line in lines)
    assert not list(synth_root.rglob(".*.tmp"))  # no temporary files left behind


def test_reader_sees_speakers_labels_and_cross_turns(synth_root, synth_manifest):
    utts = synth_manifest.utterances
    assert not synth_manifest.missing_wavs and not synth_manifest.bad_wavs
    assert {u.speaker for u in utts} == {s.name for s in SPEAKERS}
    per_speaker = read_info(synth_root)["per_speaker"]
    counts = label_counts(per_speaker)
    lmap = get_label_map("iemocap-4")
    expected = Counter()
    for speaker, per_label in counts.items():
        for raw, n in per_label.items():
            if lmap.map(raw):
                expected[(speaker, lmap.map(raw))] += n
    assert Counter((u.speaker, u.label) for u in utts) == +expected
    assert sum(synth_manifest.dropped_labels.values()) == per_speaker * 10 - len(utts) > 0
    assert set(synth_manifest.dropped_labels) <= {"fru", "sur", "xxx"}
    # The speaker is the letter of the turn, not of the dialog, for about half the turns.
    cross = sum(UTTERANCE_ID.match(u.id)["mocap"] != u.gender for u in utts)
    assert 0.3 < cross / len(utts) < 0.7
    assert all(0.5 <= u.duration_s <= 3.0 for u in utts)  # 1-2 s spoken + silences


def test_class_proportions_differ_by_speaker():
    counts = label_counts(40)
    assert all(sum(c.values()) == 40 for c in counts.values())
    majority = {spk: max(c, key=c.get) for spk, c in counts.items()}
    assert len(set(majority.values())) >= 3  # each speaker over-represents its own classes
    shares_ang = [c["ang"] / 40 for c in counts.values()]
    assert max(shares_ang) > 2 * min(shares_ang)


def test_rerun_replaces_own_tree_and_refuses_foreign(tmp_path):
    root = synthesize_corpus(tmp_path, per_speaker=2)
    synthesize_corpus(tmp_path, per_speaker=1)
    assert read_info(root)["utterances"] == len(list(root.rglob("*.wav"))) == 10
    foreign = tmp_path / "other" / "IEMOCAP_full_release"
    foreign.mkdir(parents=True)
    with pytest.raises(CorpusError, match="not written by"):
        synthesize_corpus(tmp_path / "other")


def test_cli(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path), "--per_speaker", "2", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "20 utterances" in out and "IEMOCAP_full_release" in out
    assert main(["synth", "--out", str(tmp_path), "--per_speaker", "0"]) == 1


def _log_mel_stats(path: str) -> np.ndarray:
    """Mean and std over frames of a 40-band log-mel spectrogram (25 ms / 10 ms); shape [80]."""
    from transformers.audio_utils import mel_filter_bank

    mel = mel_filter_bank(num_frequency_bins=257, num_mel_filters=40, min_frequency=20.0,
                          max_frequency=8000.0, sampling_rate=16_000, norm=None, mel_scale="htk")
    x, _ = sf.read(path, dtype="float32")
    frames = np.arange(400)[None, :] + 160 * np.arange(1 + (len(x) - 400) // 160)[:, None]
    power = np.abs(np.fft.rfft(x[frames] * np.hanning(400), 512)) ** 2
    log_mel = np.log(power @ mel + 1e-10)
    return np.concatenate([log_mel.mean(0), log_mel.std(0)])


@pytest.fixture(scope="module")
def default_corpus(tmp_path_factory):
    """The corpus `sier synth` writes by default (seed 0, 40 per speaker)."""
    return read_iemocap(synthesize_corpus(tmp_path_factory.mktemp("synth_default"))).utterances


def test_emotion_is_learnable_across_speakers(default_corpus):
    """Log-mel statistics, standardised per speaker -> logistic regression; train on the
    speakers of sessions 2-5, test on session 1. Unweighted accuracy (macro recall) must be
    well above chance (0.25) but not perfect."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import recall_score

    utts = default_corpus
    feats = np.stack([_log_mel_stats(u.path) for u in utts])
    labels = np.array([u.label for u in utts])
    speakers = np.array([u.speaker for u in utts])
    for spk in set(speakers):  # per-speaker standardisation (speaker normalisation)
        m = speakers == spk
        feats[m] = (feats[m] - feats[m].mean(0)) / (feats[m].std(0) + 1e-8)
    test_ids = set(make_folds(utts, "session")[0].test)
    is_test = np.array([u.id in test_ids for u in utts])
    assert set(speakers[is_test]) == {"Ses01F", "Ses01M"}
    clf = LogisticRegression(C=0.1, max_iter=2000).fit(feats[~is_test], labels[~is_test])
    ua = recall_score(labels[is_test], clf.predict(feats[is_test]), average="macro")
    print(f"synthetic corpus, session-1 speakers held out: UA = {ua:.3f}")
    assert 0.5 <= ua < 0.95
