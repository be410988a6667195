"""Follow-up questions are rewritten from earlier turns, without an LLM."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from retrieval.answer.conversation import MAX_CARRIED_WORDS, needs_context, rewrite_query


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


def test_a_pronoun_becomes_the_person_it_stands_for():
    history = [("What did Xi Jinping say in Lima?", None)]
    assert rewrite_query("When did he visit?", history) == ("When did Xi Jinping visit?", True)
    assert rewrite_query("What was his message?", history) == (
        "What was Xi Jinping's message?", True)
    # a month, a possessive name, a demonym or a place is not whom "he" stands for
    zhao = ("In the June 2020 People's Daily Online interview with Zhao Bentang, to how many "
            "Latin American countries had China provided anti-pandemic materials?")
    assert rewrite_query("What did he say about joint ventures?", [(zhao, None)]) == (
        "What did Zhao Bentang say about joint ventures?", True)


def answered(question: str, quote: str, **fields) -> SimpleNamespace:
    """An answer as the rewriter reads it: its question, cited sentence and flags."""
    return SimpleNamespace(question=question, text=quote + " [1]", abstained=False,
                           citations=[SimpleNamespace(quote=quote)],
                           **{"rewritten": False, "query": question, **fields})


def test_after_who_the_pronoun_is_the_person_the_answer_names():
    """It had appended the old question's keywords and answered with the same sentence."""
    first = answered("Which Lao president was due to visit China after Diaz-Canel's trip?",
                     "China is receiving visits from Nguyen Phu Trong and Lao President "
                     "Thongloun Sisoulith in the coming week.")
    assert rewrite_query("When did he visit?", [first]) == (
        "When did Lao President Thongloun Sisoulith visit?", True)


def test_rewrites_start_from_the_last_real_question_not_from_a_rewrite():
    real = answered("How many students from Peru study in China?", "About 9,000 students.")
    follow = answered("And how many teachers?", "Not said.", rewritten=True,
                      query="And how many teachers? Peru students study China")
    query, rewritten = rewrite_query("and what about Vietnam?", [real, follow],
                                     rarity={"Peru": 5.0, "China": 1.0}.get)
    assert rewritten and query == "How many students from Vietnam study in China?"


def test_a_question_that_stands_alone_carries_nothing_over():
    history = [answered("What was the value of Vietnam-China bilateral trade in 2024?",
                        "Trade reached 185.6 billion USD.")]
    for question in ("and how many Vietnamese students study in China?",
                     "And which port did China build in Peru?"):
        assert rewrite_query(question, history) == (question, False)


def test_no_word_no_rewrite_and_a_rewrite_is_capped():
    long_question = "Which trade port " * 700 + "opened north of Lima?"
    history = [(long_question, None)]
    assert rewrite_query("🚢🚢?", history) == ("🚢🚢?", False)
    query, rewritten = rewrite_query("why?", history)
    assert rewritten and query.startswith("why? ")
    words = query.split()[1:]
    assert len(words) <= MAX_CARRIED_WORDS and len(set(words)) == len(words)
    query, _ = rewrite_query("what about Chancay?", history)
    assert len(query) < 200 and query.count("trade") == 1


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
    assert not needs_context("🙂")


def test_after_which_it_is_the_thing_the_answer_names():
    first = answered("Which port opened north of Lima?",
                     "While in Peru, Xi opened the Chancay Port, about 48 miles north of Lima.")
    assert rewrite_query("And when did it open?", [first]) == (
        "And when did Chancay Port open?", True)
    # no name in the answer shares a word with the question: the question's words are added
    other = answered("Which port opened north of Lima?", "Xi was in Peru.")
    query, rewritten = rewrite_query("And when did it open?", [other])
    assert rewritten and query.startswith("And when did it open? ") and "port" in query


def test_the_store_gives_back_the_turns_it_saved(fake_engine, tmp_path):
    from retrieval.answer.conversation import ConversationStore, new_session_id
    from retrieval.types import Answer, Citation

    passages = fake_engine.search("Chancay Lima port", k=3)
    quote = passages[0].text.split("\n")[0]
    start = passages[0].chunk.start
    cited = Citation(1, passages[0], passages[0].paragraphs[0], quote, start, start + len(quote))
    answer = Answer("Which port opened north of Lima?", f"{quote} [1]", False, [cited],
                    passages, query="Which port opened north of Lima?", support=0.7)
    turns = [{"question": answer.question, "answer": answer, "docs": ["ports.txt"]},
             {"question": "??", "error": "the query is empty"}]
    store, sid = ConversationStore(tmp_path / "store"), new_session_id()
    assert store.load(sid) == []
    store.save(sid, turns)
    back = store.load(sid)
    assert back[1] == turns[1] and back[0]["docs"] == ["ports.txt"]
    assert back[0]["answer"].to_dict() == answer.to_dict()
    (tmp_path / "store" / f"{sid}.json").write_text("[{not json")
    with pytest.raises(ValueError, match="is damaged"):
        store.load(sid)
    for bad in ("../x", "A" * 32, ""):
        with pytest.raises(ValueError, match="32 hex digits"):
            store.load(bad)


def test_a_pronoun_no_earlier_turn_resolves_is_reported():
    from retrieval.answer.conversation import unresolved_pronoun

    assert unresolved_pronoun("When did he visit?", None) == "he"
    assert unresolved_pronoun("When did she visit?", [("What do alpacas eat?", None)]) == "she"
    assert unresolved_pronoun("When did he visit?", [("What did Xi Jinping say?", None)]) is None
    assert unresolved_pronoun("When did it open?", [("What do alpacas eat?", None)]) is None
    assert unresolved_pronoun("When did Xi say he would visit?", None) is None


def test_the_store_deletes_conversations_untouched_for_a_month(tmp_path):
    import os
    import time

    from retrieval.answer.conversation import ConversationStore, new_session_id

    store = ConversationStore(tmp_path)
    old, recent = new_session_id(), new_session_id()
    store.save(old, [{"question": "q", "error": "e"}])
    store.save(recent, [{"question": "q", "error": "e"}])
    month_ago = time.time() - 31 * 86400
    os.utime(tmp_path / f"{old}.json", (month_ago, month_ago))
    (tmp_path / "notes.json").write_text("{}")                 # not a conversation: kept
    os.utime(tmp_path / "notes.json", (month_ago, month_ago))
    assert store.prune() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["notes.json",
                                                                f"{recent}.json"])
