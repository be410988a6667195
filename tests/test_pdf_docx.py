"""PDF and DOCX: paragraphs rebuilt, pages kept, bad files refused with one clear line.

The PDFs are typeset here (synthetic_docs.py) so that every line's place is known.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pypdf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic_docs import make_docx, make_pdf, typeset

from retrieval.errors import SourceError
from retrieval.ingest import office, pdf
from retrieval.ingest.load import load_folder, read_data, read_source, sha256_file

MEMORY_CAP_MB = 200  # peak RSS of a process that imports the loader and reads one file
ROOT = Path(__file__).resolve().parents[1]

LONG = ("The port of Valdoria opened in 2024 after a decade of work on its piers, its cranes "
        "and the dredged channel that lets the largest container ships reach the quays. ")


def report_pages() -> list:
    """Three pages with a running header and footer; the third paragraph of page 2 goes on
    at the top of page 3."""
    first = typeset(
        ["Valdoria harbor report",
         LONG * 3,
         ["Cranes from three countries unload ships every day, and the new termi-",
          "nal doubles the capacity of the well-",
          "known old one."]],
        header="Valdoria Times — Harbor report", footer="Page {page} of 3")
    second = typeset(
        ["A well-known fact: the tide here is small.", LONG * 4 + "The channel is deepened every"],
        header="Valdoria Times — Harbor report", footer="Page 2 of 3")
    third = typeset(
        [["winter by two dredgers."], "Ships arrive weekly from Asia and Europe."],
        header="Valdoria Times — Harbor report", footer="Page 3 of 3")
    return [*first, *second, *third]


def read_pdf_bytes(data: bytes, name: str = "report.pdf"):
    return read_data(name, data)


def test_pdf_paragraphs_rebuilt_with_their_pages():
    source = read_pdf_bytes(make_pdf(report_pages(), compress=True))
    doc = source.documents[0]
    texts = [p.text for p in doc.paragraphs]
    assert texts[0] == "Valdoria harbor report"
    assert texts[1] == (LONG * 3).strip()
    # a hyphen at a line end is joined; a word the file writes with a hyphen keeps it
    assert texts[2] == ("Cranes from three countries unload ships every day, and the new "
                        "terminal doubles the capacity of the well-known old one.")
    assert texts[3] == "A well-known fact: the tide here is small."
    # the paragraph cut by the page break is one paragraph, on the page it starts on
    assert texts[4] == (LONG * 4).strip() + " The channel is deepened every winter by two dredgers."
    assert texts[5] == "Ships arrive weekly from Asia and Europe."
    # running header and "Page n of 3" footer dropped from every page
    assert "Valdoria Times" not in doc.text and "Page " not in doc.text
    pages = [p.page for p in doc.paragraphs]
    assert pages == sorted(pages) and pages[0] == 1 and pages[-1] == 3
    assert [p.locator for p in doc.paragraphs if p.page == 1][:2] == ["p. 1 ¶ 1", "p. 1 ¶ 2"]
    assert doc.paragraphs[5].locator == f"p. {doc.paragraphs[5].page} ¶ 1"
    assert all(doc.text[p.start:p.end] == p.text for p in doc.paragraphs)
    assert source.kind == "pdf" and source.notices == []


def test_pdf_page_numbers_survive_the_index_record():
    """paragraphs.json holds dataclasses.asdict(Paragraph) and reads back Paragraph(**r)."""
    from dataclasses import asdict

    from retrieval.types import Paragraph

    doc = read_pdf_bytes(make_pdf(report_pages())).documents[0]
    again = [Paragraph(**asdict(p)) for p in doc.paragraphs]
    assert again == doc.paragraphs
    old_record = {k: v for k, v in asdict(doc.paragraphs[0]).items()
                  if k not in ("page", "page_para")}
    assert Paragraph(**old_record).locator == "¶ 0"  # an index built before pages existed


def test_pdf_metadata_goes_into_the_document():
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf(report_pages()))))
    writer.add_metadata({"/Title": "Harbor report 2024", "/Author": "Port Authority",
                         "/CreationDate": "D:20240115093000Z"})
    out = io.BytesIO()
    writer.write(out)
    meta = read_pdf_bytes(out.getvalue()).documents[0].meta
    assert meta == {"title": "Harbor report 2024", "author": "Port Authority",
                    "date": "2024-01-15"}


def _image_only_page() -> bytes:
    return b"q 100 0 0 100 72 600 cm 0.5 g 0 0 1 1 re f Q"


def test_scanned_pdf_is_refused_with_the_fix():
    with pytest.raises(SourceError, match=r"scan\.pdf: has no text layer .*OCR"):
        read_pdf_bytes(make_pdf([_image_only_page()] * 3), "scan.pdf")


def test_pdf_with_some_scanned_pages_is_read_with_a_notice():
    pages = [*typeset(["Valdoria harbor report", LONG]), _image_only_page()]
    source = read_pdf_bytes(make_pdf(pages))
    assert source.documents[0].paragraphs[0].text == "Valdoria harbor report"
    assert source.notices == ["report.pdf: page 2 of 2 have no text layer (scanned?) and were "
                              "skipped; run OCR to read them"]


def _encrypted(user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf(report_pages()))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_password_protected_pdf_is_refused_with_the_fix():
    with pytest.raises(SourceError, match=r"report\.pdf: is password-protected; save a copy"):
        read_pdf_bytes(_encrypted("secret"))


def test_pdf_locked_only_against_editing_is_read():
    doc = read_pdf_bytes(_encrypted("")).documents[0]
    assert doc.paragraphs[0].text == "Valdoria harbor report"


@pytest.mark.parametrize("data", [
    make_pdf(report_pages())[:400],                    # truncated download
    b"%PDF-1.4\n" + bytes(range(256)) * 40,            # header, then noise
    b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\ntrailer << /Root 1 0 R >>",
], ids=["truncated", "noise", "dangling-pages"])
def test_broken_pdf_gives_one_line_never_an_empty_success(data):
    with pytest.raises(SourceError) as err:
        read_pdf_bytes(data)
    message = str(err.value)
    assert message.startswith("report.pdf: ") and "\n" not in message
    assert "PDF" in message


def _bomb(inflated_mb: int) -> bytes:
    """A page whose content stream inflates from a few hundred KB to ``inflated_mb`` MB."""
    squeeze = zlib.compressobj(9)
    block = b"0 0 m " * (1 << 17)
    parts = [squeeze.compress(block) for _ in range(inflated_mb * (1 << 20) // len(block))]
    stream = b"".join([*parts, squeeze.flush()])
    body = b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream)
    template = make_pdf([b"BT ET"])
    plain = b"<< /Length 5 >>\nstream\nBT ET\nendstream"
    assert template.count(plain) == 1
    # the xref offsets after the stream move; pypdf repairs them, as readers do
    return template.replace(plain, body)


def _read_in_child(path: Path) -> tuple[str, float]:
    """Read ``path`` in a fresh interpreter: its outcome and its peak RSS in MB."""
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from retrieval.errors import SourceError\n"
        "from retrieval.ingest.load import read_source\n"
        "try:\n"
        "    doc = read_source(Path(sys.argv[1]), 10**9).documents[0]\n"
        "    print(f'read {len(doc.paragraphs)} paragraphs')\n"
        "except SourceError as err:\n"
        "    print(f'refused {err}')\n"
        # VmHWM: this process's own peak. ru_maxrss would report the forking pytest's size
        "status = Path('/proc/self/status')\n"
        "hwm = [l for l in status.read_text().splitlines() if l.startswith('VmHWM:')]\n"
        "kb = int(hwm[0].split()[1]) if hwm else "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(kb / 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, check=True)
    outcome, peak = done.stdout.strip().rsplit("\n", 1)
    return outcome, float(peak)


def test_pdf_decompression_bomb_is_refused_within_the_memory_cap(tmp_path):
    path = tmp_path / "bomb.pdf"
    path.write_bytes(_bomb(400))
    assert path.stat().st_size < 2_000_000
    outcome, peak_mb = _read_in_child(path)
    print(f"bomb: {path.stat().st_size / 1e6:.1f} MB file inflating to 400 MB, "
          f"peak RSS {peak_mb:.0f} MB")
    assert outcome.startswith("refused bomb.pdf: a compressed part expands past the 16 MB "
                              "limit per stream")
    assert peak_mb < MEMORY_CAP_MB


def test_pdf_of_2000_pages_is_read_within_the_memory_cap(tmp_path):
    words = "harbor crane ship cargo dock pier tide vessel anchor freight quay berth".split()
    pages = [[(72, 720, f"The {words[n % 12]} and the {words[n // 12 % 12]} of the "
                        f"{words[n // 144 % 12]} are at {words[n * 7 % 12]}.", 11)]
             for n in range(2000)]
    path = tmp_path / "book.pdf"
    path.write_bytes(make_pdf(pages, compress=True))
    outcome, peak_mb = _read_in_child(path)
    print(f"2,000 pages: peak RSS {peak_mb:.0f} MB")
    assert outcome == "read 2000 paragraphs"
    assert peak_mb < MEMORY_CAP_MB


def test_pdf_over_the_page_limit_names_the_limit(monkeypatch):
    monkeypatch.setattr(pdf, "MAX_PAGES", 5)
    with pytest.raises(SourceError, match=r"report\.pdf: 6 pages is over the 5-page limit for "
                                          "one PDF; split the file"):
        read_pdf_bytes(make_pdf([[(72, 720, "Some text.", 11)]] * 6))


def test_pdf_over_the_text_limit_names_the_limit(monkeypatch):
    monkeypatch.setattr(pdf, "MAX_TEXT_CHARS", 500)
    with pytest.raises(SourceError, match="more than 500 characters of text, the limit"):
        read_pdf_bytes(make_pdf(report_pages()))


# ---------------------------------------------------------------------------- DOCX
BLOCKS = [
    ("Title", "Harbor of Valdoria"),
    ("Normal", "The port opened in 2024 after a decade of work."),
    ("Heading 2", "Cranes"),
    ("List Bullet", "Three cranes from Korea"),
    ("Normal", ""),
    ("Heading 1", "Ships"),
    ("Normal", "Ships arrive weekly."),
]


def test_docx_paragraphs_headings_and_titles():
    doc = read_data("port.docx", make_docx(BLOCKS)).documents[0]
    assert [(p.text, p.title) for p in doc.paragraphs] == [
        ("Harbor of Valdoria", "Harbor of Valdoria"),
        ("The port opened in 2024 after a decade of work.", "Harbor of Valdoria"),
        ("Cranes", "Harbor of Valdoria"),
        ("Three cranes from Korea", "Harbor of Valdoria"),
        ("Ships", "Ships"),
        ("Ships arrive weekly.", "Ships"),
    ]
    assert all(doc.text[p.start:p.end] == p.text for p in doc.paragraphs)
    assert all(p.page is None and p.locator == f"¶ {p.number}" for p in doc.paragraphs)


def test_docx_table_rows_are_paragraphs():
    import docx

    document = docx.Document()
    document.add_paragraph("Arrivals", style="Title")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([("Year", "Ships"), ("2024", "12")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    texts = [p.text for p in read_data("t.docx", out.getvalue()).documents[0].paragraphs]
    assert texts == ["Arrivals", "Year | Ships", "2024 | 12"]


@pytest.mark.parametrize("data, message", [
    (b"PK\x03\x04" + bytes(100), r"not a readable DOCX \(a damaged ZIP package\)"),
    (b"Just some text", r"is not a DOCX \(it is not a ZIP package\)"),
    (make_docx(BLOCKS)[:-200], "not a readable DOCX"),
], ids=["zip-header-only", "not-a-zip", "truncated"])
def test_broken_docx_gives_one_line(data, message):
    with pytest.raises(SourceError, match=message) as err:
        read_data("bad.docx", data)
    assert "\n" not in str(err.value)


def test_zip_without_a_word_document_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("word/other.xml", "<x/>")
    with pytest.raises(SourceError, match=r"without word/document\.xml"):
        read_data("odd.docx", out.getvalue())


def test_docx_zip_bomb_is_refused_before_unpacking(monkeypatch):
    monkeypatch.setattr(office, "MAX_UNPACKED_BYTES", 1_000_000)
    data = make_docx([("Normal", "x" * 2_000_000)])
    assert len(data) < 100_000
    with pytest.raises(SourceError, match=r"big.docx: unpacks to \d MB, over the 1 MB limit "
                                          r"for one DOCX \(a zip bomb\?\)"):
        read_data("big.docx", data)


# ------------------------------------------------------------- content, not suffix
def test_pdf_renamed_txt_is_read_as_pdf(tmp_path):
    path = tmp_path / "report.txt"
    path.write_bytes(make_pdf(report_pages()))
    source = read_source(path, 10**6)
    assert source.kind == "pdf"
    assert source.documents[0].paragraphs[0].text == "Valdoria harbor report"
    assert "%PDF" not in source.documents[0].text and "endobj" not in source.documents[0].text
    assert source.notices == ["report.txt: holds a PDF despite its .txt suffix; read as PDF"]


def test_docx_renamed_md_is_read_as_docx():
    source = read_data("notes.md", make_docx(BLOCKS))
    assert source.kind == "docx" and source.documents[0].paragraphs[0].text == "Harbor of Valdoria"


@pytest.mark.parametrize("name, data, message", [
    ("scan.txt", b"\x89PNG\r\n\x1a\n" + bytes(50), "scan.txt: is a PNG image, not text"),
    ("fake.pdf", b"Harbor news in plain text.", "fake.pdf: is not a PDF"),
    ("old.txt", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(50), "save it as .docx"),
    ("bundle.txt", b"PK\x03\x04" + bytes(60), "bundle.txt: is a ZIP archive, not a document"),
])
def test_content_that_no_reader_takes_is_named(name, data, message):
    with pytest.raises(SourceError, match=message):
        read_data(name, data)


def test_folder_with_every_type_loads_each_with_its_reader(tmp_path):
    (tmp_path / "a.pdf").write_bytes(make_pdf(report_pages()))
    (tmp_path / "b.docx").write_bytes(make_docx(BLOCKS))
    (tmp_path / "c.md").write_text("# Port\n\nShips **arrive**.\n", encoding="utf-8")
    (tmp_path / "d.txt").write_text("Port\n\nShips arrive.\n", encoding="utf-8")
    (tmp_path / "e.pdf").write_bytes(make_pdf([_image_only_page()]))
    loaded = load_folder(tmp_path)
    assert [(f.name, f.kind) for f in loaded.files] == [
        ("a.pdf", "pdf"), ("b.docx", "docx"), ("c.md", "markdown"), ("d.txt", "text")]
    assert list(loaded.failed) == ["e.pdf"] and loaded.problems == [loaded.failed["e.pdf"]]
    assert loaded.failed_sha256 == {"e.pdf": sha256_file(tmp_path / "e.pdf")}


def test_source_metadata_of_pdf_and_docx(tmp_path):
    from retrieval.ingest.load import source_metadata

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf(report_pages()))))
    writer.add_metadata({"/Title": "Harbor report 2024", "/Author": "Port Authority"})
    writer.write(tmp_path / "r.pdf")
    assert source_metadata(tmp_path / "r.pdf") == {"title": "Harbor report 2024",
                                                     "author": "Port Authority"}
    import docx

    document = docx.Document()
    document.core_properties.title = "Harbor notes"
    document.core_properties.author = "A. Pilot"
    document.add_paragraph("Ships arrive weekly.")
    document.save(tmp_path / "n.docx")
    meta = source_metadata(tmp_path / "n.docx")
    assert meta["title"] == "Harbor notes" and meta["author"] == "A. Pilot"
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 nothing else")
    assert source_metadata(tmp_path / "bad.pdf") == {}


_VALID_PDF = make_pdf(report_pages(), compress=True)
_VALID_DOCX = make_docx(BLOCKS)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(kind=st.sampled_from(["report.pdf", "notes.docx"]), cut=st.floats(0, 1),
       flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=8))
def test_damaged_pdf_or_docx_reads_or_is_refused_in_one_line(kind, cut, flips):
    data = bytearray(_VALID_PDF if kind.endswith(".pdf") else _VALID_DOCX)
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    data = bytes(data[: max(8, int(cut * len(data)))]) if cut < 0.97 else bytes(data)
    try:
        source = read_data(kind, data)
    except SourceError as err:
        assert str(err).startswith(f"{kind}: ") and "\n" not in str(err)
        return
    doc = source.documents[0]
    assert all(doc.text[p.start:p.end] == p.text for p in doc.paragraphs)


def test_bullets_start_paragraphs_and_a_smaller_bullet_glyph_does_not_split_its_item():
    lines = [(72, 720, "The port offers:", 11)]
    y = 706.0
    for item in (["a new terminal with four cranes", "from Korea and Japan;"],
                 ["a dredged channel."]):
        lines.append((72, y, "•", 7))           # the bullet in a smaller symbol font
        lines.append((80, y, item[0], 11))
        for more in item[1:]:
            y -= 14
            lines.append((80, y, more, 11))
        y -= 14
    lines.append((300, 40, "ii", 9))             # a roman page number
    texts = [p.text for p in read_pdf_bytes(make_pdf([lines])).documents[0].paragraphs]
    assert texts == ["The port offers:", "• a new terminal with four cranes from Korea and Japan;",
                     "• a dredged channel."]


def test_left_and_right_running_heads_of_a_book_are_dropped():
    pages = []
    days = "one two three four five six seven eight".split()
    for n in range(1, 9):
        head = "Harbors of the World" if n % 2 == 0 else f"Chapter 1. Valdoria {n}"
        pages.append([(72, 750, head, 9),
                      (72, 720, f"On day {days[n - 1]} the quay was busy.", 11)])
    doc = read_pdf_bytes(make_pdf(pages)).documents[0]
    assert [p.text for p in doc.paragraphs][:2] == [
        "On day one the quay was busy.", "On day two the quay was busy."]
    assert "Harbors of the World" not in doc.text and "Chapter 1" not in doc.text


def test_ligature_characters_become_letters():
    assert "e\ufb03cient \ufb01rst \ufb02ow".translate(pdf._LIGATURES) == "efficient first flow"


def test_a_head_naming_the_current_chapter_is_dropped_once_on_three_pages():
    pages = []
    for n in range(1, 7):
        head = f"Chapter {1 if n <= 3 else 2}: {'Cranes' if n <= 3 else 'Ships'} {n}"
        pages.append([(72, 750, head, 9),
                      (72, 720, f"Text of page {'one two three four five six'.split()[n - 1]}.",
                       11),
                      (72, 706, f"More words on {'abcdef'[n - 1]}.", 11)])
    doc = read_pdf_bytes(make_pdf(pages)).documents[0]
    assert "Chapter" not in doc.text
    assert doc.paragraphs[0].text.startswith("Text of page one.")
    assert doc.text.count("Text of page") == 6 and doc.text.count("More words on") == 6
