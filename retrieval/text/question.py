"""Question understanding: what kind of answer a question asks for, the phrase it names its
answer by, its asking clause without framing, and the strings of a sentence that could answer
it. Word lists come from ``resources/word_lists.json``."""

from __future__ import annotations

import re
from functools import lru_cache

from ..resources import words
from .names import capitalised_words, multiword_names, place_names
from .places import place_kind

_MONTHS = [*words("months"), *words("month_abbreviations")]
_DATE = re.compile(
    r"\b(?:\d{1,2}\s+)?(?:" + "|".join(_MONTHS) + r")\.?(?:\s+\d{1,2}(?:st|nd|rd|th)?)?"
    r"(?:,?\s+\d{4})?\b|\b(?:1[5-9]|20)\d\d(?:s)?\b", re.IGNORECASE)
_NUMBER_WORDS = words("number_words")
_NUMBER = re.compile(r"\d[\d,.]*|\b(?:" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
_PLACE_PREP = re.compile(r"\b(?:in|at|to|from|near|into|of)\s+(?:the\s+)?([A-Z][\w'’-]+)")
_PERSON_NOUNS = words("person_nouns")

# Nouns naming the kind of place asked for, as text.places.place_kind names it: "which city …",
# "the island whose …" (answer.extractive.bridge_names).
_CITY_NOUNS = words("city_nouns")
_COUNTRY_NOUNS = words("country_nouns")
PLACE_NOUN_KINDS = {**dict.fromkeys(_CITY_NOUNS, "city"),
                    **dict.fromkeys(_COUNTRY_NOUNS, "country")}
_PLACE_NOUNS = words("place_nouns")  # any place: in / at …, or a GeoNames name
_DATE_NOUNS = words("date_nouns")
_NUMBER_NOUNS = words("number_nouns")
QuestionType = str  # "person" | "date" | "number" | "place" | "city" | "country" | "other"
_AUXILIARIES = frozenset(words("auxiliaries"))
_QUESTION_WORDS = frozenset([*words("question_words"), *words("framing_words")])


def question_type(question: str) -> QuestionType:
    """The kind of answer a question asks for, from its question words."""
    q = question.lower()
    if re.search(r"\bhow (?:many|much|big|large|long|far|old|high|often)\b", q):
        return "number"
    if re.search(r"\bwhen\b|\bwhat (?:date|year|month|day|decade)\b|\bin which (?:year|month|"
                 r"decade)\b|\bwhich (?:date|year|month|decade)\b|\bon what date\b", q):
        return "date"
    if re.search(r"\bwhere\b", q):
        return "place"
    if re.search(r"\bwho(?:m|se)?\b", q):
        return "person"
    which = re.search(r"\b(?:which|what)((?:\s+[\w-]+){1,5})", q)
    for word in (which.group(1).split() if which else []):
        if word in _AUXILIARIES:  # "what did the minister call …": the noun is not the answer
            break
        for nouns, kind in ((_PERSON_NOUNS, "person"), (_CITY_NOUNS, "city"),
                            (_COUNTRY_NOUNS, "country"), (_PLACE_NOUNS, "place"),
                            (_DATE_NOUNS, "date"), (_NUMBER_NOUNS, "number")):
            if word in nouns or word.rstrip("s") in nouns:
                return kind
    return "other"


_AUX = "|".join([*words("auxiliaries"), *words("copulas")])  # auxiliary or copula
_WORD_NOT_AUX = r"(?!(?:" + _AUX + r")\b)[\w'’-]+"
_ANSWER_PHRASE = re.compile(  # "which <up to 10 words> did …"
    r"\b(?:what|which)\s+(" + _WORD_NOT_AUX + r"(?:\s+" + _WORD_NOT_AUX + r"){0,9}?)"
    r"(?=\s+(?:" + _AUX + r")\s+[\w\"“])", re.IGNORECASE)
_KIND_PHRASE = re.compile(  # "what kind of boat carried …"
    r"\b(?:what|which)\s+((?:kind|sort|type|form|piece|part)s?\s+of\s+[\w-]+)", re.IGNORECASE)


def answer_phrase(question: str) -> str:
    """What a "what / which" question names its answer as: "Which Chinese saying about a
    distant horizon did Xi cite?" -> "Chinese saying about a distant horizon"; "What kind of
    storm hit …" -> "kind of storm". The answer sentence holds an instance of it ("the Chinese
    proverb …"). Empty when the question names none ("What did Wang Yi say …?")."""
    match = _ANSWER_PHRASE.search(question) or _KIND_PHRASE.search(question)
    return match.group(1) if match else ""


@lru_cache(maxsize=50_000)
def typed_spans(text: str, kind: QuestionType) -> tuple[str, ...]:
    """Strings of ``text`` that could answer a question of this kind (cached: a sentence
    comes back in the pool of many questions)."""
    if kind == "date":
        return tuple(m.group(0) for m in _DATE.finditer(text))
    if kind == "number":  # not the day or year of a date: "On November 18, …" gives no count
        return tuple(m.group(0) for m in _NUMBER.finditer(_DATE.sub(" ", text)))
    if kind == "person":
        return tuple(multiword_names(text))
    if kind == "place":  # "in Almaty", or a country or city GeoNames knows: "the capital Almaty"
        return (*(m.group(1) for m in _PLACE_PREP.finditer(text)),
                *(name for name in place_names(text) if place_kind(name)))
    if kind in ("city", "country"):
        return tuple(name for name in place_names(text) if place_kind(name) == kind)
    return (*capitalised_words(text),
            *(m.group(0) for m in _NUMBER.finditer(text)))


def question_entities(text: str) -> set[str]:
    """Capitalised words (not sentence-initial), numbers and dates, lower-cased."""
    found = {word.lower() for word in capitalised_words(text)}
    found |= {m.group(0).lower().rstrip(".,") for m in _NUMBER.finditer(text)}
    return {e for e in found if e.lower() not in _QUESTION_WORDS}


_WH = re.compile(r"\b(?:what|which|who|whom|whose|when|where|why|how)\b", re.IGNORECASE)
_FRAMING = re.compile(r"(according to|as |per |in |during |given |speaking|meeting)",
                      re.IGNORECASE)


def main_clause(question: str) -> str:
    """The clause that asks, without its framing: "According to X, how many Y?" → "how many Y?".

    Framing clauses name the article ("At the March summit in Lima, …") and are
    matched at the article level; the asking clause is matched against single sentences.
    """
    parts = [p.strip() for p in re.split(r"[,;]", question) if p.strip()]
    asking = [i for i, p in enumerate(parts) if _WH.search(p)]
    if len(parts) < 2 or not asking:
        return question
    first = asking[0]
    tail = [p for p in parts[first + 1:] if not _FRAMING.match(p)]
    return ", ".join([parts[first], *tail])
