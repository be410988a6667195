"""The hand-fitted sentence scorer of the `rules` answerer: sentence-level reranking of the
retrieved passages.

Every sentence of the first-stage pool is scored as an answer to the question: similarity to
the question with the same model, keyword and entity overlap (also through WordNet relatives, for
questions in other words than their article: text/lexicon.py), the question type (who / when /
how many / where), and where the sentence sits in its article. The passages holding the best
sentences move to the top of the results, and the answerer (extractive.py) picks from the
same scores.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from ..embed.embedder import BaseEmbedder
from ..resources import fitted_weights
from ..text.lexicon import question_relatives
from ..text.question import (
    answer_phrase,
    main_clause,
    question_entities,
    question_type,
    typed_spans,
)
from ..text.sentences import chunk_sentence_spans
from ..text.tokens import cached_keyword_tokens, keyword_tokens
from ..types import Candidate, Chunk, Passage


def passage_sentences(passage: Passage, passage_index: int = 0) -> list[Candidate]:
    """The sentences of a passage, with document offsets and paragraph numbers."""
    return [Candidate(passage_index, *sentence) for sentence in _chunk_sentences(passage.chunk)]


def can_answer(passage: Passage, cand: Candidate) -> bool:
    """Whether a sentence of ``passage`` may be an answer: not its title, not a headline."""
    return (cand.start, cand.end, cand.paragraph, cand.text) in _answer_sentences(passage.chunk)


@lru_cache(maxsize=20_000)
def _answer_sentences(chunk: Chunk) -> tuple[tuple[int, int, int, str], ...]:
    """The sentences of ``chunk`` that can be an answer: not its title, not a headline."""
    return tuple(s for s in _chunk_sentences(chunk)
                 if not _is_title(s[3], chunk.title) and not is_heading(s[3]))


@lru_cache(maxsize=20_000)
def _chunk_sentences(chunk: Chunk) -> tuple[tuple[int, int, int, str], ...]:
    """(start, end, paragraph, text) of each sentence of ``chunk``, offsets in its document."""
    return tuple((chunk.start + s, chunk.start + e, para, chunk.text[s:e])
                 for s, e, para in chunk_sentence_spans(chunk))


class TermWeights:
    """Inverse document frequencies of stemmed keyword tokens over a corpus of chunks."""

    def __init__(self, texts: Sequence[str] = ()) -> None:
        df: Counter[str] = Counter()
        for text in texts:
            df.update(set(keyword_tokens(text)))
        self.n = max(1, len(texts))
        self.df = df

    @cached_property
    def by_length(self) -> dict[int, list[str]]:
        """Every token of the corpus, by its length."""
        out: dict[int, list[str]] = {}
        for token in self.df:
            out.setdefault(len(token), []).append(token)
        return out

    def idf(self, token: str) -> float:
        return math.log(1 + (self.n + 1) / (self.df.get(token, 0) + 0.5))


FEATURES = ("sim", "passage_sim", "rank", "keywords", "keywords_ctx", "entities",
            "entities_ctx", "type_match", "new_words", "core_sim", "core_keywords",
            "core_keywords_ctx", "core_keywords_all", "keywords_local", "keywords_local_window",
            "keywords_window", "focus_keywords", "focus_share", "lead", "position",
            "phrase_sim", "window_sim", "synonyms")


def _coverage(wanted: dict[str, float], present: set[str]) -> float:
    total = sum(wanted.values())
    return sum(w for t, w in wanted.items() if t in present) / total if total else 0.0


def _after_same_passage(candidates: Sequence[Candidate]) -> np.ndarray:
    """For each candidate, whether the one before it in the list is of the same passage."""
    which = np.array([c.passage_index for c in candidates], dtype=np.int64)
    return np.r_[False, which[1:] == which[:-1]]


def _presence(token_sets: Sequence[set[str]], vocab: Sequence[str]) -> np.ndarray:
    """One row per set, one column per vocabulary token: 1.0 where the set holds the token."""
    return np.array([[t in tokens for t in vocab] for tokens in token_sets],
                    dtype=np.float32).reshape(len(token_sets), len(vocab))


def _shares(present: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """For each row, the weighted share of the wanted tokens it holds (0 if none is wanted).
    ``weights``: one vector for all rows, or one row of weights per row of ``present``."""
    total = weights.sum(axis=-1)
    held = present @ weights if weights.ndim == 1 else (present * weights).sum(axis=1)
    return np.where(total > 0, held / np.where(total > 0, total, 1.0), 0.0)


def candidate_features(question: str, passages: Sequence[Passage], candidates: Sequence[Candidate],
                       sims: np.ndarray, core_sims: np.ndarray, weights: TermWeights,
                       context: ArticleContext | None = None) -> np.ndarray:
    """One row of FEATURES per candidate sentence (cheap ones; ``sims`` comes from the model).

    The focus of a question is what its article's title and lead paragraph don't already say:
    "At the March summit in Lima, what did the minister call the port?" names the article
    through its lead; the answer is the sentence that covers the rest.
    """
    kind = question_type(question)
    q_tokens = {t: weights.idf(t) for t in cached_keyword_tokens(question)}
    core = main_clause(question)
    core_tokens = {t: weights.idf(t) for t in cached_keyword_tokens(core)}
    vocab = list(dict.fromkeys([*q_tokens, *core_tokens]))

    def vector(wanted: dict[str, float]) -> np.ndarray:
        return np.array([wanted.get(t, 0.0) for t in vocab], dtype=np.float32)

    q_entities = question_entities(question)
    q_lower = question.lower()
    dense = [p.dense for p in passages if p.dense is not None]
    floor = min(dense) if dense else 0.0
    ctx_tokens = [set(cached_keyword_tokens(f"{p.title}\n{p.text}")) for p in passages]
    ctx_entities = [_entity_share(q_entities, f"{p.title}\n{p.text}".lower()) for p in passages]
    everywhere = set().union(*ctx_tokens) if ctx_tokens else set()
    sentence_tokens = [set(cached_keyword_tokens(c.text)) for c in candidates]
    # pool-local rarity: question words found in many of these sentences are the topic, the
    # rare ones are what this question asks about
    local_df = Counter(t for tokens in sentence_tokens for t in tokens if t in q_tokens)
    local = {t: math.log((len(candidates) + 1) / (local_df.get(t, 0) + 0.5)) for t in q_tokens}
    frames = [set(cached_keyword_tokens(context.frame(p) if context else p.title))
              for p in passages]
    focus = np.stack([vector({t: w for t, w in q_tokens.items() if t not in frame})
                      for frame in frames]) if passages else np.zeros((0, len(vocab)))
    which = np.array([c.passage_index for c in candidates], dtype=np.int64)
    sent = _presence(sentence_tokens, vocab)
    same = _after_same_passage(candidates)
    window = np.maximum(sent, np.where(same[:, None], np.roll(sent, 1, axis=0), 0.0))
    ctx = _presence(ctx_tokens, vocab)[which]
    q_vec, core_vec, local_vec = vector(q_tokens), vector(core_tokens), vector(local)
    rows = np.zeros((len(candidates), len(FEATURES)), dtype=np.float32)
    columns = {
        "sim": sims, "core_sim": core_sims,
        "passage_sim": [passages[i].dense if passages[i].dense is not None else floor
                        for i in which],
        "rank": [1.0 / passages[i].rank for i in which],
        "keywords": _shares(sent, q_vec), "keywords_ctx": _shares(ctx, q_vec),
        "core_keywords": _shares(sent, core_vec), "core_keywords_ctx": _shares(ctx, core_vec),
        "core_keywords_all": _coverage(core_tokens, everywhere),
        "keywords_local": _shares(sent, local_vec),
        "keywords_local_window": _shares(window, local_vec),
        "keywords_window": _shares(window, q_vec),
        "focus_keywords": _shares(sent, focus[which]),
        "focus_share": (focus[which] > 0).sum(axis=1) / max(1, len(q_tokens)),
    }
    positions = [context.position(passages[c.passage_index].doc, c.paragraph) if context
                 else None for c in candidates]
    columns |= {
        "entities": [_entity_share(q_entities, c.text.lower()) for c in candidates],
        "entities_ctx": [ctx_entities[i] for i in which],
        "type_match": [any(s.lower() not in q_lower for s in typed_spans(c.text, kind))
                       for c in candidates],
        "new_words": [len(tokens - q_tokens.keys()) / max(1, len(tokens))
                      for tokens in sentence_tokens],
        "lead": [position == 0 for position in positions],
        "position": [0.0 if position is None else 1.0 / (1 + position)
                     for position in positions],
    }
    columns["synonyms"] = _synonym_shares(core_tokens, question_relatives(core),
                                          sentence_tokens)
    for name, values in columns.items():
        rows[:, FEATURES.index(name)] = values
    return rows


def _synonym_shares(wanted: dict[str, float], relatives: Mapping[str, frozenset[str]],
                    sentence_tokens: Sequence[set[str]]) -> list[float]:
    """For each sentence, the weighted share of the wanted (main clause) words that it lacks
    but holds a WordNet relative of: "holidaymakers" -> "tourists" (text/lexicon.py)."""
    total = sum(wanted.values())
    if not total or not relatives:
        return [0.0] * len(sentence_tokens)
    return [sum(wanted.get(t, 0.0) for t, near in relatives.items()
                if t not in tokens and not near.isdisjoint(tokens)) / total
            for tokens in sentence_tokens]


TYPE_MATCH = FEATURES.index("type_match")  # the answerer's type constraint reads this column


def _entity_share(entities: set[str], lower_text: str) -> float:
    if not entities:
        return 0.0
    return sum(e in lower_text for e in entities) / len(entities)


def _is_title(text: str, title: str) -> bool:
    return " ".join(text.lstrip("# ").split()).casefold() == " ".join(title.split()).casefold()


_END = (".", "!", "?", '"', "”", "’", "'", ")", ":", ";")


def is_heading(text: str) -> bool:
    """A headline rather than a sentence: short, no closing punctuation, mostly capitalised
    words ("Xi Jinping Sends Congratulatory Letter to the 9th Summit"). It can't be an answer."""
    words = text.split()
    long_words = [w for w in words if len(w) > 3]
    if not words or len(words) > 25 or text.rstrip().endswith(_END) or not long_words:
        return False
    return sum(w[0].isupper() for w in long_words) >= 0.6 * len(long_words)


@dataclass
class Scored:
    """Candidate sentences, best first, with their FEATURES rows, scores, and the support."""

    candidates: list[Candidate]
    rows: np.ndarray
    scores: np.ndarray
    support: float

    def passage_order(self, n_passages: int) -> list[int]:
        """Passage indexes in the order of their best sentence (passages without one last)."""
        order = list(dict.fromkeys(c.passage_index for c in self.candidates))
        seen = set(order)
        return order + [i for i in range(n_passages) if i not in seen]

    def take(self, rows: list[int]) -> Scored:
        """These candidates (by position), in this order, with their rows and scores."""
        return Scored([self.candidates[i] for i in rows], self.rows[rows], self.scores[rows],
                      self.support)

    def within(self, n_passages: int) -> Scored:
        """Only the sentences of the first ``n_passages`` passages."""
        keep = [i for i, c in enumerate(self.candidates) if c.passage_index < n_passages]
        return self if len(keep) == len(self.candidates) else self.take(keep)


# Linear sentence score over FEATURES: the weights, keyed by feature name, and where they came
# from are in resources/sentence_scorer.json (scripts/fit_sentence_weights.py --write).
WEIGHTS = np.array(fitted_weights("sentence_scorer", FEATURES), dtype=np.float32)
_SIM, _CORE_SIM = FEATURES.index("sim"), FEATURES.index("core_sim")
_PHRASE_SIM, _WINDOW_SIM = FEATURES.index("phrase_sim"), FEATURES.index("window_sim")
_PASSAGE_SIM = FEATURES.index("passage_sim")
PROMOTE = 2  # passages holding the best sentences that move to the top of the results


class SentenceScorer:
    """Scores every sentence of the retrieved passages as an answer to the question."""

    def __init__(self, embedder: BaseEmbedder, term_weights: TermWeights | None = None,
                 weights: np.ndarray = WEIGHTS, max_candidates: int = 48,
                 cache_size: int = 20_000,
                 stored_vector: Callable[[Passage, Candidate], np.ndarray | None] | None = None,
                 context: ArticleContext | None = None) -> None:
        self.embedder = embedder
        self.stored_vector = stored_vector  # a sentence's vector from the index, if it has one
        self.context = context              # article titles, leads and paragraph positions
        self.term_weights = term_weights or TermWeights()
        self.weights = weights
        self.max_candidates = max_candidates
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def share_cache(self, other: SentenceScorer) -> None:
        """Reuse another scorer's sentence vectors (same embedder, e.g. a newer index)."""
        if other.embedder is self.embedder:
            self._cache = other._cache

    def name_rarity(self, name: str) -> float:
        """How specific a name is to few chunks: the mean IDF of its words."""
        tokens = cached_keyword_tokens(name)
        return sum(map(self.term_weights.idf, tokens)) / len(tokens) if tokens else 0.0

    def _embed(self, questions: list[str], sentences: list[str]) -> np.ndarray:
        """Vectors of ``questions`` then ``sentences``, in one batch. Sentence vectors are kept
        (LRU) for the next question; question vectors are not (every query is embedded)."""
        if not questions and not sentences:
            return np.zeros((0, 1), dtype=np.float32)
        missing = list(dict.fromkeys(t for t in sentences if t not in self._cache))
        fresh: Any = (self.embedder.embed([*questions, *missing]) if questions or missing
                      else [])
        for text, vec in zip(missing, fresh[len(questions):]):
            self._cache[text] = vec
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        for text in sentences:
            self._cache.move_to_end(text)
        return np.stack([*fresh[:len(questions)], *[self._cache[t] for t in sentences]])

    def score(self, question: str, passages: Sequence[Passage],
              known: Mapping[str, np.ndarray] | None = None) -> Scored:
        """Candidate sentences with their features and scores (best first), and the support:
        the mean of the best sentence similarity to the question, to its core, and the best
        passage similarity. ``known``: vectors already computed, by text (the query's)."""
        candidates = [Candidate(i, *sentence) for i, p in enumerate(passages)
                      for sentence in _answer_sentences(p.chunk)]
        if not candidates:
            return Scored([], np.zeros((0, len(FEATURES))), np.zeros(0), 0.0)
        zeros = np.zeros(len(candidates), dtype=np.float32)
        rows = candidate_features(question, passages, candidates, zeros, zeros,
                                  self.term_weights, self.context)
        passage_sim = float(rows[:, _PASSAGE_SIM].max())
        stored = [self.stored_vector(passages[c.passage_index], c) if self.stored_vector else None
                  for c in candidates]
        # Sentences without a stored vector: only the lexically most promising are embedded.
        cheap = np.argsort(-(rows @ self.weights), kind="stable")
        missing = [i for i in cheap if stored[i] is None][: self.max_candidates]
        keep = sorted({i for i, v in enumerate(stored) if v is not None} | set(missing))
        candidates, rows = [candidates[i] for i in keep], rows[keep]
        known = known or {}
        phrase, core = answer_phrase(question), main_clause(question)
        asked = [question, core, *([phrase] if phrase else [])]
        asked = list(dict.fromkeys(asked))
        unknown = [t for t in asked if t not in known]
        fresh = self._embed(unknown, [candidates[j].text for j, i in enumerate(keep)
                                      if stored[i] is None])
        vec = {**known, **dict(zip(unknown, fresh))}
        q_vec, core_vec = vec[question], vec[core]
        rest = iter(fresh[len(unknown):])
        vectors = np.stack([v if (v := stored[i]) is not None else next(rest) for i in keep])
        rows[:, _SIM] = vectors @ q_vec
        rows[:, _CORE_SIM] = vectors @ core_vec
        if phrase:
            rows[:, _PHRASE_SIM] = vectors @ vec[phrase]
        follows = np.r_[False, np.diff(keep) == 1]  # the sentence before it was kept too
        rows[:, _WINDOW_SIM] = with_previous(vectors, candidates, follows) @ q_vec
        best_sims = float(rows[:, _SIM].max()) + float(rows[:, _CORE_SIM].max())
        support = (best_sims + passage_sim) / 3
        scores = rows @ self.weights
        order = np.argsort(-scores, kind="stable")
        return Scored([candidates[i] for i in order], rows[order], scores[order], support)


def with_previous(vectors: np.ndarray, candidates: Sequence[Candidate],
                  follows: np.ndarray | None = None) -> np.ndarray:
    """Each sentence's vector plus the one before it in the same passage, normalised: the
    sentence in its context ("He presented the Order …" after the sentence naming the King).
    ``follows``: which candidates come right after the one before them in the list (default:
    all); the others stand alone."""
    after_one = _after_same_passage(candidates)
    if follows is not None:
        after_one &= follows
    window = vectors + np.where(after_one[:, None], np.roll(vectors, 1, axis=0), 0.0)
    return window / np.maximum(np.linalg.norm(window, axis=1, keepdims=True), 1e-12)


def promote(passages: Sequence[Passage], scored: Scored,
            top: int = PROMOTE) -> tuple[list[Passage], Scored]:
    """Move the passages holding the ``top`` best sentences to the front; the others keep the
    first stage's order. Returns the re-ranked passages and ``scored`` re-indexed to them.

    Only the top moves: the first stage's fused order holds more of a multi-part question's
    evidence further down (dev recall@5 fell from 0.91 to 0.88 when every passage was
    re-ranked by its best sentence)."""
    best = scored.passage_order(len(passages))[:top]
    order = best + [i for i in range(len(passages)) if i not in best]
    where = {old: new for new, old in enumerate(order)}
    ranked = [dataclasses.replace(passages[old], rank=new + 1) for new, old in enumerate(order)]
    candidates = [Candidate(where[c.passage_index], c.start, c.end, c.paragraph, c.text)
                  for c in scored.candidates]
    return ranked, Scored(candidates, scored.rows, scored.scores, scored.support)


def stored_sentence_vectors(snap: Any) -> Callable[[Passage, Candidate], np.ndarray | None]:
    """Look up a candidate sentence's vector among the index's sentence vectors (same model and
    the same splitter, text.sentences.chunk_sentence_spans), so that answering embeds only the
    question; None for a passage the snapshot does not hold."""
    sentences = getattr(snap, "sentences", None)
    if sentences is None or len(sentences.vectors) != len(sentences.spans):
        return lambda passage, cand: None
    rows = {chunk.id: row for row, chunk in enumerate(snap.chunks)}
    by_row: dict[int, dict[tuple[int, int], int]] = {}

    def lookup(passage: Passage, cand: Candidate) -> np.ndarray | None:
        row = rows.get(passage.chunk.id)
        if row is None:
            return None
        spans = by_row.get(row)
        if spans is None:
            first, last = sentences.offsets[row], sentences.offsets[row + 1]
            spans = by_row[row] = {(int(s), int(e)): i for i, (_, s, e) in
                                   enumerate(sentences.spans[first:last], start=first)}
        at = spans.get((cand.start - passage.chunk.start, cand.end - passage.chunk.start))
        return None if at is None else sentences.vectors[at]

    return lookup


class ArticleContext:
    """Where each paragraph sits in its article, and the article's title and lead paragraph."""

    def __init__(self, paragraphs: dict[str, dict[int, Any]]) -> None:
        self._paragraphs = paragraphs     # doc -> number -> Paragraph (the snapshot's)
        self._docs: dict[str, tuple[dict[int, int], dict[int, str]]] = {}

    def _doc(self, doc: str) -> tuple[dict[int, int], dict[int, str]]:
        """For one document: paragraph number -> position in its article (0 = the lead), and
        paragraph number -> "title, lead" of its article."""
        if doc not in self._docs:
            articles: dict[int, list[Any]] = {}
            for para in self._paragraphs.get(doc, {}).values():
                if not para.boilerplate and para.number != para.title_number:
                    articles.setdefault(para.title_number, []).append(para)
            position, frame = {}, {}
            for paras in articles.values():
                paras.sort(key=lambda p: p.number)
                text = f"{paras[0].title}\n{paras[0].text}"
                for i, para in enumerate(paras):
                    position[para.number], frame[para.number] = i, text
            self._docs[doc] = (position, frame)
        return self._docs[doc]

    def position(self, doc: str, number: int) -> int | None:
        """0 for the article's first content paragraph, 1 for the next …; None if unknown."""
        return self._doc(doc)[0].get(number)

    def frame(self, passage: Passage) -> str:
        """The title and lead paragraph of the passage's article (its title if unknown)."""
        return self._doc(passage.doc)[1].get(passage.chunk.para_start, passage.title)


def article_context(snap: Any) -> ArticleContext:
    return ArticleContext(getattr(snap, "paragraphs", None) or {})
