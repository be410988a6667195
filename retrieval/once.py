"""Load-once caches for process-wide resources (WordNet, the gazetteer)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any, TypeVar

T = TypeVar("T")


def load_once(fn: Callable[..., T]) -> Callable[..., T]:
    """``lru_cache`` whose value for each arguments is computed once even when many threads
    ask at the same moment (a plain ``lru_cache`` lets each of them compute it: 20 questions
    at once on a fresh process built 20 copies of WordNet's 50 MB index). Callers wait for
    the first one. ``cache_clear`` is kept, for tests."""
    cached = lru_cache(maxsize=None)(fn)
    lock = threading.Lock()

    @wraps(fn)
    def wrapper(*args: Any) -> T:
        with lock:
            return cached(*args)

    wrapper.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return wrapper
