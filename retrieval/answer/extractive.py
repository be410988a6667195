"""Grounded answers with verified citations: the extractive answerers (the `rules` scorer's
and the learned reader's), composition of the cited answer, and abstention. The answer's data
types (``Answer``, ``Citation``) are in ``retrieval/types.py``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from ..resources import load as load_resource
from ..text.lexicon import Lexicon, lexicon
from ..text.names import names
from ..text.places import place_kind, without_possessive
from ..text.question import PLACE_NOUN_KINDS, main_clause, question_type
from ..text.tokens import cached_keyword_tokens
from ..types import Answer, Candidate, Citation, Passage
from .scorer import (
    TYPE_MATCH,
    Scored,
    SentenceScorer,
    TermWeights,
    can_answer,
    passage_sentences,
)

# Support (see scorer.SentenceScorer.score) below which the articles don't say (so too when a
# "how many" question's best sentence has no number, or the question names what no article
# mentions); how it was chosen is in resources/sentence_scorer.json.
ABSTAIN_BELOW = float(load_resource("sentence_scorer")["abstain_below"])
TYPE_MARGIN = 1.0            # a who/when/where/how-many answer: the best sentence holding a
                             # name, date, place or number, if it scores within this of the best
CLOSE_MARGIN = 0.75          # a second passage's best sentence scoring this close is shown too
EXTRA_SENTENCES = 2          # more sentences of the best sentence's passage, among the top 6,
EXTRA_MARGIN = 1.5           # scoring within this of the best
MAX_ANSWER_CHARS = 400


def abstention_text(question: str, unmentioned: Sequence[str] = ()) -> str:
    topic = " ".join(question.split()).rstrip("?.! ")
    if unmentioned:
        return (f"The articles don't say: none of them mentions {_listed(unmentioned)}, so "
                f"nothing in them answers “{topic}”. The closest passages are listed below.")
    return (f"The articles don't say. Nothing in the indexed articles answers “{topic}”; "
            "the closest passages are listed below.")


def _listed(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def unmentioned_names(question: str, weights: TermWeights,
                      lex: Lexicon | None = None) -> list[str]:
    """The names in the question (capitalised words, not the first) that no indexed article
    mentions at all: "Hormuz" in "What did Wang Yi say about the Strait of Hormuz?". The
    articles can't answer about what they never name. Not counted: acronyms ("WWII", which the
    articles may spell out), words WordNet knows only as adjectives ("Andean" paraphrases "the
    Andes"), and words near one the articles hold (``_near_known``: "Ghengis" for "Genghis").
    None without term weights (no corpus)."""
    if not weights.df:
        return []
    lex = lex or lexicon()
    found = []
    for word in (w for name in names(question) for w in _NAME_PARTS.split(name)
                 if w[:1].isupper() and not w.isupper()):
        stems = cached_keyword_tokens(word)
        if stems and all(not (lex and lex.adjective_only(s)) and not _near_known(s, weights)
                         for s in stems):
            found.append(without_possessive(word))
    return list(dict.fromkeys(found))


MIN_PREFIX = 5  # "Frenchman" is mentioned where "French" is
LONG_WORD = 9  # letters from which a word may be two typos off; shorter ones, one


def _near_known(stem: str, weights: TermWeights) -> bool:
    """Whether the articles hold this stem, one it starts with (at least MIN_PREFIX letters),
    or one a typo away (Damerau-Levenshtein distance 1; 2 from LONG_WORD letters), as misspelt
    names are: "chafffee" for "chaffee", "sklodowska" for "skłodowska". Two typos in a shorter
    word reach too many other words: "hormuz" is two from "formul"."""
    if stem in weights.df or any(stem[:n] in weights.df for n in range(MIN_PREFIX, len(stem))):
        return True
    from rapidfuzz.distance import DamerauLevenshtein
    from rapidfuzz.process import extractOne

    typos = 1 if len(stem) < LONG_WORD else 2
    near = [token for n in range(len(stem) - typos, len(stem) + typos + 1)
            for token in weights.by_length.get(n, ())]  # more typos than that by length alone
    return extractOne(stem, near, scorer=DamerauLevenshtein.distance,
                      score_cutoff=typos) is not None


_NAME_PARTS = re.compile(r"\s+|[-–](?=\w)")  # "Lao Cai-Hanoi-Haiphong": Lao, Cai, Hanoi, …


class ExtractiveAnswerer:
    """Picks the sentence(s) of the retrieved passages that answer the question. No LLM."""

    def __init__(self, scorer: SentenceScorer, abstain_below: float = ABSTAIN_BELOW) -> None:
        self.scorer = scorer
        self.abstain_below = abstain_below

    def answer(self, question: str, passages: Sequence[Passage],
               scored: Scored | None = None, hop: Hop | None = None) -> Answer:
        """The answer from ``passages``; ``scored``: their sentences, if already scored.
        ``hop``: searches again, for the second part of a two-part question (see
        ``second_hop``); without it, that part comes from ``passages`` alone."""
        if scored is None:
            scored = self.scorer.score(question, passages)
        scored = prefer_typed(question, scored)
        unmentioned = unmentioned_names(question, self.scorer.term_weights)
        passages, second = list(passages), None
        bridge = is_bridge_question(question)
        weak = scored.support < self.abstain_below
        if weak and bridge and hop is not None and scored.candidates and not unmentioned:
            # a two-part question's support is split between its parts: it stands when the
            # second hop, which holds what is asked, is well supported on its own
            second = self.second_hop(question, passages, scored.candidates[0], hop)
            weak = second is None
        if not scored.candidates or weak or _number_missing(question, scored) or unmentioned:
            answer = Answer(question, abstention_text(question, unmentioned), True, [],
                            list(passages), unmentioned=unmentioned)
            answer.support = scored.support
            return answer
        if bridge and hop is not None and second is None:
            second = self.second_hop(question, passages, scored.candidates[0], hop)
        picked = distinct(self._pick(scored.candidates, scored.scores, bridge, second),
                          lambda cand: cand.text)
        citations, parts = _cite(picked, passages)
        answer = Answer(question, " ".join(parts), False, citations, passages)
        answer.support = scored.support
        return answer

    def second_hop(self, question: str, passages: list[Passage], first: Candidate,
                   hop: Hop) -> Candidate | None:
        """The best sentence for what ``first`` leaves open: searched with ``hop_query``, and
        indexed into ``passages`` (its passage appended there if new). None when ``first``
        names nothing new to search with, or the second search finds no support."""
        bridge = bridge_names(question, first.text, self.scorer.name_rarity)
        if not bridge:
            return None
        query = hop_query(question, first.text, bridge)
        found, scored = hop(query)
        if scored.support < self.abstain_below:
            return None
        scored = prefer_typed(query, scored)
        seen = (passages[first.passage_index].doc, first.start)
        best = next((c for c in scored.candidates
                     if (found[c.passage_index].doc, c.start) != seen), None)
        if best is None:
            return None
        passage = found[best.passage_index]
        at = next((i for i, p in enumerate(passages) if p.chunk.id == passage.chunk.id), None)
        if at is None:  # ranked after the passages already shown
            passages.append(dataclasses.replace(passage, rank=len(passages) + 1))
            at = len(passages) - 1
        return Candidate(at, best.start, best.end, best.paragraph, best.text)

    @staticmethod
    def _pick(candidates: list[Candidate], scores: np.ndarray, bridge: bool = False,
              second: Candidate | None = None) -> list[Candidate]:
        """The best sentence, plus up to EXTRA_SENTENCES of the same passage from the top 6
        within EXTRA_MARGIN of its score, in document order, within MAX_ANSWER_CHARS.

        A bridge question ("… the country whose president …") needs two passages: it keeps
        one extra sentence of the best passage and adds ``second`` (the second hop's answer)
        or else the best sentence of another passage. Any other question adds the best
        sentence of another passage when it scores within CLOSE_MARGIN of the best: two
        sources that answer about equally well are both shown."""
        best = candidates[0]
        picked = [best]
        extra = 1 if bridge else EXTRA_SENTENCES
        for cand, score in zip(candidates[1:6], scores[1:6], strict=False):
            if len(picked) > extra or scores[0] - score > EXTRA_MARGIN:
                break
            length = sum(len(c.text) + 1 for c in picked) + len(cand.text)
            if cand.passage_index == best.passage_index and length <= MAX_ANSWER_CHARS:
                picked.append(cand)
        if second is not None:
            if all((c.passage_index, c.start) != (second.passage_index, second.start)
                   for c in picked):
                picked.append(second)
            # the second hop's sentence after the first passage's, in document order within it
            return sorted(picked, key=lambda c: (c.passage_index != best.passage_index, c.start))
        picked.sort(key=lambda c: c.start)
        at = next((i for i, c in enumerate(candidates) if c.passage_index != best.passage_index),
                  None)
        if at is not None and (bridge or scores[0] - scores[at] <= CLOSE_MARGIN):
            picked.append(candidates[at])
        return picked


Hop = Callable[[str], tuple[list[Passage], Scored]]
T = TypeVar("T")
HOP_NAMES = 2  # names of the first hop's sentence that the second hop's query carries


def hop_query(question: str, sentence: str, bridge: Sequence[str]) -> str:
    """The query for the second hop of a two-part question: the question without the words
    that ``sentence`` (the first hop's answer) already covers, plus ``bridge``, the names of
    that sentence the question asked for (``bridge_names``). "Which crop grows in the
    country whose president opened the port?", with "President Boluarte of Peru opened the
    port." and ["Peru"], asks "Which crop grows in the country whose Peru?"."""
    covered = set(cached_keyword_tokens(sentence))
    words = [w for w in question.split()
             if not (tokens := set(cached_keyword_tokens(w))) or not tokens <= covered]
    return " ".join([" ".join(words).rstrip(" ?"), *bridge]).strip() + "?"


_BRIDGE_HEAD = re.compile(r"\bthe (?:[\w-]+ ){0,3}?([\w-]+) (?:whose|that|which|who|whom)\b",
                          re.IGNORECASE)


def bridge_names(question: str, sentence: str, rarity: Callable[[str], float],
                 n_names: int = HOP_NAMES) -> list[str]:
    """The names of ``sentence`` the question doesn't hold, rarest first. When the question
    asks through a place ("the island whose …", "the city that …"), only the countries or
    cities among them (text.places.place_kind), if there are any."""
    asked = set(cached_keyword_tokens(question))
    found = [n for n in names(sentence) if not set(cached_keyword_tokens(n)) & asked]
    head = _BRIDGE_HEAD.search(question)
    kind = PLACE_NOUN_KINDS.get(head.group(1).lower()) if head else None
    if kind:
        found = [n for n in found if place_kind(n) == kind] or found
    return sorted(found, key=rarity, reverse=True)[:n_names]


_BRIDGE = re.compile(r"\bwhose\b|\bthe (?:[\w-]+ ){1,3}(?:that|who|whom)\b", re.IGNORECASE)
# "… met both Cambodia's Hun Sen and Nepal's KP Sharma Oli": two named parties (case-sensitive)
_BOTH_NAMED = re.compile(r"\bboth\s+(?:[A-Z][\w'’-]*\s+){1,4}and\s+[A-Z]")


def is_bridge_question(question: str) -> bool:
    """A multi-hop question: it names its subject through another fact ("the country whose
    president…", "the company that employed…"), or asks what holds for both of two ("which
    leader met both Hun Sen and Oli"), so the answer spans two passages."""
    core = main_clause(question)
    return bool(_BRIDGE.search(core) or _BOTH_NAMED.search(core))


def prefer_typed(question: str, scored: Scored, margin: float = TYPE_MARGIN) -> Scored:
    """Answer-type constraint: for a question that asks for a name, date, place or number, put
    first the best sentence that holds one (not already in the question), when it scores within
    ``margin`` of the best sentence."""
    if question_type(question) == "other" or not scored.candidates or \
            scored.rows[0, TYPE_MATCH]:
        return scored
    typed = np.flatnonzero(scored.rows[:, TYPE_MATCH])
    if not len(typed) or scored.scores[0] - scored.scores[typed[0]] > margin:
        return scored
    first = int(typed[0])
    return scored.take([first, *[i for i in range(len(scored.candidates)) if i != first]])


def _number_missing(question: str, scored: Scored) -> bool:
    """A "how many / how much" question whose best sentence holds no number of its own: the
    articles don't give the figure (calibrated with the support threshold on dev)."""
    return question_type(question) == "number" and scored.rows[0, TYPE_MATCH] == 0


def sentence_key(text: str) -> str:
    """What makes two sentences the same for an answer: their words, case aside."""
    return " ".join(text.lower().split())


def distinct(picked: list[T], text: Callable[[T], str]) -> list[T]:
    """The items without a repeat of an earlier one's sentence (``text``; a source that holds
    a paragraph twice gives the same sentence from two places): the answer says it once."""
    seen: set[str] = set()
    out = []
    for item in picked:
        key = sentence_key(text(item))
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _cite(picked: list[Candidate], passages: Sequence[Passage]) -> tuple[list[Citation], list[str]]:
    """Citations (one [n] per passage, in order of use) and the answer's sentences."""
    numbers: dict[int, int] = {}
    citations: list[Citation] = []
    parts: list[str] = []
    for cand in picked:
        n = numbers.setdefault(cand.passage_index, len(numbers) + 1)
        citations.append(make_citation(n, passages[cand.passage_index], cand))
        parts.append(f"{' '.join(cand.text.split())} [{n}]")
    return citations, parts


def make_citation(n: int, passage: Passage, cand: Candidate) -> Citation:
    """A citation whose quote is the exact slice of the passage text at the candidate's offsets."""
    offset = cand.start - passage.chunk.start
    quote = passage.text[offset: offset + (cand.end - cand.start)]
    return Citation(n, passage, cand.paragraph, quote, cand.start, cand.end)


def finish_answer(answer: Answer, question: str, query: str, rewritten: bool, k: int) -> Answer:
    """Set the question and query, and keep the top k passages plus any cited beyond them."""
    shown = list(answer.passages[:k])
    for citation in answer.citations:
        if all(p is not citation.passage for p in shown):
            shown.append(citation.passage)
    if answer.abstained:
        answer.text = abstention_text(question, answer.unmentioned)
    answer.question = question
    answer.query = query
    answer.rewritten = rewritten
    answer.passages = shown
    return answer


# ------------------------------------------------------------------ the learned reader
READER_PASSAGES = 10   # the first stage's top passages whose sentences the reader reads
READER_SENTENCES = 16  # at most this many read per question (latency), the most similar first


@dataclass(frozen=True)
class Read:
    """A candidate sentence with its answer score (the reader's logit blended with the first
    stage's view, ``reader.Blend``), the reader's own logit and the answer phrase (document
    offsets)."""

    cand: Candidate
    score: float
    phrase: tuple[int, int] | None
    logit: float = 0.0
    similarity: float = 0.0  # to the question, as the first stage sees it


class ReaderAnswerer:
    """Answers with the learned reader (``reader.Reader``): it scores the sentences of the
    first stage's best passages against the question, in their context (title, sentence
    before), and blends that with the first stage's view (``reader.Blend``). The answer is the
    best sentence and, when another passage's best sentence is also judged an answer
    (``also_above``), that one too: a question may need two paragraphs. Below the calibrated
    threshold the articles don't say."""

    def __init__(self, reader: Any, abstain_below: float | None = None,
                 also_above: float | None = None) -> None:
        self.reader = reader
        self.abstain_below = reader.threshold if abstain_below is None else abstain_below
        self.also_above = reader.also_above if also_above is None else also_above

    def read(self, question: str, passages: Sequence[Passage],
             similarity: Callable[[Passage, Candidate], float] | None = None) -> list[Read]:
        """The sentences of the top passages, scored, best first (duplicates dropped). Past
        ``READER_SENTENCES`` the ones most similar to the question are read (``similarity``:
        the first stage's cosine; without it, passage order)."""
        from .reader import Pair

        found: list[tuple[float, Candidate, Pair]] = []
        for i, passage in enumerate(passages[:READER_PASSAGES]):
            previous = ""
            for cand in passage_sentences(passage, i):
                if can_answer(passage, cand):
                    near = similarity(passage, cand) if similarity is not None else 0.0
                    found.append((near, cand, Pair(question, cand.text, passage.title,
                                                   previous)))
                previous = cand.text
        found = distinct(found, lambda item: item[1].text)
        if len(found) > READER_SENTENCES:
            order = sorted(range(len(found)), key=lambda j: -found[j][0]) \
                if similarity is not None else list(range(len(found)))
            found = [found[j] for j in sorted(order[:READER_SENTENCES])]
        readings = self.reader.read([pair for _, _, pair in found])
        blend = self.reader.blend
        reads = [Read(c, blend.score(r.score, near, c.passage_index),
                      _phrase_at(c.start, r.span), r.score, near)
                 for (near, c, _), r in zip(found, readings)]
        return sorted(reads, key=lambda r: -r.score)

    def answer(self, question: str, passages: Sequence[Passage],
               similarity: Callable[[Passage, Candidate], float] | None = None) -> Answer:
        passages, reads = by_reader(list(passages), self.read(question, passages, similarity))
        support = reads[0].score if reads else None
        if not reads or reads[0].score < self.abstain_below:
            answer = Answer(question, abstention_text(question), True, [], passages)
            answer.support = support
            return answer
        picked = [reads[0]]
        other = next((r for r in reads[1:]
                      if r.cand.passage_index != reads[0].cand.passage_index), None)
        if (other is not None and other.score >= self.abstain_below
                and other.logit >= self.also_above):
            picked.append(other)
        citations, parts = _cite([r.cand for r in picked], passages)
        citations = [dataclasses.replace(c, phrase=r.phrase) for c, r in zip(citations, picked)]
        answer = Answer(question, " ".join(parts), False, citations, passages)
        answer.support = support
        return answer


def by_reader(passages: list[Passage], reads: list[Read]) -> tuple[list[Passage], list[Read]]:
    """The passages the reader read, best-answering first (by their best sentence), then the
    rest in the first stage's order; ranks and the reads' passage indices follow."""
    best: dict[int, float] = {}
    for r in reads:
        best.setdefault(r.cand.passage_index, r.score)
    order = sorted(best, key=lambda i: -best[i])
    order += [i for i in range(len(passages)) if i not in best]
    where = {old: new for new, old in enumerate(order)}
    ranked = [dataclasses.replace(passages[old], rank=new + 1) for new, old in enumerate(order)]
    moved = [dataclasses.replace(r, cand=dataclasses.replace(
        r.cand, passage_index=where[r.cand.passage_index])) for r in reads]
    return ranked, moved


def with_phrases(answer: Answer, question: str, reader: Any) -> Answer:
    """``answer`` with the reader's answer phrase marked in each cited sentence that the reader
    judges an answer on its own (score at least ``reader.also_above``, probability 0.5)."""
    from .reader import Pair

    if answer.abstained or not answer.citations:
        return answer
    pairs = [Pair(question, c.quote, c.title, _sentence_before(c)) for c in answer.citations]
    readings = reader.read(pairs)
    answer.citations = [
        dataclasses.replace(c, phrase=_phrase_at(c.quote_start, r.span))
        if r.score >= reader.also_above else c
        for c, r in zip(answer.citations, readings)]
    return answer


def _phrase_at(start: int, span: tuple[int, int]) -> tuple[int, int] | None:
    """A phrase span within a sentence as document offsets (the sentence starts at ``start``);
    None when the reader marked none."""
    return (start + span[0], start + span[1]) if span[1] > span[0] else None


def _sentence_before(citation: Citation) -> str:
    """The sentence before the quote in its passage ("" for the first), as the reader was
    trained to read it."""
    before = [c.text for c in passage_sentences(citation.passage)
              if c.end <= citation.quote_start]
    return before[-1] if before else ""
