"""`sier demo`: the main job end to end on the embedded synthetic corpus.

synthesise -> manifest -> fbank features (cached) -> cross-validated baseline GRU and
enhanced adversarial GRU on every session fold -> evaluation report comparing them ->
the same models on ten new voices in EmoDB's layout (cross-corpus report).

The demo state (which experiment directory each stage wrote) is kept in
`<workdir>/demo.json`, so an interrupted demo resumes: a finished stage is reused, and a
training run that was killed (found by its config in the workdir) continues from its last
checkpoint without redoing finished folds.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sier.errors import SierError
from sier.fileio import read_json, write_json

# Sized to finish all 10 fits in under 10 minutes on 2 CPU cores (see docs/demo in README).
# fbank needs no weights; a from-scratch GRU wants a larger LR than the 1e-4 used on HuBERT.
DEMO_TRAIN: dict[str, Any] = {
    "upstream": "fbank",
    "protocol": "session",
    "epochs": 12,
    "batch_size": 16,
    "lr": 2e-3,
    "hidden_size": 64,
    "num_gru_layers": 1,
    "dropout": 0.2,
    "attention_dropout": 0.2,
    "warmup_epochs": 1.0,
    "restart_epochs": 11.0,
    "early_stopping_patience": 6,
    "plateau_patience": 3,
}
# The enhanced model of the description, adversary on; the baseline is the plain BiGRU.
DEMO_MODELS: dict[str, dict[str, Any]] = {
    "original": {"model": "baseline"},
    "enhanced": {"model": "enhanced", "speaker_adversarial": True, "adversarial_weight": 0.1},
}
STATE_FILE = "demo.json"


@dataclass(frozen=True)
class DemoResult:
    workdir: Path
    experiments: dict[str, Path]  # "original" / "enhanced" -> experiment directory
    report: Path  # report.md
    cross_corpus_report: Path  # report.md of the cross-corpus evaluation


def run_demo(workdir: str | os.PathLike = "experiments/demo", seed: int = 0, per_speaker: int = 40,
             epochs: int | None = None, fresh: bool = False, progress: bool = True) -> DemoResult:
    """Run (or resume) the demo in `workdir`; returns where the experiments and report are."""
    from sier.evaluation.run import evaluate
    from sier.training.config import TrainConfig

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    state_path = work / STATE_FILE
    settings = {"seed": seed, "per_speaker": per_speaker, "epochs": epochs or DEMO_TRAIN["epochs"]}
    state = read_json(state_path) if state_path.is_file() and not fresh else {}
    if state.get("settings") != settings:
        state = {"settings": settings}  # other settings: nothing of an earlier demo is reused
    started = time.monotonic()

    def save() -> None:
        write_json(state_path, state)

    manifest = work / "manifest.csv"
    if "manifest" not in state:
        _stage("1/5 synthesise the corpus and write the manifest")
        _write_synthetic_manifest(work, manifest, seed, per_speaker)
        state["manifest"] = str(manifest)
        save()
    experiments: dict[str, Path] = {}
    for n, (role, model) in enumerate(DEMO_MODELS.items()):
        _stage(f"{n + 2}/5 train the {role} model on every session fold")
        config = TrainConfig.from_dict({
            **DEMO_TRAIN, **model, "epochs": settings["epochs"], "seed": seed, "manifest": str(manifest),
            "cache_dir": str(work / "cache"), "output_dir": str(work), "name": role, "progress": progress,
        })
        experiments[role] = _train(config, state.get(role) or (None if fresh else _unfinished_run(work, role, config)))
        state[role] = str(experiments[role])
        save()
    _stage("4/5 evaluate on the held-out speakers and write the report")
    report = evaluate(experiments["enhanced"], experiments["original"], out=work / "report", progress=progress)
    state["report"] = str(report.report_path)
    save()
    _print_headline(report.results, "held-out speakers, pooled over the session folds")
    _stage("5/5 cross-corpus: both models on ten new voices in EmoDB's layout")
    emodb_manifest = work / "emodb_manifest.csv"
    if "emodb_manifest" not in state:
        _write_synthetic_emodb_manifest(work, emodb_manifest, seed, max(1, per_speaker // 8))
        state["emodb_manifest"] = str(emodb_manifest)
        save()
    cross = evaluate(experiments["enhanced"], experiments["original"], out=work / "report_cross_corpus",
                     progress=progress, test_manifest=emodb_manifest)
    state["cross_corpus_report"] = str(cross.report_path)
    save()
    _print_headline(cross.results, "new voices (EmoDB layout), every fold model on all of them")
    print(f"\ndemo finished in {(time.monotonic() - started) / 60:.1f} min")
    print(f"report: {report.report_path}")
    print(f"cross-corpus report: {cross.report_path}")
    return DemoResult(work, experiments, report.report_path, cross.report_path)


def _write_synthetic_manifest(work: Path, manifest: Path, seed: int, per_speaker: int) -> None:
    """Synthesise the corpus in IEMOCAP's layout under work/data and write its 4-class manifest."""
    from sier.corpora.iemocap import read_iemocap
    from sier.corpora.records import count_table, write_manifest
    from sier.corpora.synth import synthesize_corpus

    root = synthesize_corpus(work / "data", seed=seed, per_speaker=per_speaker)
    result = read_iemocap(root, "iemocap-4")
    write_manifest(manifest, result.utterances)
    print(count_table(result.utterances))


def _write_synthetic_emodb_manifest(work: Path, manifest: Path, seed: int, per_emotion: int) -> None:
    """Synthesise ten new voices in EmoDB's layout under work/data and write their manifest."""
    from sier.corpora.emodb import read_emodb
    from sier.corpora.records import write_manifest
    from sier.corpora.synth_emodb import synthesize_emodb

    root = synthesize_emodb(work / "data", seed=seed, per_emotion=per_emotion)
    write_manifest(manifest, read_emodb(root).utterances)


def _train(config: Any, earlier: str | None) -> Path:
    """The experiment of `config`: `earlier` as it is when all its folds are done, resumed when
    it is not, or a new run."""
    from sier.training.crossval import run_crossval

    if earlier and (Path(earlier) / "summary.json").is_file() and _all_folds_done(Path(earlier)):
        print(f"finished earlier: {earlier}")
        return Path(earlier)
    if earlier and Path(earlier).is_dir():
        return run_crossval(config, argv=["demo"], resume=earlier, overrides={"progress": config.progress})
    return run_crossval(config, argv=["demo"])


def _unfinished_run(work: Path, role: str, config: Any) -> str | None:
    """The newest `<role>_*` experiment in `work` made with the same config (a demo killed
    while training it), so that it resumes instead of starting over; None if there is none."""
    from sier.training.config import RUNTIME_FIELDS, TrainConfig, load_config_yaml

    def computed(c: TrainConfig) -> dict[str, Any]:
        return {k: v for k, v in c.to_dict().items() if k not in RUNTIME_FIELDS}

    for exp in sorted(work.glob(f"{role}_*"), reverse=True):
        try:
            earlier = TrainConfig.from_dict(load_config_yaml(exp / "config.yaml"))
        except (OSError, SierError):
            continue
        if (exp / "folds.json").is_file() and computed(earlier) == computed(config):
            return str(exp)
    return None


def _all_folds_done(exp: Path) -> bool:
    folds = read_json(exp / "folds.json").get("folds", [])
    return bool(folds) and all((exp / "predictions" / f"fold_{k}.csv").is_file() for k in range(len(folds)))


def _stage(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def _print_headline(results: dict[str, Any], title: str) -> None:
    """Pooled figures per model, the spread over speakers and the speaker probe, from evaluation.json."""
    print(f"\n{title} (chance: UA 25 %):")
    print(f"{'model':>10} {'WA %':>7} {'UA %':>7} {'F1 %':>7} {'UA std over speakers':>21} "
          f"{'worst speaker UA':>17} {'speaker probe acc':>18}")
    for role in ("original", "enhanced"):
        model = results.get("models", {}).get(role)
        if not model:
            continue
        pooled = model["metrics"]["pooled"]
        ua = model["speakers"]["speaker_spread"]["ua"]
        probe = model.get("probe", {})
        probe_text = (f"{100 * probe['accuracy']['mean']:.1f} (chance {100 * probe['chance']['mean']:.1f})"
                      if probe.get("accuracy") else "-")
        print(f"{role:>10} {100 * pooled['wa']:7.2f} {100 * pooled['ua']:7.2f} {100 * pooled['macro_f1']:7.2f} "
              f"{100 * ua['std']:21.2f} {100 * ua['min']:12.2f} {ua['worst']:>4} {probe_text:>18}")
