"""Chunking: exact spans, whole sentences, paragraph alignment, token budget."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.config import ChunkerSettings
from retrieval.ingest.chunk import Chunker, tiktoken_counter
from retrieval.ingest.load import build_paragraphs
from retrieval.text.sentences import sentence_spans
from retrieval.types import Document

SEEDS = Path(__file__).resolve().parents[1] / "seeds"

COUNT = tiktoken_counter()


def chunks_of(text: str, max_tokens: int = 60, min_tokens: int = 10):
    doc = Document("t.txt", "t.txt", text, build_paragraphs("t.txt", text))
    return doc, Chunker(ChunkerSettings(max_tokens=max_tokens, min_tokens=min_tokens)).chunk(doc)


def test_sentence_spans_keep_abbreviations_and_initials():
    text = "Mr. Smith met Dr. J. Doe in the U.S. on Monday. They talked! Did it work? Yes."
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences == ["Mr. Smith met Dr. J. Doe in the U.S. on Monday.", "They talked!",
                         "Did it work?", "Yes."]


def test_short_paragraphs_join_and_long_ones_split_at_sentences():
    short = "\n\n".join(f"Short paragraph number {i}." for i in range(6))
    long_para = " ".join(f"Sentence {i} is about the budget of the year {2000 + i}."
                         for i in range(40))
    _, chunks = chunks_of(f"Title\n\n{short}\n\n{long_para}")
    assert chunks[0].para_start == 0 and chunks[0].para_end >= 3
    long_chunks = [c for c in chunks if c.para_start == c.para_end == 7]
    assert len(long_chunks) > 1
    for c in long_chunks:
        assert c.text.startswith("Sentence") and c.text.endswith(".")
        assert COUNT(c.text) <= 60


def test_chunks_never_cross_articles_or_boilerplate():
    text = ("One\n\nBody of one.\n\nContinue reading One\n\nTwo\n\nBody of two.\n\n"
            "We Recommend\n\nTail of two.")
    doc, chunks = chunks_of(text)
    paragraphs = {p.number: p for p in doc.paragraphs}
    for c in chunks:
        covered = [paragraphs[n] for n in range(c.para_start, c.para_end + 1)]
        assert len({p.title for p in covered}) == 1
        assert not any(p.boilerplate for p in covered)
    assert {c.title for c in chunks} == {"One", "Two"}


def test_title_is_embedding_context_not_text():
    _, chunks = chunks_of("Headline here\n\n" + "Body sentence. " * 40)
    later = [c for c in chunks if c.para_start > 0]
    assert later and all(c.with_title.startswith("Headline here\n") for c in later)
    assert all(not c.text.startswith("Headline") for c in later)


def test_seed_chunks_fit_the_budget_and_slice_exactly():
    budget = ChunkerSettings().max_tokens
    chunker = Chunker()
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        doc = Document(path.name, path.name, text, build_paragraphs(path.name, text))
        for c in chunker.chunk(doc):
            assert text[c.start:c.end] == c.text
            assert COUNT(c.text) <= budget


paragraph_text = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FFF, blacklist_categories=("Cs",))
    | st.sampled_from([" ", "\u00a0", ".", "!", "?", "\r", "\n", "\t", "é", "中", "😀"]),
    min_size=0, max_size=400)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(paragraph_text, min_size=1, max_size=8),
       st.sampled_from(["\n\n", "\r\n\r\n", "\n \u00a0\n", "\n\n\n"]))
def test_property_chunk_text_is_the_exact_slice(paragraphs, separator):
    text = separator.join(paragraphs)
    _, chunks = chunks_of(text, max_tokens=40, min_tokens=8)
    for c in chunks:
        assert text[c.start:c.end] == c.text
        assert c.text == c.text.strip() and c.text
        assert c.para_start <= c.para_end
    starts = [c.start for c in chunks]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in itertools.pairwise(chunks))


def test_titles_with_a_dot_do_not_end_a_sentence():
    from retrieval.text.sentences import sentence_spans

    text = "It was chaired by Eng. Waleed Al-Khuraiji and H.E. Deng Li. Then they left."
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "It was chaired by Eng. Waleed Al-Khuraiji and H.E. Deng Li.", "Then they left."]


def test_the_manifest_records_the_sentence_rules():
    from retrieval.config import SENTENCE_RULES, ChunkerSettings

    assert ChunkerSettings().model_dump()["sentence_rules"] == SENTENCE_RULES


def test_no_sentence_runs_across_a_paragraph_break_and_every_stage_splits_alike():
    """The index's sentence vectors (text.sentences.chunk_sentences) and the answerers'
    candidate sentences (answer.scorer.passage_sentences) come from one splitter,
    text.sentences.chunk_sentence_spans."""
    from retrieval.answer.scorer import passage_sentences
    from retrieval.text.sentences import chunk_sentence_spans, chunk_sentences
    from retrieval.types import Chunk, Passage

    text = ("Port of Valdoria opens\n\nThe port opened in 2024. Ships arrive weekly.\n\n"
            "Dredging goes on")
    chunk = Chunk(doc="d", source="d.txt", title="Ports", para_start=4, para_end=6, start=100,
                  end=100 + len(text), text=text)
    spans = chunk_sentence_spans(chunk)
    assert [(text[s:e], p) for s, e, p in spans] == [
        ("Port of Valdoria opens", 4), ("The port opened in 2024.", 5),
        ("Ships arrive weekly.", 5), ("Dredging goes on", 6)]
    assert chunk_sentences(chunk) == [(s, e) for s, e, _ in spans]
    passage = Passage(chunk=chunk, score=1.0, rank=1)
    assert [(c.start - chunk.start, c.end - chunk.start, c.paragraph, c.text)
            for c in passage_sentences(passage)] == [(s, e, p, text[s:e]) for s, e, p in spans]
