"""Warm ``Engine.ask`` (or ``--search``) latency with the real bundled model over dev questions.

    python bench/ask_latency.py [--questions ../shared/eval/dev.jsonl] [--index-dir DIR]
                                [--backend torch|onnx|onnx-fp32] [--answerer reader|rules]
                                [--search] [--json]

The model and index are loaded and one question asked before timing. Pass 1 asks every
question once (each sentence embedded for the first time: the figure to quote); pass 2 asks
them again (sentence vectors cached). Prints p50/p95/mean in milliseconds per pass.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": round(percentile(ms, 0.5), 1),
            "p95_ms": round(percentile(ms, 0.95), 1), "mean_ms": round(statistics.mean(ms), 1)}


def time_pass(call, questions: list[str]) -> list[float]:
    out = []
    for question in questions:
        start = time.perf_counter()
        call(question)
        out.append((time.perf_counter() - start) * 1000)
    return out


def warm(engine) -> None:
    """Load what the first question would wait for: the model (and reader), WordNet, the
    gazetteer, the index and its term weights."""
    engine.preload()  # as the app does
    engine.ask("warm-up: who visited China?")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=DEV)
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--source", type=Path, default=None)
    parser.add_argument("--backend", choices=("torch", "onnx", "onnx-fp32"), default=None)
    parser.add_argument("--answerer", choices=("reader", "rules"), default=None,
                        help="the extractive answerer (default: the library's)")
    parser.add_argument("--search", action="store_true",
                        help="time Engine.search (k=10) instead of Engine.ask")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from retrieval.environment import set_offline_environment

    set_offline_environment()  # before the model libraries load
    from retrieval import Engine, Settings

    overrides = {k: v for k, v in {"index_dir": args.index_dir, "source_dir": args.source,
                                   "backend": args.backend,
                                   "answerer": args.answerer}.items() if v is not None}
    engine = Engine(Settings(**overrides))
    status = engine.status()
    if not status.exists or not status.fresh:
        engine.update_index()
    questions = [json.loads(line)["question"] for line in
                 args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    warm(engine)
    call = (lambda q: engine.search(q, 10)) if args.search else engine.ask
    first = time_pass(call, questions)
    second = time_pass(call, questions)
    result = {"questions": str(args.questions), "backend": engine.settings.backend,
              "answerer": engine.settings.answerer,
              "timed": "search" if args.search else "ask", "first_pass": summary(first),
              "second_pass_cached": summary(second)}
    if args.json:
        print(json.dumps(result))
    else:
        for name in ("first_pass", "second_pass_cached"):
            s = result[name]
            print(f"{result['timed']} {name}: p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, "
                  f"mean {s['mean_ms']} ms over {s['n']} questions")
    return result


if __name__ == "__main__":
    main()
