"""One loaded index generation, ``IndexSnapshot``: every search reads one snapshot."""

from __future__ import annotations

import numpy as np

from ..text.tokens import keyword_tokens
from ..types import Chunk, Paragraph
from .dense import selector_params, top_k
from .keywords import chunk_articles, normalised_bm25
from .manifest import Manifest
from .rows import SentenceRows


class IndexSnapshot:
    """One immutable, fully loaded index generation: every search reads one snapshot."""

    def __init__(self, manifest: Manifest, chunks: list[Chunk], vectors: np.ndarray,
                 dense, bm25, paragraphs: list[Paragraph] | None = None,
                 sentences: SentenceRows | None = None, sentence_dense=None,
                 article_bm25=None) -> None:
        self.manifest = manifest
        self.chunks = chunks
        self.sentences = sentences or SentenceRows.of_chunks(chunks, vectors)
        self.sentence_dense = sentence_dense
        self.article_bm25 = article_bm25
        self.articles, self.chunk_article = chunk_articles(chunks)
        self.paragraphs: dict[str, dict[int, Paragraph]] = {}
        for para in paragraphs or []:
            self.paragraphs.setdefault(para.doc, {})[para.number] = para
        self.vectors = vectors
        self.dense = dense
        self.bm25 = bm25
        self._docs = np.array([c.doc for c in chunks], dtype=object)
        self._sources = np.array([c.source for c in chunks], dtype=object)

    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def doc_names(self) -> list[str]:
        return sorted({c.source for c in self.chunks})

    def page_place(self, doc: str, number: int) -> str | None:
        """Where paragraph ``number`` of ``doc`` stands on its page ("p. 3 ¶ 2"), for a format
        with pages (PDF); None for the others."""
        para = self.paragraphs.get(doc, {}).get(number)
        if para is None or para.page is None:
            return None
        return para.locator if para.page_para is not None else f"p. {para.page}"

    def place(self, doc: str, first: int, last: int | None = None) -> str:
        """How a citation names paragraphs ``first``..``last``: "¶14", "¶14-16", or by page in
        a PDF ("p. 3 ¶ 2", "p. 3 ¶ 2 – p. 4 ¶ 1")."""
        last = first if last is None else last
        start, end = self.page_place(doc, first), self.page_place(doc, last)
        if start is None or end is None:
            return f"¶{first}" if first == last else f"¶{first}-{last}"
        return start if first == last else f"{start} – {end}"

    def sentence_max(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each chunk row, the best inner product of ``query`` with one of its sentences."""
        sent = self.sentences
        if not len(rows):
            return np.zeros(0, dtype=np.float32)
        starts, ends = sent.offsets[rows], sent.offsets[rows + 1]
        if len(rows) == len(self.chunks):
            scores = sent.vectors @ query
            return np.maximum.reduceat(scores, starts) if len(scores) else scores
        picks = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)])
        scores = sent.vectors[picks] @ query
        return np.maximum.reduceat(scores, np.concatenate([[0], np.cumsum(ends - starts)[:-1]]))

    def sentence_search(self, query: np.ndarray, k: int,
                        allowed: np.ndarray | None = None) -> np.ndarray:
        """Chunk rows holding the k sentences nearest to ``query`` (approximate at scale)."""
        vectors = self.sentences.vectors
        if self.sentence_dense is None or not len(vectors):
            return np.zeros(0, dtype=np.int64)
        params = None
        if allowed is not None:
            sent_rows = np.concatenate(
                [np.arange(self.sentences.offsets[r], self.sentences.offsets[r + 1])
                 for r in allowed]) if len(allowed) else np.zeros(0, dtype=np.int64)
            params = selector_params(self.sentence_dense, sent_rows)
        k = min(k, len(vectors))
        _, ids = self.sentence_dense.search(query.reshape(1, -1).astype(np.float32), k,
                                            params=params)
        ids = ids[0][ids[0] >= 0]
        return np.unique(self.sentences.spans[ids, 0])

    def keyword_scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 of every chunk, divided by the best (0 to 1)."""
        return normalised_bm25(self.bm25, tokens, len(self.chunks))

    def article_keyword_scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 of each chunk's whole article, divided by the best article's (0 to 1)."""
        if self.article_bm25 is None:
            return np.zeros(len(self.chunks), dtype=np.float32)
        per_article = normalised_bm25(self.article_bm25, tokens, len(self.articles))
        return per_article[self.chunk_article]

    def paragraph(self, doc: str, number: int) -> Paragraph | None:
        return self.paragraphs.get(doc, {}).get(number)

    def context(self, doc: str, number: int, window: int = 2) -> list[Paragraph]:
        """The paragraph and up to ``window`` content paragraphs either side, same article."""
        paras = self.paragraphs.get(doc, {})
        centre = paras.get(number)
        if centre is None:
            return []
        same = [p for p in paras.values() if p.title_number == centre.title_number]
        same.sort(key=lambda p: p.number)
        i = next(j for j, p in enumerate(same) if p.number == number)
        return same[max(0, i - window): i + window + 1]

    def allowed(self, docs: list[str] | None) -> np.ndarray | None:
        """Row ids whose document (or source file) is one of ``docs``; None means all."""
        if not docs:
            return None
        wanted = np.array(list(docs), dtype=object)
        mask = np.isin(self._docs, wanted) | np.isin(self._sources, wanted)
        return np.flatnonzero(mask)

    def dense_search(self, query: np.ndarray, k: int,
                     allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows by inner product, as (ids, scores); never returns FAISS's -1 ids."""
        n = len(self.chunks) if allowed is None else len(allowed)
        k = min(k, n)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if allowed is not None and len(allowed) <= 50_000:
            scores = self.vectors[allowed] @ query[0]
            top = top_k(scores, k)
            return allowed[top], scores[top]
        params = None
        if allowed is not None:
            params = selector_params(self.dense, allowed)
        scores, ids = self.dense.search(query, k, params=params)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep]

    def keyword_search(self, query: str, k: int,
                       allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows by BM25, as (ids, scores); rows with no matching term are left out."""
        tokens = [t for t in keyword_tokens(query) if t in self.bm25.vocab_dict] \
            if len(self.chunks) else []
        if not tokens:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = np.asarray(self.bm25.get_scores(tokens), dtype=np.float32)
        if allowed is not None:
            masked = np.full_like(scores, -1.0)
            masked[allowed] = scores[allowed]
            scores = masked
        top = top_k(scores, min(k, len(scores)))
        top = top[scores[top] > 0]
        return top.astype(np.int64), scores[top]
