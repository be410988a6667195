"""The reader section of the bench: its parts on fakes, and the report it renders."""

from __future__ import annotations

import json

import numpy as np

from bench import reader as bench_reader
from bench.public import answer_rates
from bench.report import render
from retrieval.answer.reader import Blend
from retrieval.eval.benchmarks import Candidate, SelectionQuestion


class _CountingReader:
    """Scores a candidate by how many question words it shares (the real reader's API)."""

    blend = Blend(reader=1.0, similarity=0.5)

    def scores(self, pairs, batch_size: int = 32) -> np.ndarray:
        return np.array([len(set(p.question.lower().split()) & set(p.sentence.lower().split()))
                         for p in pairs], dtype=np.float32)


def test_selection_ranks_with_the_reader_and_cosine_over_filtered_questions(
        monkeypatch, fake_embedder):
    monkeypatch.setattr(bench_reader, "shared_reader", _CountingReader)
    questions = [
        SelectionQuestion("1", "who wrote hamlet", [
            Candidate("Denmark is cold", 0), Candidate("Shakespeare wrote hamlet", 1)]),
        SelectionQuestion("2", "no correct one", [Candidate("nothing here", 0)]),
    ]
    part = bench_reader.selection(questions, quick=False, embedder=fake_embedder)
    assert (part["questions"], part["candidates"], part["judged_both_ways"]) == (1, 2, 1)
    assert part["rows"]["reader"]["map"] == 1.0 and part["rows"]["reader"]["mrr"] == 1.0
    assert set(part["rows"]) == {"reader", "cosine", "reader+cosine"}
    assert part["rows"]["reader+cosine"]["map"] == 1.0
    assert not part["with_title_and_previous"]


def test_answer_rates_separate_answerable_and_unanswerable_questions(fake_engine, tmp_path):
    questions = [
        {"question": "When did China open its first high-speed railway?", "answers": ["2008"],
         "doc": "nowhere", "answerable": True},
        {"question": "Where do alpacas live?", "answers": ["Andes"], "doc": "x",
         "answerable": True},
        {"question": "What colour is the moon cheese?", "answers": [], "doc": "y",
         "answerable": False},
    ]
    rates = answer_rates(fake_engine, questions, tmp_path / "out" / "log.jsonl")
    assert (rates["answerable"], rates["unanswerable"]) == (2, 1)
    assert rates["gold_paragraph_in_top5"] == 0.0  # no passage has these made-up doc ids
    assert 0.0 <= rates["containment"] <= 1.0 and rates["abstain_rate"] in (0.0, 1.0)
    logged = [json.loads(line) for line in (tmp_path / "out" / "log.jsonl").read_text()
              .splitlines()]
    assert [row["answerable"] for row in logged] == [True, True, False]
    assert "contained" in logged[0] and "contained" not in logged[2]


def _answers(containment: float) -> dict:
    return {"answerable": 10, "containment": containment, "gold_paragraph_in_top5": 0.9,
            "false_abstain_rate": 0.1, "unanswerable": 8, "abstain_rate": 0.5,
            "ask_p50_ms": 12.0, "ask_p95_ms": 30.0}


def _dev(accuracy: float, p50: float) -> dict:
    return {"answer_accuracy": accuracy, "citation_precision": 0.8,
            "unanswerable_abstain_rate": 0.7, "false_abstain_rate": 0.04, "recall@5": 0.9,
            "mrr@10": 0.85, "answer_supported_by_citation": 0.8, "qa_score": 0.8,
            "median_answer_chars": 120,
            "answered_by_kind": {"fact": 0.95, "paraphrase": 0.6, "multi": 0.9},
            "ask_latency": {"n": 90, "p50_ms": p50, "p95_ms": p50 * 2, "mean_ms": p50}}


def _selection(reader_map: float) -> dict:
    return {"questions_in_file": 633, "with_correct": 243, "judged_both_ways": 237,
            "questions": 237, "candidates": 2341, "with_title_and_previous": True,
            "rows": {"reader": {"map": reader_map, "mrr": 0.8, "seconds": 20.0},
                     "cosine": {"map": 0.6, "mrr": 0.61, "seconds": 9.0}}}


def _results(quick: bool) -> dict:
    section = {"quick": quick, "seed": 13, "seconds": {"dev": 50.0},
               "dev": {"questions": 90, "kinds": {"fact": 20, "paraphrase": 25, "multi": 30,
                                                  "unanswerable": 15},
                       "rules": _dev(0.84, 11.0), "reader": _dev(0.88, 300.0)},
               "squad2": {"backend": "onnx", "articles": 17, "paragraphs": 568,
                          "questions": 1200, "of_questions": 5566, "seed": 13,
                          "answerable": 10, "index_s": 9.0,
                          "answers": {"rules": _answers(0.5), "reader": _answers(0.8)}},
               "wikiqa": _selection(0.77), "trecqa": {"error": "SourceError: no file"}}
    return {"started": "2026-12-06T05:00:00+00:00", "quick": quick, "total_seconds": 60.0,
            "machine": {"cpu": "test", "usable_cores": 2}, "sections": {"reader": section}}


def test_reader_report_puts_both_answerers_side_by_side_and_judges_the_targets():
    report = render(_results(quick=False))
    assert "| answer_accuracy | 0.84 | 0.88 |" in report
    assert "| paraphrase answered | 0.6 | 0.6 |" in report
    assert "| answer containment (answerable) | 0.5 | 0.8 |" in report
    assert "| abstain rate (unanswerable) | 0.5 | 0.5 |" in report
    assert "| reader (cross-encoder logit) | 0.77 | 0.8 | 20.0 |" in report
    assert "Failed: SourceError: no file" in report  # one broken part, the others still shown
    assert "| reader: dev answer_accuracy >= 0.85 | 0.88 | met |" in report
    assert "| reader: dev ask p50 <= 250 ms (seeds, warm) | 300.0 | NOT met |" in report
    assert "| reader: TrecQA TEST MAP (reader) >= 0.80 | not measured | n/a |" in report
    quick = render(_results(quick=True))
    assert "QUICK" in quick and "| reader: dev answer_accuracy >= 0.85 | 0.88 | n/a |" in quick


def test_dev_part_scores_both_answerers_with_the_shared_scorer(monkeypatch, fake_embedder,
                                                                tmp_path):
    from bench import common
    from retrieval.answer.reader import FakeReader

    monkeypatch.setattr(common, "shared_reader", FakeReader)
    part = bench_reader.dev(quick=True, embedder=fake_embedder, out=tmp_path)
    assert part["questions"] == bench_reader.QUICK_DEV
    for name in ("rules", "reader"):
        written = (tmp_path / f"reader-dev-{name}.jsonl").read_text().splitlines()
        assert len(written) == bench_reader.QUICK_DEV
        assert set(part[name]["answered_by_kind"]) == {"fact", "paraphrase", "multi"}
        assert part[name]["ask_latency"]["n"] == bench_reader.QUICK_DEV
        assert 0.0 <= part[name]["recall@5"] <= 1.0
