"""Follow-up questions are rewritten from earlier turns, without an LLM."""

from __future__ import annotations

from retrieval.conversation import needs_context, rewrite_query


def test_standalone_question_is_left_alone():
    history = [("How many students from Peru study in China?", None)]
    q = "Who is the director of the Institute of Developing Countries?"
    assert rewrite_query(q, history) == (q, False)
    assert rewrite_query("when did he visit?", None) == ("when did he visit?", False)


def test_what_about_replaces_the_most_specific_name():
    history = [("How many students from Peru study in China?", None)]
    rarity = {"Peru": 5.0, "China": 1.0}.get
    query, rewritten = rewrite_query("and what about Vietnam?", history, rarity=rarity)
    assert rewritten and query == "How many students from Vietnam study in China?"
    query, _ = rewrite_query("What about Vietnam?", history)  # no rarity: the last name
    assert "Vietnam" in query and "students" in query


def test_pronoun_question_carries_the_names_over():
    query, rewritten = rewrite_query("When did he visit?",
                                     [("What did Xi Jinping say in Lima?", None)])
    assert rewritten
    assert query.startswith("When did he visit?")
    assert "Xi Jinping" in query and "Lima" in query


def test_history_may_hold_answers_and_uses_their_rewritten_query(fake_engine):
    first = fake_engine.ask("Where do alpacas live?")
    follow = fake_engine.ask("How much do they weigh?", history=[first])
    assert follow.rewritten and follow.query != follow.question
    assert "alpacas" in follow.query.lower()
    assert follow.passages[0].doc == "alpacas.txt"  # retrieval used the earlier turn
    alone = fake_engine.ask("How much do they weigh?")
    assert not alone.rewritten and alone.query == "How much do they weigh?"
    # a third turn builds on the second's rewritten query
    again = rewrite_query("and when?", [("How much do they weigh?", follow)])[0]
    assert "alpacas" in again.lower()


def test_needs_context():
    assert needs_context("and what about Vietnam?")
    assert needs_context("when did she arrive?")
    assert needs_context("why?")
    assert not needs_context("When did China open its first high-speed railway?")
