"""`sier evaluate` (and `evaluate_speaker_independence.py`): cross-speaker evaluation and report."""

import argparse

HELP = "evaluate fold checkpoints on their unseen test speakers; compare original vs enhanced; write a report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--enhanced_model_path", required=True, nargs="+",
                   help="checkpoint, quoted glob over fold checkpoints, or experiment directory of the enhanced model; "
                        "several: repetitions of it (runs with other seeds), reported as mean ± std over them")
    p.add_argument("--original_model_path", default=None, nargs="+",
                   help="the same for the original (baseline) model, to compare against (optional)")
    p.add_argument("--out", default=None,
                   help="report folder (default: <enhanced experiment>/evaluation_<YYYYmmdd-HHMMSS>/)")
    p.add_argument("--test_manifest", default=None,
                   help="cross-corpus: evaluate every checkpoint on all utterances of this manifest instead "
                        "(another corpus from `sier prepare`, e.g. --corpus emodb; same classes, unseen speakers)")
    p.add_argument("--conditions", default="",
                   help="robustness: also classify each test set with its audio altered, e.g. noise:20,noise:5,speed:1.1 "
                        "(white noise at an SNR in dB, speed factor, gain in dB)")
    p.add_argument("--cache_dir", default=None, help="feature cache (default: the one each checkpoint was trained with)")
    p.add_argument("--max_attention_examples", type=int, default=3, help="attention heat maps to draw (default: 3)")
    p.add_argument("--batch_size", type=int, default=16, help="utterances per forward pass (default: 16)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--n_boot", type=int, default=2000, help="bootstrap draws over speakers (default: 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap, probe and t-SNE (default: 0)")
    p.add_argument("--no_progress", dest="progress", action="store_false", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from sier.evaluation.run import evaluate

    report = evaluate(
        args.enhanced_model_path, args.original_model_path, out=args.out, cache_dir=args.cache_dir,
        max_attention_examples=args.max_attention_examples, batch_size=args.batch_size, device=args.device,
        n_boot=args.n_boot, seed=args.seed, progress=args.progress, test_manifest=args.test_manifest,
        conditions=args.conditions,
    )
    models = report.results["models"]
    for name, r in models.items():
        p, f = r["metrics"]["pooled"], r["metrics"]["over_folds"]
        ci = p.get("ua_interval") or {"ci_low": float("nan"), "ci_high": float("nan")}
        print(f"{name:>9}: pooled WA {100 * p['wa']:.2f}  UA {100 * p['ua']:.2f} "
              f"[{100 * ci['ci_low']:.2f}, {100 * ci['ci_high']:.2f}]  macro-F1 {100 * p['macro_f1']:.2f}"
              f"  | UA over folds {100 * f['ua']['mean']:.2f} +- {100 * f['ua']['std']:.2f}")
        for condition, c in r.get("conditions", {}).items():
            if condition != "clean":
                print(f"{'':>9}  {condition}: UA {100 * c['ua']:.2f} ({100 * (c['ua'] - p['ua']):+.2f})")
        if "repetitions" in r:
            reps = r["repetitions"]
            print(f"{'':>9}  over {reps['n']} repetitions: UA {100 * reps['mean']['ua']:.2f} +- "
                  f"{100 * reps['std']['ua']:.2f}  UA std over speakers {100 * reps['mean']['speaker_ua_std']:.2f} +- "
                  f"{100 * reps['std']['speaker_ua_std']:.2f}")
    if "comparison" in report.results:
        b = report.results["comparison"]["bootstrap_ua"]
        m = report.results["comparison"]["mcnemar"]
        print(f"    delta UA {100 * b['delta']:+.2f} pp, 95% CI [{100 * b['ci_low']:+.2f}, {100 * b['ci_high']:+.2f}]"
              f" (bootstrap over speakers); McNemar p = {m['p_value']:.4g}")
    print(f"\nreport: {report.report_path}")
    return 0
