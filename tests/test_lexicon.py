"""WordNet relatives (lexicon.py), read from database files in WordNet's own format, and the
sentence scorer's synonyms column built on them."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from retrieval.answer.extractive import unmentioned_names
from retrieval.answer.scorer import FEATURES, TermWeights, candidate_features, passage_sentences
from retrieval.config import DEFAULT_WORDNET_DIR
from retrieval.text.lexicon import Lexicon, _load, lexicon, question_relatives
from retrieval.text.tokens import keyword_tokens

# key: (part of speech, words, pointers as (symbol, target key, source/target word numbers))
SYNSETS: dict[str, tuple[str, list[str], list[tuple[str, str, str]]]] = {
    "tourist": ("n", ["tourist", "holidaymaker"], [("@", "traveler", "0000")]),
    "traveler": ("n", ["traveler", "traveller"], [("~", "tourist", "0000")]),
    "farming": ("n", ["farming"], [("+", "agrarian", "0101")]),      # to "agrarian" only
    "agrarian": ("a", ["agrarian", "rural"], [("+", "farming", "0101")]),
    "plant1": ("n", ["plant", "factory"], []),
    "plant2": ("n", ["plant", "flora"], []),
    "plant3": ("n", ["plant", "implant"], []),
    "plant4": ("n", ["plant", "spy"], []),          # a fourth sense: not followed
    "china": ("n", ["china", "porcelain"], []),
}
FILES = {"n": "noun", "a": "adj"}


def write_wordnet(root: Path, synsets=SYNSETS) -> Path:
    """WordNet database files (wndb(5)) for ``synsets``: data.* lines at their byte offsets,
    index.* with each word's synsets in the order given (most frequent first)."""
    root.mkdir(parents=True, exist_ok=True)
    header = "  1 This is a licence header line.\n"
    offsets: dict[str, int] = {}
    for pos in ("n", "a"):  # the offset field has a fixed width: lay lines out, then number them
        at = len(header)
        for key, (p, words, pointers) in synsets.items():
            if p == pos:
                offsets[key] = at
                at += len(_data_line(0, p, words, pointers, lambda k: 0))
    for pos, name in (("n", "noun"), ("a", "adj"), ("v", "verb"), ("r", "adv")):
        lines = [_data_line(offsets[key], p, words, pointers, offsets.__getitem__)
                 for key, (p, words, pointers) in synsets.items() if p == pos]
        (root / f"data.{name}").write_text(header + "".join(lines), encoding="utf-8")
        senses: dict[str, list[int]] = {}
        for key, (p, words, _) in synsets.items():
            if p == pos:
                for word in words:
                    senses.setdefault(word, []).append(offsets[key])
        index = [f"{w} {pos} {len(o)} 0 {len(o)} 0 {' '.join(f'{x:08d}' for x in o)}  \n"
                 for w, o in sorted(senses.items())]
        (root / f"index.{name}").write_text(header + "".join(index), encoding="utf-8")
    return root


def _data_line(offset: int, pos: str, words: list[str], pointers, where) -> str:
    word_part = " ".join(f"{w} 0" for w in words)
    ptrs = " ".join(f"{sym} {where(key):08d} {SYNSETS[key][0]} {st}" for sym, key, st in pointers)
    return (f"{offset:08d} 03 {pos} {len(words):02x} {word_part} {len(pointers):03d}"
            f"{' ' + ptrs if ptrs else ''} | a gloss; with (parentheses) and | bars\n")


@pytest.fixture
def fake_lexicon(tmp_path) -> Lexicon:
    return Lexicon(write_wordnet(tmp_path / "wordnet"))


def test_relatives_are_synonyms_and_derived_forms_not_broader_or_narrower_words(fake_lexicon):
    assert fake_lexicon.relatives("holidaymak") == {"tourist"}    # not the hypernym "traveler"
    assert fake_lexicon.relatives("tourist") == {"holidaymak"}
    assert fake_lexicon.relatives("travel") == frozenset()        # not its hyponyms
    # a lexical pointer leads to one word of its target synset, not to its synonyms
    assert fake_lexicon.relatives("farm") == {"agrarian"}
    assert fake_lexicon.relatives("agrarian") == {"rural", "farm"}


def test_only_the_most_frequent_senses_are_followed(fake_lexicon):
    near = fake_lexicon.relatives("plant")
    assert {"factori", "flora", "implant"} <= near
    assert "spi" not in near                                          # the fourth sense
    assert fake_lexicon.relatives("unknownword") == frozenset()


def test_question_relatives_skip_names_and_stop_words(fake_lexicon):
    found = question_relatives("Which holidaymakers did China send to the plant?", fake_lexicon)
    assert set(found) == {"holidaymak", "send", "plant"}              # not "china", not "the"
    assert "tourist" in found["holidaymak"] and found["send"] == frozenset()


def test_missing_wordnet_gives_no_relatives_and_one_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("RETRIEVAL_WORDNET_DIR", str(tmp_path / "nowhere"))
    _load.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="retrieval.text.lexicon"):
            assert lexicon() is None
            assert question_relatives("Which holidaymakers came?") == {}
            lexicon()
        warnings = [r.getMessage() for r in caplog.records]
        assert len(warnings) == 1 and "RETRIEVAL_WORDNET_DIR" in warnings[0]
    finally:
        _load.cache_clear()


def test_synonyms_column_counts_question_words_met_only_through_a_relative(
        tmp_path, monkeypatch):
    monkeypatch.setenv("RETRIEVAL_WORDNET_DIR", str(write_wordnet(tmp_path / "wordnet")))
    _load.cache_clear()
    try:
        from retrieval import Chunk, Passage

        text = ("Tourists crowded the old port. Holidaymakers crowded the old port. "
                "The port was quiet.")
        chunk = Chunk(doc="a.txt", source="a.txt", title="T", para_start=1, para_end=1,
                      start=0, end=len(text), text=text)
        passage = Passage(1, chunk, 1.0, dense=0.5, keyword=0.5)
        candidates = passage_sentences(passage)
        zeros = np.zeros(len(candidates), dtype=np.float32)
        rows = candidate_features("Where did the holidaymakers crowd?", [passage], candidates,
                                  zeros, zeros, TermWeights([text]))
        synonyms = rows[:, FEATURES.index("synonyms")]
        assert synonyms[0] > 0            # "tourists" stands for "holidaymakers"
        assert synonyms[1] == 0           # the word itself is counted by the keyword columns
        assert synonyms[2] == 0
    finally:
        _load.cache_clear()


@pytest.mark.skipif(not (DEFAULT_WORDNET_DIR / "index.noun").is_file(),
                    reason="Debian's wordnet-base is not installed (make install installs it)")
def test_the_installed_wordnet_links_paraphrases_found_in_news_questions():
    real = Lexicon(DEFAULT_WORDNET_DIR)
    assert "tourist" in real.relatives("holidaymak")
    assert "agricultur" in real.relatives("farm")
    assert "countri" in real.relatives("nation")


def test_files_that_are_not_wordnet_give_one_warning_and_no_lexicon(tmp_path, caplog):
    root = tmp_path / "notwordnet"
    root.mkdir()
    for name in ("noun", "verb", "adj", "adv"):
        (root / f"index.{name}").write_text("word n 1 0 1 0 00000042\n", encoding="utf-8")
        (root / f"data.{name}").write_text("just some text\n", encoding="utf-8")
    _load.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="retrieval.text.lexicon"):
            assert _load(root) is None
        (message,) = [r.getMessage() for r in caplog.records]
        assert "unreadable" in message and "wordnet-base" in message
    finally:
        _load.cache_clear()


def test_many_threads_asking_at_once_build_one_lexicon(tmp_path, monkeypatch):
    """20 questions at once on a fresh process must not each read WordNet (load_once)."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("RETRIEVAL_WORDNET_DIR", str(write_wordnet(tmp_path / "wordnet")))
    built = []
    real_init = Lexicon.__init__

    def slow_init(self, *args, **kwargs):
        built.append(1)
        time.sleep(0.2)  # every thread arrives while the first is still reading
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(Lexicon, "__init__", slow_init)
    _load.cache_clear()
    try:
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda _: lexicon(), range(8)))
        assert len(built) == 1
        assert all(lex is got[0] for lex in got) and got[0] is not None
    finally:
        _load.cache_clear()


def test_a_damaged_data_line_gives_no_relatives_and_a_warning(tmp_path, caplog):
    root = write_wordnet(tmp_path / "wordnet")
    data = (root / "data.noun").read_bytes()
    garbled = data.replace(b" n 02 tourist 0", b" n zz tourist 0")  # its word count: not hex
    assert garbled != data
    (root / "data.noun").write_bytes(garbled)
    lex = Lexicon(root)
    with caplog.at_level(logging.WARNING, logger="retrieval.text.lexicon"):
        assert lex.relatives("holidaymak") == frozenset()
    assert "damaged entry" in caplog.text and "wordnet-base" in caplog.text
    assert lex.relatives("farm") == {"agrarian"}          # the rest still reads


def test_adjective_only_words_are_not_taken_for_unmentioned_names(tmp_path):
    lex = Lexicon(write_wordnet(tmp_path / "wn"))
    [agrarian], [tourist] = keyword_tokens("agrarian"), keyword_tokens("tourist")
    assert lex.adjective_only(agrarian) and not lex.adjective_only(tourist)
    assert not lex.adjective_only("zzz")  # unknown to WordNet: not an adjective
    weights = TermWeights(["Farmers of the Andes"])
    question = "Which Agrarian Tourist reform did the Andes see?"
    assert unmentioned_names(question, weights, lex) == ["Tourist"]
