"""Fuzz the loaders, the chunker and query handling with hypothesis.

Only the declared exception types may come out (SourceError from loaders, QueryError from
queries, nothing from the chunker), every chunk is an exact slice of its document, no text
is dropped, and nothing hangs: each example has a deadline and each test a hard timeout.
"""

from __future__ import annotations

import json
import string
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval import QueryError, SourceError
from retrieval.ingest.chunk import Chunker
from retrieval.ingest.load import (
    SUPPORTED_SUFFIXES,
    build_paragraphs,
    decode,
    html_to_text,
    read_source,
)
from retrieval.text.sentences import sentence_spans
from retrieval.types import Document

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

FUZZ = settings(max_examples=1000, deadline=timedelta(seconds=2), derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

# Characters that drive the paragraph, sentence and boilerplate logic.
TRICKY = list(".!?…\"'“”‘’()[]{}<>#\n\n\n \t\r\x0b\x0c\x00\x1c\u2028\u00a0-–—:;,") + list(
    "AaZz09ÀÝéß中🦙") + ["Mr.", "e.g.", "U.S.", "Continue reading ", "Share", "\n\n",
                         "Advertisement", "(Web editor: x)", "©", "<p>", "</p>", "<script>"]
tricky_text = st.lists(st.sampled_from(TRICKY) | st.text(max_size=8), max_size=400).map("".join)
any_text = st.one_of(st.text(max_size=3000), tricky_text,
                     st.tuples(tricky_text, st.integers(2, 200)).map(lambda p: p[0] * p[1]))
CHUNKER = Chunker()


def _content(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace())


def check_document(doc: Document) -> None:
    """Chunks are exact slices, in order, and cover every content character once."""
    for para in doc.paragraphs:
        assert doc.text[para.start:para.end] == para.text
    chunks = CHUNKER.chunk(doc)
    for chunk in chunks:
        assert chunk.text == doc.text[chunk.start:chunk.end]
        assert chunk.text.strip() == chunk.text and chunk.text
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    content = sum(_content(p.text) for p in doc.paragraphs if not p.boilerplate)
    assert sum(_content(c.text) for c in chunks) == content


@FUZZ
@given(data=st.binary(max_size=4000) | any_text.map(lambda t: t.encode("utf-8"))
       | any_text.map(lambda t: t.encode("utf-16")))
def test_decode_returns_text_or_a_source_error(data):
    try:
        text, encoding = decode(data, "fuzz.txt")
    except SourceError as err:
        assert str(err).startswith("fuzz.txt:") and "\n" not in str(err)
        return
    assert isinstance(text, str) and encoding
    if encoding in ("utf-8", "utf-8-sig", "utf-16"):  # exact decodings round-trip
        assert text.encode(encoding) == data


@FUZZ
@given(data=st.binary(max_size=3000) | any_text.map(str.encode),
       suffix=st.sampled_from([*SUPPORTED_SUFFIXES, ".pdf", ""]))
def test_read_source_returns_documents_or_a_source_error(tmp_path, data, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        source = read_source(path, 1_000_000)
    except SourceError as err:
        assert str(err).startswith(path.name) and "\n" not in str(err)
        return
    assert source.documents
    for doc in source.documents:
        check_document(doc)


@FUZZ
@given(text=any_text)
def test_chunker_keeps_every_character_and_never_raises(text):
    check_document(Document("fuzz.txt", "fuzz.txt", text, build_paragraphs("fuzz.txt", text)))


@FUZZ
@given(text=any_text, start=st.integers(0, 50), stop=st.integers(0, 50))
def test_sentence_spans_stay_inside_their_range(text, start, stop):
    end = max(start, len(text) - stop)
    for s, e in sentence_spans(text, start, end):
        assert start <= s < e <= end
        assert text[s:e].strip() == text[s:e]


@FUZZ
@given(markup=st.lists(st.sampled_from(["<p>", "</p>", "<div>", "<br>", "<script>", "</script>",
                                        "<title>", "</title>", "<!--", "-->", "&amp;", "&#0;",
                                        "<", ">", "\n\n"]) | st.text(max_size=10),
                       max_size=200).map("".join))
def test_html_to_text_never_raises_and_gives_clean_blocks(markup):
    text = html_to_text(markup)
    blocks = text.split("\n\n") if text else []
    assert all(block and block == " ".join(block.split()) for block in blocks)


@FUZZ
@given(lines=st.lists(st.one_of(
    st.builds(lambda i, t, x: json.dumps({"_id": i, "title": t, "text": x}),
              st.text(max_size=5), st.text(max_size=30), any_text),
    st.text(alphabet=string.printable, max_size=40)), max_size=20))
def test_jsonl_corpus_gives_documents_or_a_line_numbered_error(tmp_path, lines):
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        source = read_source(path, 1_000_000)
    except SourceError as err:
        assert str(err).startswith("corpus.jsonl:") and "\n" not in str(err)
        return
    for doc in source.documents:
        check_document(doc)


CORPUS = {
    "alpacas.txt": "Alpacas of the Andes\n\nAlpacas live in the high Andes of Peru.\n",
    "trains.md": "# Fast trains\n\nChina opened its first high-speed railway in 2008.\n",
    "ports.txt": "A new port\n\nThe port of Chancay opened north of Lima in 2024.\n",
}


@pytest.fixture(scope="module")
def fuzz_engine(tmp_path_factory):
    from retrieval import Engine, FakeEmbedder, Settings

    base = tmp_path_factory.mktemp("fuzz-engine")
    (base / "corpus").mkdir()
    for name, text in CORPUS.items():
        (base / "corpus" / name).write_text(text, encoding="utf-8")
    engine = Engine(Settings(source_dir=base / "corpus", index_dir=base / "index"),
                    embedder=FakeEmbedder())
    engine.update_index()
    return engine


@FUZZ
@given(query=any_text | st.text(min_size=1000, max_size=20_000),
       k=st.integers(-2, 50), docs=st.none() | st.lists(st.sampled_from(
           ["alpacas.txt", "trains.md", "missing.txt", ""]), max_size=2))
def test_search_returns_passages_or_a_query_error(fuzz_engine, query, k, docs):
    try:
        passages = fuzz_engine.search(query, k=k, docs=docs)
    except QueryError as err:
        assert "\n" not in str(err) and str(err)
        return
    assert k >= 1 and len(passages) <= k
    assert [p.rank for p in passages] == list(range(1, len(passages) + 1))
    for passage in passages:
        json.dumps(passage.to_dict())

