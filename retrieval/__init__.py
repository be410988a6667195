"""Local semantic search and grounded question answering over news articles.

The public names below are imported on first use (module ``__getattr__``), so that
``import retrieval``, ``python -m retrieval --help``, ``status`` and error paths do not pay for
numpy, BeautifulSoup, LangChain or torch before they need them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    ConfigError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    LLMError,
    QueryError,
    RetrievalError,
    SourceError,
)

if TYPE_CHECKING:
    from .config import ChunkerSettings, Settings
    from .embed.embedder import BaseEmbedder, FakeEmbedder, SentenceTransformerEmbedder
    from .engine import Engine
    from .ingest.chunk import Chunker
    from .ingest.load import load_folder
    from .search.hybrid import HybridRetriever
    from .search.langchain_retriever import LangChainRetriever
    from .store.index_store import IndexStore
    from .store.manifest import IndexStatus, UpdateReport
    from .store.snapshot import IndexSnapshot
    from .types import Chunk, Document, Paragraph, Passage

_LAZY = {
    "Chunk": "types", "Document": "types", "Paragraph": "types", "Passage": "types",
    "ChunkerSettings": "config", "Settings": "config",
    "BaseEmbedder": "embed.embedder", "FakeEmbedder": "embed.embedder",
    "SentenceTransformerEmbedder": "embed.embedder",
    "Engine": "engine",
    "Chunker": "ingest.chunk", "load_folder": "ingest.load",
    "IndexStore": "store.index_store", "IndexSnapshot": "store.snapshot",
    "IndexStatus": "store.manifest", "UpdateReport": "store.manifest",
    "HybridRetriever": "search.hybrid", "LangChainRetriever": "search.langchain_retriever",
}

__all__ = [
    "BaseEmbedder", "Chunk", "Chunker", "ChunkerSettings", "ConfigError", "Document", "Engine",
    "FakeEmbedder", "HybridRetriever", "IndexCorruptError", "IndexMismatchError",
    "IndexMissingError", "IndexSnapshot", "IndexStatus", "IndexStore", "LLMError",
    "LangChainRetriever", "Paragraph", "Passage", "QueryError", "RetrievalError",
    "SentenceTransformerEmbedder", "Settings", "SourceError", "UpdateReport", "load_folder",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'retrieval' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
