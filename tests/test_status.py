"""Status: cheap when nothing changed (sources hashed only when their stat differs), still
exact by content, and it finds a corrupt or missing index file with the rebuild command."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import retrieval.store.index_store as ix
from retrieval import Engine, FakeEmbedder, Settings
from retrieval.store.manifest import MANIFEST, REBUILD_HINT


def age(folder: Path, seconds: int = 3600) -> None:
    """Date every file an hour back, as files are that were not just written."""
    for path in folder.iterdir():
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - seconds * 10**9))


@pytest.fixture
def hashed(monkeypatch) -> list[Path]:
    """Every path that status reads to hash, in order."""
    paths: list[Path] = []
    real = ix.sha256_file

    def counting(path: Path) -> str:
        paths.append(Path(path))
        return real(path)

    monkeypatch.setattr(ix, "sha256_file", counting)
    return paths


@pytest.fixture
def aged_engine(tiny_corpus, tmp_path) -> Engine:
    age(tiny_corpus)
    engine = Engine(Settings(source_dir=tiny_corpus, index_dir=tmp_path / "index"),
                    embedder=FakeEmbedder())
    engine.update_index()
    return engine


def source_reads(paths: list[Path], engine: Engine) -> list[str]:
    return [p.name for p in paths if p.parent == engine.source_dir]


def test_status_reads_no_source_file_when_nothing_changed(aged_engine, hashed):
    assert set(aged_engine.store.read_manifest().source_stats) == {
        p.name for p in aged_engine.source_dir.iterdir()}
    assert aged_engine.status().fresh
    assert source_reads(hashed, aged_engine) == []


def test_an_edit_of_the_same_size_is_found_and_only_that_file_is_read(aged_engine, hashed):
    path = aged_engine.source_dir / "alpacas.txt"
    original = path.read_bytes()
    path.write_bytes(original.replace(b"Alpaca", b"Llamas", 1))
    assert path.stat().st_size == len(original)
    status = aged_engine.status()
    assert (status.changed, status.added, status.deleted) == (["alpacas.txt"], [], [])
    assert source_reads(hashed, aged_engine) == ["alpacas.txt"]


def test_a_touched_file_with_the_same_bytes_is_fresh_by_content(aged_engine, hashed):
    path = aged_engine.source_dir / "coffee.txt"
    path.write_bytes(path.read_bytes())  # new mtime, same content
    assert aged_engine.status().fresh
    assert source_reads(hashed, aged_engine) == ["coffee.txt"]


def test_an_index_without_recorded_stats_hashes_every_file(aged_engine, hashed):
    """Indexes built before stats were recorded keep working, by content as before."""
    manifest_path = aged_engine.store.manifest_path
    manifest = json.loads(manifest_path.read_text())
    del manifest["source_stats"]
    manifest_path.write_text(json.dumps(manifest))
    engine = Engine(aged_engine.settings, embedder=FakeEmbedder())
    assert engine.status().fresh
    assert sorted(source_reads(hashed, engine)) == sorted(
        p.name for p in engine.source_dir.iterdir())
    (engine.source_dir / "ports.txt").write_text("Ports\n\nA changed port.\n")
    assert engine.status().changed == ["ports.txt"]


def test_a_file_written_just_before_the_build_is_always_hashed(tiny_corpus, tmp_path):
    """Its stat may not change with an edit in the same clock tick, so none is recorded."""
    engine = Engine(Settings(source_dir=tiny_corpus, index_dir=tmp_path / "index"),
                    embedder=FakeEmbedder())
    path = tiny_corpus / "alpacas.txt"
    engine.update_index()
    assert "alpacas.txt" not in engine.store.read_manifest().source_stats
    before = path.stat()
    path.write_bytes(path.read_bytes().replace(b"Alpaca", b"Llamas", 1))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime
    assert engine.status().changed == ["alpacas.txt"]


# ------------------------------------------------------------- index file checksums
def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def live_file(engine: Engine, rel: str) -> Path:
    manifest = json.loads((engine.store.root / MANIFEST).read_text())
    return engine.store.root / manifest["generation"] / rel


@pytest.mark.parametrize("rel", ["vectors.npy", "chunks.json", "dense.faiss"])
def test_status_reports_a_flipped_byte_in_an_index_file(fake_engine, rel):
    assert fake_engine.status().fresh  # verified once: the file's stat is remembered
    path = live_file(fake_engine, rel)
    flip_a_byte(path)
    status = fake_engine.status()
    assert not status.fresh
    assert status.problem == (f"index file {path} fails its checksum (corrupt); rebuild with "
                              f"`{REBUILD_HINT}`")
    # a new process (a fresh Engine) finds it too
    assert Engine(fake_engine.settings, embedder=FakeEmbedder()).status().problem == \
        status.problem


def test_status_reports_a_missing_index_file(fake_engine):
    path = live_file(fake_engine, "sentence_vectors.npy")
    path.unlink()
    assert fake_engine.status().problem == (
        f"index file {path} is missing; rebuild with `{REBUILD_HINT}`")


def test_the_rebuild_command_from_the_message_repairs_the_index(fake_engine):
    flip_a_byte(live_file(fake_engine, "vectors.npy"))
    assert fake_engine.status().problem
    fake_engine.update_index(rebuild=True)
    assert fake_engine.status().fresh


def test_repeated_status_reads_each_index_file_once(fake_engine, hashed):
    index_files = set(json.loads((fake_engine.store.root / MANIFEST).read_text())["files"])
    for _ in range(3):
        assert fake_engine.status().fresh
    read = [p for p in hashed if fake_engine.store.root in p.parents]
    assert len(read) == len(index_files) == len(set(read))
