"""The data types that flow between the stages: a document's paragraphs, the chunks made of
them, the passages a search returns, the sentences the answerers read, and the cited answer.

They hold data and format it (``to_dict`` writes the results format of
``../shared/eval/README.md``); they import nothing of the pipeline, so every stage can use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Paragraph:
    """One blank-line-separated block of a document."""

    doc: str
    number: int
    start: int
    end: int
    text: str
    title: str
    title_number: int
    boilerplate: bool = False
    # PDFs only: the page the paragraph starts on and its place on that page, both from 1
    page: int | None = None
    page_para: int | None = None

    @property
    def locator(self) -> str:
        """How a citation names the paragraph: "p. 3 ¶ 2" in a PDF, "¶ 14" elsewhere."""
        if self.page is not None and self.page_para is not None:
            return f"p. {self.page} ¶ {self.page_para}"
        return f"¶ {self.number}"


@dataclass
class Document:
    """One article file, or one record of a ``.jsonl`` corpus."""

    name: str
    source: str
    text: str
    paragraphs: list[Paragraph] = field(default_factory=list)
    # what the file says about itself: title, author, date, site, url (web pages, PDF, DOCX)
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def titles(self) -> list[str]:
        return list(dict.fromkeys(p.title for p in self.paragraphs))


@dataclass
class SourceFile:
    """A file of the corpus folder, with its checksum and the documents read from it."""

    name: str
    sha256: str
    encoding: str
    documents: list[Document]
    kind: str = "text"
    # read, but with a caveat the user should see, e.g. a web page read without its main text
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage: whole paragraphs, or whole sentences of one paragraph."""

    doc: str
    source: str
    title: str
    para_start: int
    para_end: int
    start: int
    end: int
    text: str

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.start}-{self.end}"

    @property
    def with_title(self) -> str:
        """The article title as context, then the text: what the keyword index and the term
        weights see (the embedder sees each sentence, store.rows.SentenceRows.chunk_means)."""
        if self.text.startswith(self.title[:40]):
            return self.text
        return f"{self.title}\n{self.text}"


@dataclass(frozen=True)
class Passage:
    """A ranked chunk, with the scores that placed it."""

    rank: int
    chunk: Chunk
    score: float
    dense: float | None = None
    keyword: float | None = None

    @property
    def doc(self) -> str:
        return self.chunk.doc

    @property
    def title(self) -> str:
        return self.chunk.title

    @property
    def text(self) -> str:
        return self.chunk.text

    @property
    def paragraphs(self) -> tuple[int, int]:
        return (self.chunk.para_start, self.chunk.para_end)

    def to_dict(self) -> dict[str, Any]:
        """The ``passages`` entry of the results format in ``../shared/eval/README.md``."""
        return {
            "rank": self.rank,
            "doc": self.chunk.doc,
            "source": self.chunk.source,
            "title": self.chunk.title,
            "paragraphs": list(self.paragraphs),
            "start": self.chunk.start,
            "end": self.chunk.end,
            "score": round(float(self.score), 6),
            "dense": None if self.dense is None else round(float(self.dense), 6),
            "keyword": None if self.keyword is None else round(float(self.keyword), 6),
            "text": self.chunk.text,
        }


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, located in its source document."""

    passage_index: int
    start: int              # offsets in the source document's text
    end: int
    paragraph: int
    text: str


@dataclass(frozen=True)
class Citation:
    """One ``[n]`` marker: the passage it points to and the verbatim supporting sentence."""

    n: int
    passage: Passage
    paragraph: int          # paragraph number (in the source file) holding the quote
    quote: str              # verbatim substring of passage.text
    quote_start: int        # character offsets of the quote in the source document's text
    quote_end: int
    # the exact answer phrase inside the quote (document offsets), when the reader found one
    phrase: tuple[int, int] | None = None

    @property
    def phrase_text(self) -> str:
        """The answer phrase as it stands in the quote ("" when there is none)."""
        if self.phrase is None:
            return ""
        return self.quote[self.phrase[0] - self.quote_start: self.phrase[1] - self.quote_start]

    @property
    def doc(self) -> str:
        return self.passage.doc

    @property
    def title(self) -> str:
        return self.passage.title

    def to_dict(self) -> dict[str, Any]:
        """The ``citations`` entry of the results format in ``../shared/eval/README.md``."""
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
            "phrase": self.phrase_text,
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
    notice: str | None = None              # e.g. "The LLM timed out; showing the extractive …"
    support: float | None = None           # extractive: how well the best sentences match
    unmentioned: list[str] = field(default_factory=list)  # names of the question no article has

    def to_dict(self, qid: str | None = None) -> dict[str, Any]:
        """One results line in the format of ``../shared/eval/README.md``."""
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
            "unmentioned": self.unmentioned,
        })
        return row
