"""The Emozionalmente (Italian) reader on small trees in its Zenodo layout (audio/ + metadata/),
with what a crowd-sourced corpus has: speakers of another gender, extra columns; `sier prepare`."""

from __future__ import annotations

from pathlib import Path

import pytest

from named_trees import write_wav
from sier.cli import main
from sier.corpora.emozionalmente import read_emozionalmente
from sier.corpora.records import read_manifest
from sier.errors import CorpusError

EMOTIONS = ("anger", "disgust", "fear", "joy", "neutrality", "sadness", "surprise")
# six women, five men and one speaker who gave another gender
USERS = {**{f"f{k}": "female" for k in range(6)}, **{f"m{k}": "male" for k in range(5)}, "x0": "other"}


def build_emozionalmente(root: Path, users: dict[str, str] = USERS) -> list[str]:
    """root/audio/*.wav and root/metadata/{samples,users,evaluations}.csv: every emotion once per
    speaker, with the columns a real copy has around the ones sier reads. Returns the file names."""
    samples = ["file_name,actor,sentence,emotion_expressed,date"]
    names = []
    for i, actor in enumerate(sorted(users)):
        for j, emotion in enumerate(EMOTIONS):
            name = f"{1000 + 10 * i + j}.wav"
            samples.append(f'{name},{actor},"Frase {j}, detta.",{emotion},2021-05-0{j + 1}')
            write_wav(root / "audio" / name, 0.1, seed=i * 7 + j)
            names.append(name)
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    (root / "metadata" / "samples.csv").write_text("\n".join(samples) + "\n", encoding="utf-8")
    rows = ["username,gender,age,mother_tongue"] + [f"{u},{g},30,italian" for u, g in sorted(users.items())]
    (root / "metadata" / "users.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "metadata" / "evaluations.csv").write_text("file_name,emotion_recognized\n1000.wav,anger\n")
    return names


def test_emozionalmente_reader_reads_the_meant_emotion_and_deals_women_and_men_into_five_groups(tmp_path):
    names = build_emozionalmente(tmp_path / "emozionalmente_dataset")
    result = read_emozionalmente(tmp_path, "emozionalmente-7")  # found one level down
    got = result.utterances
    kept = [n for i, n in enumerate(names) if i // 7 != sorted(USERS).index("x0")]
    assert sorted(u.id for u in got) == sorted(Path(n).stem for n in kept)
    assert {(u.speaker, u.gender) for u in got} == {(f"emoz{a}", g[0].upper()) for a, g in USERS.items() if a != "x0"}
    assert {u.label for u in got} == {"ang", "dis", "fea", "hap", "neu", "sad", "sur"}
    assert next(u.label for u in got if u.id == "1003") == "hap"  # joy, the fourth emotion of the first speaker
    groups: dict[int, set[str]] = {}
    for u in got:
        groups.setdefault(u.session, set()).add(u.speaker)
    assert sorted(groups) == [1, 2, 3, 4, 5]
    for speakers in groups.values():  # women and men in every group
        assert {USERS[s[4:]] for s in speakers} == {"female", "male"}
    warnings = "\n".join(result.warnings)
    assert "7 row(s) of samples.csv left out, of a speaker of no gender female or male in users.csv" in warnings
    assert "counts differ from the Emozionalmente release: total 77 (Emozionalmente: 6902)" in warnings
    four = read_emozionalmente(tmp_path)  # the default map: 4 classes, no count to check
    assert {u.label for u in four.utterances} == {"neu", "hap", "ang", "sad"}
    assert four.dropped_labels == {"dis": 11, "fea": 11, "sur": 11}
    assert not any("counts differ" in w for w in four.warnings)


def test_emozionalmente_reports_missing_wavs_and_names_the_file_that_is_wrong(tmp_path):
    build_emozionalmente(tmp_path)
    (tmp_path / "audio" / "1000.wav").unlink()
    assert read_emozionalmente(tmp_path).missing_wavs == ["1000"]
    (tmp_path / "metadata" / "users.csv").unlink()
    with pytest.raises(CorpusError, match=r"users.csv: missing; Emozionalmente's users.csv ships in metadata/"):
        read_emozionalmente(tmp_path)
    (tmp_path / "metadata" / "users.csv").write_text("user,sex\nf0,female\n")
    with pytest.raises(CorpusError, match=r"users.csv: no column username, gender; is it Emozionalmente's"):
        read_emozionalmente(tmp_path)
    with pytest.raises(CorpusError, match=r"not an Emozionalmente tree; expected audio/ and metadata/"):
        read_emozionalmente(tmp_path / "audio")


def test_prepare_reads_emozionalmente(tmp_path, capsys):
    build_emozionalmente(tmp_path / "emoz")
    out = tmp_path / "emoz.csv"
    assert main(["prepare", "--corpus", "emozionalmente", "--root", str(tmp_path / "emoz"), "--out", str(out)]) == 0
    assert read_manifest(out) == read_emozionalmente(tmp_path / "emoz").utterances
    assert "44 utterances" in capsys.readouterr().out
