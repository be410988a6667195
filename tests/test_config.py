"""Settings and the process environment each have one home (retrieval/config.py and
retrieval/environment.py); these tests hold the code and the docs to that."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from retrieval.answer.llm import LLMAnswerer, LLMConfig, llm_answerer
from retrieval.config import (
    DEFAULT_WORDNET_DIR,
    LLM_CONTEXT_TOKENS,
    LLM_TIMEOUT,
    SETTINGS_CLASSES,
    LLMSettings,
    LocationSettings,
    Settings,
    environment_variables,
    locations,
)
from retrieval.environment import OFFLINE_ENVIRONMENT
from retrieval.errors import LLMError

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = ("retrieval/ui/cli.py", "app.py", "bench/__main__.py", "bench/worker.py",
                "bench/ask_latency.py", "tests/conftest.py")


def _sources() -> list[Path]:
    return [ROOT / "app.py", *sorted((ROOT / "retrieval").rglob("*.py")),
            *sorted((ROOT / "bench").rglob("*.py"))]


def test_the_offline_environment_is_set_in_one_function_that_every_entry_point_calls():
    named = [f"{path.relative_to(ROOT)}: {name}" for path in _sources()
             if path.name != "environment.py"
             for name in OFFLINE_ENVIRONMENT if f'"{name}"' in path.read_text(encoding="utf-8")]
    assert named == []
    for entry in ENTRY_POINTS:
        assert "set_offline_environment()" in (ROOT / entry).read_text(encoding="utf-8"), entry


# ------------------------------------------------------------------ one table of variables
def _table(path: Path) -> dict[str, tuple[str, str]]:
    """Variable -> (default, meaning) of a Markdown table of ``RETRIEVAL_*`` variables."""
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`RETRIEVAL_[A-Z_]+`", cells[0]):
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def _default(field: FieldInfo) -> str | None:
    """A field's default as the table writes it, or None when the table must say it in words
    (unset, computed from the home folder)."""
    if field.default_factory is not None or field.default in (None, PydanticUndefined):
        return None
    value = field.default
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


def test_every_variable_in_the_docs_table_is_a_settings_field_and_vice_versa():
    table = _table(ROOT / "docs" / "configuration.md")
    fields = environment_variables()
    assert sorted(table) == sorted(fields)
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for variable, where in fields.items():
        assert f"| `{variable}` | " in text and f" | `{where}` |" in text
        cls_name, name = where.split(".")
        cls = next(c for c in SETTINGS_CLASSES if c.__name__ == cls_name)
        written = _default(cls.model_fields[name])
        assert written is None or table[variable][0] == written, variable


def test_the_readme_table_says_what_the_docs_table_says():
    assert _table(ROOT / "README.md") == _table(ROOT / "docs" / "configuration.md")


def test_only_the_config_module_reads_retrieval_variables():
    reads = re.compile(r"""(?:environ(?:\.get)?\(?\[?|getenv\()\s*["']RETRIEVAL_""")
    found = [str(path.relative_to(ROOT)) for path in _sources()
             if path.name != "config.py" and reads.search(path.read_text(encoding="utf-8"))]
    assert found == []


# ------------------------------------------------------------------ read where they are used
def test_locations_follow_the_environment_and_treat_empty_as_unset(monkeypatch, tmp_path):
    for name in ("RETRIEVAL_WORDNET_DIR", "RETRIEVAL_CACHE_DIR", "RETRIEVAL_CONVERSATION_DIR",
                 "RETRIEVAL_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    home = Path.home() / ".cache" / "retrieval"
    assert locations() == LocationSettings(wordnet_dir=DEFAULT_WORDNET_DIR, cache_dir=home,
                                           conversation_dir=home / "conversations")
    monkeypatch.setenv("RETRIEVAL_WORDNET_DIR", str(tmp_path))
    monkeypatch.setenv("RETRIEVAL_CACHE_DIR", "~/elsewhere")
    monkeypatch.setenv("RETRIEVAL_CONVERSATION_DIR", "~/talks")
    monkeypatch.setenv("RETRIEVAL_PUBLIC_URL", "https://news.example.org/")
    now = locations()
    assert (now.wordnet_dir, now.cache_dir) == (tmp_path, Path.home() / "elsewhere")
    assert (now.conversation_dir, now.public_url) == (Path("~/talks"), "https://news.example.org/")
    for name in ("RETRIEVAL_WORDNET_DIR", "RETRIEVAL_CACHE_DIR", "RETRIEVAL_CONVERSATION_DIR"):
        monkeypatch.setenv(name, "")
    assert (locations().wordnet_dir, locations().cache_dir) == (DEFAULT_WORDNET_DIR, home)
    assert locations().conversation_dir == home / "conversations"


def test_a_bad_llm_value_stops_only_llm_answers(monkeypatch):
    monkeypatch.setenv("RETRIEVAL_LLM_TIMEOUT", "soon")
    monkeypatch.delenv("RETRIEVAL_LLM_MODEL", raising=False)
    Settings()  # indexing, search and extractive answers are unaffected
    assert LLMSettings.endpoint().model is None
    with pytest.raises(LLMError, match="no LLM model is configured"):
        LLMConfig.from_env()
    assert LLMConfig.from_env(model="m", timeout=5).timeout == 5  # given: the variable unread
    monkeypatch.setenv("RETRIEVAL_LLM_MODEL", "local-model")
    assert LLMSettings.endpoint().model == "local-model"
    with pytest.raises(LLMError) as err:
        LLMConfig.from_env()
    assert str(err.value) == ("setting RETRIEVAL_LLM_TIMEOUT: Value error, could not convert "
                              "string to float: 'soon'; set a valid value or unset it")


def test_llm_numbers_are_read_as_float_and_int_read_them(monkeypatch):
    monkeypatch.setenv("RETRIEVAL_LLM_MODEL", "m")
    monkeypatch.setenv("RETRIEVAL_LLM_TIMEOUT", " 1_5 ")
    monkeypatch.setenv("RETRIEVAL_LLM_CONTEXT_TOKENS", "800")
    config = LLMConfig.from_env()
    assert (config.timeout, config.context_tokens) == (15.0, 800)
    monkeypatch.setenv("RETRIEVAL_LLM_CONTEXT_TOKENS", "800.0")
    with pytest.raises(LLMError, match=r"RETRIEVAL_LLM_CONTEXT_TOKENS: .*invalid literal"):
        LLMConfig.from_env()


def test_the_llm_defaults_have_one_home(monkeypatch):
    for name in ("RETRIEVAL_LLM_TIMEOUT", "RETRIEVAL_LLM_CONTEXT_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    config = LLMConfig.from_env(model="m")
    answerer = LLMAnswerer(object())
    assert (config.timeout, config.context_tokens) == (LLM_TIMEOUT, LLM_CONTEXT_TOKENS)
    assert (LLMConfig("m").timeout, LLMConfig("m").context_tokens) == (LLM_TIMEOUT,
                                                                        LLM_CONTEXT_TOKENS)
    assert (answerer.timeout, answerer.context_tokens) == (LLM_TIMEOUT, LLM_CONTEXT_TOKENS)
    chat = FakeListChatModel(responses=["x"])
    assert (llm_answerer(chat).timeout, llm_answerer(chat).context_tokens) == (
        LLM_TIMEOUT, LLM_CONTEXT_TOKENS)
    mine = llm_answerer(LLMConfig("m", base_url="http://127.0.0.1:9/v1", timeout=2.5,
                                  context_tokens=900))
    assert (mine.timeout, mine.context_tokens) == (2.5, 900)
