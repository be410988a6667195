"""The learned reader: its files, its inputs, the answers built on it, and its training data."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import ConfigError
from retrieval.answer.extractive import ReaderAnswerer
from retrieval.answer.reader import (
    MANIFEST,
    MODEL_DIR,
    Blend,
    FakeReader,
    Limits,
    Pair,
    PairEncoder,
    Reader,
    best_span,
    load_manifest,
)

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER = MODEL_DIR / "tokenizer.json"
needs_model = pytest.mark.skipif(not (MODEL_DIR / MANIFEST).is_file(),
                                 reason="models/reader is not built (make reader)")


# ------------------------------------------------------------------ files
@needs_model
def test_the_shipped_reader_loads_and_scores_an_answer_above_a_non_answer():
    reader = Reader.load()
    q = "When did the port of Chancay open?"
    answer = Pair(q, "The port of Chancay opened north of Lima in November 2024.", "Peru")
    other = Pair(q, "Most Vietnamese coffee is robusta, grown in the Central Highlands.", "Coffee")
    first, second = reader.read([answer, other])
    assert first.score > second.score
    a, b = first.span
    assert "2024" in answer.sentence[a:b]


@needs_model
def test_a_missing_reader_file_is_refused_with_the_file_and_the_fix(tmp_path):
    copy = tmp_path / "reader"
    shutil.copytree(MODEL_DIR, copy)
    model = json.loads((copy / MANIFEST).read_text())["files"]["model"]
    (copy / model).unlink()
    with pytest.raises(ConfigError, match=rf"{model}.*make reader"):
        Reader.load(copy)


@needs_model
def test_an_altered_reader_file_is_refused(tmp_path):
    copy = tmp_path / "reader"
    shutil.copytree(MODEL_DIR, copy)
    with open(copy / "tokenizer.json", "a", encoding="utf-8") as handle:
        handle.write(" ")
    with pytest.raises(ConfigError, match=r"tokenizer.json does not match its sha256.*make reader"):
        Reader.load(copy)


def test_no_manifest_and_a_damaged_manifest_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"reader.json not found.*make reader"):
        load_manifest(tmp_path)
    (tmp_path / MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"damaged.*make reader"):
        load_manifest(tmp_path)


# ------------------------------------------------------------------ inputs
@needs_model
def test_pairs_are_laid_out_question_sentence_context_within_the_limits():
    limits = Limits(question=6, sentence=5, title=2, context=5)
    encoder = PairEncoder(TOKENIZER, limits)
    long_sentence = "one two three four five six seven eight nine ten"
    enc = encoder.encode([Pair("a b c d e f g h", long_sentence, "title words here",
                               "the previous sentence ends here"),
                          Pair("short?", "Tiny.")])
    ids = enc.input_ids[0][enc.attention_mask[0] == 1].tolist()
    assert ids[0] == encoder.cls and ids.count(encoder.sep) == 3
    assert len(ids) <= 1 + 6 + 1 + 5 + 1 + 5 + 1
    s0, n = int(enc.sentence_start[0]), int(enc.sentence_len[0])
    assert n == 5 and ids[s0 + n] == encoder.sep
    text = encoder.tokenizer.decode(ids[s0: s0 + n])
    assert text == "one two three four five"
    # the context keeps the title's start and the previous sentence's end
    context = encoder.tokenizer.decode(ids[s0 + n + 1: -1])
    assert context.startswith("title words") and context.endswith("here")
    assert enc.token_type_ids[0][:s0].sum() == 0 and enc.token_type_ids[0][s0] == 1
    assert enc.attention_mask[1].sum() < enc.attention_mask[0].sum()  # padded, not truncated


def test_best_span_respects_order_and_length():
    start = np.array([0.0, 5.0, 0.0, 0.0])
    end = np.array([3.0, 0.0, 1.0, 4.0])
    assert best_span(start, end)[:2] == (1, 3)  # end before start is not allowed
    assert best_span(start, end, max_len=2)[:2] == (1, 2)


# ------------------------------------------------------------------ answers
def _passages():
    from retrieval import Chunk, Passage

    texts = [("ports.txt", "A new port for Peru",
              "Peru has ports. The port of Chancay opened north of Lima in November 2024. "
              "It is deep."),
             ("coffee.txt", "Coffee", "Vietnam grows robusta coffee. Brazil grows arabica."),
             ("ports2.txt", "Ports", "The port of Chancay opened north of Lima in November 2024.")]
    out = []
    for i, (doc, title, text) in enumerate(texts):
        chunk = Chunk(doc=doc, source=doc, title=title, para_start=1, para_end=1, start=100,
                      end=100 + len(text), text=text)
        out.append(Passage(rank=i + 1, chunk=chunk, score=1.0 - i / 10))
    return out


def test_the_reader_answer_cites_the_best_sentence_with_its_phrase():
    passages = _passages()
    answer = ReaderAnswerer(FakeReader()).answer("When did the port of Chancay open?",
                                                 passages[:2])
    assert not answer.abstained
    first = answer.citations[0]
    assert first.quote == "The port of Chancay opened north of Lima in November 2024."
    assert first.passage.doc == "ports.txt" and "[1]" in answer.text
    assert first.quote_start == 100 + len("Peru has ports. ")
    assert first.phrase_text == "north"  # the fake reader's phrase: the first new word


def test_the_reader_abstains_below_its_threshold_and_keeps_the_passages():
    answer = ReaderAnswerer(FakeReader(threshold=3.9)).answer(
        "Who painted the harbour of Valdoria?", _passages())
    assert answer.abstained and not answer.citations
    assert "don't say" in answer.text and len(answer.passages) == 3


def test_a_second_passage_is_cited_only_when_the_reader_judges_it_an_answer():
    reader = FakeReader(threshold=-4.0, also_above=3.9)
    one = ReaderAnswerer(reader).answer("Where does Vietnam grow robusta coffee?", _passages())
    assert {c.passage.doc for c in one.citations} == {"coffee.txt"}
    two = ReaderAnswerer(FakeReader(threshold=-4.0, also_above=-4.0)).answer(
        "Where does Vietnam grow robusta coffee?", _passages())
    assert len({c.passage.doc for c in two.citations}) == 2


def test_the_same_sentence_twice_is_read_and_cited_once():
    reader = FakeReader(threshold=-4.0, also_above=-4.0)
    answer = ReaderAnswerer(reader).answer("When did the port of Chancay open?", _passages())
    quotes = [c.quote for c in answer.citations]
    assert len(quotes) == len(set(quotes))


def test_passages_are_reordered_by_their_best_sentence():
    answer = ReaderAnswerer(FakeReader(threshold=-4.0)).answer(
        "Where does Vietnam grow robusta coffee?", _passages())
    assert answer.passages[0].doc == "coffee.txt"
    assert [p.rank for p in answer.passages] == [1, 2, 3]
    assert answer.citations[0].passage is answer.passages[0]


def test_the_blend_weighs_the_readers_logit_with_the_first_stage():
    blend = Blend.from_dict({"reader": 2.0, "similarity": 3.0, "rank": -1.0, "bias": 0.5,
                             "fitted_on": "ignored"})
    assert blend.score(1.0, 0.5, 0) == pytest.approx(0.5 + 2.0 + 1.5)
    assert blend.score(1.0, 0.5, 3) == pytest.approx(4.0 - np.log(4.0))
    assert Blend().score(1.7, 0.9, 5) == 1.7  # unfitted: the reader's logit alone


def test_the_answer_follows_the_blended_score_and_keeps_the_readers_logit():
    passages = _passages()
    coffee = "Brazil grows arabica."

    def similarity(passage, cand):
        return 1.0 if cand.text == coffee else 0.0

    reader = FakeReader(threshold=0.5, blend=Blend(reader=0.0, similarity=1.0))
    answerer = ReaderAnswerer(reader)
    reads = answerer.read("When did the port of Chancay open?", passages, similarity)
    assert reads[0].cand.text == coffee and reads[0].score == 1.0
    assert reads[0].logit == -4.0  # the fake reader's own verdict: no question word in it
    answer = answerer.answer("When did the port of Chancay open?", passages, similarity)
    assert [c.quote for c in answer.citations] == [coffee]


def test_past_the_sentence_budget_the_most_similar_sentences_are_read(monkeypatch):
    import retrieval.answer.extractive as answer_module

    monkeypatch.setattr(answer_module, "READER_SENTENCES", 2)
    wanted = {"It is deep.", "Brazil grows arabica."}
    read = ReaderAnswerer(FakeReader()).read(
        "When did the port of Chancay open?", _passages(),
        lambda passage, cand: 1.0 if cand.text in wanted else 0.0)
    assert {r.cand.text for r in read} == wanted
    in_order = ReaderAnswerer(FakeReader()).read("When did the port of Chancay open?",
                                                 _passages())
    assert len(in_order) == 2 and in_order[0].cand.passage_index == 0  # no similarity: order


@needs_model
def test_the_shipped_blend_is_read_from_the_manifest():
    manifest = json.loads((MODEL_DIR / MANIFEST).read_text())
    assert Reader.load().blend == Blend.from_dict(manifest.get("blend", {}))


def test_engine_ask_with_the_reader_answerer(fake_engine):
    fake_engine.settings = fake_engine.settings.model_copy(update={"answerer": "reader"})
    answer = fake_engine.ask("When did the port of Chancay open?")
    assert fake_engine.reader.calls == 1
    assert not answer.abstained
    assert "Chancay" in answer.citations[0].quote


def test_the_rules_answer_gets_the_readers_phrase_in_its_cited_sentence(fake_engine):
    fake_engine.abstain_below = 0.0  # the hash embedder's support is not the bundled model's
    answer = fake_engine.ask("When did the port of Chancay open north of Lima?")
    assert fake_engine.settings.answerer == "rules" and fake_engine.reader.calls == 1
    cited = answer.citations[0]
    assert cited.quote == "The port of Chancay opened north of Lima in November 2024."
    assert cited.phrase_text == "November"  # the fake reader's phrase: the first new word
    assert answer.to_dict()["citations"][0]["phrase"] == cited.phrase_text


# ------------------------------------------------------------------ training data
def _tiny_squad(folder: Path) -> Path:
    """The four files of ../shared/train that the pair builder reads, in miniature."""
    folder.mkdir()

    def article(title, context, qas):
        return {"title": title, "paragraphs": [{"context": context, "qas": qas}]}

    ports = ("The port of Chancay opened in 2024. It lies north of Lima. "
             "Ships reach it from Shanghai in 23 days.")
    coffee = "Vietnam grows robusta. Brazil grows arabica. Coffee prices rose in 2023."
    train = {"data": [
        article("Ports", ports, [
            {"id": "a", "question": "When did the port of Chancay open?",
             "answers": [{"text": "2024", "answer_start": ports.index("2024")}]},
            {"id": "b", "question": "How long do ships from Shanghai take?",
             "answers": [{"text": "23 days", "answer_start": ports.index("23 days")}]}]),
        article("Coffee", coffee, [
            {"id": "c", "question": "What does Vietnam grow?",
             "answers": [{"text": "robusta", "answer_start": coffee.index("robusta")}]}]),
    ]}
    v2 = {"data": [article("Trains", "China opened a railway in 2008. It runs to Tianjin.", [
        {"id": "d", "question": "Who built the railway?", "answers": [], "is_impossible": True}
    ])]}
    (folder / "squad-v1.1-train.json").write_text(json.dumps(train))
    (folder / "squad-v2.0-train-first10.json").write_text(json.dumps(v2))
    (folder / "squad-v2.0-dev.json").write_text(json.dumps({"data": []}))
    (folder / "squad-dev-split.json").write_text(json.dumps({"fit": [], "evaluate": []}))
    return folder


def test_training_groups_hold_the_answer_sentence_and_negatives(tmp_path):
    train_reader, _ = _scripts()
    Config, build_groups = train_reader.Config, train_reader.build_groups
    shared = _tiny_squad(tmp_path / "train")
    built = build_groups(Config(answerable=3, other_article=0, framed=0.0), shared)
    groups = built["groups"]
    answerable = [g for g in groups if any(g["labels"])]
    assert len(answerable) == 3 and built["counts"]["answerable_groups"] == 3
    for group in answerable:
        pos = group["labels"].index(1)
        pair, (a, b) = group["pairs"][pos], group["spans"][pos]
        assert pair["s"][a:b] in {"2024", "23 days", "robusta"}
        assert sum(group["labels"]) == 1 and len(group["pairs"]) > 1
        assert pair["t"] in {"Ports", "Coffee"}
    chancay = next(g for g in answerable if g["pairs"][0]["q"].startswith("How long"))
    assert chancay["pairs"][0]["p"] == "It lies north of Lima."  # the sentence before
    unanswerable = [g for g in groups if not any(g["labels"])]
    assert len(unanswerable) == 1 and unanswerable[0]["pairs"][0]["q"] == "Who built the railway?"
    for group in build_groups(Config(answerable=3, other_article=0, framed=1.0),
                              shared)["groups"]:
        questions = {pair["q"] for pair in group["pairs"]}
        assert len(questions) == 1  # one framed question for the whole group
        framed = questions.pop()
        assert framed.endswith("?") and framed[:1].isupper() and "," in framed + ":"
        if any(group["labels"]):  # the framing never quotes the answer sentence
            positive = group["pairs"][group["labels"].index(1)]["s"]
            assert " ".join(positive.split()[:6]) not in framed


@needs_model
@pytest.mark.integration
def test_the_real_reader_on_the_seeds_fact_paraphrase_and_unanswerable(seed_engine):
    answerer = ReaderAnswerer(Reader.load())
    snap = seed_engine.snapshot()

    def first_stage(question):  # as Engine.ask reads with RETRIEVAL_ANSWERER=reader
        return seed_engine.reader_inputs(question, snap=snap)

    def ask(question):
        return answerer.answer(question, *first_stage(question))

    fact = ask("How many points did the joint statement on China-Cuba relations have?")
    assert not fact.abstained and "18-point" in fact.citations[0].quote
    assert "18" in fact.citations[0].phrase_text
    # a paraphrase: the right sentence is the best of all the reader reads (whether it is
    # said or the reader abstains depends on the calibrated threshold: docs/reader.md)
    question = "What did the two countries sign papers about in front of their leaders?"
    reads = answerer.read(question, *first_stage(question))
    assert "signing of bilateral documents" in reads[0].cand.text
    none = ask("How many penguins live in the port of Chancay?")
    assert none.abstained and none.passages and not none.citations


def test_a_title_line_is_never_the_reader_answer():
    from retrieval import Chunk, Passage

    text = "Chancay port opens\n\nThe port of Chancay opened north of Lima in November 2024."
    chunk = Chunk(doc="p.txt", source="p.txt", title="Chancay port opens", para_start=0,
                  para_end=1, start=0, end=len(text), text=text)
    answer = ReaderAnswerer(FakeReader(threshold=-4.0)).answer(
        "Chancay port opens?", [Passage(rank=1, chunk=chunk, score=1.0)])
    assert answer.citations[0].quote.startswith("The port of Chancay opened")


def _scripts():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import reader_export
        import train_reader
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return train_reader, reader_export


def test_char_spans_map_to_the_word_pieces_the_span_head_predicts():
    train_reader, _ = _scripts()
    offsets = [(0, 3), (4, 8), (9, 17), (18, 22)]  # "The port November 2024"
    assert train_reader.char_to_token(offsets, 9, 22) == (2, 3)
    assert train_reader.char_to_token(offsets, 4, 8) == (1, 1)
    assert train_reader.char_to_token(offsets, 30, 40) is None


def test_a_framed_question_keeps_the_question_and_names_its_context():
    import random

    train_reader, _ = _scripts()
    rng = random.Random(3)
    seen = set()
    for _ in range(40):
        framed = train_reader.frame("When did the port open?", "Port_of_Chancay",
                                    "Trade with China grew fast after the pandemic.", rng)
        assert framed.endswith("when did the port open?")
        assert "Port of Chancay" in framed or "Trade with China" in framed
        seen.add("Port of Chancay" in framed)
    assert seen == {True, False}  # both kinds of framing occur


def test_the_blend_is_fitted_on_which_read_sentences_hold_the_answer():
    _, reader_export = _scripts()
    rng = np.random.default_rng(0)
    questions = []
    for i in range(60):  # the answer is the sentence most similar to the question
        reads = [[float(rng.normal()), 0.9 if j == 0 else float(rng.uniform(0, 0.5)), j,
                  j == 0] for j in range(5)]
        questions.append({"question": str(i), "answers": ["x"], "reads": reads})
    blend = reader_export.fit_blend(questions)
    assert blend.similarity > 1.0 and abs(blend.reader) < blend.similarity
    rows = reader_export.outcomes(questions, blend)
    assert all(r["contains"] for r in rows)


def test_the_threshold_gets_the_most_questions_right():
    _, reader_export = _scripts()
    rows = [{"answers": ["a"], "score": 3.0, "contains": True},
            {"answers": ["b"], "score": 2.0, "contains": True},
            {"answers": ["c"], "score": 0.5, "contains": False},
            {"answers": [], "score": 1.0, "contains": False},
            {"answers": [], "score": -1.0, "contains": False}]
    best = reader_export.choose_threshold(rows)
    assert best["threshold"] == 2.0 and best["right"] == 4
    assert best["answerable_containment"] == round(2 / 3, 4)
    assert best["unanswerable_abstain"] == 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["The port", "opened", "in", "Nov.", "2024.", "Dr.", "Li",
                                 "said", "it", "was", "deep!", "Why?", "U.S.", "ships",
                                 "\"Yes.\"", "3.5", "km.", "(Lima)", "and"]),
                min_size=1, max_size=30))
def test_training_and_answering_split_a_paragraph_into_the_same_sentences(words):
    """The reader is trained on ``text.sentences.sentence_spans`` of a SQuAD paragraph and reads
    the sentences ``answer.scorer.passage_sentences`` gives at answer time: one paragraph, same
    split."""
    from retrieval import Chunk, Passage
    from retrieval.answer.scorer import passage_sentences
    from retrieval.text.sentences import sentence_spans

    text = " ".join(words)
    chunk = Chunk(doc="d.txt", source="d.txt", title="T", para_start=0, para_end=0, start=0,
                  end=len(text), text=text)
    read = [c.text for c in passage_sentences(Passage(rank=1, chunk=chunk, score=1.0))]
    trained = [text[s:e] for s, e in train_reader_spans(text, sentence_spans)]
    assert read == trained


def train_reader_spans(text, sentence_spans):
    train_reader, _ = _scripts()
    assert train_reader.sentence_spans is sentence_spans  # the product's splitter, imported
    return train_reader.split_sentences(text)
