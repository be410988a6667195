"""What the index folder's ``manifest.json`` records, and the reports of a status check and an
update."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

SCHEMA_VERSION = 3  # 2: chunk vectors are the mean of their sentences' vectors; 3: keywords
                    # without accents
MANIFEST = "manifest.json"
REBUILD_HINT = "python -m retrieval index --rebuild"


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
