"""Saved web pages: the article's main text and metadata, by trafilatura (offline).

Menus, cookie notices, share bars, related links and footers are left out. When trafilatura
finds no main text, the page's visible text is read instead (ingest.load.html_to_text), with a
notice.
"""

from __future__ import annotations

import re

from .load import Extracted, html_to_text, join_blocks

_BLOCKS = {"p", "head", "item", "row", "code", "quote"}
_SAVED_FROM = re.compile(r"<!--\s*saved from url=\(\d+\)\s*(\S+?)\s*-->", re.IGNORECASE)
_META_FIELDS = {"title": "title", "author": "author", "date": "date", "site": "sitename",
                "url": "url"}
MAX_META_CHARS = 300
# Past this size (no news article is near it) trafilatura skips its second-opinion extractors,
# which take about as long again as its main one on such a page.
FAST_ABOVE_CHARS = 2_000_000


def read_html(name: str, markup: str) -> Extracted:
    """The article of a web page: its title, then its paragraphs in order."""
    import trafilatura

    doc = trafilatura.bare_extraction(
        markup, with_metadata=True, favor_precision=True, include_comments=False,
        include_tables=True, include_images=False, deduplicate=False, output_format="python",
        fast=len(markup) > FAST_ABOVE_CHARS,
    )
    meta = _metadata(doc, markup)
    body = getattr(doc, "body", None)  # output_format="python": a Document, or None
    blocks = _blocks(body) if body is not None else []
    if not blocks:
        return Extracted(html_to_text(markup), meta=meta, notices=[
            f"{name}: no main article text found; indexed all the page's visible text, menus "
            "included (save the article page itself for a cleaner result)"])
    title = meta.get("title", "")
    if title:
        same = [i for i, b in enumerate(blocks) if _norm(b) == _norm(title)]
        if same:
            del blocks[same[0]]
        blocks.insert(0, title)
    text, _ = join_blocks(blocks)
    return Extracted(text, starts=[0], meta=meta)


def html_metadata(markup: str) -> dict[str, str]:
    """Title, author, date, site and url of a page, without extracting its text."""
    from trafilatura import extract_metadata

    try:
        doc = extract_metadata(markup)
    except Exception:  # metadata is a nicety: a page it fails on still shows its passages
        doc = None
    return _metadata(doc, markup)


def _blocks(body) -> list[str]:
    """One block of text per paragraph, heading, list item, table row or quote."""
    blocks: list[str] = []
    for element in body:
        if element.tag in ("list", "table") or (element.tag == "quote" and len(element)):
            blocks.extend(_blocks(element))
            continue
        if element.tag == "row":
            cells = [" ".join("".join(c.itertext()).split()) for c in element]
            blocks.append(" | ".join(c for c in cells if c))
            continue
        if element.tag in _BLOCKS or element.tag in ("cell", "div"):
            text = " ".join("".join(element.itertext()).split())
            if text:
                blocks.append(text)
            continue
        blocks.extend(_blocks(element))
    return [b for b in blocks if b]


def _metadata(doc, markup: str) -> dict[str, str]:
    meta: dict[str, str] = {}
    for key, attr in _META_FIELDS.items():
        value = getattr(doc, attr, None) if doc is not None else None
        if value:
            meta[key] = " ".join(str(value).split())[:MAX_META_CHARS]
    if "title" not in meta:
        title = _title_tag(markup)
        if title:
            meta["title"] = title[:MAX_META_CHARS]
    saved = _SAVED_FROM.search(markup[:4096])
    if "url" not in meta and saved:
        meta["url"] = saved.group(1)[:MAX_META_CHARS]
    return meta


def _title_tag(markup: str) -> str:
    """The page's <title>, wherever it sits, but not an <svg> icon's."""
    import lxml.html
    from lxml.etree import ParserError

    try:
        root = lxml.html.fromstring(markup)
    except (ParserError, ValueError):
        return ""
    titles = root.xpath("//title[not(ancestor::svg)]")
    return " ".join(titles[0].text_content().split()) if titles else ""


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()
