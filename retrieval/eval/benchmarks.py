"""Public benchmarks: BEIR (e.g. SciFact) and SQuAD (v1.1 and 2.0) as open retrieval, and
answer-sentence selection (WikiQA, TrecQA).

Used by ``retrieval bench beir DIR`` / ``retrieval bench squad FILE`` and by ``make bench``.
Metrics follow the usual definitions: nDCG@k with trec_eval's graded gain (rel / log2(rank+1)),
recall@k as the share of a query's relevant documents found in the top k; MAP and MRR over a
question's candidate sentences as in the answer-selection literature.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import re
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SourceError, check_k

Ranker = Callable[[str], list[str]]


# ------------------------------------------------------------------------ metrics
def ndcg_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    """Normalised discounted cumulative gain of ``ranked`` against graded ``relevant``."""
    check_k(k, ValueError)
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
    total_questions: int  # the questions the sample was drawn from
    seed: int


def load_squad(path: Path | str, workdir: Path, sample: int = 2000, seed: int = 13,
               ask_from: Collection[str] | None = None,
               index_from: Collection[str] | None = None) -> SquadSample:
    """Write the paragraphs of a SQuAD v1.1 or 2.0 file as corpus records; sample questions.

    ``index_from`` / ``ask_from``: the article titles (as in the file, ``Super_Bowl_50``) whose
    paragraphs are indexed / whose questions are sampled; None means every article. Paragraph
    ids are ``<article index>-<paragraph index>``; a question's gold document is the paragraph
    it was asked about. A SQuAD 2.0 question with ``is_impossible`` (or no answers) has
    ``answerable`` False and an empty ``answers`` list.
    """
    data = read_squad(Path(path))
    folder = workdir / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / "squad-paragraphs.jsonl"
    questions: list[dict] = []
    count = 0
    with corpus.open("w", encoding="utf-8") as out:
        for a, article in enumerate(data):
            name = str(article.get("title", ""))
            indexed = index_from is None or name in index_from
            asked = ask_from is None or name in ask_from
            for p, para in enumerate(article["paragraphs"]):
                doc_id = f"{a}-{p}"
                if indexed:
                    out.write(json.dumps({"_id": doc_id, "title": name.replace("_", " "),
                                          "text": para["context"]}, ensure_ascii=False) + "\n")
                    count += 1
                if asked:
                    questions.extend(_squad_question(qa, doc_id, name) for qa in para["qas"])
    chosen = random.Random(seed).sample(questions, min(sample, len(questions)))
    return SquadSample(corpus, chosen, count, len(questions), seed)


def read_squad(path: Path | str) -> list[dict]:
    """The articles (``data``) of a SQuAD JSON file."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"SQuAD file {path} does not exist; pass dev-v1.1.json")
    try:
        return list(json.loads(path.read_text(encoding="utf-8"))["data"])
    except (ValueError, KeyError, TypeError):
        raise SourceError(f"{path} is not a SQuAD JSON file (no data list); pass "
                          "dev-v1.1.json") from None


def _squad_question(qa: dict, doc_id: str, article: str) -> dict:
    answers = [ans["text"] for ans in qa.get("answers", [])]
    answerable = bool(answers) and not qa.get("is_impossible", False)
    return {"id": qa["id"], "question": qa["question"], "doc": doc_id, "article": article,
            "answers": answers if answerable else [], "answerable": answerable}


def squad_dev_split(path: Path | str) -> dict[str, list[str]]:
    """The article split of ``squad-dev-split.json``: ``fit``, ``evaluate``, ``v1.1_dev_only``
    (article titles as in the SQuAD files)."""
    path = Path(path)
    try:
        split = json.loads(path.read_text(encoding="utf-8"))
        out = {name: [str(t) for t in split[name]] for name in ("fit", "evaluate")}
    except FileNotFoundError:
        raise SourceError(f"the SQuAD dev split {path} does not exist; pass "
                          "squad-dev-split.json") from None
    except (ValueError, KeyError, TypeError):
        raise SourceError(f"{path} is not a SQuAD dev split (a JSON object with fit and "
                          "evaluate title lists); pass squad-dev-split.json") from None
    out["v1.1_dev_only"] = [str(t) for t in split.get("v1.1_dev_only", [])]
    return out


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


# ------------------------------------------------------------- answer-sentence selection
@dataclass(frozen=True)
class Candidate:
    """A candidate answer sentence, its label (1: answers the question) and its context."""

    sentence: str
    label: int
    title: str = ""
    previous: str = ""  # the sentence before it in its document, where the data give it


@dataclass
class SelectionQuestion:
    """A question of an answer-selection set with its candidate sentences, in file order."""

    qid: str
    question: str
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def judged_both_ways(self) -> bool:
        """At least one correct and one incorrect candidate (the usual filtered setting)."""
        return {c.label > 0 for c in self.candidates} == {True, False}


SentenceScorer = Callable[[SelectionQuestion], Sequence[float]]


def average_precision(labels: Sequence[int]) -> float:
    """AP of labels in ranked order (best first): mean precision at each correct one."""
    found, total = 0, 0.0
    for rank, label in enumerate(labels, start=1):
        if label > 0:
            found += 1
            total += found / rank
    return total / found if found else 0.0


def reciprocal_rank(labels: Sequence[int]) -> float:
    """1 / rank of the first correct label (best first), 0 when none is correct."""
    return next((1.0 / rank for rank, label in enumerate(labels, start=1) if label > 0), 0.0)


def ranked_labels(scores: Sequence[float], labels: Sequence[int]) -> list[int]:
    """Labels sorted by score, best first. Equal scores put incorrect candidates first, so
    a tie (say, a constant scorer) never gains from the order of the file."""
    if len(scores) != len(labels):
        raise ValueError(f"got {len(scores)} scores for {len(labels)} candidates; the scorer "
                         "must return one score per candidate")
    order = sorted(range(len(labels)), key=lambda i: (-float(scores[i]), labels[i] > 0))
    return [labels[i] for i in order]


def selection_metrics(questions: Sequence[SelectionQuestion],
                      scorer: SentenceScorer) -> dict[str, float | int]:
    """MAP and MRR of ``scorer`` over ``questions`` (each ranks its own candidates)."""
    aps, rrs = [], []
    for q in questions:
        labels = ranked_labels(scorer(q), [c.label for c in q.candidates])
        aps.append(average_precision(labels))
        rrs.append(reciprocal_rank(labels))
    return {"map": round(mean(aps), 4), "mrr": round(mean(rrs), 4),
            "questions": len(questions), "candidates": sum(len(q.candidates) for q in questions)}


def judged_both_ways(questions: Iterable[SelectionQuestion]) -> list[SelectionQuestion]:
    return [q for q in questions if q.judged_both_ways]


WIKIQA_COLUMNS = ("QuestionID", "Question", "DocumentID", "DocumentTitle", "SentenceID",
                  "Sentence", "Label")


def load_wikiqa(path: Path | str) -> list[SelectionQuestion]:
    """WikiQA's TSV (header row, seven tab-separated columns). A candidate's title is its
    DocumentTitle, its previous sentence the candidate before it from the same document."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"WikiQA file {path} does not exist; pass WikiQA-test.tsv")
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or tuple(lines[0].split("\t")) != WIKIQA_COLUMNS:
        raise SourceError(f"{path} does not start with WikiQA's header "
                          f"({' '.join(WIKIQA_COLUMNS)}); pass WikiQA-test.tsv")
    questions: dict[str, SelectionQuestion] = {}
    last: dict[tuple[str, str], str] = {}  # (question, document) -> its previous sentence
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        row = line.split("\t")
        if len(row) != len(WIKIQA_COLUMNS) or row[6].strip() not in ("0", "1"):
            raise SourceError(f"{path}: line {line_no} needs {len(WIKIQA_COLUMNS)} "
                              "tab-separated columns ending in a 0/1 label; fix that line")
        qid, question, doc, title, _, sentence, label = row
        entry = questions.setdefault(qid, SelectionQuestion(qid, question))
        previous = last.get((qid, doc), "")
        entry.candidates.append(Candidate(sentence, int(label), title, previous))
        last[(qid, doc)] = sentence
    return list(questions.values())


_TREC_BLOCK = re.compile(r"<QApairs id='([^']*)'>(.*?)</QApairs>", re.S)
_TREC_PART = re.compile(r"<(question|positive|negative)>\s*\n(.*?)\n", re.S)


def load_trecqa(path: Path | str) -> list[SelectionQuestion]:
    """TrecQA's pseudo-XML (Yao et al. 2013: TRAIN/DEV/TEST.xml). Each ``<question>``,
    ``<positive>`` and ``<negative>`` block starts with its tokens, tab-separated (the lines
    after them are tags and parses); tokens are joined back into text. The data give no
    title or previous sentence."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"TrecQA file {path} does not exist; pass TEST.xml")
    questions = []
    for qid, body in _TREC_BLOCK.findall(path.read_text(encoding="utf-8")):
        parts = _TREC_PART.findall(body)
        if not parts or parts[0][0] != "question":
            raise SourceError(f"{path}: QApairs {qid} does not start with a <question> block; "
                              "pass TrecQA's TRAIN/DEV/TEST.xml")
        cands = [Candidate(detokenize(text), int(kind == "positive"))
                 for kind, text in parts[1:]]
        questions.append(SelectionQuestion(qid, detokenize(parts[0][1]), cands))
    if not questions:
        raise SourceError(f"{path} holds no <QApairs id='…'> blocks; pass TrecQA's TEST.xml")
    return questions


_DETOKENIZE = [
    (re.compile(r"-LRB-|-LCB-"), "("), (re.compile(r"-RRB-|-RCB-"), ")"),
    (re.compile(r"`` ?"), '"'), (re.compile(r" ?''"), '"'),
    (re.compile(r" ([,.;:?!%)\]}])"), r"\1"), (re.compile(r"([(\[{$]) "), r"\1"),
    (re.compile(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", re.I), r"\1"),
]


def detokenize(tokens: str) -> str:
    """Penn-style tokens (separated by tabs or spaces) back into plain text, approximately:
    "It 's 50 % ." -> "It's 50%."."""
    text = " ".join(tokens.split())
    for pattern, repl in _DETOKENIZE:
        text = pattern.sub(repl, text)
    return text
