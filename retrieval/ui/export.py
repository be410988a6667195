"""A conversation as a Markdown file, each answer followed by its sources.

Document text and answers are escaped (no live links, images or HTML from a document), each
source names its document, article and paragraph, and links back to it with an absolute URL
when the base URL of the page is known. An answer's ``[n]`` markers are renumbered so that
one number stands for one paragraph.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from ..types import Answer, Citation, Passage
from .render import absolute_link, deep_link, escape_minimal

_MARKER = re.compile(r"\[(\d{1,3})\]")
CLOSEST = 3          # passages listed under a "not in the articles" answer, as the page shows
QUOTE_CHARS = 600    # of a closest passage's text


def _quote_block(text: str, limit: int | None = None) -> str:
    flat = " ".join(text.split())
    if limit is not None and len(flat) > limit:
        flat = flat[:limit].rsplit(" ", 1)[0] + " …"
    return "> " + escape_minimal(flat)


def _link(base_url: str, query: str) -> str:
    """A link the reader of the file can follow: ``<https://…>``, or the query as code."""
    url = absolute_link(base_url, query) if base_url else ""
    return f"<{url}>" if url else f"`{query}`"


def renumbered(answer: Answer) -> tuple[str, list[tuple[int, list[Citation]]]]:
    """The answer's text with one ``[n]`` per cited paragraph, and the sources in order.

    The answerer numbers passages: "… [1] In particular, … [1]" may quote two paragraphs of
    one passage. The k-th marker ``[n]`` in the text belongs to the k-th citation numbered n.
    """
    numbers: dict[tuple[str, int], int] = {}
    sources: list[tuple[int, list[Citation]]] = []
    for citation in answer.citations:
        key = (citation.doc, citation.paragraph)
        if key not in numbers:
            numbers[key] = len(numbers) + 1
            sources.append((numbers[key], []))
        sources[numbers[key] - 1][1].append(citation)
    queues = {c.n: [x for x in answer.citations if x.n == c.n] for c in answer.citations}

    def marker(match: re.Match[str]) -> str:
        queue = queues.get(int(match.group(1)))
        if not queue:
            return match.group(0)
        citation = queue.pop(0) if len(queue) > 1 else queue[0]
        return f"[{numbers[(citation.doc, citation.paragraph)]}]"

    return _MARKER.sub(marker, answer.text), sources


def _source_lines(number: int, citations: list[Citation], base_url: str) -> list[str]:
    first = citations[0]
    link = deep_link(first.doc, first.paragraph, (first.quote_start, first.quote_end))
    lines = [f"[{number}] {escape_minimal(first.doc)}, \u201c{escape_minimal(first.title)}\u201d, "
             f"paragraph {first.paragraph} (score {first.passage.score:.3f}), "
             f"{_link(base_url, link)}", ""]
    for quote in dict.fromkeys(c.quote or c.passage.text for c in citations):
        lines += [_quote_block(quote), ""]
    return lines


def _closest_lines(passages: list[Passage], base_url: str) -> list[str]:
    if not passages:
        return ["_No passage came close._", ""]
    lines = ["**Closest passages**", ""]
    for i, passage in enumerate(passages[:CLOSEST], start=1):
        first, last = passage.paragraphs
        paras = f"paragraph {first}" if first == last else f"paragraphs {first}\u2013{last}"
        lines += [f"{i}. {escape_minimal(passage.doc)}, \u201c{escape_minimal(passage.title)}"
                  f"\u201d, {paras} (score {passage.score:.3f}), "
                  f"{_link(base_url, deep_link(passage.doc, first))}", "",
                  "   " + _quote_block(passage.text, QUOTE_CHARS), ""]
    return lines


def answer_markdown_section(number: int, answer: Answer, base_url: str = "") -> str:
    """One question and its answer, its sources (or closest passages) listed under it."""
    lines = [f"## {number}. {escape_minimal(' '.join(answer.question.split()))}", ""]
    if answer.rewritten and answer.query:
        lines += [f"_Searched for: {escape_minimal(answer.query)}_", ""]
    text, sources = renumbered(answer)
    lines += [escape_minimal(text), ""]
    if answer.notice:
        lines += [f"_Note: {escape_minimal(answer.notice)}_", ""]
    if answer.abstained:
        lines += ["_Not found in the articles._", "", *_closest_lines(answer.passages, base_url)]
    if sources:
        lines += ["**Sources**", ""]
    for n, citations in sources:
        lines += _source_lines(n, citations, base_url)
    return "\n".join(lines)


def conversation_markdown(answers: Iterable[Answer], title: str = "Conversation",
                          now: dt.datetime | None = None, base_url: str = "") -> str:
    """The whole conversation, oldest first, as one Markdown document.

    ``base_url``: the page's address (``http://host:8501/``); links are absolute with it.
    """
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"# {escape_minimal(title)}", "", f"Exported {stamp}.", ""]
    answers = list(answers)
    if not answers:
        parts += ["_No questions asked yet._", ""]
    for number, answer in enumerate(answers, start=1):
        parts.append(answer_markdown_section(number, answer, base_url))
    return "\n".join(parts).rstrip() + "\n"
