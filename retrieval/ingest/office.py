"""DOCX text (python-docx): paragraphs, headings and table rows in document order.

The title (the Title style, or the first Heading 1) and later Heading 1s begin articles;
other headings stay paragraphs of their article. A DOCX is a ZIP package: one that would
unpack past MAX_UNPACKED_BYTES (a zip bomb) is refused before anything is unpacked.
"""

from __future__ import annotations

import io
import zipfile

from ..errors import SourceError
from .load import Extracted, join_blocks

MAX_UNPACKED_BYTES = 200_000_000
_ARTICLE_STYLES = ("title", "heading 1")


def read_docx(name: str, data: bytes) -> Extracted:
    _check_package(name, data)
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
        blocks, heads = _blocks(document)
        meta = _metadata(document)
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise SourceError(f"{name}: cannot be read as a DOCX ({type(err).__name__}); save it "
                          "again from a word processor as .docx") from None
    except Exception as err:  # lxml and python-docx raise many kinds of errors on a bad file
        raise SourceError(f"{name}: cannot be read as a DOCX ({type(err).__name__}: "
                          f"{' '.join(str(err).split())[:80]}); save it again as .docx") from None
    text, kept = join_blocks(blocks)
    position = {block: n for n, block in enumerate(kept)}
    starts = [position[h] for h in heads if h in position]
    return Extracted(text, starts=starts or None, meta=meta)


def _check_package(name: str, data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            infos = package.infolist()
            names = {info.filename for info in infos}
    except (zipfile.BadZipFile, ValueError, OSError):
        raise SourceError(f"{name}: is not a readable DOCX (a damaged ZIP package); save it "
                          "again from a word processor as .docx") from None
    if "word/document.xml" not in names:
        raise SourceError(f"{name}: is a ZIP package without word/document.xml, not a Word "
                          "document; save it as .docx")
    unpacked = sum(info.file_size for info in infos)
    if unpacked > MAX_UNPACKED_BYTES:
        raise SourceError(
            f"{name}: unpacks to {unpacked / 1e6:,.0f} MB, over the "
            f"{MAX_UNPACKED_BYTES / 1e6:.0f} MB limit for one DOCX (a zip bomb?); the file was "
            "not read")


def _blocks(document) -> tuple[list[str], list[int]]:
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    blocks: list[str] = []
    heads: list[int] = []
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text = " ".join(item.text.split())
            style = (item.style.name if item.style is not None else "").lower()
            if text and style in _ARTICLE_STYLES:
                heads.append(len(blocks))
            blocks.append(text)
        elif isinstance(item, Table):
            for row in item.rows:
                cells = list(dict.fromkeys(" ".join(c.text.split()) for c in row.cells))
                blocks.append(" | ".join(c for c in cells if c))
    return blocks, _article_heads(blocks, heads)


def _article_heads(blocks: list[str], heads: list[int]) -> list[int]:
    """Headings that begin articles; a Heading 1 right after the Title is part of the title."""
    kept: list[int] = []
    for h in heads:
        if kept and not any(b.strip() for b in blocks[kept[-1] + 1:h]):
            continue
        kept.append(h)
    return kept


def docx_metadata(data: bytes) -> dict[str, str]:
    """Title, author and creation date from a DOCX's core properties; {} when unreadable."""
    try:
        _check_package("", data)
        import docx

        return _metadata(docx.Document(io.BytesIO(data)))
    except Exception:  # metadata is a nicety: a file it fails on still shows its passages
        return {}


def _metadata(document) -> dict[str, str]:
    props = document.core_properties
    meta = {}
    if props.title:
        meta["title"] = " ".join(props.title.split())[:300]
    if props.author:
        meta["author"] = " ".join(props.author.split())[:300]
    if props.created:
        meta["date"] = props.created.date().isoformat()
    return meta
