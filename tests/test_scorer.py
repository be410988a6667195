"""The sentence scorer (answer/scorer.py) and re-ranking: features, promotion, article context."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import Chunk, Passage
from retrieval.answer.scorer import (
    FEATURES,
    ArticleContext,
    Scored,
    TermWeights,
    candidate_features,
    is_heading,
    passage_sentences,
    promote,
)
from retrieval.text.question import typed_spans
from retrieval.types import Candidate, Paragraph


def _passage(rank: int, text: str, doc: str = "a.txt", title: str = "T", para: int = 1) -> Passage:
    chunk = Chunk(doc=doc, source=doc, title=title, para_start=para, para_end=para, start=0,
                  end=len(text), text=text)
    return Passage(rank, chunk, 1.0 / rank, dense=0.5, keyword=0.5)


def _scored(best_passages: list[int]) -> Scored:
    """Candidates ordered best first, one per listed passage index."""
    candidates = [Candidate(i, 0, 1, 1, f"s{i}") for i in best_passages]
    scores = np.arange(len(candidates), 0, -1, dtype=float)
    rows = np.zeros((len(candidates), len(FEATURES)))
    return Scored(candidates, rows, scores, support=0.7)


def test_promote_moves_the_best_two_passages_up_and_keeps_the_rest_in_order():
    passages = [_passage(r, f"text {r}.") for r in range(1, 7)]
    ranked, scored = promote(passages, _scored([4, 2, 0, 5]), top=2)
    assert [p.text for p in ranked] == ["text 5.", "text 3.", "text 1.", "text 2.", "text 4.",
                                        "text 6."]
    assert [p.rank for p in ranked] == [1, 2, 3, 4, 5, 6]
    # every candidate still points at the passage it came from
    assert [ranked[c.passage_index].text for c in scored.candidates] == [
        "text 5.", "text 3.", "text 1.", "text 6."]


def test_promote_with_no_candidates_keeps_the_first_stage_order():
    passages = [_passage(r, f"text {r}.") for r in range(1, 4)]
    ranked, _ = promote(passages, _scored([]))
    assert [p.text for p in ranked] == ["text 1.", "text 2.", "text 3."]


def test_within_keeps_only_sentences_of_the_first_passages():
    scored = _scored([3, 0, 1, 5])
    assert [c.passage_index for c in scored.within(2).candidates] == [0, 1]
    assert scored.within(10) is scored


def _context() -> ArticleContext:
    paras = [Paragraph("a.txt", 0, 0, 5, "Title", "Title", 0),
             Paragraph("a.txt", 1, 7, 20, "Lead text.", "Title", 0),
             Paragraph("a.txt", 2, 22, 40, "Second paragraph.", "Title", 0),
             Paragraph("a.txt", 3, 42, 60, "Share this", "Title", 0, boilerplate=True),
             Paragraph("a.txt", 4, 62, 70, "Other", "Other", 4),
             Paragraph("a.txt", 5, 72, 90, "Other lead.", "Other", 4)]
    by_doc: dict[str, dict[int, Paragraph]] = {}
    for p in paras:
        by_doc.setdefault(p.doc, {})[p.number] = p
    return ArticleContext(by_doc)


def test_article_context_positions_and_frames():
    context = _context()
    assert [context.position("a.txt", n) for n in range(6)] == [None, 0, 1, None, None, 0]
    assert context.frame(_passage(1, "Second paragraph.", para=2)) == "Title\nLead text."
    assert context.frame(_passage(1, "Other lead.", title="Other", para=5)) == "Other\nOther lead."
    assert context.frame(_passage(1, "x", doc="unknown.txt", title="Its title")) == "Its title"


def test_focus_feature_rewards_the_sentence_that_covers_what_the_lead_does_not_say():
    lead = "Serbia's foreign minister Djuric held talks with Wang Yi in Tianjin."
    answer = "He called the relationship with China a cornerstone of Serbian diplomacy."
    by_doc = {"a.txt": {0: Paragraph("a.txt", 0, 0, 5, "Talks", "Talks", 0),
                        1: Paragraph("a.txt", 1, 7, 70, lead, "Talks", 0),
                        2: Paragraph("a.txt", 2, 72, 150, answer, "Talks", 0)}}
    passages = [_passage(1, lead, title="Talks", para=1), _passage(2, answer, title="Talks",
                                                                     para=2)]
    candidates = [c for i, p in enumerate(passages) for c in passage_sentences(p, i)]
    question = "In talks with Wang Yi, what did Djuric call the relationship with China?"
    zeros = np.zeros(len(candidates), dtype=np.float32)
    rows = candidate_features(question, passages, candidates, zeros, zeros,
                              TermWeights([lead, answer]), ArticleContext(by_doc))
    focus, lead_flag = FEATURES.index("focus_keywords"), FEATURES.index("lead")
    assert rows[1, focus] > rows[0, focus]
    assert rows[:, lead_flag].tolist() == [1.0, 0.0]


@pytest.mark.integration
def test_search_moves_the_passage_with_the_answer_sentence_up(seed_engine):
    question = ("When Serbia's foreign minister Djurić met Wang Yi in December 2024, how did he "
                "describe the relationship with China for Serbia's diplomacy?")
    fused = [p.text for p in seed_engine.retriever.search(question, 10)]  # first stage only
    top = [p.text for p in seed_engine.search(question, k=3)]
    before = next(i for i, text in enumerate(fused) if "cornerstone" in text)
    after = next(i for i, text in enumerate(top) if "cornerstone" in text)
    assert after < before and after <= 1  # the answer sentence's passage moves up, into the top 2


def test_headlines_are_not_answer_candidates():
    assert is_heading("Xi Jinping Sends Congratulatory Letter to the 9th Summit of the CELAC")
    assert not is_heading("Xi Jinping sent a letter to the summit.")
    assert not is_heading("the port opened in November")  # lower case: not a headline
    text = ("Xi Jinping Sends Congratulatory Letter to the Summit\n\n"
            "The summit was held in Honduras on April 9.")
    texts = [c.text for c in passage_sentences(_passage(1, text))]
    assert len(texts) == 2  # passage_sentences keeps both; the scorer drops the headline
    kept = [t for t in texts if not is_heading(t)]
    assert kept == ["The summit was held in Honduras on April 9."]


def test_the_day_or_year_of_a_date_is_not_a_count():
    assert typed_spans("On November 18, President Xi met Sheinbaum in 2024.", "number") == ()
    assert typed_spans("Delegates from 19 countries met on April 29, 2025.", "number") == ("19",)


def test_a_city_or_country_question_wants_a_city_or_country_name():
    text = "The meeting was held in the capital Almaty, after talks with Kazakhstan's president."
    assert typed_spans(text, "city") == ("Almaty",)
    assert typed_spans(text, "country") == ("Kazakhstan",)
    assert set(typed_spans(text, "place")) == {"Almaty", "Kazakhstan"}  # no "in Almaty" here
    assert typed_spans("Tourists came from the Republic of Korea.", "country") == ("Korea",)
    assert typed_spans("Wang Yi met Mitchell in the morning.", "city") == ()


def test_a_deep_search_reranks_only_the_answer_pool(fake_engine):
    query = "When did the port north of Lima open?"
    fake_engine.ANSWER_POOL = 2  # an instance setting, for the tiny corpus
    first_stage = fake_engine.retriever.search(query, 6)
    deep = fake_engine.search(query, 6)
    assert {p.text for p in deep[:2]} == {p.text for p in first_stage[:2]}
    assert [p.text for p in deep[2:]] == [p.text for p in first_stage[2:]]
    assert [p.rank for p in deep] == list(range(1, len(deep) + 1))


def test_phrase_similarity_compares_sentences_with_what_the_question_calls_its_answer(
        fake_engine):
    """"Which kind of wool …": the sentence naming wool scores higher on phrase_sim; a question
    that names no answer ("who …") leaves the column at zero."""
    column = FEATURES.index("phrase_sim")
    pool = fake_engine.retriever.search("alpacas wool weight", 4)
    scorer = fake_engine.scorer()
    scored = scorer.score("Which kind of wool do the farmers of the Andes keep?", pool)
    by_text = {c.text: row[column] for c, row in zip(scored.candidates, scored.rows)}
    wool = next(v for t, v in by_text.items() if "wool" in t)
    weight = next(v for t, v in by_text.items() if "60 kilograms" in t)
    assert wool > weight
    who = scorer.score("Who keeps alpacas in the Andes?", pool)
    assert not who.rows[:, column].any()


def test_with_previous_adds_the_sentence_before_in_the_same_passage_only():
    from retrieval.answer.scorer import with_previous

    vectors = np.eye(3, dtype=np.float32)
    candidates = [Candidate(0, 0, 5, 1, "One."), Candidate(0, 6, 11, 1, "Two."),
                  Candidate(1, 0, 5, 1, "Three.")]
    window = with_previous(vectors, candidates)
    assert np.allclose(window[0], [1, 0, 0])                   # first of its passage: alone
    assert np.allclose(window[1], np.array([1, 1, 0]) / np.sqrt(2))
    assert np.allclose(window[2], [0, 0, 1])                   # another passage: not joined
    follows = np.array([False, False, False])   # "One." was not kept right before "Two."
    assert np.allclose(with_previous(vectors, candidates, follows)[1], [0, 1, 0])
