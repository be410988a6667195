"""Section ``reader``: the rules answerer and the learned reader side by side.

- dev.jsonl through ``Engine.ask`` over the seeds, scored by ``eval/score.py`` itself (nothing
  is fitted to dev here), with each answerer's warm ``ask`` latency (``ask_latency``);
- SQuAD 2.0 dev, ``evaluate`` articles only, through the whole ``ask`` pipeline
  (``public.squad2``);
- WikiQA test and TrecQA TEST answer-sentence selection: MAP and MRR over each question's
  candidates (questions with a correct and an incorrect one), the reader against plain cosine
  similarity of the bundled embedder. Evaluation only: nothing is trained on them.

``--quick`` draws small seeded samples of each for development; its figures are not comparable.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench import ask_latency, public
from bench.common import (
    ANSWERERS,
    SEEDS,
    TRECQA_TEST,
    WIKIQA_TEST,
    answerer_engines,
    dev_questions,
    load_scorer,
    shared_reader,
)
from retrieval import Settings
from retrieval.eval import benchmarks

SEED = 13
QUICK_DEV = 15        # dev questions in --quick (seeded sample, all kinds likely)
QUICK_SELECTION = 15  # WikiQA / TrecQA questions in --quick
KINDS = ("fact", "paraphrase", "multi")
DEV_METRICS = ("answer_accuracy", "citation_precision", "unanswerable_abstain_rate",
               "false_abstain_rate", "recall@5", "mrr@10", "answer_supported_by_citation",
               "qa_score", "median_answer_chars")


def run(quick: bool = False, embedder=None, out: Path | None = None) -> dict:
    """Every part, each timed; a part that fails records its error and the others still run.
    ``out``: a folder for per-question files (``reader-dev-<answerer>.jsonl`` in the results
    format that ``score.py`` reads, ``squad2-<answerer>.jsonl``)."""
    if embedder is None:
        from retrieval import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder()
    parts: dict[str, Callable[[], dict]] = {
        "dev": lambda: dev(quick, embedder, out),
        "squad2": lambda: public.squad2(quick, seed=SEED, embedder=embedder, out=out),
        "wikiqa": lambda: selection(benchmarks.load_wikiqa(WIKIQA_TEST), quick, embedder),
        "trecqa": lambda: selection(benchmarks.load_trecqa(TRECQA_TEST), quick, embedder),
    }
    result: dict = {"quick": quick, "seed": SEED, "seconds": {}}
    for name, part in parts.items():
        print(f"   reader: {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            result[name] = part()
        except Exception as err:  # one broken part must not lose the others' figures
            result[name] = {"error": f"{type(err).__name__}: {err}"}
            traceback.print_exc()
        result["seconds"][name] = round(time.perf_counter() - started, 1)
    return result


def dev(quick: bool, embedder, out: Path | None = None) -> dict:
    """dev.jsonl asked of each answerer over the seeds (one temporary index), scored by the
    shared scorer; the timed pass is ``ask_latency``'s first pass (after its warm-up)."""
    questions = dev_questions()
    if quick:
        questions = random.Random(SEED).sample(questions, QUICK_DEV)
    scorer = load_scorer()
    result: dict = {"questions": len(questions),
                    "kinds": {k: sum(q["kind"] == k for q in questions)
                              for k in (*KINDS, "unanswerable")}}
    with tempfile.TemporaryDirectory(prefix="bench-reader-dev-") as tmp:
        engines = answerer_engines(Settings(source_dir=SEEDS, index_dir=Path(tmp) / "index"),
                                   embedder)
        engines[ANSWERERS[0]].update_index()
        for name, engine in engines.items():
            answers, times = _timed_answers(engine, [q["question"] for q in questions])
            results = [a.to_dict(q["id"]) for a, q in zip(answers, questions)]
            if out:
                public.write_jsonl(out / f"reader-dev-{name}.jsonl", results)
            metrics = scorer.score(questions, results)
            result[name] = {**{k: metrics.get(k) for k in DEV_METRICS},
                            "answered_by_kind": {k: _kind_accuracy(scorer, questions, results,
                                                                   k) for k in KINDS},
                            "ask_latency": ask_latency.summary(times)}
    return result


def _timed_answers(engine, questions: list[str]) -> tuple[list, list[float]]:
    """Each question asked once after ``ask_latency``'s warm-up: the answers and the ms."""
    ask_latency.warm(engine)
    answers: list = []
    times = ask_latency.time_pass(lambda q: answers.append(engine.ask(q)), questions)
    return answers, times


def _kind_accuracy(scorer, questions: list[dict], results: list[dict],
                   kind: str) -> float | None:
    subset = [q for q in questions if q["kind"] == kind]
    return scorer.score(subset, results)["answer_accuracy"] if subset else None


def selection(questions: list[benchmarks.SelectionQuestion], quick: bool, embedder) -> dict:
    """MAP / MRR of the reader, of plain cosine and of the two blended as ``ask`` blends them,
    over the filtered questions."""
    kept = benchmarks.judged_both_ways(questions)
    if quick:
        kept = random.Random(SEED).sample(kept, min(QUICK_SELECTION, len(kept)))
    reader = shared_reader()
    rankers = {"reader": lambda q: reader.scores([_pair(q.question, c)
                                                  for c in q.candidates]),
               "cosine": lambda q: _cosine(embedder, q),
               "reader+cosine": lambda q: _blended(reader, embedder, q)}
    rows = {}
    for name, ranker in rankers.items():
        started = time.perf_counter()
        rows[name] = benchmarks.selection_metrics(kept, ranker)
        rows[name]["seconds"] = round(time.perf_counter() - started, 1)
    return {"questions_in_file": len(questions),
            "with_correct": sum(any(c.label for c in q.candidates) for q in questions),
            "judged_both_ways": len(benchmarks.judged_both_ways(questions)),
            "questions": len(kept), "candidates": sum(len(q.candidates) for q in kept),
            "with_title_and_previous": any(c.title or c.previous
                                           for q in kept for c in q.candidates),
            "rows": rows}


def _pair(question: str, cand: benchmarks.Candidate):
    from retrieval.answer.reader import Pair

    return Pair(question, cand.sentence, cand.title, cand.previous)


def _blended(reader, embedder, q: benchmarks.SelectionQuestion) -> np.ndarray:
    """The answer score ``ask`` uses (``reader.Blend``), every candidate at passage rank 0."""
    logits = reader.scores([_pair(q.question, c) for c in q.candidates])
    near = _cosine(embedder, q)
    return np.array([reader.blend.score(float(a), float(b), 0) for a, b in zip(logits, near)])


def _cosine(embedder, q: benchmarks.SelectionQuestion) -> np.ndarray:
    sentences = embedder.embed([c.sentence for c in q.candidates])
    return sentences @ embedder.embed_query(q.question)
