"""The real bundled model on the seed articles, offline."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from retrieval import Engine, SentenceTransformerEmbedder, Settings
from retrieval.eval.metrics import score

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"

pytestmark = pytest.mark.integration


@pytest.fixture
def no_sockets(monkeypatch):
    """Every socket operation that could reach anything fails, loopback included."""
    def refuse(*args, **kwargs):
        raise OSError("network blocked by the test")

    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_whole_pipeline_runs_with_sockets_blocked(no_sockets, tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name in ("000_a20fb98d03a282a8.txt", "004_52d63f4225cf6237.txt"):
        shutil.copy(ROOT / "seeds" / name, seeds / name)
    engine = Engine(Settings(source_dir=seeds, index_dir=tmp_path / "index"),
                    embedder=SentenceTransformerEmbedder())
    report = engine.update_index()
    assert report.written and report.added == sorted(p.name for p in seeds.iterdir())
    passages = engine.search("How many masks did Costa Rica and Uruguay send to China?", k=3)
    assert "600,000 masks" in passages[0].text
    answer = engine.ask("How many countries got anti-pandemic materials from China?")
    assert not answer.abstained and "27" in answer.text and answer.citations


def test_no_chunk_exceeds_the_models_256_word_pieces(seed_engine):
    embedder = seed_engine.embedder
    snapshot = seed_engine.store.load()
    longest = max(embedder.count_word_pieces(c.with_title) for c in snapshot.chunks)
    assert longest <= embedder.max_seq_length == 256


def test_dev_set_retrieval_stays_above_the_floor(seed_engine):
    questions = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines()]
    results = [{"id": q["id"], "answer": "", "abstained": True, "citations": [],
                "passages": [p.to_dict() for p in seed_engine.search(q["question"], k=10)]}
               for q in questions]
    metrics = score(questions, results)
    # floors below the current figures (docs/evaluation.md) by more than run-to-run noise:
    # they catch regressions
    assert metrics["recall@5"] >= 0.85
    assert metrics["mrr@10"] >= 0.70
    assert metrics["median_passage_chars"] <= 900
