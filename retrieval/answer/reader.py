"""The learned reader: a cross-encoder that reads (question, sentence in its context) pairs.

For each pair it gives one answer score (a logit: does this sentence answer the question?) and,
on the same forward pass, start and end logits over the sentence's word pieces, so the exact
answer phrase can be picked out. It was trained on SQuAD by ``scripts/train_reader.py``
(``make reader``) and ships as an int8 ONNX graph under ``models/reader/`` with its tokenizer
as a plain JSON file and a manifest (``reader.json``) holding every file's sha256, the input
layout and the calibrated abstention threshold. Loading verifies the checksums: nothing is
unpickled, and a missing or altered file is refused with a one-line error naming it.

The input layout is the same in training and here (``PairEncoder.encode``)::

    [CLS] question [SEP] sentence [SEP] title : previous sentence [SEP]

The sentence comes before its context so that truncation never cuts it first; the context
(the article title and the sentence before, cut from the left) lets "He presented …" be read.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..ingest.load import sha256_file
from ..text.tokens import keyword_tokens

MANIFEST = "reader.json"
MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "reader"
REBUILD_HINT = "run `make reader` to retrain it, or restore it with `git checkout models/reader`"


@dataclass(frozen=True)
class Limits:
    """Word-piece budget of each part of the input (special tokens not counted)."""

    question: int = 48
    sentence: int = 56
    title: int = 6
    context: int = 20  # title, separator and previous sentence together

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Limits:
        return cls(**{k: int(v) for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Blend:
    """How a sentence's answer score combines the reader's logit with the first stage's view
    of it: a logistic model over (reader logit, cosine similarity of the sentence to the
    question, log(1 + rank of its passage)), fitted with the abstention threshold on the
    calibration articles (``reader.json`` "blend"). The default is the reader's logit alone."""

    reader: float = 1.0
    similarity: float = 0.0
    rank: float = 0.0
    bias: float = 0.0

    @staticmethod
    def features(logit: float, similarity: float, passage_index: int) -> tuple[float, ...]:
        """The model's inputs, in the order of its weights (what the calibration fits on)."""
        return logit, similarity, math.log1p(passage_index)

    def score(self, logit: float, similarity: float, passage_index: int) -> float:
        x = self.features(logit, similarity, passage_index)
        return self.bias + self.reader * x[0] + self.similarity * x[1] + self.rank * x[2]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Blend:
        return cls(**{k: float(v) for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Pair:
    """One reader input: the question, the candidate sentence and its context."""

    question: str
    sentence: str
    title: str = ""
    previous: str = ""


@dataclass
class Encoded:
    """A padded batch: ids, mask, type ids, and where each sentence's word pieces sit."""

    input_ids: np.ndarray        # (batch, tokens) int64
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    sentence_start: np.ndarray   # (batch,) first token of the sentence
    sentence_len: np.ndarray     # (batch,) its word pieces kept
    offsets: list[list[tuple[int, int]]]  # character spans of the kept sentence word pieces


class PairEncoder:
    """Builds reader inputs with a ``tokenizers.Tokenizer`` (the model's tokenizer.json)."""

    def __init__(self, tokenizer_file: Path, limits: Limits | None = None) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.limits = limits or Limits()
        self.cls = self._id("[CLS]")
        self.sep = self._id("[SEP]")
        self.pad = self._id("[PAD]")

    def _id(self, token: str) -> int:
        found = self.tokenizer.token_to_id(token)
        if found is None:
            raise ConfigError(f"the reader's tokenizer has no {token} token; {REBUILD_HINT}")
        return int(found)

    def _pieces(self, texts: list[str]) -> list[Any]:
        return self.tokenizer.encode_batch(texts, add_special_tokens=False)

    def encode(self, pairs: Sequence[Pair]) -> Encoded:
        lim = self.limits
        questions = self._pieces([p.question for p in pairs])
        sentences = self._pieces([p.sentence for p in pairs])
        titles = self._pieces([p.title for p in pairs])
        previous = self._pieces([p.previous for p in pairs])
        colon = self._id(":") if self.tokenizer.token_to_id(":") is not None else self.sep
        rows: list[tuple[list[int], int]] = []
        starts, lengths, offsets = [], [], []
        for q, s, t, p in zip(questions, sentences, titles, previous):
            head = [self.cls, *q.ids[: lim.question], self.sep]
            sent = s.ids[: lim.sentence]
            title = t.ids[: lim.title]
            room = max(0, lim.context - len(title) - 1)
            prev = p.ids[len(p.ids) - room:] if room else []
            context = [*title, colon, *prev] if (title or prev) else []
            ids = [*head, *sent, self.sep, *context, self.sep]
            rows.append((ids, len(head)))
            starts.append(len(head))
            lengths.append(len(sent))
            offsets.append(list(s.offsets[: lim.sentence]))
        width = max(len(ids) for ids, _ in rows)
        input_ids = np.full((len(rows), width), self.pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros((len(rows), width), dtype=np.int64)
        for r, (ids, question_end) in enumerate(rows):
            input_ids[r, : len(ids)] = ids
            mask[r, : len(ids)] = 1
            types[r, question_end: len(ids)] = 1
        return Encoded(input_ids, mask, types, np.array(starts, dtype=np.int64),
                       np.array(lengths, dtype=np.int64), offsets)


@dataclass(frozen=True)
class Reading:
    """The reader's verdict on one pair: answer score (logit) and the answer phrase's
    character span within the sentence (empty when none stands out)."""

    score: float
    span: tuple[int, int] = (0, 0)


def best_span(start: np.ndarray, end: np.ndarray, max_len: int = 30) -> tuple[int, int, float]:
    """The (i, j) with i <= j < i + max_len maximising start[i] + end[j]."""
    n = len(start)
    if n == 0:
        return 0, 0, float("-inf")
    total = start[:, None] + end[None, :]
    allowed = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), max_len)
    total = np.where(allowed, total, -np.inf)
    i, j = np.unravel_index(int(np.argmax(total)), total.shape)
    return int(i), int(j), float(total[i, j])


class Reader:
    """The shipped reader, run by ONNX Runtime. ``read`` scores pairs in batches."""

    def __init__(self, model: Path, tokenizer: Path, limits: Limits | None = None,
                 threshold: float = 0.0, also_above: float = 0.0, threads: int = 0,
                 blend: Blend | None = None) -> None:
        self.limits = limits or Limits()
        self.encoder = PairEncoder(tokenizer, self.limits)
        self.blend = blend or Blend()
        self.threshold = threshold  # abstain when the best sentence's blended score is below
        # another passage's best sentence is cited too when the reader judges it an answer
        # on its own: a logit of 0 is probability 0.5 under the pairwise (BCE) part of the loss
        self.also_above = also_above
        self._session = _session(model, threads)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path | None = None, threads: int = 0) -> Reader:
        """The reader of ``folder`` (default: models/reader), its files checked first."""
        folder = Path(folder or MODEL_DIR)
        manifest = load_manifest(folder)
        files = manifest["files"]
        return cls(folder / files["model"], folder / files["tokenizer"],
                   Limits.from_dict(manifest.get("limits", {})),
                   float(manifest["abstain_below"]), float(manifest.get("also_above", 0.0)),
                   threads, Blend.from_dict(dict(manifest.get("blend", {}))))

    def read(self, pairs: Sequence[Pair], batch_size: int = 32) -> list[Reading]:
        """One ``Reading`` per pair, in order. Batches hold pairs of similar length (less
        padding to compute)."""
        order = sorted(range(len(pairs)), key=lambda i: _length(pairs[i]))
        out: list[Reading | None] = [None] * len(pairs)
        for i in range(0, len(order), batch_size):
            rows = order[i: i + batch_size]
            for row, reading in zip(rows, self._batch([pairs[r] for r in rows])):
                out[row] = reading
        assert all(r is not None for r in out)
        return out  # type: ignore[return-value]

    def scores(self, pairs: Sequence[Pair], batch_size: int = 32) -> np.ndarray:
        return np.array([r.score for r in self.read(pairs, batch_size)], dtype=np.float32)

    def _batch(self, pairs: Sequence[Pair]) -> list[Reading]:
        enc = self.encoder.encode(pairs)
        feeds = {"input_ids": enc.input_ids, "attention_mask": enc.attention_mask,
                 "token_type_ids": enc.token_type_ids}
        with self._lock:
            score, start, end = self._session.run(None, feeds)
        out = []
        for r in range(len(pairs)):
            a, n = int(enc.sentence_start[r]), int(enc.sentence_len[r])
            i, j, _ = best_span(start[r, a: a + n], end[r, a: a + n])
            span = (enc.offsets[r][i][0], enc.offsets[r][j][1]) if n else (0, 0)
            out.append(Reading(float(score[r]), span))
        return out


class FakeReader:
    """A deterministic stand-in for unit tests: the score is the share of the question's
    keywords (stemmed, stop words dropped) that the sentence holds, mapped to -4 .. +4; the
    answer phrase is the sentence's first word the question lacks."""

    def __init__(self, threshold: float = 0.0, also_above: float = 0.0,
                 blend: Blend | None = None) -> None:
        self.threshold = threshold
        self.also_above = also_above
        self.blend = blend or Blend()
        self.calls = 0

    def read(self, pairs: Sequence[Pair], batch_size: int = 32) -> list[Reading]:
        self.calls += 1
        out = []
        for pair in pairs:
            wanted = set(keyword_tokens(pair.question))
            have = set(keyword_tokens(pair.sentence))
            share = len(wanted & have) / len(wanted) if wanted else 0.0
            out.append(Reading(8.0 * share - 4.0, _first_new_word(pair.sentence, wanted)))
        return out


def _first_new_word(sentence: str, wanted: set[str]) -> tuple[int, int]:
    for match in re.finditer(r"\w+", sentence):
        stems = keyword_tokens(match.group())
        if stems and not set(stems) & wanted:
            return match.span()
    return (0, 0)


def _length(pair: Pair) -> int:
    return len(pair.question) + len(pair.sentence) + min(len(pair.previous), 120)


def load_manifest(folder: Path) -> dict[str, Any]:
    """The manifest, with every file it names checked against its sha256."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ConfigError(f"the reader model is missing: {path} not found; {REBUILD_HINT}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files, sums = dict(manifest["files"]), dict(manifest["sha256"])
        float(manifest["abstain_below"])
        float(manifest.get("also_above", 0.0))
        Blend.from_dict(dict(manifest.get("blend", {})))
        Limits.from_dict(dict(manifest.get("limits", {})))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(f"the reader manifest {path} is damaged ({err}); {REBUILD_HINT}") \
            from None
    for name in ("model", "tokenizer"):
        file = folder / str(files.get(name, ""))
        if not files.get(name) or not file.is_file():
            raise ConfigError(f"the reader model is missing {file}; {REBUILD_HINT}")
        if sha256_file(file) != sums.get(files[name]):
            raise ConfigError(f"the reader file {file} does not match its sha256 in {path}; "
                              f"{REBUILD_HINT}")
    return manifest


def _session(model: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
