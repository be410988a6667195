"""Turn document text and answers into Streamlit Markdown that can only show text.

Every ASCII punctuation character of the input is backslash-escaped, so Markdown links,
images, HTML tags, emphasis, Streamlit directives (``:red[...]``), emoji codes and math
in a document are shown literally and stay inert. Highlights are added afterwards with
Streamlit's own directives (``:orange-background[...]``); nothing here ever needs
``unsafe_allow_html``.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Sequence
from urllib.parse import urlencode

from ..text.tokens import keyword_tokens

QUOTE_STYLE = "orange-background"
TERM_STYLE = "blue-background"
_PUNCT = frozenset(string.punctuation)
_WORD = re.compile(r"\w+")
_MARKER = re.compile(r"\\\[(\d{1,3})\\\]")
_JOINER = "\u2060"  # WORD JOINER: invisible, breaks the autolink patterns
_WWW = re.compile(r"www\.", re.IGNORECASE)
_PARA_BREAK = re.compile(r"\n\s*\n")
_MINIMAL = frozenset("\\`*_[]<>!|~#$:")
_LINE_BREAKS = frozenset("\r\n\t\f\v\x1c\x1d\x1e\x85\u2028\u2029")


def escape_markdown(text: str) -> str:
    """Text that Markdown renders exactly as written: every ASCII punctuation mark escaped.

    Line breaks become spaces (a paragraph is shown as one block), every other kind of
    space is kept (U+00A0, U+2009, U+3000: ``isprintable()`` is False for them) and other
    control characters are dropped.
    """
    out = []
    for ch in _break_autolinks(str(text)):
        if ch in _PUNCT:
            out.append("\\" + ch)
        elif ch in _LINE_BREAKS:
            out.append(" ")
        elif ch.isprintable() or ch in (" ", _JOINER) or unicodedata.category(ch) == "Zs":
            out.append(ch)
        elif ch.isspace():
            out.append(" ")
    return "".join(out)


def _break_autolinks(text: str) -> str:
    """Put an invisible word joiner into ``://``, ``www.`` and ``@``.

    Streamlit's Markdown turns bare URLs and e-mail addresses into links after escapes
    are resolved, so escaping alone cannot keep them inert.
    """
    text = text.replace("://", ":" + _JOINER + "//").replace("@", "@" + _JOINER)
    return _WWW.sub(lambda m: m.group()[:3] + _JOINER + ".", text)


def _escape_block(text: str) -> str:
    """Escaped text whose blank-line paragraph breaks become Markdown hard line breaks."""
    return "  \n".join(escape_markdown(part) for part in _PARA_BREAK.split(text))


def escape_minimal(text: str) -> str:
    """Lighter escaping for exported Markdown: no links, images, HTML, emphasis or tables."""
    return "".join("\\" + ch if ch in _MINIMAL else ch for ch in str(text))


def term_spans(text: str, query: str) -> list[tuple[int, int]]:
    """Spans of the words of ``text`` that match a query word (same stem, stop words ignored).

    Words are found with a fixed pattern; nothing from the query becomes a regex.
    """
    wanted = set(keyword_tokens(query))
    if not wanted:
        return []
    spans = []
    for match in _WORD.finditer(text):
        tokens = keyword_tokens(match.group())
        if tokens and tokens[0] in wanted:
            spans.append(match.span())
    return spans


def find_quote(text: str, quote: str | None, hint: int | None = None) -> tuple[int, int] | None:
    """Where ``quote`` sits in ``text`` (nearest to ``hint`` if it occurs twice)."""
    if not quote:
        return None
    if hint is not None and hint >= 0 and text[hint: hint + len(quote)] == quote:
        return hint, hint + len(quote)
    found = text.find(quote)
    if found < 0:
        squeezed = " ".join(quote.split())
        found = " ".join(text.split()).find(squeezed) if squeezed else -1
        if found < 0:
            return None
        return _squeezed_to_original(text, found, len(squeezed))
    return found, found + len(quote)


def _squeezed_to_original(text: str, start: int, length: int) -> tuple[int, int] | None:
    """Map a span of the whitespace-collapsed text back to ``text``."""
    mapping = []
    previous_space = True
    for i, ch in enumerate(text):
        if ch.isspace():
            if not previous_space:
                mapping.append(i)
            previous_space = True
        else:
            mapping.append(i)
            previous_space = False
    if start + length > len(mapping) or length == 0:
        return None
    return mapping[start], mapping[start + length - 1] + 1


def highlight(text: str, quote: tuple[int, int] | None = None,
              terms: Iterable[tuple[int, int]] = (),
              more_quotes: Iterable[tuple[int, int]] = ()) -> str:
    """Escaped ``text`` with the quote spans and the term spans highlighted.

    Terms inside a quote are shown in bold within the quote's highlight.
    """
    marks = [0] * len(text)       # 0 plain, 1 term, 2 quote, 3 term inside quote
    for span in [quote, *more_quotes] if quote else list(more_quotes):
        for i in range(*_whole_words(text, *span)):
            marks[i] = 2
    for start, end in terms:
        for i in range(*_whole_words(text, start, end)):
            if start <= i < end or marks[i] < 2:   # inside the quote a term is only bold
                marks[i] |= 1
    out, i = [], 0
    while i < len(text):
        j = i
        while j < len(text) and marks[j] == marks[i]:
            j += 1
        out.append((marks[i], _escape_block(text[i:j])))
        i = j
    return _join_quote_runs(out)


def _whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """``start:end`` widened to the spaces around it: a highlight's padding would otherwise
    split a word from its punctuation ("Port 's")."""
    start, end = max(0, start), min(len(text), end)
    while 0 < start < end and not text[start - 1].isspace():
        start -= 1
    while start < end < len(text) and not text[end].isspace():
        end += 1
    return start, end


def _join_quote_runs(parts: list[tuple[int, str]]) -> str:
    """Merge consecutive quote segments into one directive, bolding terms inside it."""
    out: list[str] = []
    quote: list[str] = []
    for mark, body in parts:
        if mark >= 2:
            quote.append(f"**{body}**" if mark == 3 and body.strip() else body)
            continue
        if quote:
            out.append(f":{QUOTE_STYLE}[{''.join(quote)}]")
            quote = []
        out.append(f":{TERM_STYLE}[{body}]" if mark == 1 and body.strip() else body)
    if quote:
        out.append(f":{QUOTE_STYLE}[{''.join(quote)}]")
    return "".join(out)


def passage_markdown(text: str, quote: str | None = None, query: str | None = None,
                     quote_hint: int | None = None,
                     more_quotes: Iterable[tuple[str, int | None]] = ()) -> str:
    """A passage or paragraph for st.markdown: inert text, quotes and query terms highlighted.

    ``more_quotes``: further (quote, hint) pairs, for two sentences cited from one passage.
    """
    spans = [find_quote(text, q, hint) for q, hint in [(quote, quote_hint), *more_quotes]]
    terms = term_spans(text, query) if query else []
    found = [s for s in spans if s is not None]
    return highlight(text, found[0] if found else None, terms, found[1:])


def answer_markdown(text: str, phrases: Sequence[str] = ()) -> str:
    """An answer as inert text, its ``[n]`` citation markers in bold, and each of ``phrases``
    (the reader's exact answer in each cited sentence, in order) in bold where it stands."""
    # each cited sentence ends at its marker: a phrase is looked for in its own sentence
    ends = [m.end() for m in _RAW_MARKER.finditer(text)]
    bounds = list(zip([0, *ends], [*ends, len(text)]))
    if len(bounds) - 1 != len(phrases):
        bounds = [(0, len(text))] * len(phrases) + [(0, len(text))]
    pieces, pos = [], 0
    for phrase, (lo, hi) in zip((" ".join(p.split()) for p in phrases), bounds):
        at = text.find(phrase, max(pos, lo), hi) if phrase else -1
        if at < 0:
            continue
        pieces += [_markers(text[pos:at]), f"**{escape_markdown(phrase)}**"]
        pos = at + len(phrase)
    return "".join([*pieces, _markers(text[pos:])])


_RAW_MARKER = re.compile(r"\[\d+\]")


def _markers(text: str) -> str:
    return _MARKER.sub(r"**\\[\1\\]**", escape_markdown(text))


def deep_link(doc: str, paragraph: int, quote: tuple[int, int] | None = None) -> str:
    """The query string that reopens a paragraph (and its highlighted quote) in context."""
    params: dict[str, str | int] = {"doc": doc, "para": paragraph}
    if quote is not None:
        params["hl"] = f"{quote[0]}-{quote[1]}"
    return "?" + urlencode(params)


def parse_highlight(value: str | None) -> tuple[int, int] | None:
    """``"120-180"`` -> (120, 180); anything else -> None."""
    if not value:
        return None
    start, sep, end = value.partition("-")
    if not (sep and start.isdigit() and end.isdigit()) or int(end) <= int(start):
        return None
    return int(start), int(end)


def absolute_link(base_url: str, query: str) -> str:
    """``query`` (``?doc=…``) on the page at ``base_url``; "" unless that is http(s)."""
    base = base_url.split("?")[0].split("#")[0].strip()
    if not re.match(r"https?://[^\s/]+", base, re.IGNORECASE) or any(c in base for c in "<> "):
        return ""
    if base.count("/") == 2:          # "http://host:port": the page is the root path
        base += "/"
    return base + query
