"""The IEMOCAP reader on small trees in the official layout, with the decoys of the real release."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import soundfile as sf

from iemocap_tree import GHOST_ID, TURNS, Turn, build_tree, five_session_turns, label_file_text, write_wav
from sier.corpora.iemocap import (
    compare_with_full_release,
    find_root,
    parse_label_file,
    read_iemocap,
    speaker_of,
)
from sier.corpora.labels import IEMOCAP4_FULL_RELEASE, LABEL_MAPS, get_label_map
from sier.corpora.records import MANIFEST_FIELDS, Utterance, count_table, read_manifest, write_manifest
from sier.errors import CorpusError

MAPPED = {
    "iemocap-4": {"neu": "neu", "hap": "hap", "exc": "hap", "ang": "ang", "sad": "sad"},
    "iemocap-6": {"neu": "neu", "hap": "hap", "exc": "hap", "ang": "ang", "sad": "sad", "fru": "fru", "sur": "sur"},
    "iemocap-all": {x: x for x in ("neu", "hap", "exc", "ang", "sad", "fru", "sur", "fea", "dis", "oth")},
}


def expected_manifest(root: Path, turns, label_map: str) -> list[Utterance]:
    out = []
    for t in turns:
        label = MAPPED[label_map].get(t.label)
        if label is None or not t.wav:
            continue
        wav = root / f"Session{t.session}" / "sentences" / "wav" / t.dialog / f"{t.id}.wav"
        out.append(
            Utterance(t.id, str(wav.resolve()), t.speaker, t.session, t.speaker[-1], label, t.duration_s, "iemocap",
                      3.0, 2.5, 3.5)  # summary_line's [V, A, D] is [2.5, 3.0, 3.5]
        )
    return sorted(out, key=lambda u: u.id)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return build_tree(tmp_path_factory.mktemp("iemocap") / "IEMOCAP_full_release")


# ---------------------------------------------------------------- exact manifests


@pytest.mark.parametrize("label_map", ["iemocap-4", "iemocap-6", "iemocap-all"])
def test_exact_manifest_per_label_map(tree, label_map):
    result = read_iemocap(tree, label_map)
    assert result.utterances == expected_manifest(tree, TURNS, label_map)
    assert GHOST_ID not in {u.id for u in result.utterances}  # decoy files ignored
    assert set(result.missing_wavs) == {"Ses05F_impro03_F010", "Ses05F_impro03_M011"}
    assert result.bad_wavs == []


def test_iemocap4_explicit_rows(tree):
    """The same manifest written out by hand, so the expectation does not share code with the reader."""
    got = {u.id: (u.speaker, u.session, u.gender, u.label, u.duration_s) for u in read_iemocap(tree).utterances}
    assert got == {
        "Ses01F_impro01_F000": ("Ses01F", 1, "F", "neu", 0.25),
        "Ses01F_impro01_M000": ("Ses01M", 1, "M", "ang", 0.3125),
        "Ses01M_script01_1_F000": ("Ses01F", 1, "F", "hap", 0.5),  # exc -> hap, 44.1 kHz header
        "Ses01M_script01_1_M000": ("Ses01M", 1, "M", "sad", 0.25),  # stereo
        "Ses03M_impro05a_M001": ("Ses03M", 3, "M", "sad", 0.25),
        "Ses03M_script01_2_F012": ("Ses03F", 3, "F", "hap", pytest.approx(0.3)),  # 8 kHz
        "Ses05M_script01_1b_F003": ("Ses05F", 5, "F", "ang", 0.25),
        "Ses05M_script01_1b_M004": ("Ses05M", 5, "M", "neu", 0.375),
    }


@pytest.mark.parametrize(
    "label_map, dropped",
    [
        ("iemocap-4", {"fru": 1, "xxx": 1, "sur": 1, "dis": 1}),
        ("iemocap-6", {"xxx": 1, "dis": 1}),
        ("iemocap-all", {"xxx": 1}),
    ],
)
def test_dropped_labels_counted(tree, label_map, dropped):
    assert read_iemocap(tree, label_map).dropped_labels == dropped


def test_parent_folder_accepted(tree):
    parent = tree.parent
    assert find_root(parent) == tree
    assert read_iemocap(parent).utterances == read_iemocap(tree).utterances


def test_label_map_object_accepted(tree):
    assert read_iemocap(tree, get_label_map("iemocap-6")).utterances == expected_manifest(tree, TURNS, "iemocap-6")


def test_crlf_and_no_junk_give_same_manifest(tmp_path):
    a = build_tree(tmp_path / "a", crlf=True)
    b = build_tree(tmp_path / "b", junk=False, decoys=False)
    assert read_iemocap(a).utterances == expected_manifest(a, TURNS, "iemocap-4")
    assert read_iemocap(b).utterances == expected_manifest(b, TURNS, "iemocap-4")


def test_junk_everywhere_is_ignored(tmp_path):
    root = build_tree(tmp_path / "r", TURNS[:4])
    sess = root / "Session1"
    (root / ".DS_Store").write_bytes(b"\x00Bud1")
    (root / "._Session1").write_bytes(b"\x00\x05\x16\x07")
    (sess / ".DS_Store").write_bytes(b"\x00Bud1")
    (sess / "sentences" / "wav" / "._Ses01F_impro01").mkdir()
    # a resource fork of a wav that the reader would otherwise look up must not matter
    result = read_iemocap(root)
    assert [u.id for u in result.utterances] == ["Ses01F_impro01_F000", "Ses01F_impro01_M000"]


def test_bom_and_stray_cr(tmp_path):
    root = tmp_path / "r"
    turns = [Turn("Ses02F_impro02_F000", "sad"), Turn("Ses02F_impro02_M000", "neu")]
    build_tree(root, turns, junk=False, decoys=False)
    f = root / "Session2" / "dialog" / "EmoEvaluation" / "Ses02F_impro02.txt"
    # the summary is the very first line, after a UTF-8 byte order mark
    text = "\r".join(label_file_text(turns).splitlines()[2:])
    f.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert [u.id for u in read_iemocap(root).utterances] == [t.id for t in turns]


# ---------------------------------------------------------------- parsing pieces


def test_parse_label_file_takes_only_summary_lines(tmp_path):
    f = tmp_path / "x.txt"
    f.write_text(
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "C-E1:\tNeutral state;\t()\n"
        "C-F:\tNeutral state; Sadness;\t(tired)\n"
        "A-E2:\tval 3; act 2; dom  2;\t()\n"
        "A-M:\tval 2; act 2; dom  3;\t()\n\n"
        "[10.0100 - 11.3925]\tSes01F_impro01_M001\txxx\t[2.0000, 3.5000, 3.5000]\n"
        "[12.0000 - 13.0000]\tnot_an_id_F000\tneu\t[2.0000, 3.5000, 3.5000]\n"
        "[14.0000 - 15.0000]\tSes01F_impro01_F002\tneu\t[\n"  # no ratings: the label still counts
    )
    assert parse_label_file(f) == [("Ses01F_impro01_F000", "neu", (2.5, 2.5, 2.5)),
                                   ("Ses01F_impro01_M001", "xxx", (3.5, 2.0, 3.5)),  # [V, A, D] -> (A, V, D)
                                   ("Ses01F_impro01_F002", "neu", (None, None, None))]


@pytest.mark.parametrize(
    "utt_id, expected",
    [
        ("Ses01F_impro01_M003", ("Ses01M", 1, "M")),
        ("Ses03M_script01_2_F012", ("Ses03F", 3, "F")),
        ("Ses03M_impro05a_M001", ("Ses03M", 3, "M")),
        ("Ses05M_script01_1b_F003", ("Ses05F", 5, "F")),
        ("Ses02F_script03_2_M045", ("Ses02M", 2, "M")),
    ],
)
def test_speaker_is_the_turn_letter_not_the_dialog_letter(utt_id, expected):
    assert speaker_of(utt_id) == expected


@pytest.mark.parametrize("bad", ["Ses01F_impro01", "Ses1F_impro01_F000", "Ses01F_impro01_X000", "foo"])
def test_speaker_of_rejects_non_ids(bad):
    with pytest.raises(CorpusError, match="not an IEMOCAP utterance id"):
        speaker_of(bad)


def test_unknown_label_map():
    with pytest.raises(CorpusError, match="unknown label map"):
        get_label_map("iemocap-5")


def test_label_maps_class_order():
    assert LABEL_MAPS["iemocap-4"].classes == ("neu", "hap", "ang", "sad")
    assert LABEL_MAPS["iemocap-4"].map("exc") == "hap"
    for name in LABEL_MAPS:
        assert LABEL_MAPS[name].map("xxx") is None
        assert set(LABEL_MAPS[name].mapping.values()) == set(LABEL_MAPS[name].classes)


# ---------------------------------------------------------------- what is left out, and errors


def test_missing_wavs_reported_with_count_and_ids(tmp_path):
    turns = [Turn(f"Ses01F_impro01_F{k:03d}", "neu", wav=k == 0) for k in range(8)]
    result = read_iemocap(build_tree(tmp_path / "r", turns, junk=False, decoys=False))
    assert [u.id for u in result.utterances] == ["Ses01F_impro01_F000"]
    assert len(result.missing_wavs) == 7
    (warning,) = result.warnings
    assert "7 labelled utterance(s)" in warning and "wav is missing" in warning
    assert "Ses01F_impro01_F001" in warning and "Ses01F_impro01_F005" in warning
    assert "Ses01F_impro01_F006" not in warning  # only the first few


def test_unreadable_wav_is_left_out_and_reported(tmp_path):
    turns = [Turn("Ses01F_impro01_F000", "neu"), Turn("Ses01F_impro01_M000", "neu")]
    root = build_tree(tmp_path / "r", turns, junk=False, decoys=False)
    (root / "Session1" / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_M000.wav").write_bytes(b"garbage" * 20)
    result = read_iemocap(root)
    assert [u.id for u in result.utterances] == ["Ses01F_impro01_F000"]
    assert len(result.bad_wavs) == 1 and result.bad_wavs[0].startswith("Ses01F_impro01_M000")
    assert any("unreadable" in w and "Ses01F_impro01_M000" in w for w in result.warnings)


def test_duration_comes_from_header_without_decoding(tree, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("samples were decoded")

    monkeypatch.setattr(sf, "read", no_decoding)
    monkeypatch.setattr(sf.SoundFile, "read", no_decoding)
    assert read_iemocap(tree).utterances == expected_manifest(tree, TURNS, "iemocap-4")


@pytest.mark.parametrize("make", ["empty", "files", "session_like_file", "nested_too_deep"])
def test_not_an_iemocap_tree(tmp_path, make):
    root = tmp_path / "root"
    root.mkdir()
    if make == "files":
        (root / "readme.txt").write_text("hello")
        (root / "wav").mkdir()
    elif make == "session_like_file":
        (root / "Session1").write_text("not a folder")
    elif make == "nested_too_deep":
        (root / "data" / "IEMOCAP_full_release" / "Session1").mkdir(parents=True)
    with pytest.raises(CorpusError, match=r"expected Session1\.\.Session5"):
        read_iemocap(root)


def test_root_missing_or_a_file(tmp_path):
    with pytest.raises(CorpusError, match="not a directory"):
        read_iemocap(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(CorpusError, match="not a directory"):
        read_iemocap(tmp_path / "f")


def test_session_without_label_folder_stops(tmp_path):
    root = build_tree(tmp_path / "r", TURNS[:2])
    (root / "Session2" / "sentences" / "wav").mkdir(parents=True)
    with pytest.raises(CorpusError, match=r"Session2.*EmoEvaluation.*label folder missing"):
        read_iemocap(root)


def test_label_folder_without_txt_stops(tmp_path):
    root = build_tree(tmp_path / "r", TURNS[:2])
    emo = root / "Session1" / "dialog" / "EmoEvaluation"
    for f in emo.glob("*.txt"):
        f.unlink()
    with pytest.raises(CorpusError, match="no label files"):
        read_iemocap(root)


def test_duplicate_ids_across_label_files_kept_once(tmp_path):
    turns = [Turn("Ses01F_impro01_F000", "neu")]
    root = build_tree(tmp_path / "r", turns, junk=False, decoys=False)
    emo = root / "Session1" / "dialog" / "EmoEvaluation"
    shutil.copy(emo / "Ses01F_impro01.txt", emo / "Ses01F_impro01_copy.txt")
    assert [u.id for u in read_iemocap(root).utterances] == ["Ses01F_impro01_F000"]


# ---------------------------------------------------------------- known counts


def _utts(counts: dict[str, dict[str, int]]) -> list[Utterance]:
    """Utterances with `counts[speaker][label]` of each."""
    out = []
    for spk, per_label in counts.items():
        session, gender = int(spk[3:5]), spk[5]
        k = 0
        for label, n in per_label.items():
            for _ in range(n):
                out.append(Utterance(f"{spk}_impro01_{gender}{k:03d}", "x.wav", spk, session, gender, label, 1.0, "iemocap"))
                k += 1
    return out


def _full_release_like() -> dict[str, dict[str, int]]:
    """Per-speaker label counts that add up to every known iemocap-4 count."""
    speakers = dict(IEMOCAP4_FULL_RELEASE["speakers"])
    classes = dict(IEMOCAP4_FULL_RELEASE["classes"])
    out = {}
    for spk, n in speakers.items():
        out[spk] = {}
        for lab in classes:
            take = min(n, classes[lab])
            if take:
                out[spk][lab] = take
                classes[lab] -= take
                n -= take
    assert not any(classes.values())
    return out


def test_known_counts_match_gives_no_warning():
    utts = _utts(_full_release_like())
    assert len(utts) == 5531
    assert compare_with_full_release(utts) == []


def test_known_counts_warning_names_differences():
    counts = _full_release_like()
    counts["Ses03F"]["neu"] = counts["Ses03F"].get("neu", 0) + 2
    (warning,) = compare_with_full_release(_utts(counts))
    assert "total 5533 (full release: 5531)" in warning
    assert "neu 1710 (full release: 1708)" in warning
    assert "session 3 1153 (full release: 1151)" in warning
    assert "Ses03F 524 (full release: 522)" in warning
    assert "Ses03M" not in warning and "hap" not in warning


def test_known_counts_only_with_five_sessions():
    counts = _full_release_like()
    del counts["Ses05F"], counts["Ses05M"]
    assert compare_with_full_release(_utts(counts)) == []


def test_small_five_session_tree_warns_but_three_sessions_do_not(tmp_path):
    five = read_iemocap(build_tree(tmp_path / "five", five_session_turns(1), junk=False, decoys=False))
    assert len(five.utterances) == 10
    (warning,) = five.warnings
    assert "total 10 (full release: 5531)" in warning and "more)" in warning
    three = read_iemocap(build_tree(tmp_path / "three", TURNS))
    assert not any("full release" in w for w in three.warnings)
    six = read_iemocap(build_tree(tmp_path / "six", five_session_turns(1), junk=False, decoys=False), "iemocap-6")
    assert six.warnings == []  # the known counts are of iemocap-4


# ---------------------------------------------------------------- manifest file


def test_manifest_round_trip_and_idempotent(tree, tmp_path):
    utts = read_iemocap(tree, "iemocap-all").utterances
    m = tmp_path / "out" / "manifest.csv"
    write_manifest(m, utts)
    assert m.read_text().splitlines()[0].split(",") == MANIFEST_FIELDS
    assert MANIFEST_FIELDS == ["id", "path", "speaker", "session", "gender", "label", "duration_s", "corpus",
                               "arousal", "valence", "dominance"]
    assert read_manifest(m) == utts
    first = m.read_bytes()
    write_manifest(m, read_iemocap(tree, "iemocap-all").utterances)
    assert m.read_bytes() == first
    assert [p.name for p in m.parent.iterdir()] == ["manifest.csv"]  # no temp file left


def test_manifest_round_trip_awkward_values(tmp_path):
    utts = [Utterance("a,b", '/x/"q"/a b.wav', "Ses01F", 1, "F", "neu", 1 / 3, "iemocap"),
            Utterance("c", "/x/c.wav", "Ses01M", 1, "M", "ang", 2.0, "iemocap", 1 / 3, 2.5, None)]
    write_manifest(tmp_path / "m.csv", utts)
    assert read_manifest(tmp_path / "m.csv") == utts


def test_manifests_written_before_the_dimension_columns_still_read(tmp_path):
    (tmp_path / "old.csv").write_text("id,path,speaker,session,gender,label,duration_s,corpus\n"
                                      "c,/x/c.wav,Ses01M,1,M,ang,2.0,iemocap\n")
    assert read_manifest(tmp_path / "old.csv") == [Utterance("c", "/x/c.wav", "Ses01M", 1, "M", "ang", 2.0, "iemocap")]


def test_read_manifest_errors(tmp_path):
    with pytest.raises(CorpusError, match="manifest not found"):
        read_manifest(tmp_path / "nope.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(CorpusError, match="not a sier manifest"):
        read_manifest(tmp_path / "other.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(CorpusError, match="not a sier manifest"):
        read_manifest(tmp_path / "empty.csv")
    header = ",".join(MANIFEST_FIELDS)
    (tmp_path / "bad.csv").write_text(f"{header}\nid1,p,Ses01F,one,F,neu,1.0,iemocap\n")
    with pytest.raises(CorpusError, match="malformed manifest row"):
        read_manifest(tmp_path / "bad.csv")
    (tmp_path / "short.csv").write_text(f"{header}\nid1,p,Ses01F\n")
    with pytest.raises(CorpusError, match="malformed manifest row"):
        read_manifest(tmp_path / "short.csv")


def test_count_table(tree):
    utts = read_iemocap(tree).utterances
    table = count_table(utts, LABEL_MAPS["iemocap-4"].classes).splitlines()
    assert table[0].split() == ["class", "Ses01F", "Ses01M", "Ses03F", "Ses03M", "Ses05F", "Ses05M", "total"]
    rows = {line.split()[0]: [int(x) for x in line.split()[1:]] for line in table[1:]}
    assert rows == {
        "neu": [1, 0, 0, 0, 0, 1, 2],
        "hap": [1, 0, 1, 0, 0, 0, 2],
        "ang": [0, 1, 0, 0, 1, 0, 2],
        "sad": [0, 1, 0, 1, 0, 0, 2],
        "total": [2, 2, 1, 1, 1, 1, 8],
    }


def test_wav_helper_sanity(tmp_path):
    p = write_wav(tmp_path / "a.wav", samples=800, rate=8000, channels=2)
    info = sf.info(str(p))
    assert (info.frames, info.samplerate, info.channels) == (800, 8000, 2)
