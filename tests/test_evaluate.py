"""retrieval.eval.metrics gives the figures of eval/score.py for the same output."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from retrieval.eval.metrics import hits, norm, score
from retrieval.ui.cli import app

SHARED = Path(__file__).resolve().parents[2] / "shared"  # ../shared beside the repo

QUESTIONS = [
    {"id": "a", "question": "How many?", "answers": ["27", "27 countries"], "kind": "fact",
     "evidence": "China provided materials to 27 countries in Latin America"},
    {"id": "b", "question": "Who?", "answers": ["Li Haidong"], "kind": "paraphrase",
     "evidence": "Li Haidong, a professor, told the Global Times"},
    {"id": "m", "question": "When?", "answers": ["October 2022"], "kind": "multi",
     "evidence": ["He visited in October 2022.", "The general secretary of the party"]},
    {"id": "u", "question": "Unknown?", "answers": [], "kind": "unanswerable",
     "evidence": None},
]


def _passage(text: str) -> dict:
    return {"text": text}


RESULTS = [
    {"id": "a", "answer": "China gave materials to 27 countries [1].", "abstained": False,
     "citations": [{"text": "China provided materials to 27 countries in Latin America."},
                   {"text": "unrelated text"}],
     "passages": [_passage("nothing"), _passage("China provided materials to 27 countries in "
                                                "Latin America, it said.")]},
    {"id": "b", "answer": "The articles don't say.", "abstained": True, "citations": [],
     "passages": [_passage("Li Haidong, a professor, told the “Global Times”")]},
    {"id": "m", "answer": "In October 2022 [1].", "abstained": False,
     "citations": [{"text": "He visited in October 2022."}],
     "passages": [_passage("He visited in October 2022.")]},
    {"id": "u", "answer": "Something", "abstained": False, "citations": [], "passages": []},
]


def test_norm_and_hits():
    assert norm("  It’s\u00a0A  “test” ") == "it's a \"test\""
    assert hits("xx China provided materials to 27 yy", "China provided materials to 27 countries")
    assert not hits("China", "China provided materials to 27 countries")
    assert not hits("anything", "")


def test_hand_worked_example():
    m = score(QUESTIONS, RESULTS)
    assert m["answerable"] == 3 and m["unanswerable"] == 1 and m["missing_results"] == 0
    assert m["recall@1"] == round((0 + 1 + 0.5) / 3, 4)
    assert m["recall@3"] == round((1 + 1 + 0.5) / 3, 4)
    assert m["mrr@10"] == round((0.5 + 1 + 1) / 3, 4)
    assert m["answer_accuracy"] == round(2 / 3, 4)
    assert m["answer_supported_by_citation"] == round(2 / 3, 4)
    assert m["citation_precision"] == round((0.5 + 1) / 2, 4)
    assert m["false_abstain_rate"] == round(1 / 3, 4)
    assert m["unanswerable_abstain_rate"] == 0.0
    assert m["qa_score"] == round(2 / 4, 4)


def _shared_scorer():
    from bench.common import SCORER, load_scorer

    if not SCORER.is_file():
        pytest.skip("../shared/eval/score.py is not here")
    return load_scorer()


def test_same_figures_as_the_shared_scorer_on_dev_questions():
    shared = _shared_scorer()
    questions = shared.load(SHARED / "eval" / "dev.jsonl")
    rng = random.Random(4)
    results = []
    for q in questions[::2]:  # every other question: the rest count as missing
        evidence = q["evidence"] if isinstance(q["evidence"], list) else [q["evidence"] or "x"]
        text = rng.choice([evidence[0], evidence[0][: len(evidence[0]) // 2], "unrelated"])
        answer = rng.choice([*q["answers"], "no idea"]) if q["answers"] else "no idea"
        results.append({"id": q["id"], "answer": f"{answer} [1]", "abstained": rng.random() < 0.3,
                        "citations": [{"text": text}],
                        "passages": [_passage("filler")] * rng.randint(0, 3) + [_passage(text)]})
    assert score(questions, results) == shared.score(questions, results)


def test_eval_command_scores_a_results_file(tmp_path):
    from typer.testing import CliRunner

    qfile, rfile = tmp_path / "q.jsonl", tmp_path / "r.jsonl"
    qfile.write_text("\n".join(json.dumps(q) for q in QUESTIONS), encoding="utf-8")
    rfile.write_text("\n".join(json.dumps(r) for r in RESULTS), encoding="utf-8")
    out = CliRunner().invoke(app, ["eval", str(qfile), "--results", str(rfile)])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == score(QUESTIONS, RESULTS)
