"""The nEMO (Polish) reader on small trees in its repository's layout (data.tsv + samples/),
with what the real table has: speaker ids padded with spaces, quotation marks in the
transcriptions; `sier prepare --corpus nemo`."""

from __future__ import annotations

from pathlib import Path

import pytest

from named_trees import write_wav
from sier.cli import main
from sier.corpora.nemo import read_nemo
from sier.corpora.records import read_manifest
from sier.errors import CorpusError

# the nine actors of nEMO and their genders, as data.tsv gives them
SPEAKERS = {"EB0": "female", "IC0": "female", "KD0": "female", "MK0": "female", "KS0": "male", "MP0": "male",
            "SM0": "male", "TP0": "male", "WR0": "male"}
EMOTIONS = ("anger", "fear", "happiness", "neutral", "sadness", "surprised")
HEADER = "file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage"


def build_nemo(root: Path, speakers: dict[str, str] = SPEAKERS, per_emotion: int = 2) -> list[str]:
    """root/data.tsv and root/samples/<file_id> for `per_emotion` sentences of every emotion of
    every speaker; the transcriptions hold „Polish” and "ASCII" quotation marks, one left open.
    Returns the file ids."""
    rows, ids = [HEADER], []
    for i, (speaker, gender) in enumerate(sorted(speakers.items())):
        for emotion in EMOTIONS:
            for sentence in range(1, per_emotion + 1):
                file_id = f"{speaker}_{emotion}_{sentence}.wav"
                text = '"Tak" - powiedział „Ród smoka”.' if sentence == 1 else '"Lubię czytać przed snem.'
                rows.append(f"{file_id}\t{emotion}\t{text}\t{text.lower()}\t        {speaker}\t{gender}\t{23 + i}")
                write_wav(root / "samples" / file_id, 0.1, seed=len(ids))
                ids.append(file_id)
    (root / "data.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return ids


def test_nemo_reader_takes_speakers_and_genders_from_the_table_and_balances_the_groups(tmp_path):
    ids = build_nemo(tmp_path / "nEMO")
    result = read_nemo(tmp_path, "nemo-6")  # found one level down
    got = result.utterances
    assert sorted(u.id for u in got) == sorted(Path(i).stem for i in ids)
    assert {(u.speaker, u.gender) for u in got} == {(f"nemo{s}", g[0].upper()) for s, g in SPEAKERS.items()}
    assert {u.label for u in got} == {"neu", "hap", "ang", "sad", "fea", "sur"}
    assert {u.corpus for u in got} == {"nemo"}
    u = next(u for u in got if u.id == "KS0_happiness_2")
    assert (u.label, u.speaker, u.path) == ("hap", "nemoKS0", str((tmp_path / "nEMO/samples/KS0_happiness_2.wav").resolve()))
    groups: dict[int, set[str]] = {}
    for u in got:
        groups.setdefault(u.session, set()).add(u.speaker)
    assert sorted(groups) == [1, 2, 3, 4]
    for speakers in groups.values():  # a woman in every group, and one or two men
        women = [s for s in speakers if SPEAKERS[s[4:]] == "female"]
        assert len(women) == 1 and 2 <= len(speakers) <= 3
    four = read_nemo(tmp_path / "nEMO")  # the default map: nemo-4
    assert {u.label for u in four.utterances} == {"neu", "hap", "ang", "sad"}
    assert four.dropped_labels == {"fea": 18, "sur": 18}


def test_nemo_reader_reports_missing_wavs_odd_rows_and_counts_of_a_whole_copy(tmp_path):
    build_nemo(tmp_path)
    (tmp_path / "samples" / "WR0_sadness_2.wav").unlink()
    with (tmp_path / "data.tsv").open("a", encoding="utf-8") as fh:
        fh.write("WR0_boredom_1.wav\tboredom\tx\tx\tWR0\tmale\t23\n")
    result = read_nemo(tmp_path, "nemo-6")
    assert result.missing_wavs == ["WR0_sadness_2"]
    assert len(result.utterances) == 9 * 6 * 2 - 1
    warnings = "\n".join(result.warnings)
    assert "1 labelled utterance(s) left out because their wav is missing, e.g. WR0_sadness_2" in warnings
    assert "1 row(s) of data.tsv left out whose emotion, speaker or gender is not nEMO's, e.g. WR0_boredom_1.wav" in warnings
    # all nine speakers: the counts are checked against the release's
    assert "counts differ from the nEMO release: total 107 (nEMO: 4481)" in warnings


def test_nemo_errors_name_the_file_and_what_was_expected(tmp_path):
    with pytest.raises(CorpusError, match="not a directory; pass the nEMO folder"):
        read_nemo(tmp_path / "absent")
    (tmp_path / "samples").mkdir()
    with pytest.raises(CorpusError, match=r"not an nEMO tree; expected data.tsv \(file_id, emotion"):
        read_nemo(tmp_path)
    (tmp_path / "data.tsv").write_text("file_id,emotion,speaker_id,gender\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"data.tsv: no column file_id, emotion, speaker_id, gender; is it nEMO's"):
        read_nemo(tmp_path)


def test_prepare_reads_nemo(tmp_path, capsys):
    build_nemo(tmp_path / "nEMO", per_emotion=1)
    out = tmp_path / "nemo.csv"
    assert main(["prepare", "--corpus", "nemo", "--root", str(tmp_path / "nEMO"), "--out", str(out)]) == 0
    assert read_manifest(out) == read_nemo(tmp_path / "nEMO").utterances
    assert "36 utterances" in capsys.readouterr().out
