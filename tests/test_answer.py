"""The extractive answerer: short cited answers, verbatim quotes, honest abstention."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import Chunk, Passage, QueryError
from retrieval.answer.extractive import is_bridge_question, prefer_typed, unmentioned_names
from retrieval.answer.scorer import TermWeights, passage_sentences
from retrieval.text.question import answer_phrase, question_type


@pytest.fixture
def answering_engine(fake_engine):
    """The fake engine answering with the hand-fitted rules, abstention off: the hash
    embedder's similarities are not the bundled model's, so the calibrated threshold does not
    apply to them."""
    fake_engine.settings = fake_engine.settings.model_copy(update={"answerer": "rules"})
    fake_engine.abstain_below = 0.0
    return fake_engine


def _check_citations(engine, answer) -> None:
    """Every quote is a verbatim slice of its passage and sits in the cited paragraph."""
    snap = engine.store.load(engine.embedder)
    assert answer.citations
    for c in answer.citations:
        assert c.quote and c.quote in c.passage.text
        chunk = c.passage.chunk
        assert chunk.text[c.quote_start - chunk.start: c.quote_end - chunk.start] == c.quote
        para = snap.paragraph(c.doc, c.paragraph)
        assert para is not None and para.start <= c.quote_start < c.quote_end <= para.end
        assert f"[{c.n}]" in answer.text
        assert any(p is c.passage for p in answer.passages)


@pytest.mark.parametrize(("question", "kind"), [
    ("Who founded the port?", "person"),
    ("Which Lao president visited China?", "person"),
    ("When did the railway open?", "date"),
    ("On what date were ties established?", "date"),
    ("How many kilometres of track were built?", "number"),
    ("How much does an alpaca weigh?", "number"),
    ("Where do alpacas live?", "place"),
    ("In which city was the congress held?", "city"),
    ("Which nation sent the most tourists?", "country"),
    ("What is the annual container-handling capacity of the port?", "number"),
    ("What idiom did the statement use?", "other"),
    ("What was the value of bilateral trade?", "number"),
    ("What did the foreign minister call the relationship?", "other"),  # not "a minister"
    ("Which decoration did the King present?", "other"),
])
def test_question_type_from_question_words(question, kind):
    assert question_type(question) == kind


@pytest.mark.parametrize(("question", "phrase"), [
    ("Which Chinese saying about a distant horizon did Xi cite?",
     "Chinese saying about a distant horizon"),
    ("What kind of storm hit the island?", "kind of storm"),
    ("What sort of educational journeys did Xi offer?", "sort of educational journeys"),
    ("What idiom did the statement use?", "idiom"),
    ("What did Wang Yi say about West Asia?", ""),          # names no answer
    ("What does the release say the facts have shown?", ""),
    ("Who founded the port?", ""),
])
def test_answer_phrase_is_what_a_what_or_which_question_calls_its_answer(question, phrase):
    assert answer_phrase(question) == phrase


def test_bridge_questions_are_recognised():
    assert is_bridge_question("What did the leader whose visit came first say?")
    assert is_bridge_question("When did Beijing open ties with the African country that Xi "
                              "visited first?")
    assert not is_bridge_question("Which city hosted the fifth Pan African Congress in 1945?")
    assert not is_bridge_question("According to the article that ran in May, who spoke?")
    assert is_bridge_question("Which minister met both Hun Sen and Oli in December?")
    assert not is_bridge_question("What did both sides agree on?")
    assert not is_bridge_question("What did both sides say and do?")


def test_bridge_question_in_one_passage_cites_it_once(answering_engine):
    answer = answering_engine.ask("How many days do ships take to reach the port that opened "
                                  "north of Lima?")
    assert not answer.abstained and "23 days" in answer.text
    assert "north of Lima" in answer.text  # the first hop, which names the port
    assert len({c.passage.chunk.id for c in answer.citations}) == 1
    _check_citations(answering_engine, answer)


# Two facts in two files, linked only by the island's name, and a distractor.
BRIDGE_CORPUS = {
    "visit.txt": "Grenadian leader in China\n\nPrime Minister Dickon Mitchell of the island of "
                 "Grenada toured China in January 2025. He met Xi Jinping in Beijing.\n",
    "storm.txt": "Caribbean weather\n\nGrenada was battered by a devastating hurricane, the "
                 "worst storm in decades.\n",
    "trade.txt": "Island trade\n\nThe island nations of the Caribbean saw falling prices in "
                 "2025.\n",
}


@pytest.fixture
def bridge_engine(tmp_path, fake_embedder, corpus_writer):
    from retrieval import Engine, Settings

    folder = corpus_writer(tmp_path / "bridge", BRIDGE_CORPUS)
    engine = Engine(Settings(source_dir=folder, index_dir=tmp_path / "bridge-index"),
                    embedder=fake_embedder)
    engine.update_index()
    engine.abstain_below = 0.0
    return engine


def test_bridge_question_answers_from_the_second_hop(bridge_engine):
    """The first hop finds the island's prime minister; the second, searched with the island's
    name, finds the storm, in another file: both sentences are cited."""
    question = "What kind of storm hit the island whose prime minister toured China in 2025?"
    pool, scored = bridge_engine._ranked(question, 20, ["visit.txt", "trade.txt"])
    asked = []

    def hop(query):  # the second hop, held to the storm report
        asked.append(query)
        return bridge_engine._ranked(query, 20, ["storm.txt"])

    answer = bridge_engine.answerer().answer(question, pool, scored, hop=hop)
    assert asked and "Grenada" in asked[0] and "toured" not in asked[0]
    assert "toured China" in answer.text and "hurricane" in answer.text
    assert [c.doc for c in answer.citations] == ["visit.txt", "storm.txt"]
    assert answer.text.endswith("[2]") and "[1]" in answer.text
    assert answer.citations[1].passage in answer.passages  # appended to the passages shown
    _check_citations(bridge_engine, answer)


@pytest.mark.parametrize("hop_support, answered", [(0.9, True), (0.1, False)])
def test_a_weak_two_part_question_stands_on_a_well_supported_second_hop(bridge_engine,
                                                                        hop_support, answered):
    """Support over the whole question is split between its two parts: below the threshold,
    the answer stands when the second hop's own support reaches it, else the articles don't
    say."""
    from retrieval.answer.extractive import ExtractiveAnswerer

    question = "What kind of storm hit the island whose prime minister toured China in 2025?"
    pool, scored = bridge_engine._ranked(question, 20, ["visit.txt", "trade.txt"])
    weak = dataclasses.replace(scored, support=0.1)

    def hop(query):
        found, second = bridge_engine._ranked(query, 20, ["storm.txt"])
        return found, dataclasses.replace(second, support=hop_support)

    answerer = ExtractiveAnswerer(bridge_engine.scorer(), abstain_below=0.5)
    answer = answerer.answer(question, pool, weak, hop=hop)
    assert answer.abstained is not answered
    assert ("hurricane" in answer.text) is answered
    if answered:
        assert [c.doc for c in answer.citations] == ["visit.txt", "storm.txt"]
    assert answerer.answer(question, pool, weak).abstained  # no hop: nothing to stand on


def test_bridge_names_prefer_places_when_the_question_asks_through_one():
    from retrieval.answer.extractive import bridge_names

    sentence = "Prime Minister Dickon Mitchell of Grenada toured China."
    rarity = {"Dickon": 3.0, "Mitchell": 3.0, "Grenada": 1.0}.get
    island = bridge_names("What hit the island whose prime minister toured China?", sentence,
                          lambda name: rarity(name, 0.0), n_names=1)
    person = bridge_names("What did the leader who toured China say?", sentence,
                          lambda name: rarity(name, 0.0), n_names=1)
    assert island == ["Grenada"]
    assert person in (["Dickon"], ["Mitchell"])


def test_hop_query_drops_what_the_first_hop_covers_and_adds_the_bridge():
    from retrieval.answer.extractive import hop_query

    query = hop_query("What kind of storm hit the island whose prime minister toured China?",
                      "Prime Minister Dickon Mitchell of Grenada toured China.", ["Grenada"])
    assert query == "What kind of storm hit the island whose Grenada?"


def test_no_second_hop_when_the_first_sentence_names_nothing_new(bridge_engine):
    question = "What kind of storm hit the island whose prime minister toured China in 2025?"
    pool, scored = bridge_engine._ranked(question, 20, None)
    first = dataclasses.replace(scored.candidates[0], text="He toured China in 2025.")
    asked = []
    second = bridge_engine.answerer().second_hop(
        question, list(pool), first, lambda q: asked.append(q) or ([], scored))
    assert second is None and asked == []


def test_passage_sentences_locate_quotes_and_paragraphs():
    doc_text = "Title\n\nFirst one. Second one here.\n\nThird paragraph, one sentence."
    start = doc_text.index("First")
    chunk = Chunk("d.txt", "d.txt", "Title", 1, 2, start, len(doc_text), doc_text[start:])
    sentences = passage_sentences(Passage(1, chunk, 1.0))
    assert [s.text for s in sentences] == ["First one.", "Second one here.",
                                           "Third paragraph, one sentence."]
    assert [s.paragraph for s in sentences] == [1, 1, 2]
    for s in sentences:
        assert doc_text[s.start:s.end] == s.text


def test_fact_question_gets_the_answering_sentence_with_citation(answering_engine):
    answer = answering_engine.ask("When did China open its first high-speed railway?")
    assert not answer.abstained and answer.mode == "extractive"
    assert "2008" in answer.text
    assert re.search(r"\[\d+\]$", answer.text)
    _check_citations(answering_engine, answer)


def test_answer_is_sentences_not_a_passage_dump(answering_engine):
    answer = answering_engine.ask("How much does an adult alpaca weigh?")
    assert "60 kilograms" in answer.text
    assert "Andes" not in answer.text  # the other sentence of the article is not the answer
    assert 1 <= len(answer.citations) <= 3
    _check_citations(answering_engine, answer)


def test_weak_support_abstains_but_returns_passages(fake_engine):
    fake_engine.abstain_below = 0.99  # no hash-embedding similarity reaches this
    answer = fake_engine.ask("How many votes did Claudia Sheinbaum receive in Mexico?")
    assert answer.abstained
    assert answer.text.startswith("The articles don't say")
    assert answer.citations == []
    assert answer.passages  # the closest passages, so the user can look
    assert answer.support is not None and answer.support < 0.99
    fake_engine.abstain_below = 0.0
    assert not fake_engine.ask("Who keeps alpacas in Peru?").abstained


def test_a_question_about_a_name_no_article_mentions_abstains_and_says_which(answering_engine):
    answer = answering_engine.ask("When did ships from Shanghai first reach the Strait of "
                                  "Hormuz?")
    assert answer.abstained and answer.citations == [] and answer.passages
    assert answer.unmentioned == ["Strait", "Hormuz"]
    assert answer.to_dict("q")["unmentioned"] == ["Strait", "Hormuz"]
    assert "none of them mentions Strait or Hormuz" in answer.text
    # every name is in the articles (in any case, possessive or hyphenated): it answers
    answer = answering_engine.ask("How long do ships from Shanghai take to reach Chancay's "
                                  "port near Lima-Peru?")
    assert not answer.abstained and answer.unmentioned == []
    assert "23 days" in answer.text


def test_unmentioned_names_are_capitalised_words_the_corpus_lacks():
    weights = TermWeights(["Ships from Shanghai reach Chancay.", "Vietnam and Laos"])
    assert unmentioned_names("Which ships sail from Shanghai to Haiphong?", weights) == \
        ["Haiphong"]
    # hyphenated and possessive names are read word by word; "Lao" is "Laos" stemmed
    assert unmentioned_names("What links Lao Cai-Vietnam-Haiphong's port?", weights) == \
        ["Cai", "Haiphong"]
    assert unmentioned_names("Which chinese-built ships reach Chancay?", weights) == []
    assert unmentioned_names("Which ships reach Haiphong?", TermWeights()) == []  # no corpus


def test_misspelt_names_acronyms_and_derived_words_count_as_mentioned():
    weights = TermWeights(["Ships from Shanghai reach Vietnam.", "A formula for the Skłodowska "
                           "prize, awarded in Kazakhstan"])
    assert unmentioned_names("Which ships reach Shangai?", weights) == []  # one typo
    assert unmentioned_names("Who won the Sklodowska prize?", weights) == []  # ł is not l + mark
    assert unmentioned_names("Which ships reach Kasakstan?", weights) == []  # 9 letters: 2 typos
    assert unmentioned_names("Which Vietnamese ships reach Shanghai?", weights) == []
    assert unmentioned_names("What did NATO say about Shanghai?", weights) == []  # an acronym
    # two typos from "formula" ("formul"), but a short word has only one to spare
    assert unmentioned_names("What did Shanghai say about Hormuz?", weights) == ["Hormuz"]


def test_how_many_without_a_number_in_the_best_sentence_abstains(answering_engine):
    # "Farmers keep them for their soft wool." answers it, but gives no count
    none = answering_engine.ask("How many farmers keep alpacas for their soft wool?")
    assert none.abstained and none.passages
    some = answering_engine.ask("How many kilometres did the high-speed network grow to?")
    assert not some.abstained and "45,000" in some.text


def test_results_line_has_the_eval_format(answering_engine):
    row = answering_engine.ask("Where do alpacas live?", k=3).to_dict("q1")
    assert row["id"] == "q1" and row["abstained"] is False
    assert {"answer", "citations", "passages", "query", "rewritten"} <= row.keys()
    cited = row["citations"][0]
    assert {"n", "doc", "title", "paragraph", "text", "quote"} <= cited.keys()
    assert cited["quote"] in cited["text"]
    assert len(row["passages"]) >= 3


def test_bad_k_and_empty_question_are_query_errors(fake_engine):
    with pytest.raises(QueryError, match="k must be greater than 0"):
        fake_engine.ask("Where do alpacas live?", k=-1)
    with pytest.raises(QueryError, match="empty"):
        fake_engine.ask("   ")


@pytest.mark.integration
def test_seed_articles_fact_and_abstention(seed_engine):
    answer = seed_engine.ask("Which city hosted the fifth Pan African Congress in 1945?")
    assert not answer.abstained and "Manchester" in answer.text
    _check_citations(seed_engine, answer)
    assert len(answer.passages) >= 10
    none = seed_engine.ask("How many satellites did China launch in 2019?")
    assert none.abstained and none.passages
    follow = seed_engine.ask("Who attended it?", history=[answer])
    assert follow.rewritten and "Pan African Congress" in follow.query
    assert any("Pan African Congress" in p.text for p in follow.passages[:3])


def test_cli_ask_single_json_and_batch(answering_engine, monkeypatch, tmp_path):
    import json

    from typer.testing import CliRunner

    from retrieval.ui import cli

    fake_engine = answering_engine
    monkeypatch.setattr(cli, "make_engine", lambda *a, **kw: fake_engine)
    monkeypatch.delenv("RETRIEVAL_LLM_MODEL", raising=False)
    runner = CliRunner()
    out = runner.invoke(cli.app, ["ask", "Where do alpacas live?"])
    assert out.exit_code == 0 and "Andes" in out.output and "alpacas.txt ¶1" in out.output
    out = runner.invoke(cli.app, ["ask", "Where do alpacas live?", "--json"])
    assert json.loads(out.output)["citations"][0]["doc"] == "alpacas.txt"
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "x1", "question": "Where do alpacas live?"}\n'
                         '{"id": "x2", "question": "How many votes did Sheinbaum get?"}\n',
                         encoding="utf-8")
    results = tmp_path / "r.jsonl"
    out = runner.invoke(cli.app, ["ask", "--batch", str(questions), "--out", str(results)])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["x1", "x2"]
    assert rows[0]["abstained"] is False and "Andes" in rows[0]["answer"]
    assert all(isinstance(r["abstained"], bool) and r["question"] for r in rows)
    n_chunks = len(fake_engine.store.load(fake_engine.embedder).chunks)
    assert all(len(r["passages"]) == min(10, n_chunks) for r in rows)


def _scored_with_types(types: list[int], scores: list[float]):
    from retrieval.answer.scorer import FEATURES, Scored
    from retrieval.types import Candidate

    rows = np.zeros((len(types), len(FEATURES)), dtype=np.float32)
    rows[:, FEATURES.index("type_match")] = types
    candidates = [Candidate(0, i, i + 1, 0, f"sentence {i}") for i in range(len(types))]
    return Scored(candidates, rows, np.array(scores), support=0.8)


def test_a_typed_question_prefers_a_close_sentence_of_the_asked_type():
    close = prefer_typed("How many ships came?", _scored_with_types([0, 1, 1], [3.0, 2.5, 2.0]))
    assert [c.text for c in close.candidates] == ["sentence 1", "sentence 0", "sentence 2"]
    assert close.scores.tolist() == [2.5, 3.0, 2.0]  # rows and scores move with the sentence
    far = prefer_typed("How many ships came?", _scored_with_types([0, 1], [3.0, 1.0]))
    assert far.candidates[0].text == "sentence 0"  # too far below: kept (and abstains)
    other = prefer_typed("What idiom did it use?", _scored_with_types([0, 1], [3.0, 2.9]))
    assert other.candidates[0].text == "sentence 0"  # "other" questions have no type


def test_a_second_source_is_shown_only_when_it_answers_about_as_well():
    from retrieval.answer.extractive import CLOSE_MARGIN, ExtractiveAnswerer
    from retrieval.types import Candidate

    cands = [Candidate(0, 0, 10, 1, "Best."), Candidate(1, 0, 10, 1, "Other source.")]
    close = ExtractiveAnswerer._pick(cands, np.array([2.0, 2.0 - CLOSE_MARGIN / 2]))
    assert [c.text for c in close] == ["Best.", "Other source."]
    far = ExtractiveAnswerer._pick(cands, np.array([2.0, 2.0 - CLOSE_MARGIN * 2]))
    assert [c.text for c in far] == ["Best."]
    bridge = ExtractiveAnswerer._pick(cands, np.array([2.0, 2.0 - CLOSE_MARGIN * 2]),
                                      bridge=True)
    assert [c.text for c in bridge] == ["Best.", "Other source."]


_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéüł", min_size=3, max_size=12)


@settings(max_examples=60, deadline=None)
@given(corpus=st.lists(_WORDS, min_size=1, max_size=30), asked=st.data())
def test_a_question_naming_only_corpus_words_mentions_them_all(corpus, asked):
    """Whatever the words, capitalised or accented, names taken from the corpus are never
    reported as unmentioned, and what is reported is a word of the question."""
    weights = TermWeights([" ".join(corpus)])
    names = asked.draw(st.lists(st.sampled_from(corpus), min_size=1, max_size=4))
    question = "What about " + " ".join(w.capitalize() for w in names) + "?"
    assert unmentioned_names(question, weights) == []
    other = asked.draw(_WORDS).capitalize()
    found = unmentioned_names(f"Did {names[0].capitalize()} meet {other}?", weights)
    assert set(found) <= {other}


def test_a_sentence_the_source_holds_twice_is_said_once(corpus_writer, tmp_path, fake_embedder):
    from retrieval import Engine, Settings

    para = "The port of Chancay opened north of Lima in November 2024."
    folder = corpus_writer(tmp_path / "twice", {
        "ports.txt": f"A new port\n\n{para}\n\nShips arrive weekly.\n\n{para}\n"})
    engine = Engine(Settings(source_dir=folder, index_dir=tmp_path / "twice-index",
                             answerer="rules"), embedder=fake_embedder)
    engine.update_index()
    engine.abstain_below = 0.0
    answer = engine.ask("When did the port of Chancay open north of Lima?")
    assert answer.text.count("opened north of Lima") == 1
    quotes = [" ".join(c.quote.split()) for c in answer.citations]
    assert len(quotes) == len(set(quotes))
