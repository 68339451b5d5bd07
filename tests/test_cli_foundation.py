"""`sier prepare` and `sier split` through the real entry point, on trees the tests build."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from iemocap_tree import TURNS, build_tree, five_session_turns
from sier.cli import main
from sier.corpora.iemocap import read_iemocap
from sier.corpora.records import read_manifest
from sier.splits import load_folds


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return build_tree(tmp_path_factory.mktemp("cli") / "IEMOCAP_full_release")


def test_prepare_writes_manifest_and_prints_table(tree, tmp_path, capsys):
    out = tmp_path / "data" / "manifest.csv"
    assert main(["prepare", "--root", str(tree.parent), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert read_manifest(out) == read_iemocap(tree).utterances
    lines = stdout.splitlines()
    assert lines[0].split() == ["class", "Ses01F", "Ses01M", "Ses03F", "Ses03M", "Ses05F", "Ses05M", "total"]
    assert [line.split()[0] for line in lines[1:6]] == ["neu", "hap", "ang", "sad", "total"]
    assert lines[5].split()[-1] == "8"
    assert "8 utterances" in stdout and str(out) in stdout
    assert "warning: 2 labelled utterance(s) left out because their wav is missing" in stdout
    assert "Ses05F_impro03_F010" in stdout
    assert "full release" not in stdout  # 3 sessions: no known-count check


def test_prepare_label_map_option(tree, tmp_path, capsys):
    out = tmp_path / "m6.csv"
    assert main(["prepare", "--root", str(tree), "--out", str(out), "--label_map", "iemocap-6"]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:8]]
    assert rows == ["neu", "hap", "ang", "sad", "fru", "sur", "total"]
    assert {u.label for u in read_manifest(out)} == {"neu", "hap", "ang", "sad", "fru", "sur"}


def test_prepare_five_sessions_warns_about_known_counts(tmp_path, capsys):
    root = build_tree(tmp_path / "IEMOCAP_full_release", five_session_turns(1), junk=False, decoys=False)
    assert main(["prepare", "--root", str(root), "--out", str(tmp_path / "m.csv")]) == 0
    stdout = capsys.readouterr().out
    assert "warning: counts differ from the full IEMOCAP release: total 10 (full release: 5531)" in stdout


@pytest.mark.parametrize("kind", ["missing", "not_iemocap", "unknown_map", "no_utterances"])
def test_prepare_bad_input_exits_1_without_traceback(tmp_path, capsys, kind):
    root = tmp_path / "root"
    args = []
    if kind == "not_iemocap":
        root.mkdir()
        (root / "notes.txt").write_text("x")
    elif kind == "unknown_map":
        build_tree(root, TURNS[:2], junk=False, decoys=False)
        args = ["--label_map", "iemocap-5"]
    elif kind == "no_utterances":
        build_tree(root, [t for t in TURNS if not t.wav], junk=False, decoys=False)
    out = tmp_path / "m.csv"
    assert main(["prepare", "--root", str(root), "--out", str(out), *args]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert captured.err.startswith("error: ")
    assert str(root) in captured.err or kind == "unknown_map"
    expected = {
        "missing": "not a directory",
        "not_iemocap": "expected Session1..Session5",
        "unknown_map": "unknown label map",
        "no_utterances": "no labelled utterance with a wav",
    }[kind]
    assert expected in captured.err
    assert not out.exists()


@pytest.mark.parametrize("protocol, n_folds", [("session", 5), ("speaker", 10)])
def test_split_writes_folds_and_prints_table(tmp_path, capsys, protocol, n_folds):
    root = build_tree(tmp_path / "IEMOCAP_full_release", five_session_turns(2), junk=False, decoys=False)
    manifest = tmp_path / "manifest.csv"
    assert main(["prepare", "--root", str(root), "--out", str(manifest)]) == 0
    capsys.readouterr()
    out_dir = tmp_path / "exp" / "split"
    assert main(["split", "--manifest", str(manifest), "--protocol", protocol, "--out", str(out_dir)]) == 0
    stdout = capsys.readouterr().out
    folds = load_folds(out_dir / "folds.json")
    assert len(folds) == n_folds
    assert json.loads((out_dir / "folds.json").read_text())["protocol"] == protocol
    lines = stdout.splitlines()
    assert lines[0].split()[:3] == ["fold", "test", "speakers"]
    table = lines[1 : lines.index("")]
    assert [int(line.split()[0]) for line in table] == list(range(n_folds))
    assert f"{n_folds} folds ({protocol} protocol)" in stdout
    per_fold = 4 if protocol == "session" else 2
    assert all(len(f.test) == per_fold for f in folds)


def test_split_bad_manifest_exits_1(tmp_path, capsys):
    assert main(["split", "--manifest", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "manifest not found" in err and "Traceback" not in err


def test_split_too_few_sessions_exits_1(tree, tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    build_tree(tmp_path / "two", TURNS[:8], junk=False, decoys=False)  # sessions 1 and 3
    assert main(["prepare", "--root", str(tmp_path / "two"), "--out", str(manifest)]) == 0
    assert main(["split", "--manifest", str(manifest), "--out", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert "at least 3 sessions" in err and "Traceback" not in err
    assert not (tmp_path / "s" / "folds.json").exists()


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["prepare"])
    assert info.value.code == 2
    assert "--root" in capsys.readouterr().err


def test_module_entry_point(tree, tmp_path):
    """`python -m sier prepare` in a fresh process: exit codes reach the shell."""
    out = tmp_path / "m.csv"
    ok = subprocess.run(
        [sys.executable, "-m", "sier", "prepare", "--root", str(tree), "--out", str(out)],
        capture_output=True, text=True, timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert out.is_file() and "class" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "sier", "prepare", "--root", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=60,
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "error:" in bad.stderr
