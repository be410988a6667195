"""Word relatives from WordNet, for questions that paraphrase their article.

A question written in other words than its article ("holidaymakers" for "tourists", "farming"
for "agriculture", "storm" for "hurricane") shares few keywords with the answer sentence, and the
embedding model links such pairs only weakly. The sentence scorer (answer/scorer.py) therefore also
counts the question words whose WordNet relatives the sentence holds: for each of a word's most
frequent senses, the other words of its synset and of its similar adjectives, and its derived
forms and pertainyms ("ecological" -> "ecology").

WordNet 3.0 comes from Debian's ``wordnet-base`` package (``make`` installs it), read in place
from its database files (``index.*`` and ``data.*``, format wndb(5)): NLTK's reader needs files
that package lacks (``lexnames``) and refuses paths outside its data directories. Without the
files, ``lexicon()`` is None, the feature is 0 and a one-line warning names the fix.
"""

from __future__ import annotations

import logging
import mmap
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from ..config import locations
from ..once import load_once
from .tokens import keyword_tokens, stem_words

log = logging.getLogger(__name__)

SENSES = 3  # a word's most frequent senses are followed (the index lists them by frequency)
# similar (adjectives), derived form, pertainym. Not hypernyms or hyponyms: they add no
# accuracy on held-out questions and make a word's relatives much slower to read
# (docs/experiments.md).
_FOLLOW = frozenset({"&", "+", "\\"})
_POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}
_PARTS = ("noun", "verb", "adj", "adv")
_WORD = re.compile(r"[A-Za-z][a-z]+")
_MARKER = re.compile(r"\(\w+\)$")  # an adjective's position marker: "galore(ip)"


class Lexicon:
    """WordNet relatives by keyword stem (the BM25 stemmer's), read from a database directory."""

    def __init__(self, root: Path, senses: int = SENSES) -> None:
        self.root = root
        self.senses = senses
        self._data = {name: _map(root / f"data.{name}") for name in set(_POS_FILES.values())}
        entries = [(part, lemma, offsets) for part, name in enumerate(_PARTS)
                   for lemma, offsets in _index_entries(root / f"index.{name}")]
        synsets: dict[str, list[int]] = {}
        for stem, (part, _, offsets) in zip(stem_words([e[1] for e in entries]), entries,
                                            strict=True):
            synsets.setdefault(stem, []).extend(o * 4 + part for o in offsets[:senses])
        # tuples of ints, which Python's garbage collector stops tracking: 200,000 senses
        # as lists made every full collection, and so the app's page runs, slower
        self._synsets = {stem: tuple(codes) for stem, codes in synsets.items()}

    def _senses(self, stem: str) -> list[tuple[str, int]]:
        """(data file, offset) of each followed sense of the words with this stem."""
        return [(_PARTS[code & 3], code >> 2) for code in self._synsets.get(stem, ())]

    def adjective_only(self, stem: str) -> bool:
        """Whether WordNet knows words with this stem, and only as adjectives ("Andean",
        "Himalayan"), from the index files alone."""
        codes = self._synsets.get(stem, ())
        return bool(codes) and all(_PARTS[code & 3] == "adj" for code in codes)

    def check(self) -> None:
        """Read the first synset each index file lists: raises if these are not WordNet's
        files."""
        first = {part: offset for stem in reversed(self._synsets)
                 for part, offset in self._senses(stem)}
        if not first:
            raise ValueError("the index files list no synset")
        for name, offset in first.items():
            self._synset(name, offset)

    def relatives(self, stem: str) -> frozenset[str]:
        """Stems of the WordNet relatives of every word with this stem (not the stem itself);
        none, with a warning, when a damaged line of the data files can't be read."""
        try:
            return self._relatives(stem)
        except (ValueError, IndexError, KeyError) as err:
            log.warning("WordNet in %s has a damaged entry for %r (%s: %s); reinstall "
                        "Debian's wordnet-base", self.root, stem, type(err).__name__, err)
            return frozenset()

    @lru_cache(maxsize=20_000)  # noqa: B019 - one Lexicon a process; its size is bounded
    def _relatives(self, stem: str) -> frozenset[str]:
        words: set[str] = set()
        for name, offset in self._senses(stem):
            synset_words, pointers = self._synset(name, offset)
            words.update(synset_words)
            for target_name, target, word in pointers:
                target_words = self._synset(target_name, target)[0]
                if word:  # a lexical pointer: to one word of the target synset
                    target_words = target_words[word - 1: word]
                words.update(target_words)
        stems = set(stem_words(sorted(w for w in words if w.isalpha())))
        return frozenset(stems - {stem})

    @lru_cache(maxsize=50_000)  # noqa: B019
    def _synset(self, name: str, offset: int) -> tuple[tuple[str, ...],
                                                      tuple[tuple[str, int, int], ...]]:
        """(words, followed pointers) of the synset at ``offset`` of data.<name>; a pointer is
        (target file, target offset, target word number or 0 for the whole synset)."""
        data = self._data[name]
        fields = data[offset: data.find(b"\n", offset)].split(b" | ", 1)[0].split()
        count = int(fields[3], 16)
        words = tuple(_MARKER.sub("", w.decode("utf-8", "replace")).lower()
                      for w in fields[4: 4 + 2 * count: 2])
        at = 4 + 2 * count
        pointers = tuple((_POS_FILES[fields[i + 2].decode()], int(fields[i + 1]),
                          int(fields[i + 3][2:], 16))
                         for i in range(at + 1, at + 1 + 4 * int(fields[at]), 4)
                         if fields[i].decode() in _FOLLOW)
        return words, pointers


def _map(path: Path) -> mmap.mmap:
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def _index_entries(path: Path) -> Iterator[tuple[str, list[int]]]:
    """(lemma, synset offsets by frequency) of each one-word lemma of an index file (letters
    only: not "a.d.", "hi-fi", "new_york")."""
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith(" "):  # the licence header
                continue
            fields = line.split()
            lemma, count, pointers = fields[0], int(fields[2]), int(fields[3])
            if not lemma.isalpha():
                continue
            start = 4 + pointers + 2
            yield lemma, [int(o) for o in fields[start: start + count]]


def wordnet_dir() -> Path:
    return locations().wordnet_dir


@load_once
def _load(root: Path) -> Lexicon | None:
    fix = "install Debian's wordnet-base (make install does) or set RETRIEVAL_WORDNET_DIR"
    if not (root / "index.noun").is_file():
        log.warning("WordNet not found in %s, so paraphrased questions match fewer sentences: "
                    "%s", root, fix)
        return None
    try:
        lex = Lexicon(root)
        lex.check()
    except (OSError, ValueError, IndexError, KeyError) as err:
        log.warning("WordNet in %s is unreadable (%s: %s), so it is not used: %s", root,
                    type(err).__name__, err, fix)
        return None
    return lex


def lexicon() -> Lexicon | None:
    """The WordNet lexicon of ``RETRIEVAL_WORDNET_DIR`` (default /usr/share/wordnet), loaded
    once; None, with one warning, when it isn't there."""
    return _load(wordnet_dir())


def question_relatives(question: str, lex: Lexicon | None = None) -> dict[str, frozenset[str]]:
    """For each lower-case content word of the question (names are skipped: "China" is not
    porcelain), its stem -> the stems of its WordNet relatives."""
    lex = lex or lexicon()
    if lex is None:
        return {}
    out: dict[str, frozenset[str]] = {}
    for word in _WORD.findall(question):
        if word[0].isupper():
            continue
        for stem in keyword_tokens(word):  # none for a stop word
            out[stem] = lex.relatives(stem)
    return out
