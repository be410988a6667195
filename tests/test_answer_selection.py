"""Answer-sentence selection (WikiQA, TrecQA): MAP, MRR, the filtered setting and the loaders."""

from __future__ import annotations

import json

import pytest

from retrieval.errors import SourceError
from retrieval.eval import benchmarks
from retrieval.eval.benchmarks import Candidate, SelectionQuestion

WIKIQA = (
    "QuestionID\tQuestion\tDocumentID\tDocumentTitle\tSentenceID\tSentence\tLabel\n"
    "Q1\thow tall is everest\tD1\tMount Everest\tD1-0\tEverest is in Nepal .\t0\n"
    "Q1\thow tall is everest\tD1\tMount Everest\tD1-1\tIt is 8,849 metres high .\t1\n"
    "Q1\thow tall is everest\tD1\tMount Everest\tD1-2\tClimbers use oxygen .\t0\n"
    "Q2\twho wrote hamlet\tD2\tHamlet\tD2-0\tHamlet is a tragedy .\t0\n"
    "Q2\twho wrote hamlet\tD2\tHamlet\tD2-1\tIt is set in Denmark .\t0\n"
    "Q3\twhat is a llama\tD3\tLlama\tD3-0\tThe llama is a camelid .\t1\n"
)

TRECQA = """<QApairs id='1.1'>
<question>
Who\twrote\tHamlet\t?
WP\tVBD\tNNP\t.
</question>
<positive>
Shakespeare\twrote\tHamlet\t``\tin\t1600\t''\t.
NNP\tVBD\tNNP\t``\tIN\tCD\t''\t.
</positive>
<negative>
Hamlet\tis\tn't\ta\tcomedy\t(\tsee\t-LRB-\tnotes\t-RRB-\t)\t.
NNP\tVBZ\tRB\tDT\tNN\t.
</negative>
</QApairs>
<QApairs id='1.2'>
<question>
Where\tis\tParis\t?
</question>
<negative>
Lyon\tis\tlarge\t.
</negative>
</QApairs>
"""


def test_average_precision_and_reciprocal_rank_by_hand():
    assert benchmarks.average_precision([1, 0, 1]) == pytest.approx((1 + 2 / 3) / 2)
    assert benchmarks.average_precision([0, 0, 1]) == pytest.approx(1 / 3)
    assert benchmarks.average_precision([0, 0]) == 0.0
    assert benchmarks.reciprocal_rank([0, 1, 1]) == 0.5
    assert benchmarks.reciprocal_rank([0, 0]) == 0.0


def test_ties_rank_incorrect_candidates_first():
    assert benchmarks.ranked_labels([0.5, 0.5, 0.9], [1, 0, 0]) == [0, 0, 1]
    assert benchmarks.ranked_labels([0.9, 0.1], [0, 1]) == [0, 1]
    with pytest.raises(ValueError, match="2 scores for 3 candidates"):
        benchmarks.ranked_labels([1.0, 2.0], [0, 1, 0])


def test_selection_metrics_average_over_questions():
    q1 = SelectionQuestion("a", "q", [Candidate("x", 0), Candidate("y", 1)])
    q2 = SelectionQuestion("b", "q", [Candidate("x", 1), Candidate("y", 0), Candidate("z", 1)])
    first_best = benchmarks.selection_metrics([q1, q2], lambda q: [3, 2, 1][:len(q.candidates)])
    assert first_best == {"map": pytest.approx((0.5 + (1 + 2 / 3) / 2) / 2, abs=1e-4),
                          "mrr": 0.75, "questions": 2, "candidates": 5}


def test_load_wikiqa_groups_questions_with_title_and_previous_sentence(tmp_path):
    path = tmp_path / "WikiQA-test.tsv"
    path.write_text(WIKIQA, encoding="utf-8")
    questions = benchmarks.load_wikiqa(path)
    assert [q.qid for q in questions] == ["Q1", "Q2", "Q3"]
    everest = questions[0].candidates
    assert [c.label for c in everest] == [0, 1, 0]
    assert everest[1] == Candidate("It is 8,849 metres high .", 1, "Mount Everest",
                                   "Everest is in Nepal .")
    assert everest[0].previous == ""
    kept = benchmarks.judged_both_ways(questions)  # Q2 has no correct, Q3 no incorrect one
    assert [q.qid for q in kept] == ["Q1"]


@pytest.mark.parametrize(("text", "message"), [
    ("Question\tSentence\tLabel\nq\ts\t1\n", "does not start with WikiQA's header"),
    (WIKIQA + "Q4\tbroken line\t1\n", "line 8 needs 7 tab-separated columns"),
])
def test_load_wikiqa_refuses_other_files_in_one_line(tmp_path, text, message):
    path = tmp_path / "bad.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError, match=message):
        benchmarks.load_wikiqa(path)
    with pytest.raises(SourceError, match="does not exist"):
        benchmarks.load_wikiqa(tmp_path / "missing.tsv")


def test_load_trecqa_reads_the_token_lines_back_into_text(tmp_path):
    path = tmp_path / "TEST.xml"
    path.write_text(TRECQA, encoding="utf-8")
    questions = benchmarks.load_trecqa(path)
    assert [(q.qid, q.question) for q in questions] == [("1.1", "Who wrote Hamlet?"),
                                                        ("1.2", "Where is Paris?")]
    assert questions[0].candidates == [
        Candidate('Shakespeare wrote Hamlet "in 1600".', 1),
        Candidate("Hamlet isn't a comedy (see (notes)).", 0)]
    assert [q.qid for q in benchmarks.judged_both_ways(questions)] == ["1.1"]
    (tmp_path / "empty.xml").write_text("<nothing/>", encoding="utf-8")
    with pytest.raises(SourceError, match="no <QApairs"):
        benchmarks.load_trecqa(tmp_path / "empty.xml")


def test_load_squad_keeps_the_asked_and_indexed_articles_apart(tmp_path):
    data = {"version": "v2.0", "data": [
        {"title": "Fit_article", "paragraphs": [{"context": "Alpha is first.", "qas": [
            {"id": "f1", "question": "What is first?", "answers": [{"text": "Alpha"}],
             "is_impossible": False}]}]},
        {"title": "Kept_article", "paragraphs": [{"context": "Omega is last.", "qas": [
            {"id": "k1", "question": "What is last?", "answers": [{"text": "Omega"}],
             "is_impossible": False},
            {"id": "k2", "question": "What is in the middle?", "answers": [],
             "is_impossible": True}]}]},
    ]}
    path = tmp_path / "squad2.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    both = benchmarks.load_squad(path, tmp_path / "a", sample=10, ask_from={"Kept_article"})
    assert both.paragraphs == 2 and both.total_questions == 2
    assert {q["id"]: q["answerable"] for q in both.questions} == {"k1": True, "k2": False}
    assert next(q for q in both.questions if q["id"] == "k2")["answers"] == []
    only = benchmarks.load_squad(path, tmp_path / "b", sample=10, ask_from={"Kept_article"},
                                 index_from={"Kept_article"})
    records = [json.loads(line) for line in only.corpus.read_text().splitlines()]
    assert records == [{"_id": "1-0", "title": "Kept article", "text": "Omega is last."}]


def test_squad_dev_split_names_its_lists_and_refuses_other_files(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"fit": ["A"], "evaluate": ["B"]}), encoding="utf-8")
    assert benchmarks.squad_dev_split(path) == {"fit": ["A"], "evaluate": ["B"],
                                                "v1.1_dev_only": []}
    path.write_text(json.dumps({"fit": ["A"]}), encoding="utf-8")
    with pytest.raises(SourceError, match="not a SQuAD dev split"):
        benchmarks.squad_dev_split(path)
    with pytest.raises(SourceError, match="does not exist"):
        benchmarks.squad_dev_split(tmp_path / "missing.json")
