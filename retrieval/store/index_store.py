"""Store: the on-disk index, owned by one object, ``IndexStore``.

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
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from ..config import ChunkerSettings
from ..embed.embedder import BaseEmbedder
from ..errors import IndexCorruptError, IndexMismatchError, IndexMissingError, SourceError
from ..ingest.chunk import Chunker
from ..ingest.load import LoadResult, load_folder, sha256_file
from ..once import folder_lock
from ..text.sentences import chunk_sentences
from ..types import Chunk, Paragraph, SourceFile
from .dense import build_faiss
from .durable import atomic_write_bytes, fsync_dir, fsync_tree
from .keywords import article_texts, bm25_text, keyword_index
from .manifest import MANIFEST, REBUILD_HINT, SCHEMA_VERSION, IndexStatus, Manifest, UpdateReport
from .rows import Rows, SentenceRows
from .snapshot import IndexSnapshot

Progress = Callable[[str, int, int], None]


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
                            report: UpdateReport, progress: Progress | None) -> Rows:
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
        new = Rows.build(new_chunks, spans, embedder.embed(sentences, report_progress))
        report.chunks_embedded = len(new_chunks)
        return _assemble(loaded.files, previous, kept_rows, new, embedder.dim)

    def _write_generation(self, source_dir: Path, loaded: LoadResult, rows: Rows,
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
        keyword_index([bm25_text(c) for c in chunks]).save(str(tmp / "bm25"),
                                                              allow_pickle=False)
        keyword_index(article_texts(chunks)).save(str(tmp / "bm25_articles"),
                                                    allow_pickle=False)
        files = fsync_tree(tmp)
        gen = self.root / name
        os.replace(tmp, gen)
        fsync_dir(self.root)
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
    from ..ingest.load import SUPPORTED_SUFFIXES, list_sources

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
    from ..ingest.load import SUPPORTED_SUFFIXES, list_sources

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
              kept_rows: dict[str, list[int]], new: Rows, dim: int) -> Rows:
    """Rows in file order, taking unchanged files' rows from the previous index."""
    new_rows: dict[str, list[int]] = {}
    for row, chunk in enumerate(new.chunks):
        new_rows.setdefault(chunk.source, []).append(row)
    parts: list[Rows] = []
    for file in files:
        if file.name in kept_rows and previous is not None:
            parts.append(Rows.of_snapshot(previous, kept_rows[file.name]))
        else:
            parts.append(new.take(new_rows.get(file.name, [])))
    return Rows.concat(parts, dim)


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
