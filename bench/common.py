"""Timing, memory and scoring helpers shared by the benchmark sections."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from retrieval.environment import OFFLINE_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEV = SHARED / "eval" / "dev.jsonl"
SCORER = SHARED / "eval" / "score.py"
SCIFACT = SHARED / "benchmarks" / "scifact"
SQUAD = SHARED / "benchmarks" / "squad" / "dev-v1.1.json"
SEEDS = ROOT / "seeds"
TRAIN = SHARED / "train"
SQUAD_SPLIT = TRAIN / "squad-dev-split.json"
SQUAD2_DEV = TRAIN / "squad-v2.0-dev.json"
WIKIQA_TEST = TRAIN / "wikiqa" / "WikiQA-test.tsv"
TRECQA_TEST = TRAIN / "trecqa" / "TEST.xml"
ANSWERERS = ("rules", "reader")  # Settings.answerer: the hand-fitted scorer, the learned reader


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency_ms(fn: Callable[[], object], repeats: int = 20, warmup: int = 2) -> dict[str, float]:
    """p50/p95 of ``fn`` in milliseconds after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(percentile(times, 50), 3), "p95_ms": round(percentile(times, 95), 3)}


def summarise_ms(times_ms: Sequence[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(times_ms, 50), 3),
            "p95_ms": round(percentile(times_ms, 95), 3), "n": len(times_ms)}


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def load_scorer():
    """The shared scorer module itself, so the metrics are its definitions, not a copy."""
    spec = importlib.util.spec_from_file_location("shared_eval_score", SCORER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def shared_reader():
    """The reader of ``RETRIEVAL_READER_DIR`` (default: the shipped models/reader), loaded once
    for every engine of the run, so that a candidate model is benched where it lies."""
    from retrieval import Settings
    from retrieval.answer.reader import Reader

    return Reader.load(Settings().reader_dir)


def answerer_engines(settings, embedder=None) -> dict:
    """One Engine per answerer over the same index folder, sharing the embedder and reader.
    Built the index with any one of them."""
    from retrieval import Engine, SentenceTransformerEmbedder

    if embedder is None:
        embedder = SentenceTransformerEmbedder(settings.model, settings.backend,
                                               settings.batch_size)
    return {name: Engine(settings.model_copy(update={"answerer": name}), embedder=embedder,
                         reader=shared_reader() if name == "reader" else None)
            for name in ANSWERERS}


def dev_questions() -> list[dict]:
    with DEV.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def run_worker(args: list[str], timeout: float = 1200, torch_defaults: bool = False) -> dict:
    """Run ``python -m bench.worker ARGS`` in a fresh process; it prints one JSON object.

    ``torch_defaults``: for the baselines (LangChain, plain sentence-transformers), OpenMP
    waits as it does by default. Our library sets ``OMP_WAIT_POLICY=PASSIVE`` on import (kind
    to other processes, but it slows plain torch's embedding: docs/performance.md); an empty
    value keeps OpenMP's default and stops that ``setdefault``."""
    env = {**os.environ, **OFFLINE_ENVIRONMENT}
    if torch_defaults:
        env["OMP_WAIT_POLICY"] = ""
    proc = subprocess.run([sys.executable, "-m", "bench.worker", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        raise RuntimeError(f"bench worker {args[0]} failed: " + " | ".join(tail))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> dict:
    import platform

    info = {"python": platform.python_version(), "cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0))}
    try:
        with open("/proc/cpuinfo") as handle:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in handle
                               if line.startswith("model name"))
        with open("/proc/meminfo") as handle:
            info["ram_gb"] = round(int(handle.readline().split()[1]) / 2**20, 1)
    except (OSError, StopIteration):
        pass
    info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info
