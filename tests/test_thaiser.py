"""The THAI SER reader on a small tree in its release layout (unzipped studio*/ and zoom*/
folders of flacs, emotion_label.json, actor_demography.json): labels from the table or a
scripted name, the clip microphone left out, recording partners kept in one speaker group."""

from __future__ import annotations

import json

import pytest

from named_trees import write_wav
from sier.corpora.registry import language_of, read_corpus
from sier.corpora.thaiser import deal_recordings, read_thaiser
from sier.errors import CorpusError
from sier.splits import make_folds

# recording -> its two actors; actors 1-12 alternate female, male
RECORDINGS = {"s001": ("001", "002"), "s002": ("003", "004"), "s019": ("005", "006"), "s020": ("007", "008"),
              "z001": ("009", "010"), "z002": ("011", "012")}
EMOTIONS = ("Neutral", "Angry", "Happy", "Sad", "Frustrated")


def build_thaiser(root, demography=None) -> dict[str, str]:
    """Two improvised files per actor (labelled in the table) and one scripted (label in the
    name only); studio files also in clip. Returns id -> assigned emotion of the labelled ones."""
    labels, expected = {}, {}
    for r, (recording, actors) in enumerate(RECORDINGS.items()):
        zoom = recording[0] == "z"
        folder = root / ("zoom1-10" if zoom else "studio1-10") / f"{'zoom' if zoom else 'studio'}{recording[1:]}"
        for a, actor in enumerate(actors):
            for k in range(2):
                emotion = EMOTIONS[(r + a + k) % 5]
                for mic in (("mic",) if zoom else ("con", "clip")):
                    name = f"{recording}_{mic}_actor{actor}_impro{k + 1}_{r * 10 + a}"
                    write_wav(folder / mic / f"{name}.flac", 0.05, seed=r + a + k)
                    if mic != "clip":
                        labels[f"{name}.flac"] = [{"assigned_emo": emotion, "majority_emo": "Neutral",
                                                   "agreement": 0.4, "annotated": [["Neutral"]]}]
                        expected[name] = emotion
            scripted = f"{recording}_{'mic' if zoom else 'con'}_actor{actor}_script1_1_{(r + a) % 5 + 1}a"
            write_wav(folder / ("mic" if zoom else "con") / f"{scripted}.flac", 0.05)
            expected[scripted] = EMOTIONS[(r + a) % 5]
    (root / "emotion_label.json").write_text(json.dumps(labels))
    demography = demography or {"data": [{"Actor's ID": f"{i:03d}", "Sex": "Female" if i % 2 else "Male", "Age": 30}
                                         for i in range(1, 13)]}
    (root / "actor_demography.json").write_text(json.dumps(demography))
    return expected


def test_thaiser_labels_speakers_genders_and_the_clip_microphone(tmp_path):
    expected = build_thaiser(tmp_path)
    unlabelled = tmp_path / "studio1-10" / "studio001" / "con" / "s001_con_actor001_impro9_99.flac"
    write_wav(unlabelled, 0.05)
    write_wav(tmp_path / "studio1-10" / "studio001" / "con" / "take_2.flac", 0.05)  # not a THAI SER name
    result = read_thaiser(tmp_path, "thaiser-5")
    codes = {"Neutral": "neu", "Angry": "ang", "Happy": "hap", "Sad": "sad", "Frustrated": "fru"}
    assert {u.id: u.label for u in result.utterances} == {i: codes[e] for i, e in expected.items()}
    got = {u.id: u for u in result.utterances}
    u = got["z002_mic_actor012_impro2_51"]
    assert (u.speaker, u.gender, u.corpus) == ("thai012", "M", "thaiser") and got["s001_con_actor001_impro1_0"].gender == "F"
    assert not any("_clip_" in i for i in got)
    assert any("1 wav(s) left out whose names are not thaiser names" in w for w in result.warnings)
    assert result.notes == ["left out 16 clip-microphone files: the same utterances as the con ones"]
    assert any(w.startswith("1 improvised file(s) left out that have no entry in emotion_label.json, "
                            "e.g. s001_con_actor001_impro9_99.flac") for w in result.warnings)
    sessions = {u.speaker: u.session for u in got.values()}
    for actors in RECORDINGS.values():  # partners share a group; six recordings fill five groups
        assert sessions[f"thai{actors[0]}"] == sessions[f"thai{actors[1]}"]
    assert sorted(set(sessions.values())) == [1, 2, 3, 4, 5]
    four = read_thaiser(tmp_path)
    assert "fru" not in {u.label for u in four.utterances} and four.dropped_labels["fru"] > 0
    assert language_of("thaiser", "thai001") == "Thai"
    fold = make_folds(four.utterances, "speaker")[0]
    # the speaker protocol validates on the rest of the group, the partner among them, so it is not trained on
    assert fold.test_speakers == ("thai001",) and "thai002" in fold.val_speakers and "thai002" not in fold.train_speakers


def test_thaiser_subsets_and_errors_that_name_the_file_and_the_fix(tmp_path):
    build_thaiser(tmp_path)
    improvised = read_corpus("thaiser", tmp_path, "thaiser-5", subset="improvised").utterances
    scripted = read_corpus("thaiser", tmp_path, "thaiser-5", subset="scripted").utterances
    assert len(improvised) == 24 and len(scripted) == 12 and all("_script" in u.id for u in scripted)
    (tmp_path / "emotion_label.json").write_text(json.dumps({"s001_con_actor001_impro1_0.flac": {"emo": 1}}))
    with pytest.raises(CorpusError, match="emotion_label.json: not THAI SER's emotion_label.json"):
        read_thaiser(tmp_path)
    (tmp_path / "emotion_label.json").write_text("{}")
    (tmp_path / "actor_demography.json").write_text(json.dumps({"data": [{"Actor's ID": "001", "Sex": "-"}]}))
    with pytest.raises(CorpusError, match="actor_demography.json: actor 001 has Sex '-', not female or male"):
        read_thaiser(tmp_path)
    (tmp_path / "actor_demography.json").unlink()
    with pytest.raises(CorpusError, match="no actor_demography.json; download it from the THAI SER v1 release"):
        read_thaiser(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="not a THAI SER tree; expected flacs named like"):
        read_thaiser(tmp_path / "empty")


def test_speakers_linked_through_recordings_stay_in_one_group():
    # a1 speaks in r1 and r2, so a1, a2 and a3 are one unit; the others are pairs
    pairs = {("r1", "a1"), ("r1", "a2"), ("r2", "a1"), ("r2", "a3"), ("r3", "b1"), ("r3", "b2"), ("r4", "c1"),
             ("r4", "c2")}
    dealt = deal_recordings(pairs, 2)
    assert dealt["a1"] == dealt["a2"] == dealt["a3"] == 1  # the largest unit first
    assert dealt["b1"] == dealt["b2"] == 2 and dealt["c1"] == dealt["c2"] == 2
