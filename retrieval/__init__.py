"""Local semantic search and grounded question answering over news articles."""

from .chunk import Chunk, Chunker
from .config import ChunkerSettings, Settings
from .embed import BaseEmbedder, FakeEmbedder, SentenceTransformerEmbedder
from .engine import Engine
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
from .index import IndexSnapshot, IndexStatus, IndexStore, UpdateReport
from .load import Document, Paragraph, load_folder
from .retrieve import HybridRetriever, LangChainRetriever, Passage

__all__ = [
    "BaseEmbedder", "Chunk", "Chunker", "ChunkerSettings", "ConfigError", "Document", "Engine",
    "FakeEmbedder", "HybridRetriever", "IndexCorruptError", "IndexMismatchError",
    "IndexMissingError", "IndexSnapshot", "IndexStatus", "IndexStore", "LLMError",
    "LangChainRetriever", "Paragraph", "Passage", "QueryError", "RetrievalError",
    "SentenceTransformerEmbedder", "Settings", "SourceError", "UpdateReport", "load_folder",
]
