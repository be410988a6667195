"""The BM25 keyword indexes (bm25s): one entry per chunk, and one per article."""

from __future__ import annotations

import numpy as np

from ..text.tokens import keyword_tokens
from ..types import Chunk


def bm25_text(chunk: Chunk) -> str:
    return chunk.with_title


def keyword_index(texts: list[str]):
    import bm25s

    tokens = [keyword_tokens(t) for t in texts]
    if not any(tokens):  # bm25s cannot index an empty vocabulary (e.g. emoji-only text)
        tokens = [["\x00"] for _ in texts]
    index = bm25s.BM25()
    index.index(tokens, show_progress=False)
    return index


def normalised_bm25(index, tokens: list[str], n: int) -> np.ndarray:
    known = [t for t in tokens if t in index.vocab_dict]
    if not known or not n:
        return np.zeros(n, dtype=np.float32)
    scores = np.asarray(index.get_scores(known), dtype=np.float32)
    top = float(scores.max())
    return scores / top if top > 0 else scores


def chunk_articles(chunks: list[Chunk]) -> tuple[list[tuple[str, str]], np.ndarray]:
    """Distinct (document, title) articles in order, and each chunk's article number."""
    ids: dict[tuple[str, str], int] = {}
    rows = np.array([ids.setdefault((c.doc, c.title), len(ids)) for c in chunks], dtype=np.int64)
    return list(ids), rows


def article_texts(chunks: list[Chunk]) -> list[str]:
    articles, rows = chunk_articles(chunks)
    texts = [[title] for _, title in articles]
    for chunk, row in zip(chunks, rows.tolist()):
        texts[row].append(chunk.text)
    return ["\n".join(t) for t in texts]
