"""Speaker-independent folds: protocols, the checker, property tests, save/load."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sier.corpora.records import Utterance
from sier.errors import SplitError
from sier.splits import Fold, check_fold, folds_table, load_folds, make_folds, save_folds


def corpus(spec: dict[int, dict[str, int]]) -> list[Utterance]:
    """`spec[session][gender_or_tag] = n` utterances; speaker = Ses{session:02d}{tag}."""
    out = []
    for session, speakers in spec.items():
        for tag, n in speakers.items():
            spk = f"Ses{session:02d}{tag}"
            for k in range(n):
                out.append(Utterance(f"{spk}_u{k:03d}", f"/{spk}_{k}.wav", spk, session, tag[0], "neu", 1.0, "iemocap"))
    return out


IEMOCAP_LIKE = corpus({s: {"F": 3, "M": 2} for s in range(1, 6)})


def parts(fold: Fold) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    return {
        "train": (fold.train, fold.train_speakers),
        "val": (fold.val, fold.val_speakers),
        "test": (fold.test, fold.test_speakers),
    }


def test_session_protocol_five_folds():
    folds = make_folds(IEMOCAP_LIKE, "session")
    assert [f.index for f in folds] == [0, 1, 2, 3, 4]
    all_speakers = {u.speaker for u in IEMOCAP_LIKE}
    for k, f in enumerate(folds):
        s, v = k + 1, (k + 1) % 5 + 1
        assert f.test_speakers == (f"Ses{s:02d}F", f"Ses{s:02d}M")
        assert f.val_speakers == (f"Ses{v:02d}F", f"Ses{v:02d}M")
        assert set(f.train_speakers) == all_speakers - set(f.test_speakers) - set(f.val_speakers)
        assert len(f.train_speakers) == 6
        assert (len(f.train), len(f.val), len(f.test)) == (15, 5, 5)
        assert {u.id for u in IEMOCAP_LIKE if u.session == s} == set(f.test)


def test_speaker_protocol_ten_folds():
    folds = make_folds(IEMOCAP_LIKE, "speaker")
    assert len(folds) == 10
    assert sorted(f.test_speakers[0] for f in folds) == sorted({u.speaker for u in IEMOCAP_LIKE})
    for f in folds:
        (test,) = f.test_speakers
        partner = test[:-1] + ("M" if test.endswith("F") else "F")
        assert f.val_speakers == (partner,)
        assert len(f.train_speakers) == 8
        assert not any(s.startswith(test[:5]) for s in f.train_speakers)  # no session partner in train
        assert set(f.test) == {u.id for u in IEMOCAP_LIKE if u.speaker == test}


def test_make_folds_errors():
    with pytest.raises(SplitError, match="unknown protocol"):
        make_folds(IEMOCAP_LIKE, "dialog")
    with pytest.raises(SplitError, match="at least 3 sessions"):
        make_folds(corpus({1: {"F": 1, "M": 1}, 2: {"F": 1, "M": 1}}))
    with pytest.raises(SplitError, match="at least 3 sessions"):
        make_folds([])
    lonely = corpus({1: {"F": 1, "M": 1}, 2: {"F": 1, "M": 1}, 3: {"F": 2}})
    with pytest.raises(SplitError, match="Ses03F has no session partner"):
        make_folds(lonely, "speaker")
    assert len(make_folds(lonely, "session")) == 3


# ---------------------------------------------------------------- the checker

GOOD = Fold(0, ("a1", "a2"), ("b1",), ("c1",), ("A",), ("B",), ("C",))
UTTS = [Utterance(uid, "x", uid[0].upper(), 1, "F", "neu", 1.0, "t") for uid in ("a1", "a2", "b1", "c1")]


def test_check_fold_accepts_good():
    check_fold(GOOD)
    check_fold(GOOD, UTTS)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"val_speakers": ("B", "A")}, r"speaker\(s\) \['A'\] in both train and val"),
        ({"test_speakers": ("C", "A")}, r"speaker\(s\) \['A'\] in both train and test"),
        ({"test_speakers": ("B",), "val_speakers": ("B",)}, "in both val and test"),
        ({"val": ("b1", "a2")}, r"utterance\(s\) \['a2'\] in both train and val"),
        ({"test": ("c1", "b1")}, "in both val and test"),
    ],
)
def test_check_fold_rejects_overlap(changes, message):
    with pytest.raises(SplitError, match=message):
        check_fold(replace(GOOD, **changes))


def test_check_fold_with_utterances_checks_speaker_of_each_id():
    with pytest.raises(SplitError, match="utterance c1 of speaker C is in val"):
        check_fold(replace(GOOD, val=("b1", "c1"), test=()), UTTS)
    with pytest.raises(SplitError, match="utterance zz in test is not in the manifest"):
        check_fold(replace(GOOD, test=("c1", "zz")), UTTS)


# ---------------------------------------------------------------- property tests


@st.composite
def corpora(draw):
    """Random corpora: 3-6 sessions with arbitrary numbers, 1-3 speakers each, 1-4 utterances each."""
    sessions = draw(st.lists(st.integers(1, 12), min_size=3, max_size=6, unique=True))
    spec = {}
    for s in sessions:
        tags = draw(st.lists(st.sampled_from(["F", "M", "Fb", "Mb"]), min_size=1, max_size=3, unique=True))
        spec[s] = {t: draw(st.integers(1, 4)) for t in tags}
    utts = corpus(spec)
    return draw(st.permutations(utts))


def assert_valid_folds(folds, utts):
    ids = [u.id for u in utts]
    speaker_of = {u.id: u.speaker for u in utts}
    tested = []
    for f in folds:
        check_fold(f, utts)
        p = parts(f)
        for a in p:
            for b in p:
                if a < b:
                    assert not set(p[a][0]) & set(p[b][0])
                    assert not set(p[a][1]) & set(p[b][1])
        # every utterance lands in exactly one part
        assert sorted(f.train + f.val + f.test) == sorted(ids)
        for uids, speakers in p.values():
            assert {speaker_of[u] for u in uids} == set(speakers)
        assert set(f.train_speakers + f.val_speakers + f.test_speakers) == set(speaker_of.values())
        assert f.test and f.val and f.train_speakers is not None
        tested += f.test_speakers
    # each speaker is tested exactly once across folds
    assert sorted(tested) == sorted(set(speaker_of.values()))


PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(corpora())
def test_session_protocol_properties(utts):
    folds = make_folds(utts, "session")
    assert len(folds) == len({u.session for u in utts})
    assert_valid_folds(folds, utts)
    for f in folds:
        assert len({u.session for u in utts if u.speaker in f.test_speakers}) == 1
        assert len({u.session for u in utts if u.speaker in f.val_speakers}) == 1


@PROPS
@given(corpora())
def test_speaker_protocol_properties(utts):
    by_session: dict[int, set[str]] = {}
    for u in utts:
        by_session.setdefault(u.session, set()).add(u.speaker)
    if any(len(s) < 2 for s in by_session.values()):
        with pytest.raises(SplitError, match="no session partner"):
            make_folds(utts, "speaker")
        return
    folds = make_folds(utts, "speaker")
    assert len(folds) == len({u.speaker for u in utts})
    assert_valid_folds(folds, utts)
    for f in folds:
        (test,) = f.test_speakers
        session = next(s for s, spk in by_session.items() if test in spk)
        assert set(f.val_speakers) == by_session[session] - {test}


@PROPS
@given(corpora(), st.sampled_from(["session", "speaker"]), st.data())
def test_moving_one_utterance_is_caught(utts, protocol, data):
    try:
        folds = make_folds(utts, protocol)
    except SplitError:
        return
    f = data.draw(st.sampled_from(folds))
    # copy one test utterance into train: both the id and its speaker now overlap
    uid = data.draw(st.sampled_from(f.test))
    with pytest.raises(SplitError):
        check_fold(replace(f, train=f.train + (uid,)))
    # move it (without touching the speaker lists): caught when the manifest is given
    moved = replace(f, train=f.train + (uid,), test=tuple(x for x in f.test if x != uid))
    with pytest.raises(SplitError):
        check_fold(moved, utts)


# ---------------------------------------------------------------- save / load


@pytest.mark.parametrize("protocol", ["session", "speaker"])
def test_save_load_round_trip(tmp_path, protocol):
    folds = make_folds(IEMOCAP_LIKE, protocol)
    path = tmp_path / "exp" / "folds.json"
    save_folds(path, folds, protocol)
    assert load_folds(path) == folds
    data = json.loads(path.read_text())
    assert data["protocol"] == protocol and len(data["folds"]) == len(folds)


def test_load_rejects_tampered_and_foreign_files(tmp_path):
    path = tmp_path / "folds.json"
    save_folds(path, make_folds(IEMOCAP_LIKE), "session")
    data = json.loads(path.read_text())
    data["folds"][2]["val_speakers"].append(data["folds"][2]["test_speakers"][0])
    path.write_text(json.dumps(data))
    with pytest.raises(SplitError, match="fold 2: speaker"):
        load_folds(path)
    for text in ["not json", "[]", '{"folds": [1, 2]}', '{"folds": [{"index": 0}]}', '{"x": 1}']:
        path.write_text(text)
        with pytest.raises(SplitError, match="not a sier folds file"):
            load_folds(path)
    with pytest.raises(SplitError, match="not a sier folds file"):
        load_folds(tmp_path / "missing.json")


def test_folds_table():
    table = folds_table(make_folds(IEMOCAP_LIKE)).splitlines()
    assert len(table) == 6
    assert table[1].split() == ["0", "Ses01F,Ses01M", "Ses02F,Ses02M", "15", "5", "5"]
