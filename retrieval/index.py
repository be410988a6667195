"""Stage 4: the on-disk index, owned by one object, ``IndexStore``.

Layout under the index folder (no pickle anywhere)::

    manifest.json         schema, model, chunker, source checksums, file checksums;
                          replaced atomically, it names the live generation
    gen-<id>/vectors.npy  float32 L2-normalised vectors, one row per chunk (the normalised
                          mean of its sentences' embeddings)
    gen-<id>/dense.faiss  the FAISS index over those vectors (faiss.write_index)
    gen-<id>/chunks.json  chunk metadata and text
    gen-<id>/paragraphs.json  every content paragraph (for "open in context")
    gen-<id>/sentences.npy    (chunk row, start, end) of every sentence of every chunk
    gen-<id>/sentence_vectors.npy, sentences.faiss   one embedding per sentence
    gen-<id>/bm25_articles/   a second keyword index, one entry per article
    gen-<id>/bm25/        the bm25s keyword index (JSON + .npy, allow_pickle=False)

A build writes a fresh generation folder, fsyncs it, then swaps the manifest with
``os.replace``. A crash at any point leaves the previous index (or no index) intact.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from .chunk import Chunk, Chunker, chunk_sentence_spans
from .config import ChunkerSettings
from .embed import BaseEmbedder
from .errors import IndexCorruptError, IndexMismatchError, IndexMissingError, SourceError
from .load import LoadResult, Paragraph, SourceFile, load_folder, sha256_file
from .once import folder_lock
from .resources import words

SCHEMA_VERSION = 3  # 2: chunk vectors are the mean of their sentences' vectors; 3: keywords
                    # without accents
MANIFEST = "manifest.json"
REBUILD_HINT = "python -m retrieval index --rebuild"
# Vectors; up to this an exact scan reads <= 46 MB a query (a few ms) and is exact. Above it,
# IVF with 8-bit scalar quantisation: 4x less memory than float32 and a small share of the
# lists scanned per query (make bench, section 3: p50 and recall@10 at 100k and 1M).
FLAT_UP_TO = 30_000
Progress = Callable[[str, int, int], None]


class Manifest(BaseModel):
    schema_version: int
    model: str
    model_fingerprint: str
    dim: int
    chunker: dict
    index_type: str
    generation: str
    built_at: str
    source_dir: str
    sources: dict[str, str]
    files: dict[str, str]
    counts: dict[str, int]
    encodings: dict[str, str] = {}
    # (size, mtime_ns) of each source file, taken before it was read: status hashes only the
    # files whose stat differs. Empty in indexes built before it was recorded: all are hashed.
    source_stats: dict[str, tuple[int, int]] = {}
    # files the build could not read: name -> (sha256, the loader's message). While a file's
    # content stays the same it is reported as failed, not as added (stale).
    failed: dict[str, tuple[str, str]] = {}


@dataclass
class IndexStatus:
    exists: bool
    manifest: Manifest | None = None
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    problem: str | None = None
    failed: dict[str, str] = field(default_factory=dict)  # name -> why it is not indexed

    @property
    def fresh(self) -> bool:
        return self.exists and not (self.added or self.changed or self.deleted or self.problem)


@dataclass
class UpdateReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_total: int = 0
    written: bool = False

    def summary(self) -> str:
        if not self.written:
            return f"index is up to date: {len(self.unchanged)} files, {self.chunks_total} chunks"
        return (
            f"indexed {self.chunks_total} chunks: {len(self.added)} added, "
            f"{len(self.changed)} changed, {len(self.deleted)} deleted, "
            f"{len(self.unchanged)} unchanged files; {self.chunks_embedded} chunks embedded"
        )


# ----------------------------------------------------------------------- keywords
_STOPWORDS = frozenset(words("stopwords"))


_THREAD = threading.local()


def _stemmer():
    """One stemmer per thread: PyStemmer's objects must not be called concurrently."""
    stemmer = getattr(_THREAD, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _THREAD.stemmer = Stemmer.Stemmer("english")
    return stemmer


def stem_words(words: list[str]) -> list[str]:
    """The keyword stem of each lower-case word, stop words included (one call for many)."""
    return _stemmer().stemWords(words) if words else []


def keyword_tokens(text: str) -> list[str]:
    """Lower-cased, accent-free, stop-word-free, stemmed word tokens (the BM25 vocabulary):
    "Djurić" and "Djuric", "Díaz-Canel" and "Diaz-Canel" are the same words."""
    words = [w for w in re.findall(r"\w+", without_accents(text.lower())) if w not in _STOPWORDS]
    return _stemmer().stemWords(words) if words else []


_COMBINING = re.compile(r"[\u0300-\u036f]")  # the combining diacritical marks


def without_accents(text: str) -> str:
    """``text`` with the accents of Latin letters dropped ("Bogotá" -> "Bogota"); other
    scripts are kept as they are."""
    return text if text.isascii() else _COMBINING.sub("", unicodedata.normalize("NFKD", text))


def _bm25_text(chunk: Chunk) -> str:
    return chunk.with_title


# ------------------------------------------------------------------------- search
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
        self.articles, self.chunk_article = _articles(chunks)
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
            params = _selector_params(self.sentence_dense, sent_rows)
        k = min(k, len(vectors))
        _, ids = self.sentence_dense.search(query.reshape(1, -1).astype(np.float32), k,
                                            params=params)
        ids = ids[0][ids[0] >= 0]
        return np.unique(self.sentences.spans[ids, 0])

    def keyword_scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 of every chunk, divided by the best (0 to 1)."""
        return _normalised_bm25(self.bm25, tokens, len(self.chunks))

    def article_keyword_scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 of each chunk's whole article, divided by the best article's (0 to 1)."""
        if self.article_bm25 is None:
            return np.zeros(len(self.chunks), dtype=np.float32)
        per_article = _normalised_bm25(self.article_bm25, tokens, len(self.articles))
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
            top = _top_k(scores, k)
            return allowed[top], scores[top]
        params = None
        if allowed is not None:
            params = _selector_params(self.dense, allowed)
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
        top = _top_k(scores, min(k, len(scores)))
        top = top[scores[top] > 0]
        return top.astype(np.int64), scores[top]


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def _selector_params(index: Any, allowed: np.ndarray) -> Any:
    import faiss as faiss_module

    faiss: Any = faiss_module  # the stubs lack SearchParametersHNSW and the keyword arguments

    selector = faiss.IDSelectorBatch(allowed.astype(np.int64))
    if isinstance(index, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=max(index.hnsw.efSearch, 256))
    if hasattr(index, "nprobe"):
        return faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
    return faiss.SearchParameters(sel=selector)


# -------------------------------------------------------------------------- files
def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _chunk_from_dict(record: dict) -> Chunk:
    return Chunk(**record)


class IndexStore:
    """Owns the index folder: status, incremental updates, and the loaded snapshot."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._snapshot: IndexSnapshot | None = None
        self._lock = threading.Lock()
        # index files whose checksum status() verified: path -> (size, mtime_ns, sha256)
        self._verified: dict[Path, tuple[int, int, str]] = {}

    # ---------------------------------------------------------------- reading
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def exists(self) -> bool:
        return self.manifest_path.exists()

    def read_manifest(self) -> Manifest:
        if not self.exists():
            raise IndexMissingError(
                f"no index in {self.root}/; build it with `python -m retrieval index`"
            )
        try:
            return Manifest.model_validate_json(self.manifest_path.read_bytes())
        except (ValidationError, ValueError, OSError):
            raise IndexCorruptError(
                f"{self.manifest_path} is unreadable or malformed; rebuild with `{REBUILD_HINT}`"
            ) from None

    def check_compatible(self, manifest: Manifest, embedder: BaseEmbedder | None,
                         chunker: ChunkerSettings | None = None) -> None:
        """Refuse an index built with another schema, model or chunker."""
        if manifest.schema_version != SCHEMA_VERSION:
            raise IndexMismatchError(
                f"index schema {manifest.schema_version} is not the supported "
                f"{SCHEMA_VERSION}; rebuild with `{REBUILD_HINT}`"
            )
        if embedder is not None and (
            manifest.model != embedder.name or manifest.model_fingerprint != embedder.fingerprint
            or manifest.dim != embedder.dim
        ):
            raise IndexMismatchError(
                f"index was built with model {manifest.model} ({manifest.model_fingerprint}), "
                f"not {embedder.name} ({embedder.fingerprint}); rebuild with `{REBUILD_HINT}`"
            )
        if chunker is not None and manifest.chunker != chunker.model_dump():
            raise IndexMismatchError(
                f"index was built with chunker settings {manifest.chunker}, not "
                f"{chunker.model_dump()}; rebuild with `{REBUILD_HINT}`"
            )

    def load(self, embedder: BaseEmbedder | None = None) -> IndexSnapshot:
        """Load and verify the live generation; cached until the manifest changes."""
        for attempt in range(3):
            manifest = self.read_manifest()
            self.check_compatible(manifest, embedder)
            with self._lock:
                current = self._snapshot
                if current is not None and current.manifest.generation == manifest.generation:
                    return current
                try:
                    snapshot = self._load_generation(manifest)
                except IndexCorruptError:
                    # rebuilds may have swapped in a new generation and collected this one
                    # while it was being read: read the new one instead of failing
                    if attempt == 2 or self.read_manifest().generation == manifest.generation:
                        raise
                    continue
                self._snapshot = snapshot
                return snapshot
        raise AssertionError("unreachable")

    @property
    def snapshot(self) -> IndexSnapshot | None:
        return self._snapshot

    def _load_generation(self, manifest: Manifest) -> IndexSnapshot:
        import bm25s
        import faiss

        gen = self.root / manifest.generation
        self._verify_files(gen, manifest)
        try:
            records = json.loads((gen / "chunks.json").read_text(encoding="utf-8"))
            chunks = [_chunk_from_dict(r) for r in records]
            vectors = np.load(gen / "vectors.npy", allow_pickle=False)
            dense = faiss.read_index(str(gen / "dense.faiss"))
            bm25 = bm25s.BM25.load(str(gen / "bm25"), mmap=False, allow_pickle=False)
            paragraphs = [Paragraph(**r) for r in
                          json.loads((gen / "paragraphs.json").read_text(encoding="utf-8"))]
            sentences = SentenceRows(
                np.load(gen / "sentences.npy", allow_pickle=False),
                np.load(gen / "sentence_vectors.npy", allow_pickle=False), len(chunks))
            sentence_dense = faiss.read_index(str(gen / "sentences.faiss"))
            article_bm25 = bm25s.BM25.load(str(gen / "bm25_articles"), mmap=False,
                                           allow_pickle=False)
        except (ValueError, TypeError, KeyError, OSError, RuntimeError):
            raise IndexCorruptError(
                f"index generation {gen} cannot be read; rebuild with `{REBUILD_HINT}`"
            ) from None
        counts = {len(chunks), vectors.shape[0], dense.ntotal}
        sentence_counts = {len(sentences.spans), len(sentences.vectors), sentence_dense.ntotal}
        if len(counts) != 1 or vectors.shape[1] != manifest.dim or len(sentence_counts) != 1 \
                or not sentences.valid():
            raise IndexCorruptError(
                f"index in {self.root}/ has {len(chunks)} chunks but {vectors.shape[0]} vectors "
                f"and {dense.ntotal} FAISS entries; rebuild with `{REBUILD_HINT}`"
            )
        return IndexSnapshot(manifest, chunks, vectors, dense, bm25, paragraphs, sentences,
                             sentence_dense, article_bm25)

    def _verify_files(self, gen: Path, manifest: Manifest) -> None:
        for rel, expected in manifest.files.items():
            path = gen / rel
            if not path.exists() or sha256_file(path) != expected:
                raise IndexCorruptError(
                    f"index file {path} is missing or fails its checksum; rebuild with "
                    f"`{REBUILD_HINT}`"
                )

    # ----------------------------------------------------------------- status
    def status(self, source_dir: Path, max_bytes: int = 20_000_000) -> IndexStatus:
        """Compare the manifest with the source folder, file by file, by sha256 (a file whose
        size and mtime match the manifest's record is not read), and check the index files'
        checksums (each once per process while its size and mtime stay the same)."""
        if not self.exists():
            return IndexStatus(exists=False)
        try:
            manifest = self.read_manifest()
        except IndexCorruptError as err:
            return IndexStatus(exists=True, problem=str(err))
        current = _source_hashes(source_dir, manifest)
        failed = {n: why for n, (sha, why) in manifest.failed.items() if current.get(n) == sha}
        current = {n: h for n, h in current.items() if n not in failed}
        old = manifest.sources
        return IndexStatus(
            exists=True,
            manifest=manifest,
            failed=failed,
            added=sorted(set(current) - set(old)),
            changed=sorted(n for n in current if n in old and current[n] != old[n]),
            deleted=sorted(set(old) - set(current)),
            problem=self._index_file_problem(manifest),
        )

    def _index_file_problem(self, manifest: Manifest) -> str | None:
        """The first index file that is missing or fails its checksum, as a one-line fix."""
        gen = self.root / manifest.generation
        for rel, expected in manifest.files.items():
            path = gen / rel
            try:
                stat = path.stat()
            except OSError:
                return f"index file {path} is missing; rebuild with `{REBUILD_HINT}`"
            key = (stat.st_size, stat.st_mtime_ns, expected)
            if self._verified.get(path) == key:
                continue
            if sha256_file(path) != expected:
                return (f"index file {path} fails its checksum (corrupt); rebuild with "
                        f"`{REBUILD_HINT}`")
            self._verified[path] = key
        return None

    # ---------------------------------------------------------------- writing
    def update(self, source_dir: Path, embedder: BaseEmbedder,
               chunker: ChunkerSettings | None = None, *, rebuild: bool = False,
               index_type: str = "auto", progress: Progress | None = None,
               max_bytes: int = 20_000_000) -> UpdateReport:
        """Bring the index in line with ``source_dir``: embed only added or changed files."""
        chunker = chunker or ChunkerSettings()
        with folder_lock(self.root):
            previous = None
            if self.exists() and not rebuild:
                manifest = self.read_manifest()
                self.check_compatible(manifest, embedder, chunker)
                previous = self._load_generation(manifest)
            stats = source_stats(Path(source_dir))  # before reading: a later edit shows
            loaded = load_folder(Path(source_dir), max_bytes)
            report = self._plan(loaded, previous)
            if not loaded.files:
                detail = f": {loaded.problems[0]}" if loaded.problems else ""
                raise SourceError(
                    f"no indexable text in {source_dir}{detail}; add .txt, .md, .html, "
                    ".pdf, .docx or .jsonl files"
                )
            same_failures = previous is not None and loaded.failed_sha256 == {
                n: sha for n, (sha, _) in previous.manifest.failed.items()}
            if previous is not None and same_failures and not (
                    report.added or report.changed or report.deleted):
                report.chunks_total = len(previous)
                return report
            rows = self._chunks_and_vectors(loaded, previous, embedder, chunker, report,
                                            progress)
            self._write_generation(source_dir, loaded, rows, embedder, chunker, index_type,
                                   progress, stats)
            report.written = True
            report.chunks_total = len(rows.chunks)
            return report

    @staticmethod
    def _plan(loaded: LoadResult, previous: IndexSnapshot | None) -> UpdateReport:
        old = previous.manifest.sources if previous else {}
        report = UpdateReport(problems=list(loaded.problems), notices=loaded.notices)
        for file in loaded.files:
            if file.name not in old:
                report.added.append(file.name)
            elif old[file.name] != file.sha256:
                report.changed.append(file.name)
            else:
                report.unchanged.append(file.name)
        current = {f.name for f in loaded.files}
        report.deleted = sorted(n for n in old if n not in current)
        return report

    def _chunks_and_vectors(self, loaded: LoadResult, previous: IndexSnapshot | None,
                            embedder: BaseEmbedder, settings: ChunkerSettings,
                            report: UpdateReport, progress: Progress | None) -> _Rows:
        chunker = Chunker(settings)
        reuse = set(report.unchanged)
        kept_rows: dict[str, list[int]] = {}
        if previous is not None:
            for row, chunk in enumerate(previous.chunks):
                if chunk.source in reuse:
                    kept_rows.setdefault(chunk.source, []).append(row)
        new_chunks: list[Chunk] = []
        for file in loaded.files:
            if file.name not in reuse:
                new_chunks.extend(c for d in file.documents for c in chunker.chunk(d))
        report_progress = (
            (lambda done, total: progress("embedding", done, total)) if progress else None)
        spans = [chunk_sentences(c) for c in new_chunks]
        sentences = [c.text[s:e] for c, sp in zip(new_chunks, spans) for s, e in sp]
        new = _Rows.build(new_chunks, spans, embedder.embed(sentences, report_progress))
        report.chunks_embedded = len(new_chunks)
        return _assemble(loaded.files, previous, kept_rows, new, embedder.dim)

    def _write_generation(self, source_dir: Path, loaded: LoadResult, rows: _Rows,
                          embedder: BaseEmbedder, chunker: ChunkerSettings, index_type: str,
                          progress: Progress | None,
                          stats: dict[str, tuple[int, int]] | None = None) -> None:
        import faiss

        name = f"gen-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        tmp = self.root / f".{name}.tmp"
        tmp.mkdir(parents=True)
        if progress:
            progress("writing", 0, 4)
        chunks, vectors = rows.chunks, rows.vectors
        np.save(tmp / "vectors.npy", vectors, allow_pickle=False)
        dense = build_faiss(vectors, index_type)
        faiss.write_index(dense, str(tmp / "dense.faiss"))
        np.save(tmp / "sentences.npy", rows.sentences.spans, allow_pickle=False)
        np.save(tmp / "sentence_vectors.npy", rows.sentences.vectors, allow_pickle=False)
        faiss.write_index(build_faiss(rows.sentences.vectors, index_type),
                          str(tmp / "sentences.faiss"))
        records = [asdict(c) for c in chunks]
        (tmp / "chunks.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        paragraphs = [asdict(p) for f in loaded.files for d in f.documents
                      for p in d.paragraphs if not p.boilerplate]
        (tmp / "paragraphs.json").write_text(json.dumps(paragraphs, ensure_ascii=False),
                                             encoding="utf-8")
        if progress:
            progress("writing", 2, 4)
        _keyword_index([_bm25_text(c) for c in chunks]).save(str(tmp / "bm25"),
                                                              allow_pickle=False)
        _keyword_index(_article_texts(chunks)).save(str(tmp / "bm25_articles"),
                                                    allow_pickle=False)
        files = _fsync_tree(tmp)
        gen = self.root / name
        os.replace(tmp, gen)
        _fsync_dir(self.root)
        manifest = Manifest(
            schema_version=SCHEMA_VERSION,
            model=embedder.name,
            model_fingerprint=embedder.fingerprint,
            dim=embedder.dim,
            chunker=chunker.model_dump(),
            index_type=type(dense).__name__,
            generation=name,
            built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            source_dir=str(source_dir),
            sources={f.name: f.sha256 for f in loaded.files},
            files=files,
            counts=_counts(loaded.files, chunks),
            encodings={f.name: f.encoding for f in loaded.files},
            source_stats={f.name: (stats or {})[f.name] for f in loaded.files
                          if f.name in (stats or {})},
            failed={n: (loaded.failed_sha256[n], why) for n, why in loaded.failed.items()
                    if n in loaded.failed_sha256},
        )
        self._swap_manifest(manifest)
        if progress:
            progress("writing", 4, 4)
        self._collect_garbage(keep={name})

    def _swap_manifest(self, manifest: Manifest) -> None:
        previous = self.manifest_path.read_bytes() if self.exists() else None
        if previous is not None:
            atomic_write_bytes(self.root / "manifest.previous.json", previous)
        atomic_write_bytes(self.manifest_path, manifest.model_dump_json(indent=2).encode())

    def _collect_garbage(self, keep: set[str]) -> None:
        """Delete generations other than the live one and the one before it."""
        previous = self.root / "manifest.previous.json"
        if previous.exists():
            with contextlib.suppress(ValueError, ValidationError):
                keep.add(Manifest.model_validate_json(previous.read_bytes()).generation)
        for path in self.root.iterdir():
            if path.is_dir() and path.name.lstrip(".").startswith("gen-") and path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)
            elif path.is_file() and path.name.startswith(".") and path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)  # a write killed before its rename


def _source_hashes(source_dir: Path, manifest: Manifest | None = None) -> dict[str, str]:
    """sha256 of each supported file; the manifest's, unread, when its stat is as recorded."""
    from .load import SUPPORTED_SUFFIXES, list_sources

    known = manifest.sources if manifest else {}
    stats = manifest.source_stats if manifest else {}
    hashes = {}
    for path in list_sources(Path(source_dir)):
        if path.suffix.lower() in SUPPORTED_SUFFIXES:
            stat = path.stat()
            if path.name in known and stats.get(path.name) == (stat.st_size, stat.st_mtime_ns):
                hashes[path.name] = known[path.name]
            else:
                hashes[path.name] = sha256_file(path)
    return hashes


# A file modified this recently before its stat is taken gets no stat record: an edit in the
# same clock tick as the read could leave size and mtime unchanged (git's "racy clean" case).
RACY_NS = 2_000_000_000


def source_stats(source_dir: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of the supported files, to be taken before they are read."""
    from .load import SUPPORTED_SUFFIXES, list_sources

    now = time.time_ns()
    stats = {}
    for path in list_sources(Path(source_dir)):
        if path.suffix.lower() in SUPPORTED_SUFFIXES:
            with contextlib.suppress(OSError):
                stat = path.stat()
                if now - stat.st_mtime_ns > RACY_NS:
                    stats[path.name] = (stat.st_size, stat.st_mtime_ns)
    return stats


def _assemble(files: list[SourceFile], previous: IndexSnapshot | None,
              kept_rows: dict[str, list[int]], new: _Rows, dim: int) -> _Rows:
    """Rows in file order, taking unchanged files' rows from the previous index."""
    new_rows: dict[str, list[int]] = {}
    for row, chunk in enumerate(new.chunks):
        new_rows.setdefault(chunk.source, []).append(row)
    parts: list[_Rows] = []
    for file in files:
        if file.name in kept_rows and previous is not None:
            parts.append(_Rows.of_snapshot(previous, kept_rows[file.name]))
        else:
            parts.append(new.take(new_rows.get(file.name, [])))
    return _Rows.concat(parts, dim)


def chunk_sentences(chunk: Chunk) -> list[tuple[int, int]]:
    """Sentence spans within ``chunk.text`` (at least one: the whole text)."""
    return [(s, e) for s, e, _ in chunk_sentence_spans(chunk)] or [(0, len(chunk.text))]


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
class _Rows:
    """What one build writes: chunks with their vectors, and their sentences."""

    chunks: list[Chunk]
    vectors: np.ndarray
    sentences: SentenceRows

    @classmethod
    def build(cls, chunks: list[Chunk], spans: list[list[tuple[int, int]]],
              sentence_vectors: np.ndarray) -> _Rows:
        """Chunks with their sentences' spans and vectors; a chunk's vector is their mean."""
        rows = np.array([[r, s, e] for r, sp in enumerate(spans) for s, e in sp],
                        dtype=np.int64).reshape(-1, 3)
        sentences = SentenceRows(rows, sentence_vectors, len(chunks))
        return cls(chunks, sentences.chunk_means(), sentences)

    @classmethod
    def of_snapshot(cls, snap: IndexSnapshot, rows: list[int]) -> _Rows:
        return _Rows(snap.chunks, snap.vectors, snap.sentences).take(rows)

    def take(self, rows: list[int]) -> _Rows:
        sent = self.sentences
        picks = [np.arange(sent.offsets[r], sent.offsets[r + 1]) for r in rows]
        picks_all = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
        spans = sent.spans[picks_all].copy()
        spans[:, 0] = np.repeat(np.arange(len(rows)), [len(p) for p in picks]) if rows else []
        return _Rows([self.chunks[r] for r in rows], self.vectors[rows],
                     SentenceRows(spans, sent.vectors[picks_all], len(rows)))

    @staticmethod
    def concat(parts: list[_Rows], dim: int) -> _Rows:
        chunks = [c for p in parts for c in p.chunks]
        base = np.cumsum([0] + [len(p.chunks) for p in parts])[:-1]
        spans = [p.sentences.spans + np.array([b, 0, 0]) for p, b in zip(parts, base)]
        empty = np.zeros((0, dim), dtype=np.float32)
        vectors = np.concatenate([p.vectors for p in parts]) if parts else empty
        sent_vectors = np.concatenate([p.sentences.vectors for p in parts]) if parts else empty
        spans_all = np.concatenate(spans) if spans else np.zeros((0, 3), dtype=np.int64)
        return _Rows(chunks, np.ascontiguousarray(vectors, dtype=np.float32),
                     SentenceRows(spans_all, sent_vectors, len(chunks)))


def _articles(chunks: list[Chunk]) -> tuple[list[tuple[str, str]], np.ndarray]:
    """Distinct (document, title) articles in order, and each chunk's article number."""
    ids: dict[tuple[str, str], int] = {}
    rows = np.array([ids.setdefault((c.doc, c.title), len(ids)) for c in chunks], dtype=np.int64)
    return list(ids), rows


def _article_texts(chunks: list[Chunk]) -> list[str]:
    articles, rows = _articles(chunks)
    texts = [[title] for _, title in articles]
    for chunk, row in zip(chunks, rows.tolist()):
        texts[row].append(chunk.text)
    return ["\n".join(t) for t in texts]


def _keyword_index(texts: list[str]):
    import bm25s

    tokens = [keyword_tokens(t) for t in texts]
    if not any(tokens):  # bm25s cannot index an empty vocabulary (e.g. emoji-only text)
        tokens = [["\x00"] for _ in texts]
    index = bm25s.BM25()
    index.index(tokens, show_progress=False)
    return index


def _normalised_bm25(index, tokens: list[str], n: int) -> np.ndarray:
    known = [t for t in tokens if t in index.vocab_dict]
    if not known or not n:
        return np.zeros(n, dtype=np.float32)
    scores = np.asarray(index.get_scores(known), dtype=np.float32)
    top = float(scores.max())
    return scores / top if top > 0 else scores


def _fsync_tree(folder: Path) -> dict[str, str]:
    """fsync every file below ``folder``; return their sha256 by relative path."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
            files[str(path.relative_to(folder))] = sha256_file(path)
    for path in sorted({p.parent for p in folder.rglob("*")} | {folder}):
        _fsync_dir(path)
    return files


def _counts(files: list[SourceFile], chunks: list[Chunk]) -> dict[str, int]:
    documents = [d for f in files for d in f.documents]
    paragraphs = [p for d in documents for p in d.paragraphs if not p.boilerplate]
    articles = {(p.doc, p.title_number) for p in paragraphs}
    return {
        "files": len(files),
        "documents": len(documents),
        "articles": len(articles),
        "paragraphs": len(paragraphs),
        "chunks": len(chunks),
    }
