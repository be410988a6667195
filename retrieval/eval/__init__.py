"""Evaluation: the metrics of `../shared/eval/score.py`, and the public benchmarks' loaders
(BEIR, SQuAD)."""
