"""The library's front door: one object that the CLI and the app both drive."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from .config import ChunkerSettings, Settings
from .embed import BaseEmbedder, SentenceTransformerEmbedder
from .index import IndexStatus, IndexStore, Progress, UpdateReport
from .retrieve import HybridRetriever, Passage


class Engine:
    """Settings, the embedder (loaded lazily, once), the index store and the retriever."""

    def __init__(self, settings: Settings | None = None,
                 embedder: BaseEmbedder | None = None,
                 chunker: ChunkerSettings | None = None) -> None:
        self.settings = settings or Settings()
        self.chunker = chunker or ChunkerSettings()
        self._embedder = embedder
        self.store = IndexStore(self.settings.index_dir)

    @property
    def embedder(self) -> BaseEmbedder:
        if self._embedder is None:
            self._embedder = SentenceTransformerEmbedder(
                self.settings.model, self.settings.backend, self.settings.batch_size
            )
        return self._embedder

    @cached_property
    def retriever(self) -> HybridRetriever:
        return HybridRetriever(self.store, self.embedder, fusion=self.settings.fusion)

    @property
    def source_dir(self) -> Path:
        return Path(self.settings.source_dir)

    @property
    def max_bytes(self) -> int:
        return int(self.settings.max_file_mb * 1_000_000)

    def status(self) -> IndexStatus:
        return self.store.status(self.source_dir, self.max_bytes)

    def update_index(self, rebuild: bool = False, progress: Progress | None = None) -> UpdateReport:
        return self.store.update(
            self.source_dir, self.embedder, self.chunker, rebuild=rebuild,
            index_type=self.settings.index_type, progress=progress, max_bytes=self.max_bytes,
        )

    def search(self, query: str, k: int | None = None,
               docs: list[str] | None = None) -> list[Passage]:
        return self.retriever.search(query, k or self.settings.k, docs)
