"""Rows of vectors in chunk order: every sentence's vector, and a generation's chunk rows as
an update assembles them from new and kept files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..types import Chunk

if TYPE_CHECKING:
    from .snapshot import IndexSnapshot


class SentenceRows:
    """Every sentence of every chunk: spans (chunk row, start, end in chunk text) and vectors,
    stored in chunk order so that ``offsets[r]:offsets[r + 1]`` are chunk r's sentences."""

    def __init__(self, spans: np.ndarray, vectors: np.ndarray, n_chunks: int) -> None:
        self.spans = np.asarray(spans, dtype=np.int64).reshape(-1, 3)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.offsets = np.searchsorted(self.spans[:, 0], np.arange(n_chunks + 1)) \
            if len(self.spans) else np.zeros(n_chunks + 1, dtype=np.int64)
        self.n_chunks = n_chunks

    @classmethod
    def of_chunks(cls, chunks: list[Chunk], vectors: np.ndarray) -> SentenceRows:
        """One "sentence" per chunk, the chunk itself (for snapshots built without sentences)."""
        spans = np.array([[r, 0, len(c.text)] for r, c in enumerate(chunks)], dtype=np.int64)
        return cls(spans, vectors, len(chunks))

    def chunk_means(self) -> np.ndarray:
        """Each chunk's vector: the normalised mean of its sentences' vectors.

        The model runs once over the text, sentence by sentence, instead of a second time over
        whole chunks: half the embedding work, for ranking as good as embedding each chunk
        (docs/performance.md compares the two).
        """
        if not self.n_chunks:
            return np.zeros((0, self.vectors.shape[-1]), dtype=np.float32)
        sums = np.add.reduceat(self.vectors, self.offsets[:-1], axis=0)
        return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)

    def valid(self) -> bool:
        """Sorted by chunk, every chunk has a sentence, no row out of range."""
        rows = self.spans[:, 0]
        if len(rows) == 0:
            return self.n_chunks == 0
        return bool(np.all(np.diff(rows) >= 0) and np.all(np.diff(self.offsets) > 0)
                    and rows[-1] < self.n_chunks)


@dataclass
class Rows:
    """What one build writes: chunks with their vectors, and their sentences."""

    chunks: list[Chunk]
    vectors: np.ndarray
    sentences: SentenceRows

    @classmethod
    def build(cls, chunks: list[Chunk], spans: list[list[tuple[int, int]]],
              sentence_vectors: np.ndarray) -> Rows:
        """Chunks with their sentences' spans and vectors; a chunk's vector is their mean."""
        rows = np.array([[r, s, e] for r, sp in enumerate(spans) for s, e in sp],
                        dtype=np.int64).reshape(-1, 3)
        sentences = SentenceRows(rows, sentence_vectors, len(chunks))
        return cls(chunks, sentences.chunk_means(), sentences)

    @classmethod
    def of_snapshot(cls, snap: IndexSnapshot, rows: list[int]) -> Rows:
        return Rows(snap.chunks, snap.vectors, snap.sentences).take(rows)

    def take(self, rows: list[int]) -> Rows:
        sent = self.sentences
        picks = [np.arange(sent.offsets[r], sent.offsets[r + 1]) for r in rows]
        picks_all = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
        spans = sent.spans[picks_all].copy()
        spans[:, 0] = np.repeat(np.arange(len(rows)), [len(p) for p in picks]) if rows else []
        return Rows([self.chunks[r] for r in rows], self.vectors[rows],
                     SentenceRows(spans, sent.vectors[picks_all], len(rows)))

    @staticmethod
    def concat(parts: list[Rows], dim: int) -> Rows:
        chunks = [c for p in parts for c in p.chunks]
        base = np.cumsum([0] + [len(p.chunks) for p in parts])[:-1]
        spans = [p.sentences.spans + np.array([b, 0, 0]) for p, b in zip(parts, base)]
        empty = np.zeros((0, dim), dtype=np.float32)
        vectors = np.concatenate([p.vectors for p in parts]) if parts else empty
        sent_vectors = np.concatenate([p.sentences.vectors for p in parts]) if parts else empty
        spans_all = np.concatenate(spans) if spans else np.zeros((0, 3), dtype=np.int64)
        return Rows(chunks, np.ascontiguousarray(vectors, dtype=np.float32),
                     SentenceRows(spans_all, sent_vectors, len(chunks)))
