"""Answer and retrieval metrics, with exactly the definitions of ``../shared/eval/score.py``.

``score(questions, results)`` gives the same figures as ``python3 score.py QUESTIONS RESULTS``
for the same files; ``tests/test_evaluate.py`` checks that against the shared scorer.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from ..errors import SourceError

_TRANS = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
                        "\u2013": "-", "\u2014": "-", "\u00a0": " ", "\u2002": " "})
HIT_FRACTION = 0.6
KS = (1, 3, 5, 10)


def norm(text: str | None) -> str:
    """Lower case, curly quotes and dashes straightened, white space collapsed."""
    return re.sub(r"\s+", " ", (text or "").translate(_TRANS)).strip().lower()


def hits(passage: str, evidence: str, frac: float = HIT_FRACTION) -> bool:
    """Whether ``passage`` holds at least ``frac`` of ``evidence`` as one contiguous run."""
    p, e = norm(passage), norm(evidence)
    if not e:
        return False
    if e in p:
        return True
    match = SequenceMatcher(None, p, e, autojunk=False).find_longest_match(0, len(p), 0, len(e))
    return match.size >= frac * len(e)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def read_jsonl(path: Path | str, *, what: str = "", keys: tuple[str, ...] = ()) -> list[dict]:
    """Rows of a JSONL file. A missing file, or a line that is not JSON (with ``keys``: not a
    JSON object holding them), is a one-line SourceError naming the file, line and fix."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{what + ' ' if what else ''}{path} does not exist; pass a .jsonl file")
    rows = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            for key in keys:
                str(row[key])  # a list, string or number row raises TypeError here
        except (json.JSONDecodeError, KeyError, TypeError):
            shape = f"a JSON object with {' and '.join(keys)}" if keys else "valid JSON"
            raise SourceError(f"{path}: line {line_no} is not {shape}; fix that line") from None
        rows.append(row)
    return rows


_MISSING = {"answer": "", "abstained": True, "citations": [], "passages": []}


class _Tally:
    """Per-question accumulators of ``score``."""

    def __init__(self, ks: Iterable[int]) -> None:
        self.recall: dict[int, list[float]] = {k: [] for k in ks}
        self.rr: list[float] = []
        self.correct: list[bool] = []
        self.supported: list[bool] = []
        self.cite_prec: list[float] = []
        self.lengths: list[int] = []
        self.false_abstain: list[bool] = []
        self.true_abstain: list[bool] = []
        self.plen: list[int] = []

    def add(self, q: dict, r: dict) -> None:
        passages = [p.get("text", "") for p in r.get("passages", [])]
        self.plen.extend(len(p) for p in passages[:5])
        if q["kind"] == "unanswerable":
            self.true_abstain.append(bool(r.get("abstained")))
            return
        evs = _as_list(q["evidence"])
        for k, values in self.recall.items():
            found = [any(hits(p, e) for p in passages[:k]) for e in evs]
            values.append(sum(found) / len(evs))
        first = next((i for i, p in enumerate(passages[:10]) if any(hits(p, e) for e in evs)),
                     None)
        self.rr.append(0.0 if first is None else 1.0 / (first + 1))
        self._add_answer(q, r, evs)

    def _add_answer(self, q: dict, r: dict, evs: list) -> None:
        abstained = bool(r.get("abstained"))
        self.false_abstain.append(abstained)
        answer = norm(re.sub(r"\[\d+\]", "", r.get("answer", "")))
        ok = (not abstained) and any(norm(a) in answer for a in q["answers"])
        self.correct.append(ok)
        if not abstained:
            self.lengths.append(len(answer))
        cites = [c.get("text", "") for c in r.get("citations", [])]
        self.supported.append(ok and any(any(norm(a) in norm(c) for a in q["answers"])
                                         for c in cites))
        if not abstained and cites:
            self.cite_prec.append(sum(any(hits(c, e) for e in evs) for c in cites) / len(cites))


def score(questions: Sequence[dict], results: Sequence[dict],
          ks: Sequence[int] = KS) -> dict[str, Any]:
    """The metrics of ``../shared/eval/score.py`` for a question set and a system's results."""
    by_id = {r["id"]: r for r in results}
    missing = [q["id"] for q in questions if q["id"] not in by_id]
    tally = _Tally(ks)
    for q in questions:
        tally.add(q, by_id.get(q["id"], _MISSING))
    n_ans, n_un = len(tally.correct), len(tally.true_abstain)
    return {
        "questions": len(questions), "answerable": n_ans, "unanswerable": n_un,
        "missing_results": len(missing),
        **{f"recall@{k}": _mean(v) for k, v in tally.recall.items()},
        "mrr@10": _mean(tally.rr),
        "answer_accuracy": _mean(tally.correct),
        "answer_supported_by_citation": _mean(tally.supported),
        "citation_precision": _mean(tally.cite_prec),
        "false_abstain_rate": _mean(tally.false_abstain),
        "unanswerable_abstain_rate": _mean(tally.true_abstain),
        "median_answer_chars": statistics.median(tally.lengths) if tally.lengths else None,
        "median_passage_chars": statistics.median(tally.plen) if tally.plen else None,
        "qa_score": round((sum(tally.supported) + sum(tally.true_abstain)) / max(1, n_ans + n_un),
                          4),
    }
