"""Word lists and fitted values are data under retrieval/resources/, keyed by name, with
provenance; the code reads them from there and nowhere pastes them."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from retrieval import resources
from retrieval.answer.scorer import FEATURES, WEIGHTS
from retrieval.errors import RetrievalError

ROOT = Path(__file__).resolve().parents[1]


def test_scorer_weights_are_read_by_feature_name() -> None:
    data = resources.load("sentence_scorer")
    assert set(data["weights"]) == set(FEATURES)
    for i, name in enumerate(FEATURES):
        assert WEIGHTS[i] == np.float32(data["weights"][name])
    for key in ("weights_provenance", "abstain_provenance"):
        assert {"fitted_on", "command", "score"} <= set(data[key])


def test_weights_that_do_not_match_the_features_are_refused(monkeypatch, tmp_path) -> None:
    data = resources.load("sentence_scorer")
    broken = {**data, "weights": {**data["weights"], "unknown_feature": 1.0}}
    (tmp_path / "scorer_copy.json").write_text(json.dumps(broken))
    monkeypatch.setattr(resources, "FOLDER", tmp_path)
    resources.load.cache_clear()
    try:
        with pytest.raises(RetrievalError, match=r"unknown_feature.*--write"):
            resources.fitted_weights("scorer_copy", FEATURES)
    finally:
        resources.load.cache_clear()


def test_a_missing_resource_is_one_line_naming_the_file(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(resources, "FOLDER", tmp_path)
    resources.load.cache_clear()
    try:
        with pytest.raises(RetrievalError) as raised:
            resources.load("word_lists")
        assert "word_lists.json" in str(raised.value) and "\n" not in str(raised.value)
    finally:
        resources.load.cache_clear()


def test_an_unknown_word_list_is_refused_by_name() -> None:
    with pytest.raises(RetrievalError, match="no list named 'no_such_list'"):
        resources.words("no_such_list")


def test_every_word_list_says_what_it_is_for_and_holds_unique_words() -> None:
    lists = resources.load("word_lists")["lists"]
    for name, entry in lists.items():
        assert entry["used_for"], name
        assert entry["words"] and len(set(entry["words"])) == len(entry["words"]), name


def test_every_word_list_is_used_in_the_code() -> None:
    code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "retrieval").rglob("*.py"))
    for name in resources.load("word_lists")["lists"]:
        assert f'words("{name}")' in code, f"{name} is never read"


def test_no_module_pastes_a_long_word_list() -> None:
    """A string literal of many lower-case words split into a list is a word list in code."""
    for path in (ROOT / "retrieval").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "split" and isinstance(node.func.value, ast.Constant)
                    and isinstance(node.func.value.value, str)):
                assert len(node.func.value.value.split()) < 8, f"{path.name}:{node.lineno}"
