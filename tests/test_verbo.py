"""The VERBO reader on a small tree in its distributed layout (Audios/<actor>/ of wavs named
emotion-actor-sentence), with ids that do not collide with EMOVO's names of the same form."""

from __future__ import annotations

import pytest

from named_trees import write_wav
from sier.corpora.emovo import read_emovo
from sier.corpora.records import read_manifests, write_manifest
from sier.corpora.registry import language_of
from sier.corpora.verbo import read_verbo
from sier.errors import CorpusError
from sier.splits import make_folds

ACTORS = [f"{g}{n}" for g in "fm" for n in range(1, 7)]
EMOTIONS = ("ale", "des", "med", "neu", "rai", "sur", "tri")
SENTENCES = [f"l{i}" for i in range(1, 6)] + [f"ns{i}" for i in range(1, 6)] + ["q1", "q2", "s1", "s2"]


def build_verbo(root, sentences=("l1", "ns2"), skip=()) -> None:
    for i, actor in enumerate(ACTORS):
        for emotion in EMOTIONS:
            for sentence in sentences:
                if (emotion, actor, sentence) not in skip and (actor, sentence) not in skip:
                    write_wav(root / "VERBO" / "Audios" / actor / f"{emotion}-{actor}-{sentence}.wav", 0.01,
                              rate=44_100, seed=i)


def test_verbo_reads_actors_genders_pairs_and_emotions(tmp_path):
    build_verbo(tmp_path)
    write_wav(tmp_path / "VERBO" / "Audios" / "f2" / "xyz-f2-l1.wav", 0.01)
    result = read_verbo(tmp_path, "verbo-7")
    got = {u.id: u for u in result.utterances}
    assert len(got) == 12 * 7 * 2
    u = got["verbo-rai-m5-ns2"]
    assert (u.speaker, u.gender, u.session, u.label, u.corpus) == ("verbom5", "M", 5, "ang", "verbo")
    assert (got["verbo-ale-f3-l1"].label, got["verbo-tri-f3-l1"].label, got["verbo-med-f1-l1"].label) == \
        ("hap", "sad", "fea")
    assert any("1 wav(s) left out whose names are not verbo names" in w for w in result.warnings)
    assert {u.label for u in read_verbo(tmp_path / "VERBO").utterances} == {"neu", "hap", "ang", "sad"}
    folds = make_folds(result.utterances, "speaker")
    assert (folds[0].test_speakers, folds[0].val_speakers) == (("verbof1",), ("verbom1",))
    assert language_of("verbo", "verbof1") == "Portuguese"
    with pytest.raises(CorpusError, match="not a VERBO tree; expected actor folders f1..f6"):
        read_verbo(tmp_path / "VERBO" / "Audios" / "f1")


def test_verbo_pools_with_emovo_whose_names_have_the_same_form(tmp_path):
    build_verbo(tmp_path / "verbo", sentences=("l1",))
    for actor in ("f1", "m1", "f2", "m2", "f3", "m3"):  # EMOVO names neu-f1-l1 too
        write_wav(tmp_path / "emovo" / actor / f"neu-{actor}-l1.wav", 0.01)
    for name, result in (("verbo", read_verbo(tmp_path / "verbo")), ("emovo", read_emovo(tmp_path / "emovo"))):
        write_manifest(tmp_path / f"{name}.csv", result.utterances)
    pooled = read_manifests([tmp_path / "verbo.csv", tmp_path / "emovo.csv"])
    assert {"neu-f1-l1", "verbo-neu-f1-l1"} <= {u.id for u in pooled}


def test_a_whole_copy_is_checked_against_the_release_counts(tmp_path):
    skip = {("f3", "q2"), ("ale", "m2", "q2"), ("med", "m2", "q2")}
    build_verbo(tmp_path, sentences=SENTENCES, skip=skip)
    assert [len(r.utterances) for r in (read_verbo(tmp_path, "verbo-7"),)] == [1167]
    assert read_verbo(tmp_path, "verbo-7").warnings == []
    (tmp_path / "VERBO" / "Audios" / "m6" / "neu-m6-s2.wav").unlink()
    assert read_verbo(tmp_path).warnings == \
        ["counts differ from the VERBO release: total 666 (VERBO: 667); neu 166 (VERBO: 167)"]
