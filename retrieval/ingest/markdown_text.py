"""Markdown as the text it shows: no ``#``, ``**``, link targets or code fences.

Each heading, paragraph, list item, quote paragraph, table row and code block becomes one
paragraph. Level-1 headings begin articles: their text is the title of what follows.
"""

from __future__ import annotations

import re

from .load import Extracted, html_to_text, join_blocks

_SKIP_INLINE = {"html_inline"}


_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.{0,4000}?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)",
                           re.DOTALL)
_FRONT_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.MULTILINE)


def read_markdown(text: str) -> Extracted:
    from markdown_it import MarkdownIt  # here, not at the top: status never parses Markdown

    meta: dict[str, str] = {}
    front = _FRONT_MATTER.match(text)
    if front:  # YAML front matter (Jekyll, Hugo, Obsidian): not text; its title is metadata
        title = _FRONT_TITLE.search(front.group(1))
        if title:
            meta["title"] = title.group(1).strip("'\"")[:300]
        text = text[front.end():]
    tokens = MarkdownIt("commonmark", {"html": True}).enable("table").parse(text)
    blocks: list[str] = []
    heads: list[int] = []
    row: list[str] | None = None
    for i, token in enumerate(tokens):
        if token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            blocks.append(" | ".join(c for c in row if c))
            row = None
        elif token.type == "inline":
            words = _inline_text(token)
            if row is not None:
                row.append(words)
            else:
                if tokens[i - 1].type == "heading_open" and tokens[i - 1].tag == "h1":
                    heads.append(len(blocks))
                blocks.append(words)
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content.rstrip("\n"))
        elif token.type == "html_block":
            blocks.extend(html_to_text(token.content).split("\n\n"))
    blocks = [" ".join(b.split()) if "\n" not in b else b for b in blocks]
    joined, kept = join_blocks(blocks)
    position = {block: n for n, block in enumerate(kept)}
    starts = [position[h] for h in heads if h in position]
    return Extracted(joined, starts=starts if starts else None, meta=meta)


def _inline_text(token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "image":
            parts.append(child.content)   # the alt text
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type in _SKIP_INLINE:
            continue
    return "".join(parts)
