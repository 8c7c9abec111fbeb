"""Evaluate a run: base vs fine-tuned answers (run.py), metrics, report, judge, answer cache."""
