"""Stage 6: grounded answers with verified citations.

The data types shared by the answerers, the CLI and the app live here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .retrieve import Passage


@dataclass(frozen=True)
class Citation:
    """One ``[n]`` marker: the passage it points to and the verbatim supporting sentence."""

    n: int
    passage: Passage
    paragraph: int          # paragraph number (in the source file) holding the quote
    quote: str              # verbatim substring of passage.text
    quote_start: int        # character offsets of the quote in the source document's text
    quote_end: int

    @property
    def doc(self) -> str:
        return self.passage.doc

    @property
    def title(self) -> str:
        return self.passage.title

    def to_dict(self) -> dict[str, Any]:
        """The ``citations`` entry of the results format in ``eval/README.md``."""
        return {
            "n": self.n,
            "doc": self.passage.doc,
            "source": self.passage.chunk.source,
            "title": self.passage.title,
            "paragraph": self.paragraph,
            "paragraphs": list(self.passage.paragraphs),
            "text": self.passage.text,
            "quote": self.quote,
            "quote_start": self.quote_start,
            "quote_end": self.quote_end,
        }


@dataclass
class Answer:
    """What ``Engine.ask`` returns."""

    question: str
    text: str                              # short answer with [n] markers, or the abstention
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    query: str = ""                        # the query actually searched (after rewriting)
    rewritten: bool = False                # True when a follow-up was rewritten from history
    mode: str = "extractive"               # "extractive" or "llm"
    notice: str | None = None              # e.g. "The LLM timed out; showing the extractive answer."

    def to_dict(self, qid: str | None = None) -> dict[str, Any]:
        """One results line in the format of ``eval/README.md``."""
        row: dict[str, Any] = {} if qid is None else {"id": qid}
        row.update({
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "query": self.query,
            "rewritten": self.rewritten,
            "mode": self.mode,
            "notice": self.notice,
        })
        return row
