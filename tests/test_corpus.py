"""Uploads land inside the corpus folder, under safe names, never overwrite silently."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic_docs import make_docx, make_pdf, typeset

from retrieval import SourceError
from retrieval.ingest.corpus import (
    MAX_NAME_BYTES,
    REMOVED_DIR,
    remove_document,
    safe_name,
    save_upload,
)
from retrieval.ingest.load import SUPPORTED_SUFFIXES, list_sources, load_folder, read_source
from retrieval.store.index_store import _source_hashes


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../x.txt", "x.txt"),
        ("/etc/cron.d/evil.md", "evil.md"),
        ("..\\..\\windows\\report.html", "report.html"),
        ("a\x00b.txt", "ab.txt"),
        (".hidden.txt", "hidden.txt"),          # a dot file would be skipped by the loader
        ("News Report (final).TXT", "News Report_final.txt"),
        ("新闻 报道.jsonl", "新闻 报道.jsonl"),
        ("tab\tand\nnewline.md", "tabandnewline.md"),
    ],
)
def test_safe_name_keeps_a_plain_name(sent, kept):
    assert safe_name(sent) == kept


@pytest.mark.parametrize("sent", ["x.exe", "x.doc", "README", "../../", "..", ".txt",
                                  "\x00\x00.md", "x.txt.sh", ""])
def test_safe_name_refuses_with_one_line(sent):
    with pytest.raises(SourceError) as err:
        safe_name(sent)
    message = str(err.value)
    assert "\n" not in message and "\x00" not in message
    assert "upload" in message or "rename" in message


def test_very_long_name_is_shortened_but_keeps_its_type():
    name = safe_name("é" * 5000 + ".md")
    assert name.endswith(".md")
    assert len(name.encode()) <= MAX_NAME_BYTES


def test_upload_is_written_inside_the_folder(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    saved = save_upload(corpus, "../../x.txt", b"Alpacas live in Peru.\n", 1000)
    assert saved.status == "added"
    assert saved.path == corpus / "x.txt"
    assert (corpus / "x.txt").read_bytes() == b"Alpacas live in Peru.\n"
    assert not (tmp_path / "x.txt").exists()
    assert [p.name for p in corpus.iterdir()] == ["x.txt"]   # no temp file left behind


def test_absolute_path_and_nul_byte_stay_inside(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    outside = tmp_path / "outside.txt"
    save_upload(corpus, str(outside), b"one", 1000)
    save_upload(corpus, "evil\x00/../../../outside2.txt", b"two", 1000)
    assert not outside.exists() and not (tmp_path / "outside2.txt").exists()
    assert sorted(p.name for p in corpus.iterdir()) == ["outside.txt", "outside2.txt"]


def test_no_silent_overwrite(tmp_path):
    save_upload(tmp_path, "a.txt", b"first", 1000)
    again = save_upload(tmp_path, "a.txt", b"first", 1000)
    assert again.status == "unchanged"
    with pytest.raises(SourceError, match="already in the corpus"):
        save_upload(tmp_path, "a.txt", b"second", 1000)
    assert (tmp_path / "a.txt").read_bytes() == b"first"
    replaced = save_upload(tmp_path, "a.txt", b"second", 1000, overwrite=True)
    assert replaced.status == "replaced"
    assert (tmp_path / "a.txt").read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_size_limit_and_empty_file_write_nothing(tmp_path):
    with pytest.raises(SourceError, match="over the"):
        save_upload(tmp_path, "big.txt", b"x" * 2001, 2000)
    with pytest.raises(SourceError, match="empty"):
        save_upload(tmp_path, "empty.txt", b"", 2000)
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        save_upload(tmp_path / "nope", "a.txt", b"text", 1000)


def test_saved_upload_is_visible_to_the_loader(tmp_path):
    save_upload(tmp_path, ".secret notes.md", b"# Title\n\nBody text.\n", 1000)
    assert [p.name for p in list_sources(tmp_path)] == ["secret notes.md"]


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(min_size=0, max_size=300))
def test_any_name_stays_inside_or_is_refused(tmp_path, name):
    folder = tmp_path / "fuzz"
    folder.mkdir(exist_ok=True)
    for suffix in ("", ".txt"):
        try:
            saved = save_upload(folder, name + suffix, b"text", 1000, overwrite=True)
        except SourceError as err:
            assert "\n" not in str(err)
            continue
        assert saved.path.parent == folder
        assert saved.path.resolve().parent == folder.resolve()
        assert len(saved.name.encode()) <= MAX_NAME_BYTES
        assert not saved.name.startswith(".")
    assert all(p.parent == folder for p in folder.rglob("*"))


def test_every_readable_type_is_accepted():
    assert set(SUPPORTED_SUFFIXES) >= {".txt", ".md", ".html", ".htm", ".jsonl", ".pdf", ".docx"}
    assert safe_name("Report.PDF") == "Report.pdf"


def _accepts(call) -> bool:
    """False when ``call`` refuses the file for its type, True otherwise (any other refusal,
    e.g. of a PDF whose bytes are not a PDF, is about the content, not the type)."""
    try:
        call()
    except SourceError as err:
        return not any(why in str(err) for why in ("not accepted", "unsupported file type"))
    return True


@pytest.mark.parametrize("suffix", [*SUPPORTED_SUFFIXES, ".TXT", ".Docx", ".sh", ".doc",
                                    ".exe", ".json", ".csv", ".rtf", ".xml", ".htmlx", ""])
def test_upload_loader_and_index_accept_the_same_file_types(tmp_path, suffix):
    name = f"article{suffix}"
    (tmp_path / name).write_text("Alpacas live in the high Andes of Peru.\n", encoding="utf-8")
    uploaded = _accepts(lambda: safe_name(name))
    loaded = _accepts(lambda: read_source(tmp_path / name, 1_000_000))
    indexed = name in _source_hashes(tmp_path)
    assert uploaded == loaded == indexed == (suffix.lower() in SUPPORTED_SUFFIXES)


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("corpus.jsonl", b'{"_id": "a", "text": "Alpacas."}\nnot json\n', "line 2 is not a JSON"),
    ("photo.txt", b"\x89PNG\r\n\x1a\n" + bytes(40), "is a PNG image"),
    ("blob.txt", b"abc\x00def" * 10, "looks binary"),
    ("scan.pdf", make_pdf([b"q 1 0 0 1 0 0 cm Q"]), "has no text layer"),
    ("menu.html", b"<html><script>x()</script></html>", "no extractable text"),
    ("fake.docx", b"Just text", "is not a DOCX"),
])
def test_rejected_upload_is_never_saved(tmp_path, name, data, reason):
    with pytest.raises(SourceError, match=reason) as err:
        save_upload(tmp_path, name, data, 10**6)
    assert str(err.value).startswith(f"{name}: ") and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_rejected_replacement_keeps_the_old_file(tmp_path):
    save_upload(tmp_path, "corpus.jsonl", b'{"_id": "a", "text": "Alpacas."}\n', 1000)
    with pytest.raises(SourceError, match="line 1"):
        save_upload(tmp_path, "corpus.jsonl", b"broken\n", 1000, overwrite=True)
    assert (tmp_path / "corpus.jsonl").read_bytes() == b'{"_id": "a", "text": "Alpacas."}\n'


def test_pdf_docx_and_a_pdf_named_txt_are_saved_with_their_kind(tmp_path):
    pdf = make_pdf(typeset(["Harbor report", "Ships arrive weekly at Valdoria."]))
    assert save_upload(tmp_path, "report.pdf", pdf, 10**6).kind == "pdf"
    assert save_upload(tmp_path, "notes.docx", make_docx([("Title", "Notes")]), 10**6).kind \
        == "docx"
    renamed = save_upload(tmp_path, "renamed.txt", pdf, 10**6)
    assert renamed.kind == "pdf"
    assert renamed.notices == ["renamed.txt: holds a PDF despite its .txt suffix; read as PDF"]
    assert sorted(f.name for f in load_folder(tmp_path).files) == [
        "notes.docx", "renamed.txt", "report.pdf"]


def test_upload_notice_of_a_page_without_main_text(tmp_path):
    saved = save_upload(tmp_path, "menu.html",
                        b"<html><body><ul><li>Harbor news</li><li>Ships</li></ul></body></html>",
                        10**6)
    assert saved.status == "added"
    assert saved.notices and saved.notices[0].startswith("menu.html: no main article text")


def test_removed_document_leaves_the_index_and_is_kept_aside(fake_engine):
    folder = fake_engine.source_dir
    before = (folder / "coffee.txt").read_bytes()
    moved = remove_document(folder, "coffee.txt")
    assert not (folder / "coffee.txt").exists()
    assert moved.parent == folder / REMOVED_DIR and moved.read_bytes() == before
    assert "coffee.txt" not in [p.name for p in list_sources(folder)]
    assert fake_engine.status().deleted == ["coffee.txt"]
    report = fake_engine.update_index()
    assert report.deleted == ["coffee.txt"] and report.problems == []
    assert fake_engine.status().fresh
    assert "coffee.txt" not in fake_engine.snapshot().doc_names
    # removing the same name again later keeps both removed copies
    (folder / "coffee.txt").write_bytes(b"Coffee again\n\nMore coffee.\n")
    remove_document(folder, "coffee.txt")
    assert len(list((folder / REMOVED_DIR).iterdir())) == 2


@pytest.mark.parametrize("name", ["../coffee.txt", "", ".hidden", "missing.txt", REMOVED_DIR,
                                  "sub/coffee.txt"])
def test_remove_refuses_what_is_not_a_corpus_file(fake_engine, name):
    with pytest.raises(SourceError) as err:
        remove_document(fake_engine.source_dir, name)
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in list_sources(fake_engine.source_dir)) == [
        "alpacas.txt", "coffee.txt", "ports.txt", "trains.md"]


def test_uploaded_pdf_round_trips_with_page_numbers(fake_engine):
    pages = typeset(["Harbor report", "The port of Valdoria opened in 2024 after long works.",
                     "Chancay ships reach Valdoria in nine days from the north."],
                    lines_per_page=2, footer="Page {page}")
    save_upload(fake_engine.source_dir, "harbor.pdf", make_pdf(pages, compress=True), 10**6)
    assert fake_engine.status().added == ["harbor.pdf"]
    fake_engine.update_index()
    snap = fake_engine.snapshot()
    hit = next(p for p in fake_engine.search("Chancay ships Valdoria nine days", k=5)
               if p.chunk.source == "harbor.pdf")
    cited = [snap.paragraph("harbor.pdf", n)
             for n in range(hit.chunk.para_start, hit.chunk.para_end + 1)]
    assert [(p.locator, p.text) for p in cited if p is not None][-1] == (
        "p. 2 ¶ 1", "Chancay ships reach Valdoria in nine days from the north.")
    assert [p.locator for p in snap.context("harbor.pdf", 2)] == [
        "p. 1 ¶ 1", "p. 1 ¶ 2", "p. 2 ¶ 1"]
    assert "Page 2" not in hit.chunk.text
