"""Follow-up questions: rewrite a question from the earlier turns, without an LLM.

A follow-up is rewritten from the last question that stood on its own, never from an earlier
rewrite, and at most once:

- "and what about Vietnam?" after "How many students from Peru study in China?" becomes
  "How many students from Vietnam study in China?";
- "When did he visit?" after a question about Zhao Bentang becomes "When did Zhao Bentang
  visit?" (after "Who …?", the person the answer names); "When did it open?" after "Which
  port …?" becomes "When did Chancay Port open?" when the answer names it;
- a short or pronoun question that no name resolves gets the earlier question's names and
  words appended, deduplicated and capped;
- a question that stands on its own (or holds no word at all, e.g. only emoji) is left alone.

``ConversationStore`` keeps a conversation's turns as JSON under a session id, which the page
puts in its URL, so a reload finds the conversation again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..resources import words
from ..text.names import NOT_NAMES, name_phrases
from ..text.places import place_kind
from ..text.tokens import keyword_tokens
from ..types import Answer, Chunk, Citation, Passage

Turn = tuple[str, "Answer | None"]

_PERSON = frozenset(words("person_pronouns"))
_THING = frozenset(words("thing_pronouns"))
_PRONOUNS = _PERSON | _THING
_POSSESSIVE = frozenset(words("possessive_pronouns"))
_WHAT_ABOUT = re.compile(
    r"^\s*(?:and|but|also|so)?\s*(?:what|how)\s+about\s+(?P<topic>.+?)\s*[?.!]*\s*$",
    re.IGNORECASE)
_AND_TOPIC = re.compile(  # "and in Vietnam?", "but for Peru?": a bare topic, no verb
    r"^\s*(?:and|but|also)\s+(?:in|for|with|of)?\s*(?P<topic>.+?)\s*[?.!]*\s*$", re.IGNORECASE)
_QUESTION_WORDS = frozenset(words("question_words"))
_DEMONYM = re.compile(r"(?:ican|ean|ian|ese|ish)$")   # "Latin American", "Vietnamese"
_ASKS_FOR_NAME = re.compile(r"^\s*(?:and\s+)?(?:who|whom|which)\b", re.IGNORECASE)
_PERSON_NOUNS = "|".join(words("follow_up_person_nouns"))
_ASKS_FOR_PERSON = re.compile(
    rf"^\s*(?:and\s+)?(?:who|whom|which(?:\s+\S+){{0,5}}?\s+(?:{_PERSON_NOUNS})s?)\b",
    re.IGNORECASE)
SHORT_QUESTION = 3       # content words: a question this short leans on the earlier turns
MAX_TOPIC_WORDS = 4      # "and in X?": longer, it is a question of its own
MAX_CARRIED_WORDS = 12   # what a rewrite may append
MAX_BASE_CHARS = 300     # a longer earlier question lends its names and words, not its text


def _turn(item: Turn | Answer | str) -> Turn:
    """A history item as (question, answer): a pair, an Answer, or a bare question."""
    if isinstance(item, str):
        return item, None
    if isinstance(item, tuple):
        return str(item[0]), item[1]
    return str(getattr(item, "question", "")), item


def _has_words(text: str) -> bool:
    return re.search(r"\w", text) is not None


def _base_turn(history: Sequence[Turn | Answer | str]) -> tuple[str, Answer | None]:
    """The last question that stood on its own, with its answer.

    When every turn held is a follow-up, the newest one's searched query stands for it.
    """
    turns = [_turn(item) for item in history]
    for question, answer in reversed(turns):
        if _has_words(question) and not getattr(answer, "rewritten", False):
            return question, answer
    question, answer = turns[-1]
    return (getattr(answer, "query", "") or question), answer


def _topic(question: str) -> str | None:
    """The X of "what about X?" or "and in X?", else None."""
    match = _WHAT_ABOUT.match(question)
    if match:
        return match.group("topic").strip()
    match = _AND_TOPIC.match(question)
    if match:
        words = match.group("topic").split()
        if len(words) <= MAX_TOPIC_WORDS and not _QUESTION_WORDS & {w.lower() for w in words} \
                and not _PRONOUNS & {w.lower() for w in words}:
            return match.group("topic").strip()
    return None


def _pronouns(question: str) -> list[re.Match[str]]:
    return [m for m in re.finditer(r"[\w'’]+", question) if m.group(0).lower() in _PRONOUNS]


def needs_context(question: str) -> bool:
    """Whether a question leans on earlier turns: pronouns, "what about …", or very short."""
    if not _has_words(question):
        return False
    if _topic(question) is not None:
        return True
    pronouns = _pronouns(question)
    if pronouns:
        # "When did China open its …": the pronoun refers to a name said before it
        return not name_phrases(question[:pronouns[0].start()])
    return len(keyword_tokens(question)) <= SHORT_QUESTION and not name_phrases(question)


def rewrite_query(question: str, history: Sequence[Turn | Answer | str] | None,
                  rarity: Callable[[str], float] | None = None) -> tuple[str, bool]:
    """The query to search for ``question`` given earlier turns, and whether it was rewritten.

    ``rarity`` scores a name (e.g. by inverse document frequency): "what about X?" replaces
    the earlier question's rarest name, the one most specific to it, and a pronoun stands for
    the rarest name that fits it; without it, the last.
    """
    if not history or not needs_context(question):
        return question, False
    base, answer = _base_turn(history)
    topic = _topic(question)
    if topic is not None:
        if len(base) <= MAX_BASE_CHARS:
            return _swap_topic(base, topic, rarity), True
        return _appended(topic, base, answer), True
    pronouns = _pronouns(question)
    person = [m for m in pronouns if m.group(0).lower() in _PERSON]
    if person:
        referent = _person(base, answer, rarity)
        if referent:
            return _replaced(question, person, referent), True
    things = [m for m in pronouns if m.group(0).lower() in _THING - {"there"}]
    if things:
        referent = _named_in_answer(base, answer, need_shared_word=True)
        if referent:
            return _replaced(question, things, referent), True
    query = _appended(question, base, answer)
    return query, query != question


def unresolved_pronoun(question: str,
                       history: Sequence[Turn | Answer | str] | None) -> str | None:
    """The "he" or "she" of a question that nothing before it names anyone for, else None:
    the page says so rather than let the search guess."""
    if not needs_context(question) or _topic(question) is not None:
        return None
    person = [m for m in _pronouns(question) if m.group(0).lower() in _PERSON]
    if not person:
        return None
    if history:
        base, answer = _base_turn(history)
        if _person(base, answer, None):
            return None
    return person[0].group(0)


def _swap_topic(previous: str, topic: str,
                rarity: Callable[[str], float] | None = None) -> str:
    """Put ``topic`` in the place of the previous question's most specific named entity."""
    names = [n for n in name_phrases(previous) if n.lower() not in topic.lower()]
    if names:
        last = max(reversed(names), key=rarity) if rarity else names[-1]
        at = previous.rfind(last)
        return previous[:at] + topic + previous[at + len(last):]
    return f"{previous.rstrip(' ?')} {topic}?"


def _could_be_person(name: str) -> bool:
    words = name.split()
    return not (any(w in NOT_NAMES for w in words) or re.search(r"\w['’]s\b", name)
                or _DEMONYM.search(words[-1]) or place_kind(name)
                or any(place_kind(w) for w in words))


def _answer_sentence(answer: Answer | None) -> str:
    if answer is None or getattr(answer, "abstained", True):
        return ""
    citations = getattr(answer, "citations", None) or []
    if citations:
        return citations[0].quote
    return str(getattr(answer, "text", "")).split("[")[0]


def _person(base: str, answer: Answer | None, rarity: Callable[[str], float] | None) -> str:
    """Whom "he" or "she" stands for: after "Who …?" the person the answer names (the name
    sharing most words with the question), else the earlier question's rarest person name."""
    if _ASKS_FOR_PERSON.match(base):
        named = _named_in_answer(base, answer, need_shared_word=False, fits=_could_be_person)
        if named:
            return named
    names = [n for n in name_phrases(base) if _could_be_person(n)]
    if not names:
        return ""
    return max(reversed(names), key=rarity) if rarity else names[-1]


def _named_in_answer(base: str, answer: Answer | None, need_shared_word: bool,
                     fits: Callable[[str], bool] = bool) -> str:
    """After "Who/Which …?", the name of the answer's sentence sharing most words with the
    question ("Which port …?" -> "Chancay Port"); "" if none (or none shares a word)."""
    found = _ASKS_FOR_NAME.match(base)
    if not found:
        return ""
    # what the question calls its answer: the words right after "which" ("which port
    # opened …" -> port, open), not every word ("… Pan African Congress" -> not "African-X")
    asked = set(keyword_tokens(" ".join(base[found.end():].split()[:2])))
    named = [n for n in name_phrases(_answer_sentence(answer)) if n not in base and fits(n)]
    if not named:
        return ""
    best = max(reversed(named), key=lambda n: len(asked & set(keyword_tokens(n))))
    return best if best and (asked & set(keyword_tokens(best)) or not need_shared_word) else ""


def _replaced(question: str, pronouns: list[re.Match[str]], name: str) -> str:
    """``question`` with each pronoun replaced by ``name`` ("his" by "name's")."""
    out, at = [], 0
    for match in pronouns:
        word = match.group(0).lower()
        out += [question[at:match.start()], f"{name}'s" if word in _POSSESSIVE else name]
        at = match.end()
    return "".join([*out, question[at:]])


def _appended(question: str, base: str, answer: Answer | None) -> str:
    """``question`` plus the names and words of ``base`` it lacks, each once, capped."""
    have = set(keyword_tokens(question))
    names = name_phrases(base)
    if _ASKS_FOR_NAME.match(base):
        names += name_phrases(_answer_sentence(answer))[:2]
    wanted = [n for n in dict.fromkeys(names) if not set(keyword_tokens(n)) <= have]
    carried: list[str] = []
    seen = set(have)
    for word in [w for n in wanted for w in n.split()] + re.findall(r"[\w'’-]+", base):
        tokens = keyword_tokens(word)
        if tokens and tokens[0] not in seen:
            seen.add(tokens[0])
            carried.append(word)
        if len(carried) >= MAX_CARRIED_WORDS:
            break
    if len(keyword_tokens(question)) > SHORT_QUESTION and wanted:
        carried = [w for w in carried if any(w in n.split() for n in wanted)]
    return " ".join([question.rstrip(), *carried]).strip()


# ------------------------------------------------------------------ kept across a reload
_SESSION_ID = re.compile(r"[0-9a-f]{32}")
MAX_KEPT_TURNS = 100
MAX_AGE_DAYS = 30        # a conversation untouched this long is deleted
PRUNE_EVERY_S = 3600     # how often a process looks for such conversations
_LAST_PRUNE: dict[Path, float] = {}


def new_session_id() -> str:
    import uuid

    return uuid.uuid4().hex


def valid_session_id(value: object) -> bool:
    return isinstance(value, str) and _SESSION_ID.fullmatch(value) is not None


def _built(cls: type, data: dict[str, Any]) -> Any:
    """``cls(**data)`` with only the fields ``cls`` has (a field added later keeps its
    default when an older file is read)."""
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    return cls(**{k: v for k, v in data.items() if k in names})


def _passage(data: dict[str, Any]) -> Passage:
    return _built(Passage, {**data, "chunk": _built(Chunk, data["chunk"])})


def answer_from_dict(data: dict[str, Any]) -> Answer:
    """The inverse of ``dataclasses.asdict`` on an Answer."""
    citations = [_built(Citation, {**c, "passage": _passage(c["passage"])})
                 for c in data.get("citations", [])]
    passages = [_passage(p) for p in data.get("passages", [])]
    return _built(Answer, {**data, "citations": citations, "passages": passages})


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):          # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class ConversationStore:
    """Turns of a conversation ({"question", "answer" | "error", ...}) as one JSON file per
    session id in ``folder``; the page keeps the id in its URL, so a reload finds them."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, session_id: str) -> Path:
        if not valid_session_id(session_id):
            raise ValueError(f"session id {session_id!r} is not 32 hex digits")
        return self.folder / f"{session_id}.json"

    def prune(self, max_age_days: float = MAX_AGE_DAYS) -> int:
        """Delete conversations untouched for ``max_age_days``; returns how many."""
        cutoff = time.time() - max_age_days * 86400
        removed = 0
        for path in self.folder.glob("*.json"):
            try:
                if valid_session_id(path.stem) and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                continue
        return removed

    def save(self, session_id: str, turns: list[dict[str, Any]]) -> None:
        rows = [{**t, "answer": dataclasses.asdict(t["answer"])} if t.get("answer") else t
                for t in turns[-MAX_KEPT_TURNS:]]
        path = self._path(session_id)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(rows, default=_jsonable, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        if time.monotonic() - _LAST_PRUNE.get(self.folder, -PRUNE_EVERY_S) >= PRUNE_EVERY_S:
            _LAST_PRUNE[self.folder] = time.monotonic()
            self.prune()

    def load(self, session_id: str) -> list[dict[str, Any]]:
        """The saved turns, [] if none; ValueError when the file is damaged."""
        path = self._path(session_id)
        if not path.is_file():
            return []
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
            return [{**r, "answer": answer_from_dict(r["answer"])} if r.get("answer") else r
                    for r in rows]
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path.name} is damaged ({type(err).__name__}: {err}); the "
                             "conversation starts afresh") from err
