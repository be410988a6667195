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
    from .chunk import Chunk, Chunker
    from .config import ChunkerSettings, Settings
    from .embed import BaseEmbedder, FakeEmbedder, SentenceTransformerEmbedder
    from .engine import Engine
    from .index import IndexSnapshot, IndexStatus, IndexStore, UpdateReport
    from .langchain_retriever import LangChainRetriever
    from .load import Document, Paragraph, load_folder
    from .retrieve import HybridRetriever, Passage

_LAZY = {
    "Chunk": "chunk", "Chunker": "chunk",
    "ChunkerSettings": "config", "Settings": "config",
    "BaseEmbedder": "embed", "FakeEmbedder": "embed", "SentenceTransformerEmbedder": "embed",
    "Engine": "engine",
    "IndexSnapshot": "index", "IndexStatus": "index", "IndexStore": "index",
    "UpdateReport": "index",
    "Document": "load", "Paragraph": "load", "load_folder": "load",
    "HybridRetriever": "retrieve", "LangChainRetriever": "langchain_retriever",
    "Passage": "retrieve",
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
