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
    cross = work / "report_cross_corpus" / "evaluation.json"
    cross_models = json.loads(cross.read_text())["models"]
    assert {m: r["metrics"]["pooled"]["n"] for m, r in cross_models.items()} == {"original": 200, "enhanced": 200}
    assert "new voices (EmoDB layout)" in out and state["cross_corpus_report"] in out

    # a second run reuses every finished stage instead of training again
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("finished earlier") == 2 and "[fold 1/5]" not in out

    # --fresh trains again, in new experiment directories, even though finished ones exist
    before = {role: sorted(work.glob(f"{role}_*")) for role in ("original", "enhanced")}
    assert main([*args, "--fresh"]) == 0
    out = capsys.readouterr().out
    assert "finished earlier" not in out
    state = json.loads((work / "demo.json").read_text())
    for role in ("original", "enhanced"):
        assert len(sorted(work.glob(f"{role}_*"))) == len(before[role]) + 1
        assert (work / state[role].split("/")[-1]) not in before[role]


def test_killed_demo_resumes_its_unfinished_training_run(tmp_path, monkeypatch, capsys):
    import sier.training.crossval as crossval
    from sier.demo import run_demo

    real_train_fold = crossval.train_fold

    def dies_in_enhanced_fold_1(exp, fold, *args, **kwargs):
        if exp.config.name == "enhanced" and fold.index == 1:
            raise RuntimeError("killed")
        return real_train_fold(exp, fold, *args, **kwargs)

    work = tmp_path / "demo"
    monkeypatch.setattr(crossval, "train_fold", dies_in_enhanced_fold_1)
    with pytest.raises(RuntimeError, match="killed"):
        run_demo(work, per_speaker=8, epochs=1, progress=False)
    started = sorted(work.glob("enhanced_*"))
    assert len(started) == 1 and (started[0] / "predictions" / "fold_0.csv").is_file()
    fold0 = (started[0] / "predictions" / "fold_0.csv").stat().st_mtime_ns

    monkeypatch.setattr(crossval, "train_fold", real_train_fold)
    capsys.readouterr()
    result = run_demo(work, per_speaker=8, epochs=1, progress=False)
    out = capsys.readouterr().out
    assert result.experiments["enhanced"] == started[0] and sorted(work.glob("enhanced_*")) == started
    assert "fold 0: finished earlier, skipped" in out
    assert (started[0] / "predictions" / "fold_0.csv").stat().st_mtime_ns == fold0
    assert all((started[0] / "predictions" / f"fold_{k}.csv").is_file() for k in range(5))
    assert result.report.is_file()
