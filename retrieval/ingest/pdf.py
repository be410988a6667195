"""PDF text by page (pypdf), with its paragraphs rebuilt from the layout.

A PDF holds lines placed on pages, not paragraphs. A paragraph ends where the gap to the next
line is wider than the page's line spacing, where the font size changes, where the next line is
indented, or after a short line ending a sentence. Lines ending in a hyphen are joined without
it; a paragraph cut by a page break is joined with its end on the next page. Lines repeated at
the top or bottom of most pages (running headers, footers, page numbers) are dropped. Each
paragraph keeps the page it starts on.

Limits, each named in its error: pages per file, decompressed bytes per stream (a
decompression bomb stops there) and characters of text per file.
"""

from __future__ import annotations

import io
import math
import re
import statistics
from dataclasses import dataclass
from itertools import pairwise
from typing import cast

from ..errors import SourceError
from .load import Extracted, join_blocks

MAX_PAGES = 2_000
MAX_STREAM_BYTES = 16_000_000   # decompressed, per stream; pypdf's own default is 75 MB
MAX_TEXT_CHARS = 10_000_000     # of text per file
_EDGE_LINES = 2                 # lines at the top and at the bottom that may be running heads
_SENTENCE_END = re.compile(r"[.!?:;\"”’)\]]$")
_PAGE_NUMBER = re.compile(
    r"^(page\s*)?[-–—(]?\s*(\d+|[ivxlc]{1,6})\s*[-–—)]?(\s*(of|/)\s*\d+)?$", re.I)
_DIGITS = re.compile(r"\d+")
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi",
                            "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"})
_BULLETS = ("•", "◦", "▪", "‣", "●", "■", "□", "➢", "✓")
_WORD = re.compile(r"\w+(?:-\w+)*")


@dataclass
class _Line:
    x: float
    y: float
    size: float
    text: str


def read_pdf(name: str, data: bytes) -> Extracted:
    import pypdf
    from pypdf.errors import LimitReachedError

    limits = {f"{kind}_maximum_output_length": MAX_STREAM_BYTES
              for kind in ("zlib", "lzw", "run_length", "jbig2", "brotli")}
    try:
        with pypdf.apply_configuration(**limits,  # type: ignore[arg-type]
                                       maximum_declared_stream_length=MAX_STREAM_BYTES,
                                       array_based_stream_maximum_output_length=MAX_STREAM_BYTES):
            reader = pypdf.PdfReader(io.BytesIO(data))
            _unlock(name, reader)
            count = len(reader.pages)
            if count > MAX_PAGES:
                raise SourceError(f"{name}: {count:,} pages is over the {MAX_PAGES:,}-page limit "
                                  "for one PDF; split the file into smaller ones")
            pages = _read_pages(name, reader)
            meta = _metadata(reader)
    except SourceError:
        raise
    except LimitReachedError:
        raise SourceError(
            f"{name}: a compressed part expands past the {MAX_STREAM_BYTES / 1e6:.0f} MB limit "
            "per stream (a decompression bomb?); the file was not read") from None
    except MemoryError:
        raise SourceError(f"{name}: ran out of memory reading this PDF; split the file or "
                          "export it again") from None
    except Exception as err:  # pypdf raises many kinds of errors on a damaged file
        raise SourceError(f"{name}: cannot be read as a PDF ({type(err).__name__}: "
                          f"{' '.join(str(err).split())[:80]}); export it again as PDF") from None
    return _assemble(name, pages, meta)


def _unlock(name: str, reader) -> None:
    """An encrypted PDF opens only when its user password is empty (a permissions lock)."""
    if not reader.is_encrypted:
        return
    from pypdf.errors import DependencyError

    try:
        unlocked = reader.decrypt("")
    except DependencyError:
        raise SourceError(f"{name}: is AES-encrypted, which needs the cryptography package to "
                          "open; `pip install cryptography`, or save a copy without encryption"
                          ) from None
    except Exception:
        unlocked = 0
    if not unlocked:
        raise SourceError(f"{name}: is password-protected; save a copy without the password "
                          "and add that instead")


def _read_pages(name: str, reader) -> list[list[_Line]]:
    pages, chars = [], 0
    for page in reader.pages:
        lines = _page_lines(page)
        chars += sum(len(line.text) for line in lines)
        if chars > MAX_TEXT_CHARS:
            raise SourceError(f"{name}: holds more than {MAX_TEXT_CHARS:,} characters of text, "
                              "the limit for one PDF; split the file into smaller ones")
        pages.append(lines)
    return pages


def _page_lines(page) -> list[_Line]:
    """The page's text lines in reading order, each with where it starts and its font size."""
    lines: list[_Line] = []
    parts: list[str] = []
    start: tuple[float, float] | None = None
    size, longest = 0.0, 0  # the font size of the line's longest piece (not of a bullet)

    def flush() -> None:
        nonlocal parts, start, size, longest
        text = " ".join("".join(parts).translate(_LIGATURES).split())
        if text and start is not None:
            lines.append(_Line(*start, size, text))
        parts, start, size, longest = [], None, 0.0, 0

    def visit(text: str, cm, tm, font_dict, font_size) -> None:
        nonlocal start, size, longest
        for k, piece in enumerate(text.split("\n")):
            if k:
                flush()
            if piece.strip():
                if start is None:
                    start = (tm[4] * cm[0] + tm[5] * cm[2] + cm[4],
                             tm[4] * cm[1] + tm[5] * cm[3] + cm[5])
                if len(piece.strip()) > longest:
                    scale = math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3]) or 1.0
                    size, longest = float(font_size or 0) * scale, len(piece.strip())
            parts.append(piece)

    page.extract_text(visitor_text=visit)
    flush()
    return lines


def pdf_metadata(data: bytes) -> dict[str, str]:
    """Title, author and date from a PDF's information dictionary; {} when it has none."""
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            return {}
        return _metadata(reader)
    except Exception:  # metadata is a nicety: a file it fails on still shows its passages
        return {}


def _metadata(reader) -> dict[str, str]:
    info = reader.metadata or {}
    meta = {}
    for key, field in (("title", "/Title"), ("author", "/Author")):
        value = info.get(field)
        if isinstance(value, str) and value.strip():
            meta[key] = " ".join(value.split())[:300]
    created = info.get("/CreationDate")
    match = re.match(r"D:(\d{4})(\d{2})?(\d{2})?", str(created or ""))
    if match:
        meta["date"] = "-".join(g for g in match.groups() if g)
    return meta


def _assemble(name: str, pages: list[list[_Line]], meta: dict[str, str]) -> Extracted:
    if not any(pages):
        raise SourceError(f"{name}: has no text layer (a scanned document?); run OCR on it, "
                          "e.g. with ocrmypdf, and add the result")
    running = _running_lines(pages)
    words = _hyphenated_words(pages)
    paragraphs: list[tuple[int, str]] = []   # (page, text)
    for number, lines in enumerate(pages, start=1):
        body = [line for line, edge in zip(lines, _edges(lines))
                if not edge or not (_PAGE_NUMBER.match(line.text) or (
                    {(edge, _key(line)), (number % 2, edge, _key(line))} & running))]
        for k, text in enumerate(_rebuild(body, words)):
            if k == 0 and paragraphs and _continues(paragraphs[-1][1], text):
                page, before = paragraphs[-1]
                paragraphs[-1] = (page, _join(before, text, words))
            else:
                paragraphs.append((number, text))
    text, kept = join_blocks([t for _, t in paragraphs])
    notices = []
    empty = [str(n) for n, lines in enumerate(pages, start=1) if not lines]
    if empty:
        shown = ", ".join(empty[:10]) + (" …" if len(empty) > 10 else "")
        notices.append(f"{name}: page{'s' if len(empty) > 1 else ''} {shown} of {len(pages)} "
                       "have no text layer (scanned?) and were skipped; run OCR to read them")
    return Extracted(text, pages=[paragraphs[i][0] for i in kept], meta=meta, notices=notices)


def _key(line: _Line) -> tuple[int, str]:
    """A running head's identity: where it sits (to 3 points) and its text, digits masked."""
    return round(line.y / 3), _DIGITS.sub("#", " ".join(line.text.lower().split()))


def _edges(lines: list[_Line]) -> list[str]:
    """For each line: "top" or "bottom" if it is one of the page's outermost lines, else ""."""
    ys = sorted({round(line.y, 1) for line in lines}, reverse=True)
    top, bottom = set(ys[:_EDGE_LINES]), set(ys[-_EDGE_LINES:])
    return ["top" if round(line.y, 1) in top else "bottom" if round(line.y, 1) in bottom else ""
            for line in lines]


def _running_lines(pages: list[list[_Line]]) -> set[tuple]:
    """Running heads and feet: the texts (digits masked) at the same place at the top or
    bottom of most pages, as (edge, key), or of most odd or most even pages (a book's left and
    right heads), as (page % 2, edge, key); and a page's outermost line found on three pages or
    more (a head naming the current chapter), as (edge, key)."""
    numbered = [(n, lines) for n, lines in enumerate(pages, start=1) if lines]
    counts: dict[tuple, int] = {}
    for n, lines in numbered:
        ys = [line.y for line in lines]
        outer = {max(ys), min(ys)}
        seen = set()
        for line, edge in zip(lines, _edges(lines)):
            if edge:
                key = _key(line)
                seen |= {(edge, key), (n % 2, edge, key)}
                if line.y in outer:
                    seen.add(("outermost", edge, key))
        for item in seen:
            counts[item] = counts.get(item, 0) + 1
    sizes = {0: sum(n % 2 == 0 for n, _ in numbered), 1: sum(n % 2 for n, _ in numbered)}
    running = set()
    for item, count in counts.items():
        if item[0] == "outermost":
            if count >= 3:
                running.add(item[1:])
            continue
        group = len(numbered) if len(item) == 2 else sizes[cast(int, item[0])]
        if (len(item) == 2 or group >= 4) and count >= max(2, math.ceil(0.6 * group)):
            running.add(item)
    return running


def _rebuild(lines: list[_Line], words: set[str]) -> list[str]:
    """Lines of one page joined into paragraphs."""
    if not lines:
        return []
    gaps = [a.y - b.y for a, b in pairwise(lines) if 0 < a.y - b.y < 3 * max(a.size, 1)]
    # the page's line spacing; with too few lines to tell, the usual 1.2 times the font size
    spacing = statistics.median(gaps) if len(gaps) >= 3 else None
    left = min(line.x for line in lines)
    longest = max(len(line.text) for line in lines)
    paragraphs = [lines[0].text]
    for prev, line in pairwise(lines):
        gap = prev.y - line.y
        ends_sentence = bool(_SENTENCE_END.search(prev.text))
        new = (
            gap <= 0 or (spacing is not None and gap > 1.3 * spacing)
            or (spacing is None and gap > 1.5 * max(prev.size, 1))
            or abs(line.size - prev.size) > 1.0
            or line.text.startswith(_BULLETS)
            or (ends_sentence and line.x > left + max(line.size, 4))
            or (ends_sentence and len(prev.text) < 0.7 * longest)
        )
        if new:
            paragraphs.append(line.text)
        else:
            paragraphs[-1] = _join(paragraphs[-1], line.text, words)
    return paragraphs


def _continues(before: str, after: str) -> bool:
    """A paragraph cut by a page break: no sentence end before it, lower case after it."""
    return not _SENTENCE_END.search(before) and after[:1].islower()


def _hyphenated_words(pages: list[list[_Line]]) -> set[str]:
    """Words written with a hyphen inside a line somewhere in the file ("well-known")."""
    return {w.lower() for lines in pages for line in lines for w in _WORD.findall(line.text)
            if "-" in w}


def _join(before: str, after: str, hyphenated: set[str]) -> str:
    """Two lines of one paragraph; a hyphen at a line end is dropped unless the file writes
    that word with a hyphen elsewhere."""
    if before.endswith("\u00ad"):
        return before[:-1] + after
    if before.endswith("-") and len(before) > 1 and before[-2].isalpha() and after[:1].islower():
        head = _WORD.findall(before[:-1])
        tail = _WORD.findall(after)
        if head and tail and f"{head[-1]}-{tail[0]}".lower() in hyphenated:
            return before + after
        return before[:-1] + after
    return f"{before} {after}"
