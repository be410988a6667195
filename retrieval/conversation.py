"""Follow-up questions: rewrite a question from the earlier turns, without an LLM.

"and what about Vietnam?" after "How many students from Peru study in China?" becomes
"How many students from Vietnam study in China?"; "when did he visit?" after a question about
Xi Jinping carries "Xi Jinping" over. A question that stands on its own is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .index import keyword_tokens

if TYPE_CHECKING:
    from .answer import Answer

Turn = tuple[str, "Answer | None"]

_PRONOUN_WORDS = ("he she it they him her his hers its their theirs them this these those there "
                  "former latter")
_PRONOUNS = frozenset(_PRONOUN_WORDS.split())
_WHAT_ABOUT = re.compile(
    r"^\s*(?:and|but|also|so)?\s*(?:what|how)\s+about\s+(?P<topic>.+?)\s*[?.!]*\s*$"
    r"|^\s*(?:and|but|also)\s+(?:in|for|with|of)?\s*(?P<topic2>.+?)\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_ENTITY = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][\w'’-]*)*")
_LEADING_WORDS = ("what which who whom whose when where why how and but also so according in on "
                  "at did does do is are was were")
_LEADING_WH = frozenset(_LEADING_WORDS.split())
SHORT_QUESTION = 3  # content words: a question this short leans on the earlier turns


def _entities(text: str) -> list[str]:
    """Capitalised names, skipping a capitalised first word that is a question word."""
    found = []
    for match in _ENTITY.finditer(text):
        words = match.group(0).split()
        while words and words[0].lower() in _LEADING_WH:
            words = words[1:]
        if words:
            found.append(" ".join(words))
    return list(dict.fromkeys(found))


def _turn(item: Turn | Answer | str) -> Turn:
    """A history item as (question, answer): a pair, an Answer, or a bare question."""
    if isinstance(item, str):
        return item, None
    if isinstance(item, tuple):
        return str(item[0]), item[1]
    return str(getattr(item, "question", "")), item


def _previous_query(history: Sequence[Turn | Answer | str]) -> tuple[str, Answer | None]:
    question, answer = _turn(history[-1])
    if answer is not None and getattr(answer, "query", ""):
        return answer.query, answer
    return question, answer


def needs_context(question: str) -> bool:
    """Whether a question leans on earlier turns: pronouns, "what about …", or very short."""
    if _WHAT_ABOUT.match(question):
        return True
    pronoun = next((m for m in re.finditer(r"[\w'’]+", question)
                    if m.group(0).lower() in _PRONOUNS), None)
    if pronoun is not None:
        # "When did China open its …": the pronoun refers to a name said before it
        return not _entities(question[:pronoun.start()])
    return len(keyword_tokens(question)) <= SHORT_QUESTION and not _entities(question)


def rewrite_query(question: str, history: Sequence[Turn | Answer | str] | None,
                  rarity: Callable[[str], float] | None = None) -> tuple[str, bool]:
    """The query to search for ``question`` given earlier turns, and whether it was rewritten.

    ``rarity`` scores a name (e.g. by inverse document frequency): "what about X?" replaces
    the previous question's rarest name, the one most specific to it; without it, the last.
    """
    if not history or not needs_context(question):
        return question, False
    previous, answer = _previous_query(history)
    match = _WHAT_ABOUT.match(question)
    if match:
        topic = (match.group("topic") or match.group("topic2") or "").strip()
        return _swap_topic(previous, topic, rarity), True
    carried = _carry_over(question, previous, answer)
    if not carried:
        return question, False
    return f"{question.rstrip()} {carried}".strip(), True


def _swap_topic(previous: str, topic: str,
                rarity: Callable[[str], float] | None = None) -> str:
    """Put ``topic`` in the place of the previous question's most specific named entity."""
    names = [n for n in _entities(previous) if n.lower() not in topic.lower()]
    if names:
        last = max(reversed(names), key=rarity) if rarity else names[-1]
        at = previous.rfind(last)
        return previous[:at] + topic + previous[at + len(last):]
    return f"{previous.rstrip(' ?')} {topic}?"


def _carry_over(question: str, previous: str, answer: Answer | None) -> str:
    """Names and content words of the previous turn that the new question lacks."""
    have = set(keyword_tokens(question))
    names = _entities(previous)
    if answer is not None and not getattr(answer, "abstained", True) and \
            re.match(r"\s*who\b", previous, re.IGNORECASE):
        names += _entities(answer.text.split("[")[0])[:2]
    words = [w for w in re.findall(r"[\w'’-]+", previous)
             if keyword_tokens(w) and keyword_tokens(w)[0] not in have]
    wanted = [n for n in dict.fromkeys(names) if not set(keyword_tokens(n)) <= have]
    if wanted and len(keyword_tokens(question)) > SHORT_QUESTION:
        return " ".join(wanted)
    extra = [w for w in words if not any(w in n.split() for n in wanted)]
    return " ".join([*wanted, *extra])
