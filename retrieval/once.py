"""One at a time: load-once caches for process-wide resources (WordNet, the gazetteer), and
the folder lock that lets one process at a time write a folder (the index, the ONNX cache)."""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Callable, Iterator
from functools import lru_cache, wraps
from pathlib import Path
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


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.lock`` (the folder is made if needed): writers in
    other processes wait until it is released."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
