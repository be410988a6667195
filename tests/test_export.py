"""The Markdown export: one number per cited paragraph, links a reader can follow, and the
closest passages of a "not in the articles" turn."""

from __future__ import annotations

import datetime as dt

import pytest

from retrieval.types import Answer, Citation
from retrieval.ui.export import conversation_markdown, renumbered
from retrieval.ui.render import absolute_link

NOW = dt.datetime(2026, 12, 6, 4, 0, tzinfo=dt.UTC)
FIRST = "The port of Chancay opened north of Lima in November 2024."
SECOND = "Ships from Shanghai reach Chancay in about 23 days."


def cite(engine, quote: str, n: int) -> Citation:
    passage = next(p for p in engine.search("Chancay port Lima Shanghai", k=10)
                   if quote in p.text)
    start = passage.chunk.start + passage.text.index(quote)
    snap = engine.store.load(engine.embedder)
    para = next(p for p in snap.paragraphs[passage.doc].values() if p.start <= start < p.end)
    return Citation(n, passage, para.number, quote, start, start + len(quote))


def test_two_paragraphs_of_one_passage_get_two_numbers(fake_engine):
    """"… [1] In particular, … [1]" had exported both paragraphs as "[1]"."""
    first, second = cite(fake_engine, FIRST, 1), cite(fake_engine, SECOND, 1)
    assert first.paragraph != second.paragraph
    answer = Answer("Which port?", f"{FIRST} [1] In particular, {SECOND} [1]", False,
                    [first, second], [first.passage], query="Which port?")
    text, sources = renumbered(answer)
    assert text == f"{FIRST} [1] In particular, {SECOND} [2]"
    assert [(n, [c.paragraph for c in cs]) for n, cs in sources] == [
        (1, [first.paragraph]), (2, [second.paragraph])]
    exported = conversation_markdown([answer], now=NOW, base_url="http://localhost:8501")
    assert exported.count("\n[1] ports.txt") == 1 and exported.count("\n[2] ports.txt") == 1
    assert f"paragraph {second.paragraph} " in exported.split("\n[2] ")[1].splitlines()[0]


def test_one_paragraph_cited_twice_keeps_one_number(fake_engine):
    first = cite(fake_engine, FIRST, 1)
    answer = Answer("Which port?", "Chancay [1]. It opened in 2024 [1].", False,
                    [first, first], [first.passage], query="Which port?")
    text, sources = renumbered(answer)
    assert text == "Chancay [1]. It opened in 2024 [1]." and len(sources) == 1
    assert conversation_markdown([answer], now=NOW).count(f"> {FIRST}") == 1


def test_links_are_absolute_with_a_base_url(fake_engine):
    first = cite(fake_engine, FIRST, 1)
    answer = Answer("Which port?", "Chancay [1].", False, [first], [first.passage],
                    query="Which port?")
    exported = conversation_markdown([answer], now=NOW,
                                     base_url="https://news.example.org/ask/?doc=x#top")
    assert (f"<https://news.example.org/ask/?doc=ports.txt&para={first.paragraph}"
            f"&hl={first.quote_start}-{first.quote_end}>") in exported
    # no usable base: the query string, as code, never a relative link
    exported = conversation_markdown([answer], now=NOW, base_url="")
    assert f"`?doc=ports.txt&para={first.paragraph}" in exported and "](?" not in exported


@pytest.mark.parametrize(("base", "expected"), [
    ("http://localhost:8501", "http://localhost:8501/?doc=a"),
    ("http://127.0.0.1:8501/?doc=b&para=2", "http://127.0.0.1:8501/?doc=a"),
    ("https://host/app/", "https://host/app/?doc=a"),
    ("javascript:alert(1)//", ""),
    ("", ""),
])
def test_absolute_link(base, expected):
    assert absolute_link(base, "?doc=a") == expected


def test_a_not_in_the_articles_turn_lists_its_closest_passages(fake_engine):
    """The abstention says the closest passages are listed below; they had not been."""
    passages = fake_engine.search("colonies on Mars population", k=5)
    answer = Answer("What is the population of Mars?", "The articles don't say. Nothing "
                    "answers it; the closest passages are listed below.", True, [], passages,
                    query="What is the population of Mars?")
    exported = conversation_markdown([answer], now=NOW, base_url="http://localhost:8501/")
    closest = exported.split("**Closest passages**", 1)[1]
    for i, passage in enumerate(passages[:3], start=1):
        assert f"\n{i}. {passage.doc}, " in closest
        assert f"<http://localhost:8501/?doc={passage.doc}&para=" in closest
        assert " ".join(passage.text.split())[:40] in closest
    assert "\n4. " not in closest
