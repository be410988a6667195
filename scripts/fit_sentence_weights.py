"""Fit the sentence scorer's weights (``retrieval/resources/sentence_scorer.json``) on questions.

    python scripts/fit_sentence_weights.py ../shared/eval/dev.jsonl [--l2 0.1] [--answers] [--write]

For each answerable question, every sentence of the first-stage pool (20 passages) gets its
FEATURES row; a sentence is a positive when it holds a gold answer string. The weights minimise a
listwise loss (softmax over each question's sentences) with an L2 penalty. The script prints the
3-fold cross-validated share of questions whose best sentence holds a gold answer (split by
question, three shuffles), then the weights fitted on all questions; --write stores them, keyed
by feature name, with the data, command and score, in ``retrieval/resources/sentence_scorer.json``.
With --answers it also answers each question with weights fitted without it (3 folds,
mean of 3 shuffles) and prints score.py's metrics for those held-out answers.
Tune to kinds of question, never to single ones: the held-out set is written from other
paragraphs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from retrieval.environment import set_offline_environment

set_offline_environment()

from retrieval import Engine  # noqa: E402
from retrieval.answer.scorer import FEATURES, PROMOTE  # noqa: E402
from retrieval.resources import FOLDER  # noqa: E402
from retrieval.store.durable import atomic_write_bytes  # noqa: E402


def question_rows(engine: Engine,
                  path: str) -> tuple[list[str], list[tuple[np.ndarray, np.ndarray, Any]]]:
    """Ids, and (FEATURES rows, positives, ranking data), of each answerable question with a
    positive sentence. Ranking data: each sentence's passage index and which pool passages
    hold the evidence (the scorer's ``hits``, from score.py beside the questions file)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    from score import hits, norm  # ../shared/eval/score.py: the scorer's own matching

    ids, out = [], []
    for q in load_questions(path):
        if not q.get("answers"):
            continue
        pool, scored = engine.candidates(q["question"])
        gold = np.array([any(norm(a) in norm(c.text) for a in q["answers"])
                         for c in scored.candidates], dtype=float)
        evidence = q["evidence"] if isinstance(q["evidence"], list) else [q["evidence"]]
        hit = [any(hits(p.text, e) for e in evidence) for p in pool]
        where = np.array([c.passage_index for c in scored.candidates])
        if gold.any():
            ids.append(q["id"])
            out.append((scored.rows.astype(float), gold, (where, hit)))
    return ids, out


def load_questions(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def reciprocal_rank(scores: np.ndarray, where: np.ndarray, hit: list[bool], top: int) -> float:
    """1/rank of the first evidence passage after promoting the ``top`` best-sentence passages
    (Engine.search's order), within 10."""
    best = list(dict.fromkeys(where[np.argsort(-scores, kind="stable")].tolist()))[:top]
    order = best + [i for i in range(len(hit)) if i not in best]
    first = next((r for r, i in enumerate(order[:10]) if hit[i]), None)
    return 0.0 if first is None else 1.0 / (first + 1)


def fit(data: list[tuple[np.ndarray, np.ndarray, Any]], l2: float) -> np.ndarray:
    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = l2 * (w @ w), 2 * l2 * w
        for rows, gold, _ in data:
            s = rows @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            t = gold / gold.sum()
            total -= float(t @ np.log(p + 1e-12))
            grad -= rows.T @ (t - p)
        return total, grad

    return minimize(loss, np.zeros(len(FEATURES)), jac=True, method="L-BFGS-B").x


def cross_validated(data: list[tuple[np.ndarray, np.ndarray, Any]],
                    l2: float) -> tuple[float, float]:
    """Held-out best-sentence accuracy and mrr@10 (3 folds, 3 shuffles). The mrr is over the
    questions with a gold sentence in the pool, so it differs from score.py's."""
    shares, mrrs = [], []
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(data))
        hit, rr = np.zeros(len(data)), np.zeros(len(data))
        for fold in range(3):
            test = perm[fold::3]
            w = fit([data[i] for i in np.setdiff1d(perm, test)], l2)
            for i in test:
                rows, gold, (where, passage_hit) = data[i]
                hit[i] = gold[int(np.argmax(rows @ w))]
                rr[i] = reciprocal_rank(rows @ w, where, passage_hit, PROMOTE)
        shares.append(hit.mean())
        mrrs.append(rr.mean())
    return float(np.mean(shares)), float(np.mean(mrrs))


def held_out_answers(engine: Engine, path: str, ids: list[str],
                     data: list[tuple[np.ndarray, np.ndarray, Any]], l2: float) -> dict[str, float]:
    """score.py's metrics over all questions, each answered by ``Engine.ask`` with weights
    fitted without its third of the questions (3 folds; mean of 3 shuffles)."""
    from score import score  # ../shared/eval/score.py, put on the path by question_rows

    questions = load_questions(path)
    scorer, runs = engine.scorer(), []
    default = scorer.weights
    try:
        for seed in range(3):
            perm = np.random.default_rng(seed).permutation(len(questions))
            results = []
            for fold in range(3):
                held_out = [questions[i] for i in perm[fold::3]]
                out = {q["id"] for q in held_out}
                scorer.weights = fit([d for i, d in zip(ids, data, strict=True) if i not in out],
                                     l2)
                assert engine.answerer().scorer is scorer  # else the answers are in-sample
                results += [engine.ask(q["question"]).to_dict(q["id"]) for q in held_out]
            runs.append(score(questions, results))
    finally:
        scorer.weights = default
    keys = [k for k, v in runs[0].items() if isinstance(v, float)]
    return {k: round(float(np.mean([run[k] for run in runs])), 3) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions")
    parser.add_argument("--l2", type=float, default=0.1)
    parser.add_argument("--answers", action="store_true",
                        help="also print score.py's metrics for held-out answers")
    parser.add_argument("--write", action="store_true",
                        help="store the weights in retrieval/resources/sentence_scorer.json")
    args = parser.parse_args()
    engine = Engine()
    ids, data = question_rows(engine, args.questions)
    print(f"{len(data)} questions with a gold sentence in the pool")
    share, mrr = cross_validated(data, args.l2)
    print(f"3-fold cross-validated: best-sentence accuracy {share:.3f}, mrr@10 {mrr:.3f}")
    weights = fit(data, args.l2)
    in_sample = np.mean([reciprocal_rank(r @ weights, w, h, PROMOTE) for r, _, (w, h) in data])
    print(f"fitted on all: mrr@10 {in_sample:.3f} (same questions)")
    score = f"best-sentence accuracy {share:.3f} (3-fold cross-validated), mrr@10 {in_sample:.3f}"
    if args.answers:
        metrics = held_out_answers(engine, args.questions, ids, data, args.l2)
        shown = {k: v for k, v in metrics.items()
                 if k.startswith(("answer", "citation", "false", "unans"))}
        print("3-fold held-out answers:", json.dumps(shown))
        score += f"; held-out answers {json.dumps(shown)}"
    for name, w in zip(FEATURES, weights, strict=True):
        print(f"  {name:22s} {w:+.2f}")
    if args.write:
        write_weights(weights, args.questions, args.l2, score)


def write_weights(weights: np.ndarray, questions: str, l2: float, score: str) -> None:
    """Store the weights by feature name, with where they came from, keeping the file's other
    fitted values."""
    path = FOLDER / "sentence_scorer.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["weights"] = {name: round(float(w), 2) for name, w in zip(FEATURES, weights, strict=True)}
    data["weights_provenance"] = {
        **data.get("weights_provenance", {}),
        "fitted_on": f"{questions}, its answerable questions",
        "command": f"python scripts/fit_sentence_weights.py {questions} --l2 {l2} --write",
        "score": score}
    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode("utf-8"))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
