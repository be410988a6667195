"""Hybrid retrieval over the tiny corpus with the fake embedder."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import Engine, FakeEmbedder, IndexStore, LangChainRetriever, Settings
from retrieval.errors import QueryError, check_k
from retrieval.search.hybrid import SIGNALS, HybridRetriever, RankWeights, fuse_rrf
from retrieval.text.question import main_clause
from retrieval.text.tokens import keyword_tokens


@pytest.mark.parametrize("question, clause", [
    ("According to the 2020 article on ties, how many years earlier had they met?",
     "how many years earlier had they met?"),
    ("In his December 2024 talks with Wang Yi, what did Djuric call the ties?",
     "what did Djuric call the ties?"),
    ("In 2024, which nation sent more tourists, according to the envoy?",
     "which nation sent more tourists"),
    ("Who opened the port?", "Who opened the port?"),
    ("Trade, ports and railways", "Trade, ports and railways"),
])
def test_main_clause_drops_framing(question, clause):
    assert main_clause(question) == clause


def test_rrf_sums_reciprocal_ranks():
    # ranks: the first signal orders rows 1, 2, 0; the second 0, 2, 1 (rows 0 and 2 tie)
    fused = fuse_rrf([np.array([0.1, 0.9, 0.5]), np.array([0.7, 0.2, 0.7])], k=1)
    assert fused.tolist() == pytest.approx([1 / 4 + 1 / 2, 1 / 2 + 1 / 4, 1 / 3 + 1 / 3])


def test_rrf_search_ranks_by_fuse_rrf_of_the_four_signals(fake_engine):
    retriever = HybridRetriever(fake_engine.store, fake_engine.embedder, fusion="rrf", rrf_k=5)
    snap = retriever.snapshot()
    signals, rows = retriever.signals("alpaca wool Andes", snap, None, retriever.pool)
    fused = fuse_rrf([signals[name] for name in SIGNALS], k=5)
    top = retriever.search("alpaca wool Andes", k=3, snapshot=snap)
    assert [p.chunk.id for p in top] == [
        snap.chunks[rows[i]].id for i in np.argsort(-fused, kind="stable")[:3]]
    assert [p.score for p in top] == sorted(fused, reverse=True)[:3]


def test_search_finds_the_passage_by_keywords(fake_engine):
    passages = fake_engine.search("When did China open its first high-speed railway?", k=3)
    assert passages[0].doc == "trains.md"
    assert "2008" in passages[0].text
    assert [p.rank for p in passages] == [1, 2, 3]
    assert passages == sorted(passages, key=lambda p: -p.score)


def test_keywords_match_with_or_without_accents(corpus_writer, tmp_path, fake_embedder):
    assert keyword_tokens("Djurić met Díaz-Canel in Bogotá") == \
        keyword_tokens("Djuric met Diaz-Canel in Bogota")
    assert keyword_tokens("Москва 北京") == ["москва", "北京"]  # other scripts are kept
    corpus = corpus_writer(tmp_path / "corpus", {
        "serbia.txt": "Serbia\n\nMarko Djurić called the ties a cornerstone.\n",
        "peru.txt": "Peru\n\nAlpacas graze near Lima.\n"})
    engine = Engine(Settings(source_dir=corpus, index_dir=tmp_path / "index"),
                    embedder=fake_embedder)
    engine.update_index()
    snap = engine.retriever.snapshot()
    ids, _ = snap.keyword_search("What did Djuric call the ties?", 2)
    assert [snap.chunks[i].doc for i in ids] == ["serbia.txt"]
    assert not engine.ask("What did Djuric call the ties?").unmentioned


def test_results_format_fields(fake_engine):
    row = fake_engine.search("coffee robusta", k=1)[0].to_dict()
    assert {"rank", "doc", "title", "paragraphs", "score", "text"} <= set(row)
    assert row["doc"] == "coffee.txt" and row["title"] == "Coffee harvest in Vietnam"
    first, last = row["paragraphs"]
    assert 0 <= first <= last


def test_document_filter(fake_engine):
    passages = fake_engine.search("Peru", k=10, docs=["alpacas.txt"])
    assert passages and {p.doc for p in passages} == {"alpacas.txt"}


def test_unknown_document_filter_names_the_fix(fake_engine):
    with pytest.raises(QueryError, match=r"no indexed document is named nope\.txt; try one of"):
        fake_engine.search("Peru", docs=["nope.txt"])


def test_k_larger_than_the_index_returns_every_chunk_once(fake_engine):
    snapshot = fake_engine.store.load()
    passages = fake_engine.search("port", k=1000)
    assert len(passages) == len(snapshot.chunks)
    assert len({p.chunk.id for p in passages}) == len(passages)


@pytest.mark.parametrize("k", [0, -3])
def test_k_must_be_positive(fake_engine, k):
    with pytest.raises(QueryError, match=rf"k must be greater than 0\. Currently, k is {k}"):
        fake_engine.search("port", k=k)


def test_one_k_check_for_search_ask_and_the_metrics():
    assert check_k(1) == 1
    with pytest.raises(QueryError, match=r"^k must be greater than 0\. Currently, k is -2$"):
        check_k(-2)
    with pytest.raises(ValueError, match=r"^k must be greater than 0\. Currently, k is 0$"):
        check_k(0, ValueError)


@pytest.mark.parametrize("query", ["", "   ", "\x00\x01"])
def test_empty_queries_are_refused(fake_engine, query):
    with pytest.raises(QueryError, match="empty|no printable"):  # noqa: RUF043
        fake_engine.search(query)


def test_weighted_and_rrf_agree_on_an_easy_query(fake_engine):
    store, embedder = fake_engine.store, fake_engine.embedder
    for fusion in ("weighted", "rrf"):
        top = HybridRetriever(store, embedder, fusion=fusion).search("alpaca wool Andes", k=1)
        assert top[0].doc == "alpacas.txt"


def test_weights_change_the_ranking(tiny_corpus, tmp_path):
    engine = Engine(Settings(source_dir=tiny_corpus, index_dir=tmp_path / "i"),
                    embedder=FakeEmbedder())
    engine.update_index()
    only_keyword = HybridRetriever(engine.store, engine.embedder,
                                   weights=RankWeights(0, 0, 1, 0))
    scores = [p.score for p in only_keyword.search("Chancay Shanghai ships", k=3)]
    assert scores[0] == pytest.approx(1.0)  # keyword signal is divided by the best chunk's


def test_langchain_retriever(fake_engine):
    retriever = LangChainRetriever(retriever=fake_engine.retriever, k=2)
    documents = retriever.invoke("Vietnam coffee")
    assert len(documents) == 2
    assert documents[0].metadata["doc"] == "coffee.txt"
    first_stage = fake_engine.retriever.search("Vietnam coffee", k=1)[0]
    assert documents[0].page_content == first_stage.text


def test_engine_as_retriever_gives_the_reranked_search(fake_engine):
    query = "When did the port north of Lima open?"
    documents = fake_engine.as_retriever(k=3).invoke(query)
    assert [d.page_content for d in documents] == [p.text for p in fake_engine.search(query, 3)]
    assert [d.metadata["rank"] for d in documents] == [1, 2, 3]


def test_sentence_rows_cover_every_chunk(fake_engine):
    snap = fake_engine.store.load()
    sentences = snap.sentences
    assert sentences.valid()
    for row, chunk in enumerate(snap.chunks):
        spans = sentences.spans[sentences.offsets[row]:sentences.offsets[row + 1]]
        texts = [chunk.text[s:e] for _, s, e in spans]
        assert texts and all(t and t in chunk.text for t in texts)


def test_unchanged_files_are_not_embedded_again(tiny_corpus, tmp_path):
    embedder = FakeEmbedder()
    engine = Engine(Settings(source_dir=tiny_corpus, index_dir=tmp_path / "i"),
                    embedder=embedder)
    first = engine.update_index()
    (tiny_corpus / "coffee.txt").write_text("Coffee\n\nArabica grows in Da Lat.\n",
                                            encoding="utf-8")
    second = engine.update_index()
    assert first.chunks_embedded == first.chunks_total
    assert second.changed == ["coffee.txt"] and second.chunks_embedded == 1
    fresh = Engine(Settings(source_dir=tiny_corpus, index_dir=tmp_path / "fresh"),
                   embedder=FakeEmbedder())
    fresh.update_index()
    a, b = IndexStore(tmp_path / "i").load(), IndexStore(tmp_path / "fresh").load()
    assert a.chunks == b.chunks
    np.testing.assert_array_equal(a.sentences.spans, b.sentences.spans)
    np.testing.assert_allclose(a.sentences.vectors, b.sentences.vectors)


def test_ask_k_must_be_positive(fake_engine):
    with pytest.raises(QueryError, match=r"k must be greater than 0\. Currently, k is 0"):
        fake_engine.ask("Who keeps alpacas?", k=0)


def test_query_math_runs_on_one_blas_thread_and_the_setting_is_restored(fake_engine,
                                                                        monkeypatch):
    from threadpoolctl import threadpool_info


    def blas_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    before = blas_threads()
    seen: list[set[int]] = []
    search = HybridRetriever.search

    def spy(self, *args, **kwargs):
        seen.append(blas_threads())
        return search(self, *args, **kwargs)

    monkeypatch.setattr(HybridRetriever, "search", spy)
    assert fake_engine.search("Who opened the port?", k=3)
    assert seen == [{1}]
    assert blas_threads() == before


def test_a_chunk_vector_is_the_normalised_mean_of_its_sentence_vectors(fake_engine,
                                                                       fake_embedder):
    from retrieval.text.sentences import chunk_sentences

    snap = fake_engine.retriever.snapshot()
    sent = snap.sentences
    for row, chunk in enumerate(snap.chunks):
        spans = sent.spans[sent.offsets[row]:sent.offsets[row + 1]]
        assert [(s, e) for _, s, e in spans] == chunk_sentences(chunk)
        vectors = fake_embedder.embed([chunk.text[s:e] for _, s, e in spans])
        assert np.allclose(sent.vectors[sent.offsets[row]:sent.offsets[row + 1]], vectors)
        mean = vectors.sum(axis=0)
        assert np.allclose(snap.vectors[row], mean / np.linalg.norm(mean), atol=1e-6)
