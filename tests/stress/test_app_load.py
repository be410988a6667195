"""Load runs, bounded in time and count, on loopback only.

- The app: ``streamlit run app.py`` on 127.0.0.1; rounds of 25 browser sessions opened at
  once over Streamlit's real websocket protocol, each waiting for its page to finish
  rendering, then closed. Reports p50/p95 of the time to a rendered page and the server's
  largest RSS growth over the warm-up round; the embedding model is loaded once in the process.
- The library: rounds of 20 questions asked at once through ``Engine.ask`` from 20 threads,
  p50/p95 latency, RSS growth after warm-up, one model load.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import psutil
import pytest
from streamlit_server import streamlit_app  # tests/streamlit_server.py

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"
RSS_LIMIT_MB = 100
SESSIONS, SESSION_ROUNDS = 25, 6
QUESTIONS, QUESTION_ROUNDS, WARMUP_ROUNDS = 20, 5, 2

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_mb(pid: int | None = None) -> float:
    return psutil.Process(pid or os.getpid()).memory_info().rss / 2**20


def load_figures(what: str, latencies: list[float], concurrent: int, warm: float,
                 rounds_rss: list[float], growth: float, model_loads: int) -> dict:
    """The figures a load run reports: count, latency percentiles, memory, model loads."""
    return {what: len(latencies), "concurrent": concurrent,
            "p50_s": round(statistics.median(latencies), 3),
            "p95_s": round(percentile(latencies, 0.95), 3),
            "rss_after_warmup_mb": round(warm), "rss_after_each_round_mb": rounds_rss,
            "rss_growth_mb": round(growth, 1), "model_loads": model_loads}


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory, real_embedder):
    """A copy of seeds/ and its index, built once with the real model."""
    from retrieval import Engine, Settings

    base = tmp_path_factory.mktemp("load")
    shutil.copytree(ROOT / "seeds", base / "seeds")
    Engine(Settings(source_dir=base / "seeds", index_dir=base / "index"),
           embedder=real_embedder).update_index()
    return base


def questions() -> list[str]:
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return [row["question"] for row in rows][:QUESTIONS]


# ---------------------------------------------------------------------- the library
def test_twenty_concurrent_questions_through_the_library(seed_index, monkeypatch,
                                                         record_figures):
    import retrieval.embed.embedder as embed
    from retrieval import Engine, Settings

    loads: list[int] = []
    real_load = embed._load_sentence_transformer

    def counted(*args, **kwargs):
        loads.append(1)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(embed, "_load_sentence_transformer", counted)
    engine = Engine(Settings(source_dir=seed_index / "seeds", index_dir=seed_index / "index"))
    asked = questions()
    assert len(asked) == QUESTIONS

    def ask(question: str) -> float:
        start = time.perf_counter()
        answer = engine.ask(question)
        assert answer.text
        return time.perf_counter() - start

    latencies: list[float] = []
    rounds_rss: list[float] = []
    with ThreadPoolExecutor(max_workers=QUESTIONS) as pool:
        # warm-up rounds: the model and index load, and each of the 20 threads' torch and
        # allocator buffers grow to the largest input that thread has seen
        for _ in range(WARMUP_ROUNDS):
            list(pool.map(ask, asked))
        gc.collect()
        warm = rss_mb()
        deadline = time.monotonic() + 240
        for _ in range(QUESTION_ROUNDS):
            latencies += pool.map(ask, asked)
            gc.collect()
            rounds_rss.append(round(rss_mb()))
            if time.monotonic() > deadline:
                break
    growth = max([*rounds_rss, rss_mb()]) - warm
    figures = load_figures("questions", latencies, QUESTIONS, warm, rounds_rss, growth,
                           len(loads))
    record_figures("library: 20 concurrent questions", **figures)
    assert len(loads) == 1
    assert growth < RSS_LIMIT_MB, figures
    assert len(latencies) >= QUESTIONS * 2


# -------------------------------------------------------------------------- the app
LAUNCHER = r'''
import os, sys
import retrieval.embed.embedder as embed

real = embed._load_sentence_transformer


def counted(*args, **kwargs):
    with open(os.environ["LOAD_COUNT_FILE"], "a") as handle:
        handle.write(f"{os.getpid()}\n")
    return real(*args, **kwargs)


embed._load_sentence_transformer = counted
from streamlit.web import cli

sys.argv = ["streamlit", *sys.argv[1:]]
sys.exit(cli.main())
'''


async def open_session(port: int) -> float:
    """One browser tab: connect, ask for the first run, wait for it to finish, close."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    start = time.perf_counter()
    async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream",
                                  subprotocols=["streamlit"], max_size=2**26,
                                  open_timeout=60) as ws:
        back = BackMsg()
        back.rerun_script.query_string = ""
        back.rerun_script.page_script_hash = ""
        await ws.send(back.SerializeToString())
        errors = []
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await asyncio.wait_for(ws.recv(), timeout=120))
            kind = msg.WhichOneof("type")
            if kind == "delta" and msg.delta.new_element.WhichOneof("type") == "exception":
                errors.append(msg.delta.new_element.exception.message)
            if kind == "script_finished":
                assert msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY, errors
                break
    assert not errors, errors
    return time.perf_counter() - start


async def session_round(port: int, n: int) -> list[float]:
    return list(await asyncio.gather(*(open_session(port) for _ in range(n))))


def test_sessions_opened_and_closed_repeatedly_against_the_app(seed_index, tmp_path,
                                                               record_figures):
    launcher = tmp_path / "launch_app.py"
    launcher.write_text(LAUNCHER)
    loads = tmp_path / "model_loads.txt"
    env = {**os.environ, "LOAD_COUNT_FILE": str(loads), "PYTHONPATH": str(ROOT),
           "RETRIEVAL_SOURCE_DIR": str(seed_index / "seeds"),
           "RETRIEVAL_INDEX_DIR": str(seed_index / "index")}
    with streamlit_app(env, tmp_path / "streamlit.log", command=[sys.executable, str(launcher)],
                       flags=["--global.developmentMode", "false"]) as (url, server):
        port = urlparse(url).port
        asyncio.run(session_round(port, SESSIONS))  # warm-up: model and index load here
        warm = rss_mb(server.pid)
        latencies: list[float] = []
        rounds_rss: list[float] = []
        deadline = time.monotonic() + 300
        for _ in range(SESSION_ROUNDS):
            latencies += asyncio.run(session_round(port, SESSIONS))
            rounds_rss.append(round(rss_mb(server.pid)))
            if time.monotonic() > deadline:
                break
        growth = max(rounds_rss) - warm
        assert server.poll() is None, "the app died under load"
    pids = loads.read_text().split() if loads.exists() else []
    figures = load_figures("sessions", latencies, SESSIONS, warm, rounds_rss, growth,
                           len(pids))
    record_figures("app: 25 sessions opened and closed", **figures)
    assert pids == [str(server.pid)], "the model must load exactly once in the app process"
    assert growth < RSS_LIMIT_MB, figures
    assert len(latencies) >= SESSIONS * 2
