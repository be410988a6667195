"""Capitals that stand for their countries, and the gazetteer behind them (offline)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrieval.text.places import place_kind, with_countries


@pytest.mark.parametrize(("question", "expected"), [
    ("What did Beijing's January 2020 rebuttal insist?",
     "What did China's January 2020 rebuttal insist?"),
    ("How did a scholar characterize Havana’s standing?",
     "How did a scholar characterize Cuba’s standing?"),
    ("Meeting Tehran's top diplomat, what did Wang Yi say?",
     "Meeting Iran's top diplomat, what did Wang Yi say?"),
    ("Why did Kuala Lumpur object?", "Why did Malaysia object?"),  # two-word capital
    ("What was said according to Beijing's statement?",
     "What was said according to China's statement?"),             # possessive after "to"
    ("What did Kingston's government say?", "What did Jamaica's government say?"),
    ("Why did Belgrade object?", "Why did Serbia object?"),        # not Serbia and Montenegro
])
def test_a_capital_standing_for_its_government_becomes_the_country(question, expected):
    assert with_countries(question) == expected


@pytest.mark.parametrize("text", [
    "Which forum was held in Beijing in May 2025?",        # the city itself
    "How far north of Lima is the port?",
    "Which envoy in Beijing spoke for Vietnam and China?",   # China is named already
    "What did the Washington-based think tank say?",         # part of another word
    "Was the delegate male?",                                # "Male" only with its capital M
    "What did the Washington Post report?",                  # part of a longer name
    "What did Queen Victoria sign?",
    "Who signed the Paris Agreement?",
    "What did Stanley Fischer say?",
    "What did he say in his Tegucigalpa speech?",            # a place named, not a government
])
def test_a_capital_used_as_a_place_or_already_explained_is_left_alone(text):
    assert with_countries(text) == text


@given(st.text(alphabet=st.characters(categories=["Ll", "Zs", "Nd", "Po"]), max_size=200))
def test_text_without_capitalised_words_is_unchanged(text):
    assert with_countries(text) == text


@given(st.lists(st.sampled_from(["Beijing's", "in", "Tehran", "said", "Hanoi", "to", "Havana's",
                                 "Vietnam", "the", "of", "Lima", "Peru"]), max_size=12))
def test_replacing_is_idempotent(words):
    once = with_countries(" ".join(words))
    assert with_countries(once) == once


def test_place_kinds_from_the_gazetteer():
    assert place_kind("Grenada") == "country"
    assert place_kind("Congo") == "country"        # "Republic of the Congo"
    assert place_kind("Almaty") == "city"
    assert place_kind("States") is None            # "United States" names no "States"
    assert place_kind("Sassou") is None
    assert place_kind("March") is None             # a month, though towns bear the name
    assert place_kind("Mitchell") is None          # a surname; its towns are small
