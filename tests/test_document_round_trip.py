"""PDF and DOCX end to end: upload, index, ask, cite (with the page for a PDF), open the deep
link, and refresh after the file changes."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from synthetic_docs import make_docx, make_pdf, typeset

from retrieval import Engine, FakeEmbedder, Settings
from retrieval.answer.reader import FakeReader
from retrieval.ingest.corpus import save_upload
from retrieval.ui.render import deep_link, parse_highlight

QUOTE = "Freighters carry Peruvian copper concentrate from Chancay to Shanghai."


def _pdf(quote: str = QUOTE) -> bytes:
    return make_pdf(typeset(["Peru copper report", "Copper exports of Peru grew in 2024.",
                             quote], lines_per_page=2))


def _docx(quote: str = QUOTE) -> bytes:
    return make_docx([("Title", "Peru copper report"),
                      ("Normal", "Copper exports of Peru grew in 2024."), ("Normal", quote)])


@pytest.mark.parametrize(("name", "make", "locator"), [
    ("copper.pdf", _pdf, "p. 2 ¶ 1"), ("copper.docx", _docx, None)])
def test_upload_index_ask_cite_link_and_refresh(tmp_path, name, make, locator):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    engine = Engine(Settings(source_dir=corpus, index_dir=tmp_path / "index"),
                    embedder=FakeEmbedder(), reader=FakeReader())
    engine.abstain_below = 0.0  # the hash embedder's support is not the bundled model's
    saved = save_upload(corpus, name, make(), max_bytes=10_000_000)
    assert (corpus / saved.name).is_file()
    engine.update_index()
    assert engine.status().fresh

    answer = engine.ask("What do freighters carry from Chancay to Shanghai?")
    cited = answer.citations[0]
    assert not answer.abstained and cited.quote == QUOTE and cited.doc == saved.name
    snap = engine.snapshot()
    para = snap.paragraph(cited.doc, cited.paragraph)
    assert para is not None and para.start <= cited.quote_start < cited.quote_end <= para.end
    if locator:
        assert para.locator == locator

    query = parse_qs(deep_link(cited.doc, cited.paragraph,
                               (cited.quote_start, cited.quote_end))[1:])
    assert query["doc"] == [saved.name] and int(query["para"][0]) == cited.paragraph
    start, end = parse_highlight(query["hl"][0])
    opened = snap.paragraph(query["doc"][0], int(query["para"][0]))
    assert opened.text[start - opened.start: end - opened.start] == QUOTE

    changed = "Freighters carry Peruvian zinc from Chancay to Shanghai."
    save_upload(corpus, saved.name, make(changed), max_bytes=10_000_000, overwrite=True)
    assert not engine.status().fresh
    engine.update_index()
    again = engine.ask("What do freighters carry from Chancay to Shanghai?")
    assert again.citations[0].quote == changed
