"""Train the reader (``retrieval/answer/reader.py``) on public QA data; the one place for it.

    python scripts/train_reader.py data      # build the (question, sentence) groups
    python scripts/train_reader.py train     # fine-tune, checkpointed and resumable
    python scripts/train_reader.py export    # int8 ONNX + tokenizer + manifest in models/reader
    python scripts/train_reader.py calibrate # abstention threshold on SQuAD 2.0 dev `fit` articles

``make reader`` runs the four in order. Work files go to ``build/reader/`` (not committed).
Everything is seeded: the same data files give the same groups, batches and dropout masks,
and a resumed run continues exactly where the checkpoint left it.

Data (``../shared/train``, checked against ``SHA256SUMS``):
- SQuAD v1.1 train: the positive is the sentence holding the answer span; negatives are other
  sentences of the paragraph and the best BM25 sentence of another paragraph (hard negative).
- SQuAD 2.0 train slice (its unanswerable questions) and SQuAD 2.0 dev, `fit` articles only,
  minus the articles kept for calibration: unanswerable questions make groups with no positive.
- Questions paired with BM25's best sentences of other articles: groups with no positive.
Never WikiQA or TrecQA (licences), never ``eval/dev.jsonl``, never the `evaluate` articles.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Training keeps both cores busy: spinning OpenMP threads (torch's default) run its many small
# operations faster. The library asks for passive threads, for serving beside other work.
os.environ["OMP_WAIT_POLICY"] = "ACTIVE"

from retrieval.answer.reader import Limits, Pair, PairEncoder  # noqa: E402
from retrieval.ingest.load import sha256_file  # noqa: E402
from retrieval.text.sentences import sentence_spans  # noqa: E402  (the product's sentence splitter)

SHARED = ROOT.parent / "shared" / "train"
WORK = ROOT / "build" / "reader"
OUT = ROOT / "models" / "reader"


@dataclass(frozen=True)
class Config:
    seed: int = 13
    answerable: int = 20_000       # SQuAD v1.1 train questions sampled
    other_article: int = 2_000     # questions paired with other articles' sentences only
    same_paragraph_negatives: int = 2
    hard_negatives: int = 2
    unanswerable_sentences: int = 3
    framed: float = 0.35           # share of questions given a framing clause (frame())
    groups_per_batch: int = 4
    steps: int = 4_400             # batches trained on (the shuffled groups' first ones)
    lr: float = 5e-5
    warmup: float = 0.05
    weight_decay: float = 0.01
    span_weight: float = 0.5
    list_weight: float = 1.0
    checkpoint_every: int = 150
    threads: int = 2


# ------------------------------------------------------------------ data
def check_sums(names: list[str]) -> dict[str, str]:
    """sha256 of each file, checked against the shared SHA256SUMS."""
    listed = {}
    for line in (SHARED / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            listed[name.lstrip("*").removeprefix("./")] = digest
    out = {}
    for name in names:
        got = sha256_file(SHARED / name)
        if listed.get(name) not in (None, got):
            raise SystemExit(f"{SHARED / name} does not match SHA256SUMS; restore the file")
        out[name] = got
    return out


def split_sentences(context: str) -> list[tuple[int, int]]:
    return sentence_spans(context) or [(0, len(context))]


def title_text(title: str) -> str:
    return title.replace("_", " ")


def answer_sentence(spans: list[tuple[int, int]], context: str, qa: dict[str, Any]
                    ) -> tuple[int, int, int] | None:
    """(sentence index, span start, span end in the sentence) of the answer, or None when the
    answer's place is ambiguous or crosses a sentence boundary."""
    answer = qa["answers"][0]
    text = answer["text"]
    starts = [answer["answer_start"]]
    if answer.get("answer_start_candidates"):  # the answer occurs more than once: every place
        starts = [i for i in range(len(context)) if context.startswith(text, i)]
    found = set()
    for start in starts:
        end = start + len(text)
        for i, (s, e) in enumerate(spans):
            if s <= start and end <= e:
                found.add((i, start - s, end - s))
    if len(found) != 1:
        return None
    return found.pop()


def paragraphs(path: Path, articles: set[str] | None = None) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    out = []
    for a, article in enumerate(data):
        if articles is not None and article["title"] not in articles:
            continue
        for p, para in enumerate(article["paragraphs"]):
            out.append({"article": article["title"], "key": f"{path.stem}/{a}/{p}",
                        "context": para["context"], "qas": para["qas"],
                        "spans": split_sentences(para["context"])})
    return out


def sentence_pair(question: str, para: dict[str, Any], i: int) -> dict[str, Any]:
    s, e = para["spans"][i]
    prev = para["context"][slice(*para["spans"][i - 1])] if i > 0 else ""
    return {"q": question, "s": para["context"][s:e], "t": title_text(para["article"]),
            "p": prev}


_FRAMES_TITLE = ("According to the article on {t}, {q}", "In the report about {t}, {q}",
                 "From the story on {t}: {q}", "Reading about {t}, {q}")
_FRAMES_CONTEXT = ("According to the passage that says {c}, {q}",
                   "In the part of the article where {c}, {q}",
                   "Given that {c}, {q}")


def frame(question: str, title: str, other: str, rng: random.Random) -> str:
    """The question with a framing clause, as readers of news write them ("According to the
    report on X, what ..."): the article title, or the opening words of another sentence of
    the same paragraph. It teaches the reader to look past words that name the context."""
    q = question.strip()
    if q[:1].isupper() and not q[:2].isupper():
        q = q[0].lower() + q[1:]
    words = other.rstrip(".!?").split()
    if words and rng.random() < 0.5:
        clause = " ".join(words[: rng.randint(6, 14)])
        return rng.choice(_FRAMES_CONTEXT).format(c=clause, q=q)
    return rng.choice(_FRAMES_TITLE).format(t=title_text(title), q=q)


def _maybe_frame(question: str, para: dict[str, Any], keep: int, cfg: Config,
                 rng: random.Random) -> str:
    """``question`` framed with probability ``cfg.framed``; the clause never quotes sentence
    ``keep`` (the answer)."""
    if rng.random() >= cfg.framed:
        return question
    others = [i for i in range(len(para["spans"])) if i != keep]
    other = para["context"][slice(*para["spans"][rng.choice(others)])] if others else ""
    return frame(question, para["article"], other, rng)


def build_groups(cfg: Config, shared: Path = SHARED) -> dict[str, Any]:
    """Every training group: {"pairs": [...], "labels": [...], "spans": [...]}, from the files
    of ``shared`` (the layout of ../shared/train)."""
    import bm25s

    rng = random.Random(cfg.seed)
    split = json.loads((shared / "squad-dev-split.json").read_text())
    fit = sorted(split["fit"])
    calibrate = set(fit[::3])            # kept aside for the abstention threshold
    train_fit = set(fit) - calibrate
    squad = paragraphs(shared / "squad-v1.1-train.json")
    v2_slice = paragraphs(shared / "squad-v2.0-train-first10.json")
    v2_fit = paragraphs(shared / "squad-v2.0-dev.json", train_fit)

    # BM25 over every sentence of SQuAD train and the fit articles: hard negatives.
    pool = [(pi, si) for pi, para in enumerate(squad + v2_fit) for si in range(len(para["spans"]))]
    allp = squad + v2_fit
    texts = [allp[pi]["context"][slice(*allp[pi]["spans"][si])] for pi, si in pool]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False),
                    show_progress=False)

    def bm25_top(questions: list[str], k: int = 20) -> np.ndarray:
        if not questions:
            return np.zeros((0, k), dtype=np.int64)
        tokens = bm25s.tokenize(questions, stopwords="en", show_progress=False)
        ids, _ = retriever.retrieve(tokens, k=min(k, len(texts)), show_progress=False,
                                    n_threads=cfg.threads)
        return np.asarray(ids)

    groups: list[dict[str, Any]] = []
    answerable = []
    for pi, para in enumerate(squad):
        for qa in para["qas"]:
            found = answer_sentence(para["spans"], para["context"], qa)
            if found is not None and len(para["spans"]) > 1:
                answerable.append((pi, qa, found))
    rng.shuffle(answerable)
    chosen = answerable[: cfg.answerable]
    fit_answerable = []
    offset = len(squad)
    for pj, para in enumerate(v2_fit):
        for qa in para["qas"]:
            if not qa.get("is_impossible") and qa["answers"]:
                found = answer_sentence(para["spans"], para["context"], qa)
                if found is not None:
                    fit_answerable.append((offset + pj, qa, found))
    chosen += fit_answerable
    tops = bm25_top([qa["question"] for _, qa, _ in chosen])
    for (pi, qa, (si, a, b)), top in zip(chosen, tops):
        para = allp[pi]
        question = _maybe_frame(qa["question"], para, si, cfg, rng)
        group: dict[str, Any] = {"pairs": [sentence_pair(question, para, si)], "labels": [1],
                                 "spans": [[a, b]]}
        others = [i for i in range(len(para["spans"])) if i != si]
        rng.shuffle(others)
        for i in others[: cfg.same_paragraph_negatives]:
            _add_negative(group, sentence_pair(question, para, i))
        answer = qa["answers"][0]["text"].lower()
        hard = [pool[t] for t in top if pool[t][0] != pi
                and answer not in texts[t].lower()][: cfg.hard_negatives]
        for pj, sj in hard:
            _add_negative(group, sentence_pair(question, allp[pj], sj))
        groups.append(group)

    # Groups with no positive: SQuAD 2.0's unanswerable questions over their own paragraph.
    for para in v2_slice + v2_fit:
        for qa in para["qas"]:
            if qa.get("is_impossible") or not qa["answers"]:
                idx = list(range(len(para["spans"])))
                rng.shuffle(idx)
                question = _maybe_frame(qa["question"], para, -1, cfg, rng)
                group = {"pairs": [], "labels": [], "spans": []}
                for i in idx[: cfg.unanswerable_sentences]:
                    _add_negative(group, sentence_pair(question, para, i))
                groups.append(group)

    # Groups with no positive: a question over the best sentences of other articles.
    rest = answerable[cfg.answerable: cfg.answerable + cfg.other_article]
    tops = bm25_top([qa["question"] for _, qa, _ in rest])
    for (pi, qa, _), top in zip(rest, tops):
        article = allp[pi]["article"]
        group = {"pairs": [], "labels": [], "spans": []}
        for t in top:
            pj, sj = pool[t]
            if allp[pj]["article"] != article:
                _add_negative(group, sentence_pair(qa["question"], allp[pj], sj))
            if len(group["pairs"]) >= cfg.unanswerable_sentences:
                break
        if group["pairs"]:
            groups.append(group)
    rng.shuffle(groups)
    counts = {"groups": len(groups), "pairs": sum(len(g["pairs"]) for g in groups),
              "answerable_groups": sum(1 for g in groups if any(g["labels"])),
              "squad_v1_questions": cfg.answerable, "fit_answerable": len(fit_answerable),
              "calibration_articles": sorted(calibrate)}
    return {"groups": groups, "counts": counts}


def _add_negative(group: dict[str, Any], pair: dict[str, Any]) -> None:
    group["pairs"].append(pair)
    group["labels"].append(0)
    group["spans"].append([-1, -1])


def cmd_data(cfg: Config) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    sums = check_sums(["squad-v1.1-train.json", "squad-v2.0-train-first10.json",
                       "squad-v2.0-dev.json", "squad-dev-split.json"])
    started = time.time()
    built = build_groups(cfg)
    built["sha256"] = sums
    built["config"] = asdict(cfg)
    tmp = WORK / "groups.json.tmp"
    tmp.write_text(json.dumps(built), encoding="utf-8")
    os.replace(tmp, WORK / "groups.json")
    print(json.dumps(built["counts"]), f"in {time.time() - started:.0f} s")


# ------------------------------------------------------------------ model
def base_model_dir() -> Path:
    from retrieval.embed.embedder import bundled_model_path

    return bundled_model_path()


def make_model(torch: Any) -> Any:
    from transformers import AutoModel

    class ReaderModel(torch.nn.Module):
        """Encoder + answer score (mean-pooled) + start/end logits per token."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(base_model_dir()), local_files_only=True,
                                                     attn_implementation="eager")
            hidden = self.encoder.config.hidden_size
            self.score = torch.nn.Linear(hidden, 1)
            self.span = torch.nn.Linear(hidden, 2)

        def forward(self, input_ids, attention_mask, token_type_ids):
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            span = self.span(states)
            return self.score(pooled).squeeze(-1), span[..., 0], span[..., 1]

    return ReaderModel()


def char_to_token(offsets: list[tuple[int, int]], a: int, b: int) -> tuple[int, int] | None:
    start = next((i for i, (s, e) in enumerate(offsets) if e > a), None)
    end = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < b), None)
    if start is None or end is None or end < start:
        return None
    return start, end


def batches(groups: list[dict[str, Any]], per_batch: int) -> list[list[dict[str, Any]]]:
    return [groups[i: i + per_batch] for i in range(0, len(groups), per_batch)]


def loss_of(torch: Any, model: Any, encoder: PairEncoder, batch: list[dict[str, Any]],
            cfg: Config) -> Any:
    pairs, labels, spans, group_of = [], [], [], []
    for g, group in enumerate(batch):
        for pair, label, span in zip(group["pairs"], group["labels"], group["spans"]):
            pairs.append(Pair(pair["q"], pair["s"], pair["t"], pair["p"]))
            labels.append(label)
            spans.append(span)
            group_of.append(g)
    enc = encoder.encode(pairs)
    score, start, end = model(torch.from_numpy(enc.input_ids),
                              torch.from_numpy(enc.attention_mask),
                              torch.from_numpy(enc.token_type_ids))
    target = torch.tensor(labels, dtype=torch.float32)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(score, target)
    group_ids = torch.tensor(group_of)
    listwise = []
    for g in range(len(batch)):
        rows = (group_ids == g).nonzero().squeeze(-1)
        if target[rows].sum() == 1 and len(rows) > 1:
            listwise.append(torch.nn.functional.cross_entropy(
                score[rows].unsqueeze(0), target[rows].argmax().unsqueeze(0)))
    if listwise:
        loss = loss + cfg.list_weight * torch.stack(listwise).mean()
    span_losses = []
    for r, (label, (a, b)) in enumerate(zip(labels, spans)):
        if not label:
            continue
        at = char_to_token(enc.offsets[r], a, b)
        if at is None:
            continue
        s0, n = int(enc.sentence_start[r]), int(enc.sentence_len[r])
        span_losses.append(torch.nn.functional.cross_entropy(
            start[r, s0: s0 + n].unsqueeze(0), torch.tensor([at[0]]))
            + torch.nn.functional.cross_entropy(
            end[r, s0: s0 + n].unsqueeze(0), torch.tensor([at[1]])))
    if span_losses:
        loss = loss + cfg.span_weight * torch.stack(span_losses).mean() / 2
    return loss


def cmd_train(cfg: Config, max_minutes: float | None) -> bool:
    """Train (or resume) to the planned step; False when stopped early at ``max_minutes``."""
    import torch
    from safetensors.torch import load_file, save_file

    torch.set_num_threads(cfg.threads)
    built = json.loads((WORK / "groups.json").read_text(encoding="utf-8"))
    plan = batches(built["groups"], cfg.groups_per_batch)[: cfg.steps]
    total = len(plan)
    encoder = PairEncoder(base_model_dir() / "tokenizer.json", Limits())
    torch.manual_seed(cfg.seed)
    model = make_model(torch)
    # The word-piece table stays as the bundled model has it: a third of the weights, and
    # updating it densely at every step cost time on 2 cores for little gain.
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in params if "LayerNorm" not in n and "bias" not in n]
    rest = [p for n, p in params if "LayerNorm" in n or "bias" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)
    warm = max(1, int(total * cfg.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    ckpt = WORK / "checkpoint"
    step, elapsed = 0, 0.0
    groups_sha = sha256_file(WORK / "groups.json")
    state = _read_state(ckpt)
    if state and (state.get("config") != asdict(cfg) or state.get("groups") != groups_sha):
        print("the checkpoint was made with other settings or data: training from scratch",
              flush=True)
        state = None
    if state:
        model.load_state_dict(load_file(str(ckpt / "model.safetensors")))
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
        schedule.load_state_dict(state["schedule"])
        step, elapsed = state["step"], state["seconds"]
        print(f"resumed at step {step} of {total}", flush=True)
    model.train()
    started, window = time.time(), []
    while step < total:
        torch.manual_seed(cfg.seed * 1_000_003 + step)  # dropout masks: same on resume
        loss = loss_of(torch, model, encoder, plan[step], cfg)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        window.append(loss.item())
        now = elapsed + time.time() - started
        if step % 25 == 0:
            pairs = sum(len(g["pairs"]) for b in plan[:step] for g in b)
            print(f"step {step}/{total} loss {np.mean(window):.4f} "
                  f"{pairs / max(now, 1e-9):.1f} pairs/s {now / 60:.1f} min", flush=True)
            window = []
        if step % cfg.checkpoint_every == 0 or step == total:
            _save_checkpoint(torch, save_file, model, optimizer, schedule, step, now, ckpt,
                             total, cfg, groups_sha)
        if max_minutes is not None and now > max_minutes * 60:
            _save_checkpoint(torch, save_file, model, optimizer, schedule, step, now, ckpt,
                             total, cfg, groups_sha)
            print(f"stopped at the time limit, step {step} of {total}", flush=True)
            return False
    print(f"finished {total} steps in {(elapsed + time.time() - started) / 60:.1f} min")
    return True


def _read_state(ckpt: Path) -> dict[str, Any] | None:
    """The checkpoint's state; a save interrupted between its two renames left the previous
    checkpoint as checkpoint.old, which is moved back."""
    old = ckpt.with_name("checkpoint.old")
    if not (ckpt / "state.json").is_file() and (old / "state.json").is_file():
        os.replace(old, ckpt)
    try:
        return json.loads((ckpt / "state.json").read_text())
    except (OSError, ValueError):
        return None


def _save_checkpoint(torch: Any, save_file: Any, model: Any, optimizer: Any, schedule: Any,
                     step: int, seconds: float, ckpt: Path, total: int, cfg: Config,
                     groups_sha: str) -> None:
    tmp = ckpt.with_name("checkpoint.tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / "model.safetensors"))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps(
        {"step": step, "planned_steps": total, "seconds": seconds, "groups": groups_sha,
         "schedule": schedule.state_dict(), "config": asdict(cfg)}))
    old = ckpt.with_name("checkpoint.old")
    import shutil

    shutil.rmtree(old, ignore_errors=True)
    if ckpt.exists():
        os.replace(ckpt, old)
    os.replace(tmp, ckpt)  # from here the new checkpoint is complete
    shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["data", "train", "export", "calibrate", "all"])
    parser.add_argument("--answerable", type=int, default=Config.answerable)
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop (checkpointed) after this much training time")
    args = parser.parse_args()
    cfg = Config(answerable=args.answerable)
    if args.command in ("data", "all"):
        cmd_data(cfg)
    if args.command in ("train", "all") and not cmd_train(cfg, args.max_minutes):
        raise SystemExit("training stopped before its last step (checkpointed): run the same "
                         "command again to resume, then export")
    if args.command in ("export", "all"):
        from reader_export import export

        export(WORK, OUT)
    if args.command in ("calibrate", "all"):
        from reader_export import calibrate

        calibrate(OUT)


if __name__ == "__main__":
    main()
