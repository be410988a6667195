"""Stage 1: read source files into documents made of numbered paragraphs.

A paragraph is a blank-line-separated block, numbered from 0 exactly as
``[p.strip() for p in re.split(r'\\n\\s*\\n', text) if p.strip()]`` numbers them.
Each keeps its character span in the decoded text, the title of the article it
belongs to and whether it is site boilerplate (kept for numbering, not indexed).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SourceError

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
_PARA_SEP = re.compile(r"\n\s*\n")
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
_SOCIAL_NAMES = (
    "facebook", "twitter", "instagram", "youtube", "whatsapp", "linkedin", "telegram",
    "weibo", "新浪微博", "apple news", "pinterest", "reddit", "tiktok", "wechat", "email",
    "print",
)


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


@dataclass
class Document:
    """One article file, or one record of a ``.jsonl`` corpus."""

    name: str
    source: str
    text: str
    paragraphs: list[Paragraph] = field(default_factory=list)

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


@dataclass
class LoadResult:
    files: list[SourceFile]
    problems: list[str]


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
    for match in [*_PARA_SEP.finditer(text), None]:
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
    """Share bars, "We Recommend" lists, "Continue reading" links, editor credits."""
    lowered = " ".join(text.lower().split())
    if lowered.rstrip(":") in _BOILERPLATE_EXACT:
        return True
    if lowered.startswith(_BOILERPLATE_PREFIXES) or "(web editor:" in lowered:
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


def build_paragraphs(doc: str, text: str) -> list[Paragraph]:
    spans = split_paragraphs(text)
    texts = [text[s:e] for s, e in spans]
    boiler = [is_boilerplate(t) for t in texts]
    starts = _article_starts(texts, boiler) or [0]
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
    return paragraphs


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
    """Visible text of an HTML page, one paragraph per block element."""
    from bs4 import BeautifulSoup  # here, not at the top: status and --help never parse HTML

    soup = BeautifulSoup(markup, "html.parser")
    # the page's <title>, not an <svg> icon's tooltip title
    title_tag = next((t for t in soup.find_all("title") if t.find_parent("svg") is None), None)
    title = " ".join(title_tag.get_text(" ").split()) if title_tag else ""
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    blocks = [" ".join(b.split()) for b in _PARA_SEP.split(soup.get_text())]
    blocks = [b for b in blocks if b]
    if title and (not blocks or _norm_title(blocks[0]) != _norm_title(title)):
        blocks.insert(0, title)
    return "\n\n".join(blocks)


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
        count, what = sum(1 for _ in _PARA_SEP.finditer(text)) + 1, "paragraphs"
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
    size = path.stat().st_size
    if size > max_bytes:
        raise SourceError(
            f"{name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit; split "
            "the file or raise RETRIEVAL_MAX_FILE_MB"
        )
    data = path.read_bytes()
    text, encoding = decode(data, name)
    if suffix in (".html", ".htm"):
        text = html_to_text(text)
    _check_paragraph_count(name, text, suffix)
    if suffix == ".jsonl":
        documents = _documents_from_jsonl(name, text)
    else:
        documents = [Document(name, name, text, build_paragraphs(name, text))]
    documents = [d for d in documents if any(not p.boilerplate for p in d.paragraphs)]
    if not documents:
        what = "is empty" if not data.strip() else "has no extractable text"
        raise SourceError(f"{name}: {what}; add text to it or remove it from the folder")
    return SourceFile(name, sha256_bytes(data), encoding, documents)


def list_sources(folder: Path) -> list[Path]:
    """Visible regular files directly inside ``folder``, sorted by name."""
    if not folder.is_dir():
        raise SourceError(f"source folder {folder} does not exist; create it or pass --source DIR")
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def load_folder(folder: Path, max_bytes: int = 20_000_000) -> LoadResult:
    """Read every file of a folder; files that cannot be read become problems, not errors."""
    files, problems = [], []
    for path in list_sources(folder):
        try:
            files.append(read_source(path, max_bytes))
        except SourceError as err:
            problems.append(str(err))
        except OSError as err:
            problems.append(f"{path.name}: cannot be read ({err.strerror}); check its permissions")
    return LoadResult(files, problems)
