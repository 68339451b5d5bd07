"""The EYASE reader on small trees in its distributed layout (a folder per speaker of wavs named
`fm03_sad (7).wav`), including the release's Female02 whose files are named fm01_...: the
folder gives the speaker, and a byte-identical copy is not kept under two speakers."""

from __future__ import annotations

import shutil

import pytest

from named_trees import write_wav
from sier.corpora.eyase import read_eyase
from sier.corpora.registry import language_of
from sier.errors import CorpusError
from sier.splits import make_folds

FOLDERS = ("Female01", "Female02", "Female03", "Male01", "Male02", "Male03")
EMOTIONS = ("ang", "hap", "neu", "sad")


def _code(folder: str) -> str:
    return ("fm" if folder.startswith("F") else "ml") + folder[-2:]


def build_eyase(root, per_class=lambda folder, emotion: 2, female02_as="fm01") -> None:
    """root/EYASE/<speaker>/<code>_<emotion> (<k>).wav; Female02's files named for `female02_as`."""
    seed = 0
    for folder in FOLDERS:
        code = female02_as if folder == "Female02" else _code(folder)
        for emotion in EMOTIONS:
            for k in range(1, per_class(folder, emotion) + 1):
                seed += 1
                write_wav(root / "EYASE" / folder / f"{code}_{emotion} ({k}).wav", 0.02, rate=44_100, seed=seed)


def test_eyase_takes_the_speaker_from_the_folder_and_pairs_each_woman_with_a_man(tmp_path):
    build_eyase(tmp_path)
    write_wav(tmp_path / "EYASE" / "Male02" / "ml02_hap(3).wav", 0.02, seed=99)  # no space before (k)
    write_wav(tmp_path / "EYASE" / "Male02" / "ml02_fear (1).wav", 0.02)  # no such emotion
    result = read_eyase(tmp_path)
    got = {u.id: u for u in result.utterances}
    assert len(got) == 6 * 4 * 2 + 1 and "Male02_hap_3" in got
    assert (got["Female02_sad_2"].speaker, got["Female02_sad_2"].gender) == ("eyaseFemale02", "F")
    assert (got["Male03_ang_1"].speaker, got["Male03_ang_1"].gender, got["Male03_ang_1"].label) == \
        ("eyaseMale03", "M", "ang")
    assert {u.speaker: u.session for u in got.values()} == {f"eyase{f}": int(f[-1]) for f in FOLDERS}
    assert any(w.startswith("8 wav(s) are named for another speaker than the folder") for w in result.warnings)
    assert any("1 wav(s) left out whose names are not eyase names" in w for w in result.warnings)
    assert language_of("eyase", "eyaseMale01") == "Arabic"
    folds = make_folds(result.utterances, "speaker")
    assert (folds[0].test_speakers, folds[0].val_speakers) == (("eyaseFemale01",), ("eyaseMale01",))
    assert len(make_folds(result.utterances, "session")) == 3
    with pytest.raises(CorpusError, match="not an EYASE tree; expected speaker folders Female01"):
        read_eyase(tmp_path / "EYASE" / "Male02")


def test_a_female02_file_identical_to_female01s_is_left_out_as_a_copy(tmp_path):
    build_eyase(tmp_path)
    base = tmp_path / "EYASE"
    shutil.copyfile(base / "Female01" / "fm01_neu (1).wav", base / "Female02" / "fm01_neu (1).wav")
    result = read_eyase(tmp_path)
    ids = {u.id for u in result.utterances}
    assert "Female01_neu_1" in ids and "Female02_neu_1" not in ids and "Female02_neu_2" in ids
    assert any(w.startswith("1 wav(s) left out that are byte-identical") and "Female02" in w for w in result.warnings)


def test_a_whole_copy_is_checked_against_the_release_counts(tmp_path):
    short = {("Male01", "sad"): 27, ("Male02", "hap"): 20, ("Male03", "hap"): 22}
    build_eyase(tmp_path, lambda f, e: 20 if f.startswith("F") else short.get((f, e), 30), female02_as="fm02")
    result = read_eyase(tmp_path)
    assert len(result.utterances) == 579 and result.warnings == []
    (tmp_path / "EYASE" / "Male03" / "ml03_hap (22).wav").unlink()
    assert read_eyase(tmp_path).warnings == \
        ["counts differ from the EYASE release: total 578 (EYASE: 579); hap 131 (EYASE: 132)"]
