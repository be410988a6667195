"""A conversation as a Markdown file, each answer followed by its citations.

Document text and answers are escaped (no live links, images or HTML in the file), and
each citation names its document, article, paragraph and the deep link that reopens it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from .answer import Answer
from .render import deep_link, escape_minimal


def _quote_block(text: str) -> str:
    return "\n".join("> " + escape_minimal(line) for line in " ".join(text.split()).splitlines())


def answer_markdown_section(number: int, answer: Answer) -> str:
    """One question and its answer, sources listed under it."""
    lines = [f"## {number}. {escape_minimal(' '.join(answer.question.split()))}", ""]
    if answer.rewritten and answer.query:
        lines += [f"_Searched for: {escape_minimal(answer.query)}_", ""]
    lines += [escape_minimal(answer.text), ""]
    if answer.notice:
        lines += [f"_Note: {escape_minimal(answer.notice)}_", ""]
    if answer.abstained:
        lines += ["_Not found in the articles._", ""]
    if answer.citations:
        lines += ["**Sources**", ""]
    for citation in answer.citations:
        passage = citation.passage
        link = deep_link(citation.doc, citation.paragraph,
                         (citation.quote_start, citation.quote_end))
        lines += [
            f"[{citation.n}] {escape_minimal(citation.doc)}, "
            f"\u201c{escape_minimal(citation.title)}\u201d, paragraph {citation.paragraph} "
            f"(score {passage.score:.3f}), link `{link}`",
            "",
            _quote_block(citation.quote or passage.text),
            "",
        ]
    return "\n".join(lines)


def conversation_markdown(answers: Iterable[Answer], title: str = "Conversation",
                          now: dt.datetime | None = None) -> str:
    """The whole conversation, oldest first, as one Markdown document."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"# {escape_minimal(title)}", "", f"Exported {stamp}.", ""]
    answers = list(answers)
    if not answers:
        parts += ["_No questions asked yet._", ""]
    for number, answer in enumerate(answers, start=1):
        parts.append(answer_markdown_section(number, answer))
    return "\n".join(parts).rstrip() + "\n"
