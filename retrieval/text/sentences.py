"""The one sentence splitter, and the blank line that ends a paragraph.

The chunker, the index's sentence vectors, the answerers and the reader all split text with
``sentence_spans`` (through ``chunk_sentence_spans`` for a chunk), so they agree on every
sentence boundary.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..resources import words
from ..types import Chunk

PARA_SEP = re.compile(r"\n\s*\n")  # a blank line ends a paragraph

# A sentence ends at . ! ? … (plus closing quotes/brackets) followed by white space.
# (The look-behind and possessive quantifiers keep a long run of dots linear, not quadratic.)
_SENTENCE_END = re.compile(r"(?<![.!?…])[.!?…]++[\"'”’)\]]*+(?=\s)")
_NEXT_START = re.compile(r"\s+[\"'“‘(\[]?[A-Z0-9À-Ý]")
_ABBREVIATIONS = frozenset([*words("abbreviations"), *words("month_abbreviations")])
_MAX_SCAN = 2000  # characters; a "sentence" longer than this is cut at a space


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of the sentences in ``text[start:end]``, without surrounding white space."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    pos = start
    for match in _SENTENCE_END.finditer(text, start, end):
        cut = match.end()
        if not _NEXT_START.match(text, cut, end) or _is_abbreviation(text, match.start()):
            continue
        spans.extend(_hard_wrap(text, pos, cut))
        pos = cut
    spans.extend(_hard_wrap(text, pos, end))
    return spans


def _is_abbreviation(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word_start = dot
    while word_start > 0 and (text[word_start - 1].isalnum() or text[word_start - 1] == "."):
        word_start -= 1
    word = text[word_start:dot].lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _hard_wrap(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Trim a span; cut it at spaces (or anywhere, as a last resort) past _MAX_SCAN chars."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while end - start > _MAX_SCAN:
        cut = text.rfind(" ", start + _MAX_SCAN // 2, start + _MAX_SCAN)
        cut = cut if cut > start else start + _MAX_SCAN
        yield from _hard_wrap(text, start, cut)
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        yield (start, end)


def chunk_sentence_spans(chunk: Chunk) -> list[tuple[int, int, int]]:
    """(start, end, paragraph number) of each sentence of ``chunk``, offsets in its text.
    Split within each paragraph: no sentence runs across a paragraph break (a headline
    without a full stop and the paragraph after it)."""
    out: list[tuple[int, int, int]] = []
    text, para, pos = chunk.text, chunk.para_start, 0
    for sep in [*PARA_SEP.finditer(text), None]:
        end = sep.start() if sep else len(text)
        out.extend((s, e, para) for s, e in sentence_spans(text, pos, end))
        if sep:
            pos, para = sep.end(), para + 1
    return out


def chunk_sentences(chunk: Chunk) -> list[tuple[int, int]]:
    """Sentence spans within ``chunk.text`` (at least one: the whole text)."""
    return [(s, e) for s, e, _ in chunk_sentence_spans(chunk)] or [(0, len(chunk.text))]
