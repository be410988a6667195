"""Shared fixtures. The network is blocked for every test; only loopback may connect."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from pathlib import Path

import pytest

from retrieval.environment import set_offline_environment

for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):  # forced on: tests never download
    os.environ.pop(_name, None)
set_offline_environment()

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"

# The corpus of the README quick start: four short articles, reused by the unit tests.
TINY_CORPUS = {
    "alpacas.txt": (
        "Alpacas of the Andes\n\n"
        "Alpacas live in the high Andes of Peru. Farmers keep them for their soft wool.\n\n"
        "An adult alpaca weighs about 60 kilograms.\n\n"
        "Continue reading Alpacas of the Andes\n"
    ),
    "trains.md": (
        "# Fast trains in China\n\n"
        "China opened its first high-speed railway in 2008, between Beijing and Tianjin.\n\n"
        "The network grew to more than 45,000 kilometres by 2023.\n"
    ),
    "coffee.txt": (
        "Coffee harvest in Vietnam\n\n"
        "Vietnam is the world's second largest coffee producer after Brazil.\n\n"
        "Most Vietnamese coffee is robusta, grown in the Central Highlands.\n"
    ),
    "ports.txt": (
        "A new port for Peru\n\n"
        "The port of Chancay opened north of Lima in November 2024.\n\n"
        "Ships from Shanghai reach Chancay in about 23 days.\n"
    ),
}


def _is_loopback(address) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return isinstance(address, (str, bytes))  # AF_UNIX paths


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def block_network(monkeypatch):
    """Any connection to a non-loopback address fails the test loudly."""
    real_connect = socket.socket.connect

    def guarded_connect(self, address):
        if not _is_loopback(address):
            raise NetworkBlocked(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    def guarded_create_connection(address, *args, **kwargs):
        if not _is_loopback(address):
            raise NetworkBlocked(f"test tried to reach the network: {address!r}")
        return real_create_connection(address, *args, **kwargs)

    real_create_connection = socket.create_connection
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", guarded_create_connection)
    yield


@pytest.fixture
def tiny_corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "corpus", TINY_CORPUS)


@pytest.fixture
def corpus_writer():
    """``write_corpus`` for tests that lay out a corpus of their own."""
    return write_corpus


def write_corpus(folder: Path, files: dict[str, str]) -> Path:
    """A new folder holding ``files`` (name -> text), UTF-8."""
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def fake_embedder():
    from retrieval import FakeEmbedder

    return FakeEmbedder()


@pytest.fixture
def fake_engine(tiny_corpus, tmp_path, fake_embedder):
    """An Engine over the tiny corpus with the fake embedder, index already built."""
    from retrieval import Engine, Settings
    from retrieval.answer.reader import FakeReader

    settings = Settings(source_dir=tiny_corpus, index_dir=tmp_path / "index")
    engine = Engine(settings, embedder=fake_embedder, reader=FakeReader())
    engine.update_index()
    return engine


@pytest.fixture(scope="session")
def real_embedder():
    from retrieval import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def seed_engine(tmp_path_factory, real_embedder):
    """An Engine over a copy of seeds/ with the real bundled model (built once a session)."""
    from retrieval import Engine, Settings

    base = tmp_path_factory.mktemp("seed-engine")
    shutil.copytree(SEEDS, base / "seeds")
    engine = Engine(Settings(source_dir=base / "seeds", index_dir=base / "index"),
                    embedder=real_embedder)
    engine.update_index()
    return engine
