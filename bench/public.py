"""Sections 4 and 5: BEIR SciFact and SQuAD v1.1 dev as open retrieval; SQuAD 2.0 dev for the
``reader`` section.

Fusion parameters for SciFact are chosen on ``qrels/train.tsv`` only; the test qrels are
scored once per configuration and never used to choose anything.
"""

from __future__ import annotations

import itertools
import json
import tempfile
import time
from collections.abc import Collection
from pathlib import Path

import numpy as np

from bench.common import SCIFACT, SQUAD, SQUAD2_DEV, SQUAD_SPLIT, answerer_engines, percentile
from retrieval import Engine, Settings
from retrieval.eval import benchmarks
from retrieval.search.hybrid import HybridRetriever, RankWeights

DEPTH = 200  # chunks fetched per query, so that recall@100 is over documents


def _single_rankings(engine: Engine, queries: dict[str, str], pool: int = DEPTH) -> dict:
    """Per query: dense and BM25 chunk rankings (rows, scores) from the loaded snapshot."""
    snap = engine.store.load(engine.embedder)
    out = {}
    for qid, text in queries.items():
        dense = snap.dense_search(engine.embedder.embed_query(text), pool)
        keyword = snap.keyword_search(text, pool)
        out[qid] = (dense, keyword)
    return out


def _docs(engine: Engine, rows) -> list[str]:
    chunks = engine.store.load(engine.embedder).chunks
    return benchmarks.unique_docs(chunks[r].doc for r in rows)


def _signals(engine: Engine, queries: dict[str, str]) -> dict:
    """Per query: the retriever's four signals over its candidate rows (computed once)."""
    retriever = engine.retriever
    snap = engine.store.load(engine.embedder)
    return {qid: retriever.signals(text, snap, None, DEPTH) for qid, text in queries.items()}


def _ranked_docs(engine: Engine, retriever: HybridRetriever, signals: dict, rows,
                 depth: int = DEPTH) -> list[str]:
    scores = retriever._fuse(signals)
    want = min(len(scores), depth * 4)  # chunks of one document may fill several places
    top = np.argpartition(-scores, want - 1)[:want] if want < len(scores) else np.arange(want)
    top = top[np.argsort(-scores[top], kind="stable")]
    return _docs(engine, rows[top])[:depth]


def _grid(engine: Engine) -> list[tuple[str, HybridRetriever]]:
    """Weighted fusion over a 1/8 grid of the four weights (summing to 1), and RRF."""
    out = []
    steps = range(9)
    for d, s, k in itertools.product(steps, steps, steps):
        a = 8 - d - s - k
        if a < 0:
            continue
        w = RankWeights(dense=d / 8, sentence=s / 8, keyword=k / 8, article=a / 8)
        out.append((f"weighted dense={w.dense} sentence={w.sentence} keyword={w.keyword} "
                    f"article={w.article}", HybridRetriever(engine.store, engine.embedder,
                                                            "weighted", weights=w)))
    for rrf_k in (10, 30, 60, 100):
        out.append((f"rrf k={rrf_k}", HybridRetriever(engine.store, engine.embedder, "rrf",
                                                      rrf_k=rrf_k)))
    return out


def tune_fusion(engine: Engine, train: benchmarks.BeirSplit) -> dict:
    """The fusion setting with the best train nDCG@10 (test qrels never seen here)."""
    signals = _signals(engine, train.queries)
    trials = []
    for label, retriever in _grid(engine):
        rankings = {q: _ranked_docs(engine, retriever, sig, rows, 10)
                    for q, (sig, rows) in signals.items()}
        ndcg = benchmarks.score_rankings(rankings, train.qrels).ndcg10
        trials.append((round(ndcg, 4), label, retriever))
    default = HybridRetriever(engine.store, engine.embedder)
    default_ndcg = benchmarks.score_rankings(
        {q: _ranked_docs(engine, default, sig, rows, 10) for q, (sig, rows) in signals.items()},
        train.qrels).ndcg10
    best = max(trials, key=lambda t: t[0])
    return {"best": {"setting": best[1], "train_ndcg@10": best[0]}, "retriever": best[2],
            "library_default_train_ndcg@10": round(default_ndcg, 4),
            "train_queries": len(train.queries), "settings_tried": len(trials)}


def scifact(quick: bool = False, folder: Path = SCIFACT, embedder=None) -> dict:
    test = benchmarks.load_beir(folder, "test")
    train = benchmarks.load_beir(folder, "train")
    if quick:
        test.queries = dict(list(test.queries.items())[:60])
        test.qrels = {q: test.qrels[q] for q in test.queries}
        train.queries = dict(list(train.queries.items())[:100])
        train.qrels = {q: train.qrels[q] for q in train.queries}
    with tempfile.TemporaryDirectory(prefix="bench-beir-") as tmp:
        source = benchmarks.corpus_folder(test.corpus, Path(tmp))
        engine = Engine(Settings(source_dir=source, index_dir=Path(tmp) / "index",
                                 max_file_mb=50), embedder=embedder)
        if quick:  # a fifth of the corpus, keeping every judged document
            source = _quick_corpus(test, train, Path(tmp))
            engine = Engine(Settings(source_dir=source, index_dir=Path(tmp) / "index"),
                            embedder=embedder)
        index_s = benchmarks.index_corpus(engine)
        chunks = engine.store.load(engine.embedder).manifest.counts["chunks"]
        rankings, qps = benchmarks.run_rankings(benchmarks.engine_ranker(engine, DEPTH),
                                                test.queries)
        rows = {"ours: hybrid (library defaults)": benchmarks.score_rankings(rankings,
                                                                             test.qrels)}
        singles = _single_rankings(engine, test.queries)
        rows["ours: BM25 only"] = benchmarks.score_rankings(
            {q: _docs(engine, k[0]) for q, (_, k) in singles.items()}, test.qrels)
        rows["ours: dense only"] = benchmarks.score_rankings(
            {q: _docs(engine, d[0]) for q, (d, _) in singles.items()}, test.qrels)
        tuned = tune_fusion(engine, train)
        retriever = tuned.pop("retriever")
        tuned_rankings = {q: benchmarks.unique_docs(p.doc for p in retriever.search(t, DEPTH))
                          for q, t in test.queries.items()}
        label = f"ours: hybrid, fusion chosen on train ({tuned['best']['setting']})"
        rows[label] = benchmarks.score_rankings(tuned_rankings, test.qrels)
    return {"backend": _backend(engine), "quick": quick,
            "corpus_docs": _count_lines(test.corpus) if not quick else None,
            "chunks": chunks, "test_queries": len(test.queries), "index_s": round(index_s, 1),
            "queries_per_second": round(qps, 1),
            "rows": {name: s.to_dict() for name, s in rows.items()},
            "fusion_tuning": tuned,
            "published": {"BM25 (BEIR paper)": 0.665, "BM25 + cross-encoder rerank": 0.688,
                          "all-MiniLM-L6-v2 dense (issue 7)": 0.645,
                          "plain RRF of bm25s + MiniLM (issue 7)": 0.690}}


def _backend(engine: Engine) -> str:
    """The backend that embedded the index (an embedder passed in overrides the settings)."""
    return getattr(engine.embedder, "backend", engine.settings.backend)


def _count_lines(path: Path) -> int:
    with path.open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def _quick_corpus(test, train, tmp: Path) -> Path:
    import json

    judged = {d for qr in (test.qrels, train.qrels) for rel in qr.values() for d in rel}
    folder = tmp / "quick-corpus"
    folder.mkdir()
    with test.corpus.open(encoding="utf-8") as src, \
            (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for i, line in enumerate(src):
            if line.strip() and (i % 5 == 0 or json.loads(line)["_id"] in judged):
                out.write(line)
    return folder


# Questions whose answers are read by both answerers (the retrieval rows use the whole sample):
# the reader reads up to 80 sentences a question, which bounds how many fit in make bench.
SQUAD_ANSWERED = 600
SQUAD_ANSWERED_QUICK = 30
SQUAD2_QUESTIONS = 1200
SQUAD2_QUICK = 40


def squad_engines(path: Path, tmp: Path, sample: int, seed: int, embedder=None,
                  ask_from: Collection[str] | None = None,
                  index_from: Collection[str] | None = None,
                  ) -> tuple[benchmarks.SquadSample, dict[str, Engine], float]:
    """The paragraphs of ``index_from`` articles indexed (one corpus record each), a seeded
    sample of the questions of ``ask_from`` articles, one Engine per answerer over that
    index, and the seconds indexing took."""
    data = benchmarks.load_squad(path, tmp, sample, seed, ask_from=ask_from,
                                 index_from=index_from)
    engines = answerer_engines(Settings(source_dir=data.corpus.parent, index_dir=tmp / "index"),
                               embedder)
    index_s = benchmarks.index_corpus(next(iter(engines.values())))
    return data, engines, index_s


def squad(quick: bool = False, path: Path = SQUAD, sample: int = 2000, seed: int = 13,
          answered: int | None = None, embedder=None, split: Path = SQUAD_SPLIT,
          out: Path | None = None) -> dict:
    """SQuAD v1.1 dev as open retrieval over all its paragraphs; questions sampled only from
    the articles outside ``fit`` of the dev split (those may have been calibrated on).
    ``out``: a folder for each answerer's per-question outcomes (``squad-<answerer>.jsonl``)."""
    fit = set(benchmarks.squad_dev_split(split)["fit"])
    titles = [a["title"] for a in benchmarks.read_squad(path)]
    asked = [t for t in titles if t not in fit]
    if answered is None:
        answered = SQUAD_ANSWERED_QUICK if quick else SQUAD_ANSWERED
    with tempfile.TemporaryDirectory(prefix="bench-squad-") as tmp:
        data, engines, index_s = squad_engines(path, Path(tmp), 300 if quick else sample, seed,
                                               embedder, ask_from=asked)
        engine = engines["rules"]
        queries = {q["id"]: q["question"] for q in data.questions}
        rankings, qps = benchmarks.run_rankings(benchmarks.engine_ranker(engine, 20), queries)
        singles = _single_rankings(engine, queries, pool=20)
        rows = {
            "ours: hybrid": benchmarks.squad_recall(rankings, data.questions),
            "ours: BM25 only": benchmarks.squad_recall(
                {q: _docs(engine, k[0]) for q, (_, k) in singles.items()}, data.questions),
            "ours: dense only": benchmarks.squad_recall(
                {q: _docs(engine, d[0]) for q, (d, _) in singles.items()}, data.questions),
        }
        picked = data.questions[:answered]  # the sample is already in seeded random order
        answers = {name: answer_rates(e, picked, out / f"squad-{name}.jsonl" if out else None)
                   for name, e in engines.items()}
        return {"backend": _backend(engine), "quick": quick,
                "paragraphs": data.paragraphs, "questions": len(data.questions),
                "of_questions": data.total_questions, "seed": seed,
                "asked_articles": len(asked), "fit_articles_skipped": len(titles) - len(asked),
                "index_s": round(index_s, 1), "queries_per_second": round(qps, 1),
                "rows": rows, "answers": answers}


def squad2(quick: bool = False, path: Path = SQUAD2_DEV, sample: int | None = None,
           seed: int = 13, embedder=None, split: Path = SQUAD_SPLIT,
           out: Path | None = None) -> dict:
    """SQuAD 2.0 dev, ``evaluate`` articles only: their paragraphs indexed, a seeded sample of
    their questions asked through ``Engine.ask``. Answerable: containment; unanswerable:
    abstain rate. Quick: the first two ``evaluate`` articles. ``out``: a folder for one JSONL
    of per-question outcomes per answerer (``squad2-<answerer>.jsonl``)."""
    evaluate = benchmarks.squad_dev_split(split)["evaluate"]
    if quick:
        evaluate = evaluate[:2]
    if sample is None:
        sample = SQUAD2_QUICK if quick else SQUAD2_QUESTIONS
    with tempfile.TemporaryDirectory(prefix="bench-squad2-") as tmp:
        data, engines, index_s = squad_engines(path, Path(tmp), sample, seed, embedder,
                                               ask_from=evaluate, index_from=evaluate)
        answers = {name: answer_rates(e, data.questions,
                                      out / f"squad2-{name}.jsonl" if out else None)
                   for name, e in engines.items()}
    return {"backend": _backend(engines["rules"]), "articles": len(evaluate),
            "paragraphs": data.paragraphs, "questions": len(data.questions),
            "of_questions": data.total_questions, "seed": seed,
            "answerable": sum(q["answerable"] for q in data.questions),
            "index_s": round(index_s, 1), "answers": answers}


def answer_rates(engine: Engine, questions: list[dict], log: Path | None = None) -> dict:
    """Every question through ``engine.ask``. Answerable ones: the gold answer inside the
    short answer (abstaining is a miss), the gold paragraph among the first 5 passages, and
    the false-abstain rate; unanswerable ones (SQuAD 2.0): the abstain rate. ``log``: a JSONL
    file for each question's answer and outcome."""
    contained, recall5, false_abstain, abstained, times = [], [], [], [], []
    rows = []
    engine.ask("warm-up: who founded the university?")  # index, model and reader loaded
    for q in questions:
        started = time.perf_counter()
        answer = engine.ask(q["question"])
        times.append((time.perf_counter() - started) * 1000)
        row = {k: q.get(k) for k in ("id", "question", "answerable", "answers", "doc")}
        row.update(answer=answer.text, abstained=answer.abstained, support=answer.support)
        rows.append(row)
        if not q.get("answerable", True):
            abstained.append(answer.abstained)
            continue
        false_abstain.append(answer.abstained)
        row["contained"] = (not answer.abstained
                            and benchmarks.answer_contains(answer.text, q["answers"]))
        contained.append(row["contained"])
        recall5.append(q["doc"] in {p.doc for p in answer.passages[:5]})
    if log:
        write_jsonl(log, rows)
    return {"answerable": len(contained), "containment": _rate(contained),
            "gold_paragraph_in_top5": _rate(recall5), "false_abstain_rate": _rate(false_abstain),
            "unanswerable": len(abstained), "abstain_rate": _rate(abstained),
            "ask_p50_ms": round(percentile(times, 50), 1),
            "ask_p95_ms": round(percentile(times, 95), 1)}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _rate(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None
