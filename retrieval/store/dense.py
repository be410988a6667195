"""The FAISS factory and the helpers of a dense search: exact up to ``FLAT_UP_TO`` vectors,
IVF with 8-bit scalar quantisation above."""

from __future__ import annotations

from typing import Any

import numpy as np

# Vectors; up to this an exact scan reads <= 46 MB a query (a few ms) and is exact. Above it,
# IVF with 8-bit scalar quantisation: 4x less memory than float32 and a small share of the
# lists scanned per query (make bench, section 3: p50 and recall@10 at 100k and 1M).
FLAT_UP_TO = 30_000


def ivf_shape(n: int) -> tuple[int, int]:
    """(nlist, nprobe) for IVF over ``n`` vectors: ~4 sqrt(n) lists, 1/64 of them probed."""
    nlist = 2 ** round(float(np.log2(max(4 * np.sqrt(max(n, 1)), 1))))
    nlist = max(1, min(16_384, nlist, n // 39 or 1))  # faiss wants >= 39 training points a list
    return nlist, min(nlist, max(16, nlist // 64))


def build_faiss(vectors: np.ndarray, index_type: str = "auto"):
    """An inner-product FAISS index over normalised vectors, exact or approximate.

    ``auto`` is exact (flat) up to FLAT_UP_TO vectors and IVF-SQ8 above; ``flat``, ``hnsw``
    and ``ivf`` force a kind (Settings.index_type / RETRIEVAL_INDEX_TYPE).
    """
    import faiss

    n, dim = vectors.shape
    kind = ("flat" if n <= FLAT_UP_TO else "ivf") if index_type == "auto" else index_type
    index: Any  # faiss's wrappers type each kind apart; all answer search() alike
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 96
    elif kind == "ivf":
        nlist, nprobe = ivf_shape(n)
        index = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        sample = vectors[np.random.default_rng(0).permutation(n)[: 64 * nlist]]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        index.nprobe = nprobe
    else:
        raise ValueError(
            f"index_type must be auto, flat, hnsw or ivf. Currently, it is {index_type}")
    if n:
        index.add(vectors)
    return index


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def selector_params(index: Any, allowed: np.ndarray) -> Any:
    import faiss as faiss_module

    faiss: Any = faiss_module  # the stubs lack SearchParametersHNSW and the keyword arguments

    selector = faiss.IDSelectorBatch(allowed.astype(np.int64))
    if isinstance(index, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=max(index.hnsw.efSearch, 256))
    if hasattr(index, "nprobe"):
        return faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
    return faiss.SearchParameters(sel=selector)
