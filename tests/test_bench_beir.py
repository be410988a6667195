"""BEIR / SQuAD benchmark code: metrics, file readers, and a run over a tiny BEIR folder."""

from __future__ import annotations

import json
import math

import pytest

from retrieval import Engine, Settings
from retrieval.errors import SourceError
from retrieval.eval import benchmarks


def test_ndcg_perfect_and_reversed_rankings():
    rel = {"a": 2, "b": 1}
    assert benchmarks.ndcg_at_k(["a", "b", "x"], rel) == pytest.approx(1.0)
    worse = benchmarks.ndcg_at_k(["b", "a"], rel)
    expected = (1 / math.log2(2) + 2 / math.log2(3)) / (2 / math.log2(2) + 1 / math.log2(3))
    assert worse == pytest.approx(expected)
    assert worse < 1.0


def test_ndcg_counts_only_the_first_k_and_ignores_zero_grades():
    rel = {"a": 1, "z": 0}
    assert benchmarks.ndcg_at_k(["x"] * 10 + ["a"], rel, k=10) == 0.0
    assert benchmarks.ndcg_at_k(["z", "a"], rel, k=10) == pytest.approx(1 / math.log2(3))
    assert benchmarks.ndcg_at_k(["a"], {"z": 0}) == 0.0
    with pytest.raises(ValueError, match="k must be greater than 0"):
        benchmarks.ndcg_at_k(["a"], rel, k=0)


def test_recall_at_k_is_the_share_of_relevant_documents_found():
    rel = {"a": 1, "b": 1, "c": 0}
    assert benchmarks.recall_at_k(["a", "x", "b"], rel, 2) == 0.5
    assert benchmarks.recall_at_k(["a", "x", "b"], rel, 3) == 1.0
    assert benchmarks.unique_docs(["d1", "d2", "d1", "d3"]) == ["d1", "d2", "d3"]


def _beir_folder(tmp_path):
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    docs = {
        "d1": ("Alpacas", "Alpacas live in the high Andes of Peru and give soft wool."),
        "d2": ("Trains", "China opened a high-speed railway between Beijing and Tianjin."),
        "d3": ("Coffee", "Vietnam grows robusta coffee in the Central Highlands."),
    }
    with (folder / "corpus.jsonl").open("w") as out:
        for doc_id, (title, text) in docs.items():
            out.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    queries = {"q1": "alpacas wool Andes Peru", "q2": "robusta coffee Vietnam",
               "q3": "unjudged query"}
    with (folder / "queries.jsonl").open("w") as out:
        for qid, text in queries.items():
            out.write(json.dumps({"_id": qid, "text": text, "metadata": {}}) + "\n")
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t2\n")
    return folder


def test_load_beir_keeps_only_judged_queries(tmp_path):
    split = benchmarks.load_beir(_beir_folder(tmp_path))
    assert set(split.queries) == {"q1", "q2"}
    assert split.qrels == {"q1": {"d1": 1}, "q2": {"d3": 2}}


def test_load_beir_names_missing_files_and_bad_lines(tmp_path):
    with pytest.raises(SourceError, match=r"corpus\.jsonl"):
        benchmarks.load_beir(tmp_path)
    folder = _beir_folder(tmp_path)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\n")
    with pytest.raises(SourceError, match="line 2"):
        benchmarks.load_beir(folder)


def test_bench_beir_on_a_tiny_corpus_finds_the_judged_documents(tmp_path, fake_embedder):
    split = benchmarks.load_beir(_beir_folder(tmp_path))
    source = benchmarks.corpus_folder(split.corpus, tmp_path / "work")
    engine = Engine(Settings(source_dir=source, index_dir=tmp_path / "index"),
                    embedder=fake_embedder)
    result = benchmarks.bench_beir(engine, split)
    assert result["ndcg@10"] == pytest.approx(1.0)
    assert result["recall@100"] == 1.0
    assert result["queries"] == 2
    assert result["index_seconds"] >= 0 and result["queries_per_second"] > 0


def test_load_squad_writes_every_paragraph_and_samples_reproducibly(tmp_path):
    data = {"data": [{"title": "Super_Bowl_50", "paragraphs": [
        {"context": "Denver won Super Bowl 50.", "qas": [
            {"id": "a", "question": "Who won?", "answers": [{"text": "Denver"}]}]},
        {"context": "It was played in Santa Clara.", "qas": [
            {"id": "b", "question": "Where?", "answers": [{"text": "Santa Clara"}]},
            {"id": "c", "question": "Which city?", "answers": [{"text": "Santa Clara"}]}]},
    ]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data))
    first = benchmarks.load_squad(path, tmp_path / "w1", sample=2, seed=3)
    again = benchmarks.load_squad(path, tmp_path / "w2", sample=2, seed=3)
    assert first.paragraphs == 2 and first.total_questions == 3
    assert [q["id"] for q in first.questions] == [q["id"] for q in again.questions]
    records = [json.loads(line) for line in first.corpus.read_text().splitlines()]
    assert records[1] == {"_id": "0-1", "title": "Super Bowl 50",
                          "text": "It was played in Santa Clara."}
    gold = {q["id"]: q["doc"] for q in first.questions}
    assert all(gold[q] == ("0-0" if q == "a" else "0-1") for q in gold)
    rankings = {q["id"]: [q["doc"]] for q in first.questions}
    assert benchmarks.squad_recall(rankings, first.questions) == {"recall@1": 1.0,
                                                                  "recall@5": 1.0}


def test_answer_containment_normalises_and_ignores_citation_markers():
    assert benchmarks.answer_contains("The Denver Broncos won [1].", ["Denver Broncos"])
    assert not benchmarks.answer_contains("It was 27 countries [1]", ["1"])
    assert not benchmarks.answer_contains("", ["Denver"])


@pytest.mark.integration
def test_cli_bench_beir_prints_the_metrics_and_keeps_no_index(tmp_path):
    from typer.testing import CliRunner

    from retrieval.ui.cli import app

    folder = _beir_folder(tmp_path)
    result = CliRunner().invoke(app, ["bench", "beir", str(folder)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["queries"] == 2 and report["split"] == "test"
    assert report["ndcg@10"] == pytest.approx(1.0)
    assert {"recall@100", "index_seconds", "queries_per_second"} <= set(report)
    missing = CliRunner().invoke(app, ["bench", "beir", str(tmp_path / "nowhere")])
    assert isinstance(missing.exception, SourceError)
    assert "corpus.jsonl" in str(missing.exception)
