"""Stage 5: hybrid retrieval, dense (FAISS inner product) and keyword (BM25), fused.

Reciprocal-rank fusion was kept as the default after measuring it against
weighted score fusion on the dev set (see README, "Retrieval quality").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .chunk import Chunk
from .embed import BaseEmbedder
from .errors import QueryError
from .index import IndexSnapshot, IndexStore

MAX_QUERY_CHARS = 2000
Fusion = Literal["rrf", "weighted"]


@dataclass(frozen=True)
class Passage:
    """A ranked chunk, with the scores that placed it."""

    rank: int
    chunk: Chunk
    score: float
    dense: float | None = None
    keyword: float | None = None

    @property
    def doc(self) -> str:
        return self.chunk.doc

    @property
    def title(self) -> str:
        return self.chunk.title

    @property
    def text(self) -> str:
        return self.chunk.text

    @property
    def paragraphs(self) -> tuple[int, int]:
        return (self.chunk.para_start, self.chunk.para_end)

    def to_dict(self) -> dict[str, Any]:
        """The ``passages`` entry of the results format in ``eval/README.md``."""
        return {
            "rank": self.rank,
            "doc": self.chunk.doc,
            "source": self.chunk.source,
            "title": self.chunk.title,
            "paragraphs": list(self.paragraphs),
            "start": self.chunk.start,
            "end": self.chunk.end,
            "score": round(float(self.score), 6),
            "dense": None if self.dense is None else round(float(self.dense), 6),
            "keyword": None if self.keyword is None else round(float(self.keyword), 6),
            "text": self.chunk.text,
        }


def clean_query(query: str) -> str:
    """Validate a query: not empty, not absurdly long, no control characters."""
    if not isinstance(query, str) or not query.strip():
        raise QueryError("the query is empty; type a question or some search words")
    cleaned = "".join(ch if ch.isprintable() else " " for ch in query)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QueryError("the query has no printable text; type a question or some search words")
    return cleaned[:MAX_QUERY_CHARS]


def fuse_rrf(rankings: list[np.ndarray], k: int = 60) -> dict[int, float]:
    """Reciprocal-rank fusion: sum of 1 / (k + rank) over the rankings a row is in."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking.tolist()):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank + 1)
    return fused


def fuse_weighted(dense: tuple[np.ndarray, np.ndarray], keyword: tuple[np.ndarray, np.ndarray],
                  alpha: float = 0.6) -> dict[int, float]:
    """Convex combination of cosine similarity and max-normalised BM25."""
    fused: dict[int, float] = {}
    for row, score in zip(dense[0].tolist(), dense[1].tolist()):
        fused[row] = alpha * score
    top = float(keyword[1].max()) if len(keyword[1]) else 1.0
    for row, score in zip(keyword[0].tolist(), keyword[1].tolist()):
        fused[row] = fused.get(row, 0.0) + (1 - alpha) * score / max(top, 1e-9)
    return fused


class HybridRetriever:
    """Ranks passages for a query from one consistent index snapshot."""

    def __init__(self, store: IndexStore, embedder: BaseEmbedder, fusion: Fusion = "rrf",
                 rrf_k: int = 60, alpha: float = 0.6, pool: int = 50) -> None:
        if fusion not in ("rrf", "weighted"):
            raise ValueError(f"fusion must be rrf or weighted. Currently, fusion is {fusion}")
        self.store = store
        self.embedder = embedder
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.alpha = alpha
        self.pool = pool

    def snapshot(self) -> IndexSnapshot:
        return self.store.load(self.embedder)

    def search(self, query: str, k: int = 10, docs: list[str] | None = None,
               snapshot: IndexSnapshot | None = None) -> list[Passage]:
        """The k best passages for ``query``, optionally only from ``docs``."""
        if k < 1:
            raise QueryError(f"k must be greater than 0. Currently, k is {k}")
        query = clean_query(query)
        snap = snapshot or self.snapshot()
        allowed = snap.allowed(docs)
        if docs and allowed is not None and not len(allowed):
            known = ", ".join(snap.doc_names[:5])
            raise QueryError(f"no indexed document is named {', '.join(docs)}; try one of {known}")
        pool = max(self.pool, k)
        dense = snap.dense_search(self.embedder.embed_query(query), pool, allowed)
        keyword = snap.keyword_search(query, pool, allowed)
        if self.fusion == "rrf":
            fused = fuse_rrf([dense[0], keyword[0]], self.rrf_k)
        else:
            fused = fuse_weighted(dense, keyword, self.alpha)
        dense_by_row = dict(zip(dense[0].tolist(), dense[1].tolist()))
        keyword_by_row = dict(zip(keyword[0].tolist(), keyword[1].tolist()))
        best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [
            Passage(rank, snap.chunks[row], score, dense_by_row.get(row),
                    keyword_by_row.get(row))
            for rank, (row, score) in enumerate(best, start=1)
        ]


class LangChainRetriever(BaseRetriever):
    """The hybrid retriever behind LangChain's ``BaseRetriever`` interface."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: HybridRetriever
    k: int = 5
    docs: list[str] | None = None

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        return [
            LCDocument(page_content=p.text, metadata={k: v for k, v in p.to_dict().items()
                                                       if k != "text"})
            for p in self.retriever.search(query, self.k, self.docs)
        ]
