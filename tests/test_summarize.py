"""`sier summarize`: tiny runs of an ablation (two seeds of the enhanced model, one without
AdaIN, the baseline) in one table whose numbers recompute from each run's predictions."""

from __future__ import annotations

import contextlib
import csv
import os
import shutil

import numpy as np
import pytest
from sklearn.metrics import recall_score

from sier.cli import main
from sier.corpora.records import write_manifest
from sier.evaluation.experiments_table import experiment_table
from sier.training.config import TrainConfig
from sier.training.crossval import run_crossval


@pytest.fixture(scope="module")
def ablation(synth_manifest, tmp_path_factory):
    root = tmp_path_factory.mktemp("ablation")
    manifest = root / "m.csv"
    write_manifest(manifest, synth_manifest.utterances)
    common = dict(manifest=str(manifest), upstream="fbank", cache_dir=str(root / "cache"), output_dir=str(root / "exp"),
                  hidden_size=4, num_heads=2, num_gru_layers=1, epochs=1, batch_size=16, folds=(0,), progress=False)
    variants = [dict(name="enh", seed=0), dict(name="enh", seed=1), dict(name="noadain", adain=False),
                dict(name="base", model="baseline")]
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        dirs = [run_crossval(TrainConfig(**common, **v), argv=[]) for v in variants]
    return root / "exp", dirs


def ua_of(directory) -> float:
    rows = list(csv.DictReader((directory / "predictions" / "fold_0.csv").open()))
    return recall_score([r["label"] for r in rows], [r["pred"] for r in rows], average="macro")


def test_seeds_share_a_row_and_the_columns_name_what_differs(ablation, tmp_path, capsys):
    folder, (enh0, enh1, noadain, base) = ablation
    table = experiment_table([folder])
    assert table["columns"] == ["adain", "model"] and table["comparable"] and table["notes"] == []
    rows = {(r["model"], r["adain"]): r for r in table["rows"]}
    assert sorted(rows) == [("baseline", True), ("enhanced", False), ("enhanced", True)]
    enhanced = rows[("enhanced", True)]
    assert enhanced["runs"] == [str(enh0), str(enh1)] and enhanced["seeds"] == [0, 1] and enhanced["folds"] == [0]
    uas = [ua_of(enh0), ua_of(enh1)]
    assert enhanced["mean"]["ua"] == pytest.approx(np.mean(uas)) and enhanced["std"]["ua"] == pytest.approx(
        np.std(uas, ddof=1))
    assert rows[("baseline", True)]["mean"]["ua"] == pytest.approx(ua_of(base))
    assert np.isnan(rows[("baseline", True)]["std"]["ua"])

    assert main(["summarize", str(enh0), str(enh1), str(noadain), str(base), "--out", str(tmp_path / "abl")]) == 0
    out = capsys.readouterr().out
    assert "| adain | model | runs | folds | n | WA | UA |" in out
    assert f"| True | enhanced | 2 | 0 | {enhanced['n']} |" in out
    assert (tmp_path / "abl.md").read_text().startswith("| adain | model |")
    assert (tmp_path / "abl.csv").read_text().splitlines()[0].startswith("adain,model,runs,folds,n,wa_mean,wa_std")


def test_runs_on_other_data_are_flagged_and_unfinished_ones_named(ablation, tmp_path, capsys):
    folder, (enh0, *_) = ablation
    other = tmp_path / "other"
    shutil.copytree(enh0, other)
    text = (other / "config.yaml").read_text().replace("protocol: session", "protocol: speaker")
    (other / "config.yaml").write_text(text)
    table = experiment_table([enh0, other])
    assert table["columns"] == ["protocol"] and not table["comparable"]
    assert table["notes"] == ["the variants differ in protocol: they were not tested on the same data"]
    shutil.rmtree(other / "predictions")
    assert main(["summarize", str(other)]) == 1
    assert f"{other}: no test predictions yet" in capsys.readouterr().err
    assert main(["summarize", str(tmp_path / "missing")]) == 1
    assert "no such experiment directory" in capsys.readouterr().err
