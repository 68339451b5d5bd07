"""The report's Markdown (report.md): one function per section, all from the results dict that
is also written as evaluation.json, so the text and the JSON cannot disagree."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sier.evaluation.calibration import BINS, MIN_BIN_ROWS
from sier.evaluation.metrics import HEADLINE
from sier.evaluation.repetitions import QUANTITY_LABELS
from sier.evaluation.speakers import ALL_GROUP_KEYS

COLLAPSE_SHARE = 0.7  # a model that gives one class to this share of the test utterances is flagged


def _pct(x: Any, digits: int = 2) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.{digits}f}"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)



def _interval(ci: dict[str, Any] | None) -> str:
    return "–" if not ci else f"[{_pct(ci['ci_low'])}, {_pct(ci['ci_high'])}]"


def _headline(models: dict[str, Any], comparison: dict[str, Any] | None) -> str:
    header = ["model", "n", "WA pooled", "UA pooled", "macro-F1 pooled", "weighted-F1 pooled",
              "WA folds", "UA folds", "macro-F1 folds", "UA 95 % CI (speakers)"]
    rows = []
    for name, r in models.items():
        p, f = r["metrics"]["pooled"], r["metrics"]["over_folds"]
        one = len(r["metrics"]["folds"]) == 1  # a std over one fold (0) would read as agreement
        rows.append([f"**{name}**", p["n"], *(_pct(p[k]) for k in HEADLINE),
                     *(f"{_pct(f[k]['mean'])} (1 fold)" if one else f"{_pct(f[k]['mean'])} ± {_pct(f[k]['std'])}"
                       for k in ("wa", "ua", "macro_f1")), _interval(p.get("ua_interval"))])
    if comparison:
        d = {r["quantity"]: r["delta"] for r in comparison["rows"]}
        b = comparison["bootstrap_ua"]
        rows.append(["Δ (enh − orig)", "", *(f"{100 * d[f'{k} (pooled)']:+.2f}" for k in HEADLINE),
                     *(f"{100 * d[f'{k} (mean over folds)']:+.2f}" for k in ("wa", "ua", "macro_f1")),
                     f"[{100 * b['ci_low']:+.2f}, {100 * b['ci_high']:+.2f}]"])
    return _md_table(header, rows)


def _speaker_section(models: dict[str, Any]) -> str:
    names = list(models)
    header = ["speaker", "n", *(f"{m} {n}" for m in ("UA", "WA", "macro-F1") for n in names)]
    if len(names) == 2:
        header.append("Δ UA")
    per = {n: {g["group"]: g for g in r["speakers"]["per_speaker"]} for n, r in models.items()}
    rows = []
    for spk in sorted({s for p in per.values() for s in p}):
        gs = [per[n].get(spk) for n in names]
        row = [spk, next(g["n"] for g in gs if g),
               *(_pct(g[m]) if g else "–" for m in ("ua", "wa", "macro_f1") for g in gs)]
        if len(names) == 2:
            row.append(f"{100 * (gs[1]['ua'] - gs[0]['ua']):+.2f}" if all(gs) else "–")
        rows.append(row)
    spread_rows = []
    for stat in ("mean", "std", "variance", "min", "max", "spread", "worst", "best"):
        cells = []
        for m in ("ua", "wa", "macro_f1"):
            for n in names:
                v = models[n]["speakers"]["speaker_spread"][m].get(stat)
                cells.append(v if isinstance(v, str) else (f"{1e4 * v:.1f}" if stat == "variance" else _pct(v)))
        spread_rows.append([f"{stat} (pp²)" if stat == "variance" else stat, *cells])
    balance_rows = []
    for stat in ("f1_mean", "f1_std", "f1_min", "f1_max", "f1_range", "worst_class", "best_class"):
        cells = [models[n]["speakers"]["class_balance"].get(stat) for n in names]
        balance_rows.append([stat, *(c if isinstance(c, str) else _pct(c) for c in cells)])
    parts = [
        _md_table(header, rows),
        "\n**Spread over speakers** (%; std and variance with ddof=0; worst/best: the speaker with the "
        "lowest/highest value; spread = max − min):\n",
        _md_table(["statistic", *(f"{m} {n}" for m in ("UA", "WA", "macro-F1") for n in names)], spread_rows),
    ]
    for key in ALL_GROUP_KEYS[1:]:
        if not all(f"per_{key}" in r["speakers"] for r in models.values()):
            continue  # per corpus / language / recording: only where the test data mixes them
        per_g = {n: {g["group"]: g for g in r["speakers"][f"per_{key}"]} for n, r in models.items()}
        g_rows = [[g, next(per_g[n][g]["n"] for n in names if g in per_g[n]),
                   *(_pct(per_g[n][g]["ua"]) if g in per_g[n] else "–" for n in names),
                   *(_pct(per_g[n][g]["wa"]) if g in per_g[n] else "–" for n in names)]
                  for g in sorted({g for p in per_g.values() for g in p}, key=str)]
        parts += [f"\n**Per {key}** (%):\n",
                  _md_table([key, "n", *(f"UA {n}" for n in names), *(f"WA {n}" for n in names)], g_rows)]
    pc_rows = []
    classes = models[names[0]]["classes"]
    for i, c in enumerate(classes):
        cells = []
        for n in names:
            pc = models[n]["metrics"]["pooled"]["per_class"][i]
            cells += [_pct(pc["precision"]), _pct(pc["recall"]), _pct(pc["f1"])]
        pc_rows.append([c, models[names[0]]["metrics"]["pooled"]["per_class"][i]["support"], *cells])
    pc_header = ["class", "support", *(f"{s} {n}" for n in names for s in ("P", "R", "F1"))]
    parts += ["\n**Per class, pooled** (%):\n", _md_table(pc_header, pc_rows),
              "\n**Balance of per-class F1** (%):\n", _md_table(["statistic", *names], balance_rows)]
    return "\n".join(parts)


def _probe_section(models: dict[str, Any]) -> str:
    rows = []
    for n, r in models.items():
        for p in r["probe"]["per_fold"]:
            rows.append([n, p["fold"], p["n"], p["n_speakers"], _pct(p["accuracy"]), _pct(p["chance"]),
                         f"{100 * p['above_chance']:+.2f}", _pct(p["balanced_accuracy"]), _pct(p["balanced_chance"])])
        pr = r["probe"]
        if pr["per_fold"]:
            rows.append([f"**{n} mean**", "", "", "", _pct(pr["accuracy"]["mean"]), _pct(pr["chance"]["mean"]),
                         f"{100 * pr['above_chance']['mean']:+.2f}", _pct(pr["balanced_accuracy"]["mean"]),
                         _pct(pr["balanced_chance"]["mean"])])
    text = _md_table(["model", "fold", "n", "speakers", "accuracy", "chance", "above chance",
                      "balanced acc.", "balanced chance"], rows) if rows else "_No fold could be probed._"
    method = next(iter(models.values()))["probe"]["method"]
    skipped = [f"{n}: fold {s['fold']} ({s['reason']})" for n, r in models.items() for s in r["probe"]["skipped"]]
    note = f"\n\nSkipped: {'; '.join(skipped)}." if skipped else ""
    return f"Method: {method}. Lower accuracy (closer to chance) = less speaker information.\n\n{text}{note}"


def _tests_section(comparison: dict[str, Any]) -> str:
    m, b = comparison["mcnemar"], comparison["bootstrap_ua"]
    rows = [[r["quantity"], *(r[k] if isinstance(r[k], str) else f"{100 * r[k]:.2f}" for k in ("original", "enhanced")),
             f"{100 * r['delta']:+.2f}", r["better_is"], r["better"] or "–"] for r in comparison["rows"]]
    warning = [] if comparison.get("same_utterances", True) else [
        f"**Note:** the models were evaluated on different utterances ({comparison['n_original']} original, "
        f"{comparison['n_enhanced']} enhanced; e.g. checkpoints of different folds), so the deltas below compare "
        f"different test sets; the paired tests use the {comparison['n_paired']} utterances both classified.\n"]
    return "\n".join([
        *warning,
        _md_table(["quantity (%)", "original", "enhanced", "Δ", "better is", "better"], rows),
        f"\n**McNemar** on the {m['n']} utterances both models classified"
        + (f" ({m['on']})" if m.get("on") else "") + f": both right {m['both_right']}, "
        f"only original right {m['only_original_right']}, only enhanced right {m['only_enhanced_right']}, "
        f"both wrong {m['both_wrong']}; {m['method']}, statistic {m['statistic']:.3g}, "
        f"**p = {m['p_value']:.4g}**.",
        f"\n**Bootstrap over speakers** ({b['n_boot']} draws of {b['n_speakers']} speakers): "
        f"UA(enhanced) − UA(original) = {100 * b['delta']:+.2f} pp, {int(100 * b['confidence'])} % CI "
        f"[{100 * b['ci_low']:+.2f}, {100 * b['ci_high']:+.2f}] pp, p ≈ {b['p_value']:.3g}.",
    ])


def render_markdown(results: dict[str, Any], figs: dict[str, list[Path]], out: Path) -> str:
    """report.md from the results (the content of evaluation.json) and the figures, by kind."""
    models, comparison = results["models"], results.get("comparison")
    rel = lambda p: os.path.relpath(p, out)  # noqa: E731
    img = lambda p: f"![{Path(p).stem}]({rel(p)})"  # noqa: E731
    cross = next((r["info"]["test data"] for r in models.values() if "test data" in r["info"]), None)
    tested = ("on every utterance of another corpus, none of whose speakers it trained on" if cross else
              "on the test speakers of its own fold, none of whom it trained on")
    lines = ["# Speaker-independence evaluation", "",
             f"Written {results['created']} by sier {results['sier_version']}. Every checkpoint was evaluated "
             f"{tested}. Numbers are percent.", ""]
    for n, r in models.items():
        info = ", ".join(f"{k} {v}" for k, v in r["info"].items())
        reps = f"; {r['repetitions']['n']} repetitions (below)" if "repetitions" in r else ""
        lines.append(f"- **{n}**: {len(r['checkpoints'])} checkpoint(s) from `{r['experiment_dir']}`"
                     + (f" ({info})" if info else "") + reps)
    pooled = ("Pooled: every fold model's predictions of every utterance together; folds: mean ± std over the "
              "fold models." if cross else "Pooled: all test utterances of all folds together; folds: mean ± std over folds.")
    pooled += (" UA 95 % CI: percentile interval of the pooled UA when the test speakers are drawn with "
               "replacement (bootstrap; for Δ, of the difference), i.e. how much the score depends on who speaks.")
    lines += ["", "## Headline", "", pooled,
              "", _headline(models, comparison), "", *_collapse_warnings(models)]
    fold_rows = [[n, k, m["n"], *(_pct(m[x]) for x in HEADLINE)]
                 for n, r in models.items() for k, m in r["metrics"]["folds"].items()]
    lines += ["**Per fold**:", "", _md_table(["model", "fold", "n", "WA", "UA", "macro-F1", "weighted-F1"], fold_rows), ""]
    if any("repetitions" in r for r in models.values()):
        lines += ["## Repetitions (other seeds)", "", _repetitions_section(models, comparison), ""]
    if any("conditions" in r for r in models.values()):
        lines += ["## Robustness: the test audio altered", "", _conditions_section(models), ""]
    if comparison:
        lines += ["## Original vs enhanced: deltas and paired tests", "", _tests_section(comparison), ""]
    if any("dimensions" in r for r in models.values()):
        lines += ["## Emotion dimensions (auxiliary task)", "", _dimensions_section(models), ""]
    if any("calibration" in r for r in models.values()):
        lines += ["## Calibration of the probabilities", "", _calibration_section(models), ""]
        lines += [x for p in figs.get("calibration", []) for x in (img(p), "")]
    if any("layer_weights" in r for r in models.values()):
        lines += ["## Upstream layers (layer-weighted models)", "", _layers_section(models), ""]
        lines += [x for p in figs.get("layers", []) for x in (img(p), "")]
    lines += ["## Across speakers", "", _speaker_section(models), ""]
    lines += [x for p in figs.get("groups", []) for x in (img(p), "")]
    lines += ["## Speaker probe", "", _probe_section(models), ""]
    lines += [x for p in figs.get("probe", []) for x in (img(p), "")]
    for title, key in (("Confusion matrices (pooled)", "confusion"), ("t-SNE of test embeddings", "tsne"),
                       ("Attention (what each frame receives, averaged over heads and queries)", "attention"),
                       ("Training curves", "training")):
        if figs.get(key):
            lines += ["", f"## {title}", "", *(x for p in figs[key] for x in (img(p), ""))]
    lines += ["", "## Files", "", "- `evaluation.json`: every number above",
              "- `overall.csv`, `per_class.csv`, `confusion.csv`, `per_group.csv`, `spread.csv`, `probe.csv`"
              + (", `comparison.csv`, `paired_tests.csv`" if comparison else "")
              + (", `dimensions.csv`" if any("dimensions" in r for r in models.values()) else "")
              + (", `calibration.csv`" if any("calibration" in r for r in models.values()) else "")
              + (", `layer_weights.csv`" if any("layer_weights" in r for r in models.values()) else "")
              + ": the same numbers as tables",
              "- " + ", ".join(f"`predictions_{n}.csv`" for n in models) + ": one row per test utterance",
              "- `figures/`: the pictures above (PNG)", ""]
    return "\n".join(lines)


def _collapse_warnings(models: dict[str, Any]) -> list[str]:
    """A warning for each model that gives one class to most test utterances: its small spread
    over speakers then says nothing about speaker independence."""
    lines = []
    for n, r in models.items():
        d = r.get("dominant_prediction")
        if d and d["share"] >= COLLAPSE_SHARE:
            lines += [f"**Warning**: {n} predicts `{d['class']}` for {_pct(d['share'], 1)} % of the test utterances. "
                      "A model that gives (nearly) every utterance one class scores alike on every speaker, so its "
                      "small spread over speakers is no sign of speaker independence; train it longer or check "
                      "the class balance.", ""]
    return lines


def _dimensions_section(models: dict[str, Any]) -> str:
    rows = []
    for n, r in models.items():
        for name, p in r.get("dimensions", {}).get("pooled", {}).items():
            s = r["dimensions"]["speaker_spread"][name]
            rows.append([n, name, f"{p['ccc']:.3f}", p["n"], f"{s['mean']:.3f}", f"{s['std']:.3f}", f"{s['min']:.3f}",
                         s["speakers"]])
    return ("Concordance (CCC, -1 to 1, not percent) of the predicted and rated arousal, valence and dominance, "
            "on the test utterances that are rated; per speaker over speakers with two or more (std ddof=0). "
            "A model without the dimension head (`--dimension_weight 0`) has no row.\n\n"
            + _md_table(["model", "dimension", "CCC pooled", "n", "speaker mean", "std over speakers",
                         "worst speaker", "speakers"], rows))


def _calibration_section(models: dict[str, Any]) -> str:
    rows = []
    for n, r in models.items():
        c = r.get("calibration")
        if c:
            s, temps = c["speaker_ece"], list(c.get("temperatures", {}).values())
            rows.append([n, c["n"], _temperature_cell(temps), f"{c['ece']:.3f}",
                         f"{c['ece_raw']:.3f}" if "ece_raw" in c else "", f"{c['mce']:.3f}", f"{c['brier']:.3f}",
                         f"{c['nll']:.3f}", _pct(c["mean_confidence"]), _pct(c["accuracy"]),
                         f"{s['mean']:.3f} ± {s['std']:.3f}", f"{s['worst']} ({s['max']:.3f})"])
    return ("How far the top class's probability is from how often it is right, on the pooled test utterances "
            f"(equal-width confidence bins of {1 / BINS:g}). ECE and MCE (largest gap of a bin of {MIN_BIN_ROWS}+ "
            "utterances) 0 is perfect; Brier 0 to 2 and NLL lower is better. Mean confidence above accuracy means "
            "overconfident. Per speaker: the ECE of each test speaker's utterances. T: the temperatures the fold "
            "models divide their logits by (fitted on their validation speakers, `--calibrate`); ECE at T = 1: the "
            "raw softmax's. Bins: `calibration.csv`.\n\n"
            + _md_table(["model", "n", "T (folds)", "ECE", "ECE at T = 1", "MCE", "Brier", "NLL",
                         "mean confidence %", "accuracy %", "speaker ECE mean ± std", "worst speaker (ECE)"], rows))


def _temperature_cell(temperatures: list[float]) -> str:
    if not temperatures:
        return ""
    low, high = min(temperatures), max(temperatures)
    return f"{low:.2f}" if high - low < 0.005 else f"{low:.2f}-{high:.2f}"


def _layers_section(models: dict[str, Any]) -> str:
    names = [n for n, r in models.items() if "layer_weights" in r]
    summaries = {n: models[n]["layer_weights"] for n in names}
    count = max(len(s["mean"]) for s in summaries.values())
    rows = [[k, *(f"{s['mean'][k]:.3f} ± {s['std'][k]:.3f}" if k < len(s["mean"]) else "" for s in summaries.values())]
            for k in range(count)]
    where = "; ".join(f"{n}: most weight on hidden state {s['top']}, weighted centre {s['centre']:.1f}"
                      for n, s in summaries.items())
    return ("Softmax weight of each hidden state of the frozen upstream (0: the input of transformer layer 1; k: "
            f"the output of layer k), mean ± std over folds; all start at 1/{count} = {1 / count:.3f}. {where}. "
            "Per fold: `layer_weights.csv`.\n\n"
            + _md_table(["hidden state", *names], rows))


def _conditions_section(models: dict[str, Any]) -> str:
    names = [n for n, r in models.items() if "conditions" in r]
    conditions = list(models[names[0]]["conditions"])
    with_ccc = [n for n in names if "ccc_arousal" in models[n]["conditions"]["clean"]]
    rows = []
    for c in conditions:
        row: list[Any] = [c, models[names[0]]["conditions"][c]["n"]]
        for n in names:
            got, clean = models[n]["conditions"][c], models[n]["conditions"]["clean"]
            delta = "" if c == "clean" else f" ({100 * (got['ua'] - clean['ua']):+.2f})"
            row += [_pct(got["ua"]) + delta, _pct(got["speaker_ua_std"]), _pct(got["speaker_ua_min"])]
        row += [f"{models[n]['conditions'][c]['ccc_arousal']:.3f}" for n in with_ccc]
        rows.append(row)
    header = ["condition", "n", *(f"{q} {n}" for n in names for q in ("UA (Δ clean)", "UA std over speakers",
                                                                          "worst speaker UA")),
              *(f"CCC arousal {n}" for n in with_ccc)]
    return ("The same test utterances and checkpoints, with the audio altered before feature extraction "
            "(noise:SNR dB of white noise, speed:factor, gain:dB; the features of each condition are cached). "
            "Of the first repetition where there are several. CCC of every dimension: conditions.csv.\n\n"
            + _md_table(header, rows))


def _repetitions_section(models: dict[str, Any], comparison: dict[str, Any] | None) -> str:
    names = [n for n, r in models.items() if "repetitions" in r]
    quantities = tuple(QUANTITY_LABELS)
    rows = []
    for n in names:
        reps = models[n]["repetitions"]
        rows += [[n, i + 1, f"`{r['source']}`", r["n"], *(_pct(r[q]) for q in quantities)]
                 for i, r in enumerate(reps["per_repetition"])]
        rows.append([f"**{n}**", f"mean ± std of {reps['n']}", "", "",
                     *(f"{_pct(reps['mean'][q])} ± {_pct(reps['std'][q])}" for q in quantities)])
    parts = ["Each repetition is a whole training run of the same model on the same folds with another seed; the "
             "other sections describe the first. Std here is the sample std (ddof=1) over repetitions.", "",
             _md_table(["model", "repetition", "experiment", "n", *QUANTITY_LABELS.values()], rows)]
    if comparison and "repetitions" in comparison:
        c_rows = [[QUANTITY_LABELS[r["quantity"]], _pct(r["original_mean"]), _pct(r["enhanced_mean"]),
                   f"{100 * r['delta']:+.2f}", "–" if r["p_welch"] is None or not np.isfinite(r["p_welch"])
                   else f"{r['p_welch']:.3g}", r["better"] or "–"] for r in comparison["repetitions"]]
        first = comparison["repetitions"][0]
        parts += ["", f"**Over repetitions** (Welch's t-test, {first['n_original']} original and {first['n_enhanced']} "
                  "enhanced runs; with so few runs only a large difference reaches p < 0.05):", "",
                  _md_table(["quantity", "original mean", "enhanced mean", "Δ (pp)", "p (Welch)", "better"], c_rows)]
    elif comparison:
        parts += ["", "Only one model has repetitions, so they are not compared; give both models several."]
    return "\n".join(parts)
