"""Small PDF and DOCX files made inside the tests: exact layouts, no fixtures on disk."""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence

# A line of text placed on a page: x and y in points from the bottom left, the text, font size.
Line = tuple[float, float, str, float]


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def content_stream(lines: Sequence[Line]) -> bytes:
    parts = [b"BT"]
    for x, y, text, size in lines:
        parts.append(b"/F1 %.1f Tf 1 0 0 1 %.2f %.2f Tm (%s) Tj" % (size, x, y, _escape(text)))
    parts.append(b"ET")
    return b"\n".join(parts)


def make_pdf(pages: Sequence[Sequence[Line] | bytes], *, compress: bool = False) -> bytes:
    """A PDF with one page per item: lines to place, or a raw content stream."""
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, filled in below
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    kids = []
    for page in pages:
        stream = page if isinstance(page, bytes) else content_stream(page)
        extra = b""
        if compress:
            stream, extra = zlib.compress(stream, 9), b" /Filter /FlateDecode"
        objects.append(b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(stream), extra, stream))
        content_id = len(objects)
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content_id)
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


def wrap(text: str, width: int = 80) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [*lines, current] if current else lines


def typeset(paragraphs: Sequence[Sequence[str] | str], *, header: str | None = None,
            footer: str | None = None, size: float = 11, leading: float = 14,
            gap: float = 10, lines_per_page: int = 40) -> list[list[Line]]:
    """Pages of a simple one-column layout. A paragraph is a string (wrapped here) or its
    lines as given (to place a hyphen at a line end). ``footer`` may hold ``{page}``."""
    pages: list[list[Line]] = []
    page: list[Line] = []
    y = 0.0

    def new_page() -> None:
        nonlocal page, y
        page = []
        pages.append(page)
        number = len(pages)
        if header:
            page.append((72, 750, header, 9))
        if footer:
            page.append((280, 40, footer.format(page=number), 9))
        y = 720.0

    new_page()
    for para in paragraphs:
        lines = wrap(para) if isinstance(para, str) else list(para)
        for line in lines:
            if y < 720 - leading * lines_per_page:
                new_page()
            page.append((72, y, line, size))
            y -= leading
        y -= gap
    return pages


def make_docx(blocks: Sequence[tuple[str, str]]) -> bytes:
    """A DOCX of (style, text) blocks; style "Title", "Heading 1", "Normal", "List Bullet"."""
    import docx

    document = docx.Document()
    for style, text in blocks:
        document.add_paragraph(text, style=style)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
