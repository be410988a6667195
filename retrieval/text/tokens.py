"""The one tokeniser: the keyword tokens that BM25, the term weights and the answerers share.

Lower-cased, accent-free, stop-word-free and stemmed (PyStemmer's English Snowball stemmer).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

from ..resources import words

_STOPWORDS = frozenset(words("stopwords"))
_THREAD = threading.local()


def _stemmer():
    """One stemmer per thread: PyStemmer's objects must not be called concurrently."""
    stemmer = getattr(_THREAD, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _THREAD.stemmer = Stemmer.Stemmer("english")
    return stemmer


def stem_words(words: list[str]) -> list[str]:
    """The keyword stem of each lower-case word, stop words included (one call for many)."""
    return _stemmer().stemWords(words) if words else []


def keyword_tokens(text: str) -> list[str]:
    """Lower-cased, accent-free, stop-word-free, stemmed word tokens (the BM25 vocabulary):
    "Djurić" and "Djuric", "Díaz-Canel" and "Diaz-Canel" are the same words."""
    words = [w for w in re.findall(r"\w+", without_accents(text.lower())) if w not in _STOPWORDS]
    return _stemmer().stemWords(words) if words else []


_COMBINING = re.compile(r"[\u0300-\u036f]")  # the combining diacritical marks


def without_accents(text: str) -> str:
    """``text`` with the accents of Latin letters dropped ("Bogotá" -> "Bogota"); other
    scripts are kept as they are."""
    return text if text.isascii() else _COMBINING.sub("", unicodedata.normalize("NFKD", text))


@lru_cache(maxsize=50_000)
def cached_keyword_tokens(text: str) -> tuple[str, ...]:
    """``keyword_tokens`` of ``text``, cached: the answerers tokenise the same sentences and
    passages for many questions."""
    return tuple(keyword_tokens(text))
