"""The library's front door: one object that the CLI and the app both drive."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import ChunkerSettings, Settings
from .embed.embedder import BaseEmbedder, SentenceTransformerEmbedder
from .errors import check_k
from .ingest.load import list_sources
from .store.index_store import IndexStore, Progress
from .store.manifest import IndexStatus, UpdateReport
from .store.snapshot import IndexSnapshot

if TYPE_CHECKING:  # imported where used: status, index and errors need none of them
    import numpy as np

    from .answer.extractive import ExtractiveAnswerer
    from .answer.reader import FakeReader, Reader
    from .answer.scorer import Scored, SentenceScorer
    from .search.hybrid import HybridRetriever
    from .search.langchain_retriever import LangChainRetriever
    from .types import Answer, Candidate, Passage


_READER_LOCK = threading.Lock()


class Engine:
    """Settings, the embedder (loaded lazily, once), the index store and the retriever."""

    def __init__(self, settings: Settings | None = None,
                 embedder: BaseEmbedder | None = None,
                 chunker: ChunkerSettings | None = None,
                 reader: Reader | FakeReader | None = None) -> None:
        self.settings = settings or Settings()
        self.chunker = chunker or ChunkerSettings()
        self._embedder = embedder
        self._reader = reader
        self.store = IndexStore(self.settings.index_dir)

    @property
    def embedder(self) -> BaseEmbedder:
        if self._embedder is None:
            self._embedder = SentenceTransformerEmbedder(
                self.settings.model, self.settings.backend, self.settings.batch_size
            )
        return self._embedder

    def preload(self) -> None:
        """Load now what the first questions would otherwise wait for: the model, WordNet
        (text/lexicon.py) and the GeoNames place names (text/places.py). The index is read on first
        use."""
        from .text.lexicon import lexicon
        from .text.places import preload

        _ = self.embedder
        _ = self.reader
        lexicon()
        preload()

    def snapshot(self) -> IndexSnapshot:
        """The current index generation. With no index, says so before loading the model."""
        self.store.read_manifest()
        return self.retriever.snapshot()

    @cached_property
    def retriever(self) -> HybridRetriever:
        from .search.hybrid import HybridRetriever

        return HybridRetriever(self.store, self.embedder, fusion=self.settings.fusion)

    @property
    def source_dir(self) -> Path:
        return Path(self.settings.source_dir)

    @property
    def max_bytes(self) -> int:
        return int(self.settings.max_file_mb * 1_000_000)

    def status(self) -> IndexStatus:
        return self.store.status(self.source_dir, self.max_bytes)

    def update_index(self, rebuild: bool = False, progress: Progress | None = None) -> UpdateReport:
        list_sources(self.source_dir)  # a missing folder is reported before the model loads
        return self.store.update(
            self.source_dir, self.embedder, self.chunker, rebuild=rebuild,
            index_type=self.settings.index_type, progress=progress, max_bytes=self.max_bytes,
        )

    def search(self, query: str, k: int | None = None,
               docs: list[str] | None = None) -> list[Passage]:
        """The k best passages: the first stage's fused ranking of ANSWER_POOL passages, with
        the passages holding the best answer sentences moved to the top (answer.scorer.promote)."""
        return self._ranked(query, k, docs)[0]

    def as_retriever(self, k: int = 5, docs: list[str] | None = None) -> LangChainRetriever:
        """This engine's search as a LangChain ``BaseRetriever``."""
        from .search.langchain_retriever import LangChainRetriever

        return LangChainRetriever(retriever=self.retriever, k=k, docs=docs, search=self.search)

    def _ranked(self, query: str, k: int | None, docs: list[str] | None,
                snap: IndexSnapshot | None = None) -> tuple[list[Passage], Scored]:
        """The top k passages after re-ranking, and their scored sentences, from ``snap``
        (default: the current index generation)."""
        k = check_k(self.settings.k if k is None else k)
        from .answer.scorer import promote

        pool, scored = self.candidates(query, docs, snap, depth=k)
        ranked, scored = promote(pool[:self.ANSWER_POOL], scored)
        return [*ranked, *pool[self.ANSWER_POOL:]][:k], scored.within(k)

    def candidates(self, query: str, docs: list[str] | None = None,
                   snap: IndexSnapshot | None = None,
                   depth: int = 0) -> tuple[list[Passage], Scored]:
        """The first stage's top max(depth, ANSWER_POOL) passages in its fused order, and the
        sentences of the first ANSWER_POOL scored as answers (best first). A capital standing
        for its government is read as its country ("Havana's" -> "Cuba's",
        text.places.with_countries)."""
        if snap is None:
            self.store.read_manifest()  # no index: say so before loading the model or numpy
        from .search.hybrid import clean_query, one_blas_thread
        from .text.places import with_countries

        query = with_countries(clean_query(query))
        if snap is None:
            snap = self.retriever.snapshot()  # another model's index: refused before embedding
        vectors = self.retriever.query_vectors(query)  # embedded once, for both stages
        with one_blas_thread():
            pool = self.retriever.search(query, max(depth, self.ANSWER_POOL), docs,
                                         snapshot=snap, vectors=vectors)
            head = pool[:self.ANSWER_POOL]  # only these compete; deeper ones keep their rank
            return pool, self.scorer(snap).score(query, head, vectors)

    # ------------------------------------------------------------------ answers
    ANSWER_POOL = 20  # the first stage's top passages whose sentences are scored and compete
    # Support below which the answer is "the articles don't say"; None:
    # answer.extractive.ABSTAIN_BELOW, calibrated for the bundled all-MiniLM-L6-v2 (another
    # embedder needs its own calibration).
    abstain_below: float | None = None

    def _read(self, query: str, k: int, docs: list[str] | None,
              snap: IndexSnapshot) -> tuple[Answer, list[Passage]]:
        """The learned reader's answer from the first stage's passages (reordered by it)."""
        from .answer.extractive import ReaderAnswerer

        answer = ReaderAnswerer(self.reader).answer(query, *self.reader_inputs(query, k, docs,
                                                                              snap))
        return answer, answer.passages

    def reader_inputs(self, query: str, k: int = 0, docs: list[str] | None = None,
                      snap: IndexSnapshot | None = None
                      ) -> tuple[list[Passage], Callable[[Passage, Candidate], float]]:
        """What the reader reads for ``query``: the first stage's passages (at least
        ``answer.extractive.READER_PASSAGES``, or ``k``) and each sentence's similarity to the
        query."""
        from .answer.extractive import READER_PASSAGES
        from .search.hybrid import one_blas_thread

        snap = snap or self.snapshot()
        vectors = self.retriever.query_vectors(query)
        with one_blas_thread():
            pool = self.retriever.search(query, max(k, READER_PASSAGES), docs, snapshot=snap,
                                         vectors=vectors)
        return pool, self.sentence_similarity(snap, vectors[query])

    def sentence_similarity(self, snap: IndexSnapshot,
                    question: np.ndarray) -> Callable[[Passage, Candidate], float]:
        """A sentence's cosine similarity to the question, from the index's stored sentence
        vectors (1.0, read first, for a sentence the snapshot does not hold)."""
        from .answer.scorer import stored_sentence_vectors

        cached = getattr(self, "_sentence_lookup", None)
        if cached is None or cached[0] is not snap:
            self._sentence_lookup = cached = (snap, stored_sentence_vectors(snap))
        lookup = cached[1]

        def similarity(passage: Passage, cand: Candidate) -> float:
            vector = lookup(passage, cand)
            return 1.0 if vector is None else float(vector @ question)

        return similarity

    def _rules(self, query: str, k: int, docs: list[str] | None,
               snap: IndexSnapshot) -> tuple[Answer, list[Passage]]:
        """The hand-fitted sentence scorer's answer (``RETRIEVAL_ANSWERER=rules``)."""
        answerer = self.answerer(snap)
        pool, scored = self._ranked(query, max(k, self.ANSWER_POOL), docs, snap)

        def hop(second: str) -> tuple[list[Passage], Scored]:  # a two-part question's 2nd part
            return self._ranked(second, self.ANSWER_POOL, docs, snap)

        return answerer.answer(query, pool, scored, hop=hop), pool

    @property
    def reader(self) -> Reader | FakeReader:
        """The learned reader (models/reader, or ``RETRIEVAL_READER_DIR``), loaded once."""
        with _READER_LOCK:  # concurrent first questions load it once
            if self._reader is None:
                from .answer.reader import Reader

                self._reader = Reader.load(self.settings.reader_dir)
        return self._reader

    def scorer(self, snap: IndexSnapshot | None = None) -> SentenceScorer:
        """The sentence scorer, with term weights and articles of ``snap`` (default: the
        current index generation)."""
        from .answer.scorer import (
            SentenceScorer,
            TermWeights,
            article_context,
            stored_sentence_vectors,
        )

        if snap is None:
            snap = self.snapshot()
        cached = getattr(self, "_scorer", None)
        if cached is None or cached[0] is not snap:
            scorer = SentenceScorer(self.embedder, TermWeights([c.with_title for c in snap.chunks]),
                                    stored_vector=stored_sentence_vectors(snap),
                                    context=article_context(snap))
            if cached is not None:
                scorer.share_cache(cached[1])
            self._scorer = cached = (snap, scorer)
        return cached[1]

    def answerer(self, snap: IndexSnapshot | None = None) -> ExtractiveAnswerer:
        """The extractive answerer over the scorer of ``snap`` (default: the current index
        generation)."""
        from .answer.extractive import ABSTAIN_BELOW, ExtractiveAnswerer

        limit = ABSTAIN_BELOW if self.abstain_below is None else self.abstain_below
        return ExtractiveAnswerer(self.scorer(snap), limit)

    def ask(self, question: str, history: Sequence[Any] | None = None, k: int | None = None,
            docs: list[str] | None = None, llm: Any = None) -> Answer:
        """A short cited answer from the articles, or an honest "the articles don't say".

        ``history`` holds earlier turns ((question, Answer) pairs or Answers): a follow-up is
        rewritten into a standalone query. ``llm``: None for the extractive answerer, or a
        LangChain chat model, a model name or True (RETRIEVAL_LLM_* from the environment).
        """
        from .answer.conversation import rewrite_query
        from .answer.extractive import finish_answer, with_phrases
        from .answer.llm import llm_answerer
        from .search.hybrid import clean_query

        question = clean_query(question)
        k = check_k(self.settings.k if k is None else k)
        snap = self.snapshot()  # one generation for the rewrite, ranking and answer
        query, rewritten = rewrite_query(question, history,
                                         rarity=self.scorer(snap).name_rarity)
        if self.settings.answerer == "reader":
            extractive, pool = self._read(query, k, docs, snap)
        else:
            extractive, pool = self._rules(query, k, docs, snap)
            extractive = with_phrases(extractive, query, self.reader)
        extractive = finish_answer(extractive, question, query, rewritten, k)
        if not llm:
            return extractive
        answer = llm_answerer(llm).answer(query, pool[:k], fallback=lambda: extractive)
        return finish_answer(answer, question, query, rewritten, k)
