"""Public retrieval benchmarks: BEIR (e.g. SciFact) and SQuAD v1.1 as open retrieval.

Used by ``retrieval bench beir DIR`` / ``retrieval bench squad FILE`` and by ``make bench``.
Metrics follow the usual definitions: nDCG@k with trec_eval's graded gain (rel / log2(rank+1)),
recall@k as the share of a query's relevant documents found in the top k.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SourceError

Ranker = Callable[[str], list[str]]


# ------------------------------------------------------------------------ metrics
def ndcg_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    """Normalised discounted cumulative gain of ``ranked`` against graded ``relevant``."""
    if k < 1:
        raise ValueError(f"k must be greater than 0. Currently, k is {k}")
    gains = [g for g in relevant.values() if g > 0]
    if not gains:
        return 0.0
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 2)
              for rank, doc in enumerate(ranked[:k]) if relevant.get(doc, 0) > 0)
    ideal = sum(g / math.log2(rank + 2) for rank, g in enumerate(sorted(gains, reverse=True)[:k]))
    return dcg / ideal


def recall_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    """Share of the relevant documents (grade > 0) that appear in the first ``k``."""
    wanted = {doc for doc, grade in relevant.items() if grade > 0}
    if not wanted:
        return 0.0
    return len(wanted.intersection(ranked[:k])) / len(wanted)


def unique_docs(docs: Iterable[str]) -> list[str]:
    """Document ids in order of their best-ranked chunk (a document counts once)."""
    return list(dict.fromkeys(docs))


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


# --------------------------------------------------------------------------- BEIR
@dataclass
class BeirSplit:
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id  corpus-id  score`` TSV (header line optional) to {query: {doc: grade}}."""
    if not path.is_file():
        raise SourceError(f"qrels file {path} does not exist; pass a BEIR dataset folder")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row_no, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or (row_no == 1 and not row[-1].strip().lstrip("-").isdigit()):
                continue
            if len(row) < 3:
                raise SourceError(f"{path}: line {row_no} needs query-id, corpus-id and score; "
                                  "fix that line")
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def load_beir(folder: Path | str, split: str = "test") -> BeirSplit:
    """The corpus path, the queries of ``split`` that have qrels, and those qrels."""
    folder = Path(folder)
    corpus = folder / "corpus.jsonl"
    queries_path = folder / "queries.jsonl"
    for path in (corpus, queries_path):
        if not path.is_file():
            raise SourceError(f"{path} does not exist; pass a BEIR dataset folder with "
                              "corpus.jsonl, queries.jsonl and qrels/")
    qrels = read_qrels(folder / "qrels" / f"{split}.tsv")
    queries: dict[str, str] = {}
    with queries_path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                qid, text = str(record["_id"]), str(record["text"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise SourceError(f"{queries_path}: line {line_no} is not a JSON object with "
                                  "_id and text; fix that line") from None
            if qid in qrels:
                queries[qid] = text
    return BeirSplit(corpus, queries, {q: qrels[q] for q in queries})


def corpus_folder(corpus: Path, workdir: Path) -> Path:
    """A folder holding only ``corpus`` (a symlink): the index reads every file of a folder."""
    folder = workdir / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / corpus.name
    if not link.exists():
        os.symlink(corpus.resolve(), link)
    return folder


@dataclass
class RankingScores:
    ndcg10: float
    recall100: float
    recall: dict[int, float] = field(default_factory=dict)
    queries: int = 0

    def to_dict(self) -> dict:
        return {"ndcg@10": round(self.ndcg10, 4), "recall@100": round(self.recall100, 4),
                **{f"recall@{k}": round(v, 4) for k, v in self.recall.items()},
                "queries": self.queries}


def score_rankings(rankings: dict[str, list[str]], qrels: dict[str, dict[str, int]],
                   ks: Sequence[int] = ()) -> RankingScores:
    """Mean nDCG@10 and recall@100 (and recall@k for ``ks``) over the queries of ``qrels``."""
    ids = list(qrels)
    return RankingScores(
        ndcg10=mean([ndcg_at_k(rankings.get(q, []), qrels[q], 10) for q in ids]),
        recall100=mean([recall_at_k(rankings.get(q, []), qrels[q], 100) for q in ids]),
        recall={k: mean([recall_at_k(rankings.get(q, []), qrels[q], k) for q in ids])
                for k in ks},
        queries=len(ids),
    )


def engine_ranker(engine, depth: int = 200) -> Ranker:
    """Document ids for a query, best first, from ``engine.search`` (chunks merged per doc)."""
    def rank(query: str) -> list[str]:
        return unique_docs(p.doc for p in engine.search(query, depth))

    return rank


def run_rankings(ranker: Ranker, queries: dict[str, str]) -> tuple[dict[str, list[str]], float]:
    """Rankings for every query and the queries per second it took."""
    started = time.perf_counter()
    rankings = {qid: ranker(text) for qid, text in queries.items()}
    elapsed = time.perf_counter() - started
    return rankings, len(queries) / max(elapsed, 1e-9)


def index_corpus(engine) -> float:
    """Build the engine's index from scratch; seconds taken (model load excluded)."""
    engine.embedder  # noqa: B018 - load the model before the clock starts
    started = time.perf_counter()
    engine.update_index(rebuild=True)
    return time.perf_counter() - started


def bench_beir(engine, split: BeirSplit) -> dict:
    """Index the engine's source folder, run ``split``'s queries, score them."""
    index_seconds = index_corpus(engine)
    rankings, qps = run_rankings(engine_ranker(engine), split.queries)
    scores = score_rankings(rankings, split.qrels)
    return {**scores.to_dict(), "index_seconds": round(index_seconds, 2),
            "queries_per_second": round(qps, 2),
            "chunks": engine.store.load(engine.embedder).manifest.counts.get("chunks", 0)}


# -------------------------------------------------------------------------- SQuAD
@dataclass
class SquadSample:
    """SQuAD paragraphs written as a BEIR-style corpus, and a seeded sample of questions."""

    corpus: Path
    questions: list[dict]
    paragraphs: int
    total_questions: int
    seed: int


def load_squad(path: Path | str, workdir: Path, sample: int = 2000, seed: int = 13) -> SquadSample:
    """Write every paragraph of a SQuAD v1.1 file as one corpus record; sample questions.

    Paragraph ids are ``<article index>-<paragraph index>``; a question's gold document is
    the paragraph it was asked about.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"SQuAD file {path} does not exist; pass dev-v1.1.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (ValueError, KeyError, TypeError):
        raise SourceError(f"{path} is not a SQuAD v1.1 JSON file (no data list); pass "
                          "dev-v1.1.json") from None
    folder = workdir / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / "squad-paragraphs.jsonl"
    questions: list[dict] = []
    count = 0
    with corpus.open("w", encoding="utf-8") as out:
        for a, article in enumerate(data):
            title = str(article.get("title", "")).replace("_", " ")
            for p, para in enumerate(article["paragraphs"]):
                doc_id = f"{a}-{p}"
                out.write(json.dumps({"_id": doc_id, "title": title, "text": para["context"]},
                                     ensure_ascii=False) + "\n")
                count += 1
                for qa in para["qas"]:
                    questions.append({"id": qa["id"], "question": qa["question"], "doc": doc_id,
                                      "answers": [ans["text"] for ans in qa["answers"]]})
    chosen = random.Random(seed).sample(questions, min(sample, len(questions)))
    return SquadSample(corpus, chosen, count, len(questions), seed)


def squad_recall(rankings: dict[str, list[str]], questions: Sequence[dict]) -> dict[str, float]:
    """Paragraph recall@1 and @5: the gold paragraph among the first k documents."""
    return {f"recall@{k}": round(mean([float(q["doc"] in rankings.get(q["id"], [])[:k])
                                       for q in questions]), 4) for k in (1, 5)}


def normalise_answer(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, articles or extra spaces."""
    import re
    import string

    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def answer_contains(answer: str, gold: Sequence[str]) -> bool:
    """True when one of the gold answers, normalised, is inside the normalised answer."""
    import re

    got = normalise_answer(re.sub(r"\[\d+\]", " ", answer))  # drop [n] citation markers
    return bool(got) and any(normalise_answer(g) and normalise_answer(g) in got for g in gold)
