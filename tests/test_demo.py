"""`sier demo` end to end on a very small synthetic corpus, and its resume."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_end_to_end_and_resumes(tmp_path, capsys):
    from sier.cli import main

    work = tmp_path / "demo"
    args = ["demo", "--workdir", str(work), "--per_speaker", "8", "--epochs", "1", "--no_progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    state = json.loads((work / "demo.json").read_text())
    for role in ("original", "enhanced"):
        exp = work / state[role].split("/")[-1]
        assert sorted(p.name for p in (exp / "predictions").iterdir()) == [f"fold_{k}.csv" for k in range(5)]
        assert json.loads((exp / "summary.json").read_text())["pooled"]["n"] > 0
    report = work / "report" / "report.md"
    assert report.is_file() and state["report"] == str(report)
    assert "original" in out and "enhanced" in out and str(report) in out

    # a second run reuses every finished stage instead of training again
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("finished earlier") == 2 and "[fold 1/5]" not in out
