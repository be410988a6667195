"""Uploads land inside the corpus folder, under safe names, never overwrite silently."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval import SourceError
from retrieval.corpus import MAX_NAME_BYTES, safe_name, save_upload
from retrieval.load import list_sources


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


@pytest.mark.parametrize("sent", ["x.exe", "x.pdf", "README", "../../", "..", ".txt",
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
