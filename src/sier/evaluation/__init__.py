"""Evaluation: metrics, per-speaker analysis, speaker probe, original-vs-enhanced tests, report.

The public entry point is `sier.evaluation.run.evaluate` (also `sier evaluate`); the
analysis modules work on `Predictions` tables alone and do not need models or features.
"""
