"""Data the code reads by name: word lists and fitted values, each file with its provenance.

``word_lists.json`` holds hand-written English word lists (what each is used for);
``sentence_scorer.json`` the rules answerer's fitted weights and threshold (the data, command and
score they came from; ``scripts/fit_sentence_weights.py --write`` rewrites it).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import RetrievalError

FOLDER = Path(__file__).resolve().parent


@cache
def load(name: str) -> dict[str, Any]:
    """The JSON resource ``name`` (without ``.json``), read once."""
    path = FOLDER / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        why = error.strerror if isinstance(error, OSError) else error
        raise RetrievalError(f"cannot read the resource {path} ({why}): restore it from git or "
                             "reinstall the package") from None
    if not isinstance(data, dict):
        raise RetrievalError(f"the resource {path} is not a JSON object: restore it from git")
    return data


def words(name: str) -> tuple[str, ...]:
    """The word list ``name`` of ``word_lists.json``, in its order."""
    lists = load("word_lists")["lists"]
    if name not in lists:
        raise RetrievalError(f"word_lists.json has no list named {name!r}: restore it from git")
    return tuple(lists[name]["words"])


def fitted_weights(name: str, features: tuple[str, ...]) -> list[float]:
    """The weights of resource ``name``, in the order of ``features``; a resource whose names
    differ from the features is refused, so no weight lines up by position alone."""
    weights = load(name)["weights"]
    if set(weights) != set(features):
        missing, extra = sorted(set(features) - set(weights)), sorted(set(weights) - set(features))
        raise RetrievalError(f"{name}.json does not match the scorer's features (missing "
                             f"{missing}, unknown {extra}): refit it with "
                             "scripts/fit_sentence_weights.py --write")
    return [float(weights[f]) for f in features]
