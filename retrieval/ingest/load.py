"""Ingest: read source files into documents made of numbered paragraphs.

A paragraph is a blank-line-separated block, numbered from 0 exactly as
``[p.strip() for p in re.split(r'\\n\\s*\\n', text) if p.strip()]`` numbers them.
Each keeps its character span in the document's stored text, the title of the article it
belongs to and whether it is site boilerplate (kept for numbering, not indexed).

The stored text is the file's own text for ``.txt`` and ``.jsonl``; for the other formats it
is the plain text read out of them (web.py, markdown_text.py, pdf.py, office.py), one block
per paragraph, so that paragraph numbers and offsets point into it exactly as for ``.txt``.
The file's content decides how it is read, not only its suffix: a PDF named ``.txt`` is read
as a PDF.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import itertools
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import SourceError
from ..text.sentences import PARA_SEP
from ..types import Document, Paragraph, SourceFile

# Each file type read, by suffix, with the format it is read as when its content does not say
# otherwise (``sniff``). The loader, the index's file list and the upload allow-list
# (corpus.py) all accept exactly these suffixes.
_TEXT_KINDS = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html",
               ".htm": "html", ".jsonl": "jsonl", ".pdf": "pdf", ".docx": "docx"}
SUPPORTED_SUFFIXES = tuple(_TEXT_KINDS)
# Binary formats that are not documents, by their first bytes, for a message naming them.
_MAGIC = (
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"), (b"GIF89a", "a GIF image"), (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"), (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\xd0\xcf\x11\xe0", "an old Office file (.doc/.xls); save it as .docx"),
)
_CONTINUE = re.compile(r"continue reading\s*[:\-–—]?\s*(.+)", re.IGNORECASE | re.DOTALL)
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")
MAX_PARAGRAPHS = 100_000  # per file: a million one-line paragraphs would need ~0.5 GB of RAM
_BOILERPLATE_EXACT = frozenset(
    {
        "we recommend", "most read", "key words", "keywords", "you may also like",
        "related", "related articles", "related stories", "related news", "recommended",
        "read more", "share", "share this", "share this article", "advertisement",
        "trending", "popular", "most popular", "comments", "leave a comment", "tags",
    }
)
_BOILERPLATE_PREFIXES = (
    "continue reading", "(web editor:", "web editor:", "(for the latest", "©", "copyright ©",
    "all rights reserved", "(editor:", "editor:", "subscribe to our newsletter",
)
# a picture's credit line, alone in its paragraph: "(Credit: Jane Roe / Grist)", "Photo: AFP"
_CREDIT_PREFIXES = (
    "credit:", "photo:", "photos:", "photo credit", "photograph:", "photograph by",
    "image:", "image credit", "illustration:", "picture:",
)
_SOCIAL_NAMES = (
    "facebook", "twitter", "instagram", "youtube", "whatsapp", "linkedin", "telegram",
    "weibo", "新浪微博", "apple news", "pinterest", "reddit", "tiktok", "wechat", "email",
    "print",
)


@dataclass
class LoadResult:
    files: list[SourceFile]
    problems: list[str]
    # the file names behind ``problems``, each with its message and its content's sha256
    # (a status can then tell a file that still fails from one edited since)
    failed: dict[str, str] = field(default_factory=dict)
    failed_sha256: dict[str, str] = field(default_factory=dict)

    @property
    def notices(self) -> list[str]:
        return [n for f in self.files for n in f.notices]


@dataclass
class Extracted:
    """Plain text read out of a file: one block per paragraph, blocks split by blank lines."""

    text: str
    pages: list[int] | None = None    # per paragraph, for formats with pages
    starts: list[int] | None = None   # paragraphs that begin an article (headings)
    meta: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


def join_blocks(blocks: list[str]) -> tuple[str, list[int]]:
    """Blocks as paragraphs of one text, and the indices of the blocks kept (non-empty ones).

    A block's own blank lines are closed up so that it stays one paragraph."""
    kept, out = [], []
    for i, block in enumerate(blocks):
        block = PARA_SEP.sub("\n", block).strip()
        if block:
            kept.append(i)
            out.append(block)
    return "\n\n".join(out), kept


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_paragraphs(text: str) -> list[tuple[int, int]]:
    """Character spans of the stripped, non-empty blank-line-separated blocks."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for match in [*PARA_SEP.finditer(text), None]:
        block_end = match.start() if match else len(text)
        block = text[pos:block_end]
        stripped = block.strip()
        if stripped:
            start = pos + (len(block) - len(block.lstrip()))
            spans.append((start, start + len(stripped)))
        if match:
            pos = match.end()
    return spans


def is_boilerplate(text: str) -> bool:
    """Share bars, "We Recommend" lists, "Continue reading" links, editor and photo credits."""
    lowered = " ".join(text.lower().split())
    if lowered.rstrip(":") in _BOILERPLATE_EXACT:
        return True
    if lowered.startswith(_BOILERPLATE_PREFIXES) or "(web editor:" in lowered:
        return True
    if len(lowered) < 120 and lowered.lstrip("([").startswith(_CREDIT_PREFIXES):
        return True
    return len(lowered) < 160 and sum(name in lowered for name in _SOCIAL_NAMES) >= 3


def _norm_title(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def _article_starts(texts: list[str], boiler: list[bool]) -> list[int]:
    """Indices of title paragraphs: the first content paragraph, the one after each
    "Continue reading" line, and the title each "Continue reading <title>" names."""
    by_text: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        if len(text) < 400:
            by_text.setdefault(_norm_title(text), []).append(i)
    starts: set[int] = set()
    expect_title = True
    for i, text in enumerate(texts):
        continued = _CONTINUE.match(text)
        if continued:
            named = [j for j in by_text.get(_norm_title(continued.group(1)), []) if j < i]
            if named:
                starts.add(named[-1])
            expect_title = True
        elif expect_title and not boiler[i]:
            starts.add(i)
            expect_title = False
    return sorted(starts)


def build_paragraphs(doc: str, text: str, pages: list[int] | None = None,
                     starts: list[int] | None = None) -> list[Paragraph]:
    """Numbered paragraphs of ``text``; ``pages`` gives each one's page, ``starts`` the
    paragraphs that begin an article (by default: the first, and "Continue reading" rules)."""
    spans = split_paragraphs(text)
    texts = [text[s:e] for s, e in spans]
    boiler = [is_boilerplate(t) for t in texts]
    starts = sorted(starts) if starts else _article_starts(texts, boiler) or [0]
    paragraphs: list[Paragraph] = []
    current = starts[0]
    next_start = 1
    for i, (s, e) in enumerate(spans):
        while next_start < len(starts) and starts[next_start] <= i:
            current = starts[next_start]
            next_start += 1
        title_number = current if current <= i else starts[0]
        title = " ".join(texts[title_number].lstrip("#").split())
        paragraphs.append(Paragraph(doc, i, s, e, texts[i], title, title_number, boiler[i]))
    return _number_pages(paragraphs, pages) if pages else paragraphs


def _number_pages(paragraphs: list[Paragraph], pages: list[int]) -> list[Paragraph]:
    if len(pages) != len(paragraphs):
        raise ValueError(f"{len(pages)} page numbers for {len(paragraphs)} paragraphs")
    out, on_page, last = [], 0, None
    for para, page in zip(paragraphs, pages):
        on_page = on_page + 1 if page == last else 1
        last = page
        out.append(replace(para, page=page, page_para=on_page))
    return out


def decode(data: bytes, name: str) -> tuple[str, str]:
    """Decode bytes as UTF-8, UTF-16 (with BOM), or a single-byte Western encoding.

    Raises SourceError for binary data and for UTF-8 that is broken part-way through,
    rather than guessing and silently corrupting text.
    """
    if data.startswith(codecs.BOM_UTF8):
        return _strict(data[3:], "utf-8", name), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _strict(data, "utf-16", name), "utf-16"
    if b"\x00" in data:
        raise SourceError(f"{name}: looks binary (it holds NUL bytes); add text files only")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as err:
        if _UTF8_MULTIBYTE.search(data):
            raise SourceError(
                f"{name}: invalid UTF-8 at byte {err.start}; re-save the file as UTF-8"
            ) from None
    try:
        text, encoding = data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        text, encoding = data.decode("latin-1"), "latin-1"
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f")
    if controls > max(2, len(text) // 100):
        raise SourceError(f"{name}: looks binary, not text; add text files only")
    return text, encoding


_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]{2,40})""",
                      re.IGNORECASE)


def _declared_charset(data: bytes, text: str, encoding: str) -> tuple[str, str]:
    """A page that is not UTF-8, read in the charset its <meta> declares (windows-1251,
    gb2312, shift_jis, …) when that decodes it; otherwise as ``decode`` read it."""
    match = _CHARSET.search(data[:4096])
    if not match:
        return text, encoding
    declared = match.group(1).decode("ascii").lower()
    try:
        codec = codecs.lookup(declared).name
        return data.decode(codec), codec
    except (LookupError, UnicodeDecodeError):
        return text, encoding


def _strict(data: bytes, encoding: str, name: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        raise SourceError(
            f"{name}: invalid {encoding} at byte {err.start}; re-save the file as UTF-8"
        ) from None


_BLOCK_TAGS = [
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "figcaption",
    "dt", "dd", "td", "th", "tr", "div", "section", "article", "header", "footer", "aside",
    "table", "ul", "ol", "br", "hr",
]
# <title> is dropped wherever it sits (a page may put it in <body>): its text is used once, as
# the first paragraph, never again as body text.
_DROP_TAGS = ["script", "style", "noscript", "template", "iframe", "svg", "head", "object",
              "title"]


def html_to_text(markup: str) -> str:
    """Visible text of an HTML page, one paragraph per block element.

    One walk over the parsed tree, in linear time (inserting separators into the tree instead
    is quadratic: each insert looks up the tag among its siblings)."""
    from bs4 import BeautifulSoup  # here, not at the top: status and --help never parse HTML
    from bs4.element import CData, NavigableString

    soup = BeautifulSoup(markup, "html.parser")
    # the page's <title>, not an <svg> icon's tooltip title
    title_tag = next((t for t in soup.find_all("title") if t.find_parent("svg") is None), None)
    title = " ".join(title_tag.get_text(" ").split()) if title_tag else ""
    shown = (NavigableString, CData)  # what get_text() joins: no comments, no ruby annotations
    parts: list[str] = []
    stack: list[Iterator[Any]] = [iter(soup.contents)]
    while stack:
        node: Any = next(stack[-1], _END)
        if node is _END:
            stack.pop()
        elif node is _BLOCK_END:
            parts.append("\n\n")
        elif isinstance(node, NavigableString):
            if type(node) in shown:
                parts.append(str(node))
        elif node.name in _DROP_SET:
            continue
        elif node.name in _BLOCK_SET:
            parts.append("\n\n")
            stack.append(itertools.chain(node.contents, [_BLOCK_END]))
        else:
            stack.append(iter(node.contents))
    blocks = [" ".join(b.split()) for b in PARA_SEP.split("".join(parts))]
    blocks = [b for b in blocks if b]
    if title and (not blocks or _norm_title(blocks[0]) != _norm_title(title)):
        blocks.insert(0, title)
    return "\n\n".join(blocks)


_END, _BLOCK_END = object(), object()
_BLOCK_SET, _DROP_SET = frozenset(_BLOCK_TAGS), frozenset(_DROP_TAGS)


def _documents_from_jsonl(name: str, text: str) -> list[Document]:
    documents = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            doc_id, body = str(record["_id"]), str(record.get("text") or "")
            title = str(record.get("title") or "").strip()
        except (json.JSONDecodeError, KeyError, TypeError):
            raise SourceError(
                f"{name}: line {line_no} is not a JSON object with _id/title/text; "
                "fix that line (BEIR corpus format)"
            ) from None
        doc_text = f"{title}\n\n{body}" if title else body
        if doc_text.strip():
            documents.append(Document(doc_id, name, doc_text, build_paragraphs(doc_id, doc_text)))
    return documents


def _check_paragraph_count(name: str, text: str, suffix: str) -> None:
    """Refuse, before building them, more paragraphs (or JSONL records) than memory allows."""
    if suffix == ".jsonl":
        count, what = text.count("\n") + 1, "lines"
    else:
        count, what = sum(1 for _ in PARA_SEP.finditer(text)) + 1, "paragraphs"
    if count > MAX_PARAGRAPHS:
        raise SourceError(
            f"{name}: more than {MAX_PARAGRAPHS:,} {what}, the limit for one file; split the "
            "file into smaller ones"
        )


def read_source(path: Path, max_bytes: int) -> SourceFile:
    """Read one supported file. Raises SourceError naming the file and the fix."""
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise SourceError(
            f"{name}: unsupported file type {suffix or '(none)'}; use "
            + ", ".join(SUPPORTED_SUFFIXES)
        )
    check_file_size(name, path.stat().st_size, max_bytes)
    return read_data(name, path.read_bytes())


def check_file_size(name: str, size: int, max_bytes: int) -> None:
    """Refuse a file of more than ``max_bytes`` (RETRIEVAL_MAX_FILE_MB), naming it and the
    fix; the loader and the upload check the same limit with the same message."""
    if size > max_bytes:
        raise SourceError(
            f"{name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit; split "
            "the file or raise RETRIEVAL_MAX_FILE_MB"
        )


def sniff(name: str, data: bytes) -> tuple[str, list[str]]:
    """The format to read ``data`` as, from its content first and its suffix second, and a
    notice when the two disagree. Raises SourceError for content no format here can read."""
    suffix = Path(name).suffix.lower()
    by_suffix = _TEXT_KINDS.get(suffix, "text")
    # a PDF may have bytes before its header; a text that merely quotes "%PDF-" is still text
    if data.lstrip()[:5] == b"%PDF-" or (by_suffix == "pdf" and b"%PDF-" in data[:1024]):
        kind = "pdf"
    elif data.startswith(b"PK\x03\x04"):
        if by_suffix != "docx" and b"word/" not in data[:65536]:
            raise SourceError(f"{name}: is a ZIP archive, not a document; unzip it and add "
                              "the files inside")
        kind = "docx"
    elif by_suffix == "pdf":
        raise SourceError(f"{name}: is not a PDF (it has no %PDF- header); export it again "
                          "as PDF")
    elif by_suffix == "docx":
        raise SourceError(f"{name}: is not a DOCX (it is not a ZIP package); save it again "
                          "from a word processor as .docx")
    else:
        for magic, what in _MAGIC:
            if data.startswith(magic):
                fix = "" if "save it" in what else "; add text, HTML, Markdown, PDF or DOCX files"
                raise SourceError(f"{name}: is {what}, not text{fix}")
        return by_suffix, []
    if kind != by_suffix:
        return kind, [f"{name}: holds a {kind.upper()} despite its {suffix or 'missing'} "
                      f"suffix; read as {kind.upper()}"]
    return kind, []


def read_data(name: str, data: bytes) -> SourceFile:
    """Read a file's bytes as its content says. Raises SourceError naming the file and fix."""
    kind, notices = sniff(name, data)
    encoding = kind
    if kind in ("text", "markdown", "html", "jsonl"):
        text, encoding = decode(data, name)
        if kind == "html" and encoding in ("cp1252", "latin-1"):
            text, encoding = _declared_charset(data, text, encoding)
    if kind == "jsonl":
        _check_paragraph_count(name, text, ".jsonl")
        documents = _documents_from_jsonl(name, text)
    else:
        if kind in ("text", "markdown"):  # refused before a parser builds anything from it
            _check_paragraph_count(name, text, "")
        extracted = _extract(kind, name, data if kind in ("pdf", "docx") else text)
        notices += extracted.notices
        if kind != "text":
            _check_paragraph_count(name, extracted.text, "")
        paragraphs = build_paragraphs(name, extracted.text, extracted.pages, extracted.starts)
        documents = [Document(name, name, extracted.text, paragraphs, extracted.meta)]
    documents = [d for d in documents if any(not p.boilerplate for p in d.paragraphs)]
    if not documents:
        what = "is empty" if not data.strip() else "has no extractable text"
        raise SourceError(f"{name}: {what}; add text to it or remove it from the folder")
    return SourceFile(name, sha256_bytes(data), encoding, documents, kind, notices)


def _extract(kind: str, name: str, content: str | bytes) -> Extracted:
    if kind == "html":
        from .web import read_html

        return read_html(name, str(content))
    if kind == "markdown":
        from .markdown_text import read_markdown

        return read_markdown(str(content))
    if kind == "pdf":
        from .pdf import read_pdf

        return read_pdf(name, bytes(content))  # type: ignore[arg-type]
    if kind == "docx":
        from .office import read_docx

        return read_docx(name, bytes(content))  # type: ignore[arg-type]
    return Extracted(str(content))


def source_metadata(path: Path) -> dict[str, str]:
    """What a source file says about itself (title, author, date, site, url; the keys it has),
    read again from the file, for a page showing a passage's source. Cached while the file's
    size and mtime stay the same; {} for a file that is gone or unreadable."""
    try:
        stat = path.stat()
    except OSError:
        return {}
    return dict(_metadata_cached(str(path), stat.st_size, stat.st_mtime_ns))


@lru_cache(maxsize=256)
def _metadata_cached(path: str, size: int, mtime_ns: int) -> tuple[tuple[str, str], ...]:
    try:
        data = Path(path).read_bytes()
        kind, _ = sniff(Path(path).name, data)
        if kind == "html":
            from .web import html_metadata

            meta = html_metadata(decode(data, path)[0])
        elif kind == "pdf":
            from .pdf import pdf_metadata

            meta = pdf_metadata(data)
        elif kind == "docx":
            from .office import docx_metadata

            meta = docx_metadata(data)
        elif kind == "markdown":
            from .markdown_text import read_markdown

            meta = read_markdown(decode(data, path)[0]).meta
        else:
            meta = {}
    except (SourceError, OSError):
        return ()
    return tuple(meta.items())


def list_sources(folder: Path) -> list[Path]:
    """Visible regular files directly inside ``folder``, sorted by name. Sub-folders are not
    read: a browser's "save page" puts a page's images, scripts and frames in one beside it
    (``<page>_files/``), and none of that is article text."""
    if not folder.is_dir():
        raise SourceError(f"source folder {folder} does not exist; create it or pass --source DIR")
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def load_folder(folder: Path, max_bytes: int = 20_000_000) -> LoadResult:
    """Read every file of a folder; files that cannot be read become problems, not errors."""
    result = LoadResult([], [])
    for path in list_sources(folder):
        try:
            result.files.append(read_source(path, max_bytes))
        except SourceError as err:
            result.failed[path.name] = str(err)
        except OSError as err:
            result.failed[path.name] = (f"{path.name}: cannot be read ({err.strerror}); check "
                                        "its permissions")
        else:
            continue
        with contextlib.suppress(OSError):
            result.failed_sha256[path.name] = sha256_file(path)
    result.problems = list(result.failed.values())
    return result
