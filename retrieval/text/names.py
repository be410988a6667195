"""Names in text: the one home of name extraction.

Two views of the same capitalised words serve two purposes. ``names`` (and
``multiword_names``, ``capitalised_words``) find every name and each capitalised word that
does not start a sentence: the sentence scorer and the answerers match them between a
question and its candidate sentences. ``name_phrases`` keeps whole capitalised phrases, a
sentence's first word included, without a leading question word: follow-up questions carry
them from one turn to the next (answer/conversation.py).
"""

from __future__ import annotations

import re

from ..resources import words
from .places import without_possessive

_NAME = re.compile(
    r"\b[A-Z][\w'’-]+(?:\s+(?:(?:de|da|del|van|von|bin|al|la)\s+)?[A-Z][\w'’-]+)+")
_CAPITAL = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]+")
_ENTITY = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][\w'’-]*)*")
_LEADING_WH = frozenset(words("leading_words"))
NOT_NAMES = frozenset(w.title() for w in (*words("months"), *words("weekdays")))


def multiword_names(text: str) -> list[str]:
    """Runs of two or more capitalised words, with a particle between them: "Zhao Bentang",
    "Luiz Inácio Lula da Silva"."""
    return [m.group(0) for m in _NAME.finditer(text)]


def capitalised_words(text: str) -> list[str]:
    """Capitalised words that do not start a sentence."""
    return [m.group(0) for m in _CAPITAL.finditer(text)]


def place_names(text: str) -> list[str]:
    """``names`` without a possessive ending: "Kazakhstan's" -> "Kazakhstan"."""
    return [without_possessive(name) for name in names(text)]


def names(text: str) -> list[str]:
    """Multi-word names, then other capitalised words (not sentence-initial), in text order,
    without repeats: "the Republic of Congo" gives "Republic", "Congo"."""
    return list(dict.fromkeys([*multiword_names(text), *capitalised_words(text)]))


def name_phrases(text: str) -> list[str]:
    """Whole capitalised phrases ("Republic of Congo"), a sentence's first word included,
    without a leading question word or article, and not a lone month or weekday."""
    found = []
    for match in _ENTITY.finditer(text):
        words = match.group(0).split()
        while words and words[0].lower() in _LEADING_WH:
            words = words[1:]
        if words and not (len(words) == 1 and words[0] in NOT_NAMES):
            found.append(" ".join(words))
    return list(dict.fromkeys(found))
