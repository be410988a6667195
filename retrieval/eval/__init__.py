"""Evaluation: the metrics of `eval/score.py`, and the public benchmarks' loaders (BEIR, SQuAD)."""
