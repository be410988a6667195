"""Search: hybrid retrieval, dense (FAISS inner product) and keyword (BM25), fused.

Weighted score fusion is the default: on the dev set it ranks better than reciprocal-rank
fusion of the same signals (docs/evaluation.md).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..embed.embedder import BaseEmbedder
from ..errors import QueryError, check_k
from ..store.index_store import IndexStore
from ..store.snapshot import IndexSnapshot
from ..text.question import main_clause
from ..text.tokens import keyword_tokens
from ..types import Passage

MAX_QUERY_CHARS = 2000
Fusion = Literal["rrf", "weighted"]


def clean_query(query: str) -> str:
    """Validate a query: not empty, not absurdly long, no control characters."""
    if not isinstance(query, str) or not query.strip():
        raise QueryError("the query is empty; type a question or some search words")
    cleaned = "".join(ch if ch.isprintable() else " " for ch in query)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QueryError("the query has no printable text; type a question or some search words")
    return cleaned[:MAX_QUERY_CHARS]


def fuse_rrf(signals: Sequence[np.ndarray], k: int = 60) -> np.ndarray:
    """Reciprocal-rank fusion of signals scored over the same rows: each row gets the sum, over
    the signals, of 1 / (k + rank + 1), rank 0 being a signal's highest score (a tie keeps
    the rows' order)."""
    fused = np.zeros(len(signals[0]))
    for scores in signals:
        ranks = np.empty(len(fused))
        ranks[np.argsort(-scores, kind="stable")] = np.arange(len(fused))
        fused += 1.0 / (k + ranks + 1)
    return fused


_BLAS: dict[str, Any] = {}  # a threadpoolctl controller, and len(sys.modules) when made


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run numpy's and faiss's matrix products on one thread. A query multiplies one vector by
    a few thousand, a fraction of a millisecond on one thread; waking OpenBLAS's second thread
    costs more than the work as soon as another process shares the cores
    (docs/performance.md). The controller lists the BLAS libraries loaded when it is made,
    which takes milliseconds, so it is made again only after new modules were imported."""
    from threadpoolctl import ThreadpoolController

    if _BLAS.get("modules") != len(sys.modules):
        _BLAS["controller"] = ThreadpoolController()
        _BLAS["modules"] = len(sys.modules)
    with _BLAS["controller"].limit(limits=1, user_api="blas"):
        yield


@dataclass(frozen=True)
class RankWeights:
    """How much each signal counts in weighted fusion. Chosen on the dev set
    (docs/evaluation.md)."""

    dense: float = 0.3      # the chunk's embedding (title + text) against the whole question
    sentence: float = 0.45  # the chunk's best sentence against the question's asking clause
    keyword: float = 0.15   # BM25 of the chunk (title + text), divided by the best chunk's
    article: float = 0.2    # BM25 of the chunk's whole article, divided by the best article's


EXACT_LIMIT = 50_000  # chunks; up to this every chunk is scored, beyond it FAISS picks candidates
SIGNALS = ("dense", "sentence", "keyword", "article")


class HybridRetriever:
    """Ranks passages for a query from one consistent index snapshot.

    Four signals are fused: dense similarity of the chunk, of its best sentence, BM25 of the
    chunk and BM25 of its article. ``fusion="weighted"`` sums them with ``weights``;
    ``fusion="rrf"`` sums reciprocal ranks instead.
    """

    def __init__(self, store: IndexStore, embedder: BaseEmbedder, fusion: Fusion = "weighted",
                 weights: RankWeights | None = None, rrf_k: int = 60, pool: int = 100) -> None:
        if fusion not in ("rrf", "weighted"):
            raise ValueError(f"fusion must be rrf or weighted. Currently, fusion is {fusion}")
        self.store = store
        self.embedder = embedder
        self.fusion = fusion
        self.weights = weights or RankWeights()
        self.rrf_k = rrf_k
        self.pool = pool

    def snapshot(self) -> IndexSnapshot:
        return self.store.load(self.embedder)

    def query_vectors(self, query: str) -> dict[str, np.ndarray]:
        """The vectors of the query and of its asking clause (one batch), by text."""
        texts = list(dict.fromkeys([query, main_clause(query)]))
        return dict(zip(texts, self.embedder.embed_batch(texts), strict=True))

    def search(self, query: str, k: int = 10, docs: list[str] | None = None,
               snapshot: IndexSnapshot | None = None,
               vectors: dict[str, np.ndarray] | None = None) -> list[Passage]:
        """The k best passages for ``query``, optionally only from ``docs``. ``vectors``: the
        query's ``query_vectors``, if already computed."""
        check_k(k)
        query = clean_query(query)
        snap = snapshot or self.snapshot()
        allowed = snap.allowed(docs)
        if docs and allowed is not None and not len(allowed):
            known = ", ".join(snap.doc_names[:5])
            raise QueryError(f"no indexed document is named {', '.join(docs)}; try one of {known}")
        if not len(snap):
            return []
        signals, rows = self.signals(query, snap, allowed, max(self.pool, k), vectors)
        scores = self._fuse(signals)
        order = np.argsort(-scores, kind="stable")[:k]
        return [
            Passage(rank, snap.chunks[rows[i]], float(scores[i]), float(signals["dense"][i]),
                    float(signals["keyword"][i]))
            for rank, i in enumerate(order.tolist(), start=1)
        ]

    def signals(self, query: str, snap: IndexSnapshot, allowed: np.ndarray | None, pool: int,
                vectors: dict[str, np.ndarray] | None = None,
                ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The four signals for each candidate row, and the candidate rows."""
        clause = main_clause(query)
        if vectors is None or query not in vectors or clause not in vectors:
            vectors = self.query_vectors(query)
        whole, asking = vectors[query], vectors[clause]
        tokens = keyword_tokens(query)
        keyword = snap.keyword_scores(tokens)
        article = snap.article_keyword_scores(tokens)
        rows = self._candidates(snap, whole, asking, keyword + article, allowed, pool)
        return {
            "dense": snap.vectors[rows] @ whole,
            "sentence": snap.sentence_max(asking, rows),
            "keyword": keyword[rows],
            "article": article[rows],
        }, rows

    @staticmethod
    def _candidates(snap: IndexSnapshot, whole: np.ndarray, asking: np.ndarray,
                    lexical: np.ndarray, allowed: np.ndarray | None, pool: int) -> np.ndarray:
        rows = np.arange(len(snap)) if allowed is None else allowed
        if len(rows) <= EXACT_LIMIT:
            return rows
        masked = lexical if allowed is None else np.where(np.isin(np.arange(len(snap)), allowed),
                                                          lexical, -1.0)
        lexical_top = np.argpartition(-masked, pool)[:pool]
        found = [snap.dense_search(whole, pool, allowed)[0],
                 snap.sentence_search(asking, pool * 2, allowed),
                 lexical_top[masked[lexical_top] > 0]]
        return np.unique(np.concatenate(found)).astype(np.int64)

    def _fuse(self, signals: dict[str, np.ndarray]) -> np.ndarray:
        if self.fusion == "weighted":
            return sum(getattr(self.weights, name) * signals[name] for name in SIGNALS)
        return fuse_rrf([signals[name] for name in SIGNALS], self.rrf_k)
