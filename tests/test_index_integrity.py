"""The index never runs code, refuses what it cannot trust, survives crashes at every write
step, matches its model, tracks staleness per file, and serves consistent results while a
rebuild swaps it."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from retrieval import (
    Engine,
    FakeEmbedder,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    Settings,
)
from retrieval.store.manifest import MANIFEST, REBUILD_HINT, SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["alpaca wool", "high-speed railway Beijing", "coffee producer", "port of Chancay"]


# ------------------------------------------------------------------------ helpers
def results(engine: Engine, queries: list[str] = QUERIES) -> list[list[tuple]]:
    """What a user sees for each query: chunk identity, text and score."""
    return [[(p.chunk.id, p.chunk.text, round(p.score, 6)) for p in engine.search(q, k=10)]
            for q in queries]


def fresh_engine(source: Path, index: Path) -> Engine:
    return Engine(Settings(source_dir=source, index_dir=index), embedder=FakeEmbedder())


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` with its sha256: proves nothing changed on disk."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def live_generation(index: Path) -> Path:
    return index / json.loads((index / MANIFEST).read_text())["generation"]


def rewrite(index: Path, rel: str, data: bytes) -> None:
    """Replace one generation file and fix its checksum, so the deeper checks are reached."""
    manifest = json.loads((index / MANIFEST).read_text())
    (index / manifest["generation"] / rel).write_bytes(data)
    manifest["files"][rel] = hashlib.sha256(data).hexdigest()
    (index / MANIFEST).write_text(json.dumps(manifest))


class Plant:
    """A pickle that, when loaded, creates ``marker``: proof that something unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickle_payload(rel: str, marker: Path) -> bytes:
    """A malicious file of the right kind: a pickled .npy for arrays, a raw pickle otherwise."""
    if rel.endswith(".npy"):
        import io

        buffer = io.BytesIO()
        np.save(buffer, np.array([Plant(marker)], dtype=object), allow_pickle=True)
        return buffer.getvalue()
    return pickle.dumps(Plant(marker))


# ------------------------------------------------------------------ 1. no unpickling
def test_planted_pickles_next_to_the_index_are_never_loaded(fake_engine, tmp_path):
    marker = tmp_path / "pwned"
    before = results(fake_engine)
    root = fake_engine.store.root
    gen = live_generation(root)
    for path in (root / "index.pkl", root / "index.faiss.pkl", root / "docstore.pkl",
                 gen / "index.pkl", gen / "chunks.pkl", gen / "bm25" / "model.pkl"):
        path.write_bytes(pickle.dumps(Plant(marker)))
    engine = fresh_engine(fake_engine.source_dir, root)
    assert results(engine) == before
    engine.status()
    engine.update_index()
    assert not marker.exists()


def test_every_index_file_replaced_by_a_pickle_is_refused_without_running_it(fake_engine,
                                                                            tmp_path):
    """Each file the manifest lists (and the manifest itself), one at a time, becomes a
    pickle whose checksum is made to match: the load must refuse it and run nothing."""
    marker = tmp_path / "pwned"
    root = fake_engine.store.root
    pristine = tmp_path / "pristine"
    shutil.copytree(root, pristine)
    targets = ["manifest", *sorted(json.loads((root / MANIFEST).read_text())["files"])]
    assert {"vectors.npy", "dense.faiss", "chunks.json"} <= set(targets)
    for target in targets:
        shutil.rmtree(root)
        shutil.copytree(pristine, root)
        if target == "manifest":
            (root / MANIFEST).write_bytes(pickle.dumps(Plant(marker)))
        else:
            rewrite(root, target, pickle_payload(target, marker))
        engine = fresh_engine(fake_engine.source_dir, root)
        with pytest.raises(IndexCorruptError, match="--rebuild"):
            engine.search("alpaca wool")
        with pytest.raises(IndexCorruptError):
            engine.update_index()
        assert not marker.exists(), f"replacing {target} by a pickle ran it"


def test_no_module_of_the_library_can_unpickle():
    """The loaders pass allow_pickle=False and nothing imports pickle, joblib or torch.load."""
    for path in sorted((ROOT / "retrieval").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for banned in ("import pickle", "from pickle", "joblib", "torch.load", "load_local",
                       "allow_pickle=True", "allow_dangerous_deserialization"):
            assert banned not in source, f"{path.name} uses {banned}"


# ------------------------------------------------------- 2. corrupt index is refused
def _corrupt_checksum(root: Path) -> None:
    manifest = json.loads((root / MANIFEST).read_text())
    manifest["files"]["chunks.json"] = "0" * 64
    (root / MANIFEST).write_text(json.dumps(manifest))


def _truncate_faiss(root: Path) -> None:
    path = live_generation(root) / "dense.faiss"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _truncate_faiss_fixed_checksum(root: Path) -> None:
    data = (live_generation(root) / "dense.faiss").read_bytes()
    rewrite(root, "dense.faiss", data[: len(data) // 2])


def _chunks_not_json(root: Path) -> None:
    rewrite(root, "chunks.json", b'[{"doc": "alpacas.txt", "text": ')


def _chunks_wrong_fields(root: Path) -> None:
    rewrite(root, "chunks.json", json.dumps([{"doc": 1, "colour": "red"}]).encode())


def _chunks_not_a_list(root: Path) -> None:
    rewrite(root, "chunks.json", b'"just a string"')


def _one_vector_missing(root: Path) -> None:
    import io

    vectors = np.load(live_generation(root) / "vectors.npy")
    buffer = io.BytesIO()
    np.save(buffer, vectors[:-1])
    rewrite(root, "vectors.npy", buffer.getvalue())


def _one_chunk_missing(root: Path) -> None:
    records = json.loads((live_generation(root) / "chunks.json").read_text())
    rewrite(root, "chunks.json", json.dumps(records[:-1]).encode())


def _generation_deleted(root: Path) -> None:
    shutil.rmtree(live_generation(root))


def _manifest_truncated(root: Path) -> None:
    data = (root / MANIFEST).read_bytes()
    (root / MANIFEST).write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage", [
    _corrupt_checksum, _truncate_faiss, _truncate_faiss_fixed_checksum, _chunks_not_json,
    _chunks_wrong_fields, _chunks_not_a_list, _one_vector_missing, _one_chunk_missing,
    _generation_deleted, _manifest_truncated,
], ids=lambda f: f.__name__.strip("_"))
def test_corrupt_index_is_refused_and_nothing_is_reset(fake_engine, damage):
    root = fake_engine.store.root
    damage(root)
    on_disk = tree_digest(root)
    engine = fresh_engine(fake_engine.source_dir, root)
    with pytest.raises(IndexCorruptError) as err:
        engine.search("alpaca wool")
    message = str(err.value)
    assert "\n" not in message and REBUILD_HINT in message
    with pytest.raises(IndexCorruptError):
        engine.update_index()  # an incremental update must not paper over the damage
    assert tree_digest(root) == on_disk
    # the command the message names does repair it
    engine.update_index(rebuild=True)
    assert results(engine) == results(fresh_engine(fake_engine.source_dir, root))
    assert [p.chunk.source for p in engine.search("alpaca wool", k=1)] == ["alpacas.txt"]


# ------------------------------------------------------------ 3. SIGKILL the indexer
KILLER = r'''
import os, signal, sys
from pathlib import Path

import faiss

import retrieval.store.index_store as ix
from retrieval import Engine, FakeEmbedder, Settings

source, index, point = sys.argv[1], sys.argv[2], sys.argv[3]


def die():
    os.kill(os.getpid(), signal.SIGKILL)


if point == "after_embedding":
    real = ix.IndexStore._chunks_and_vectors
    def patched(*args, **kwargs):
        real(*args, **kwargs)
        die()
    ix.IndexStore._chunks_and_vectors = patched
elif point == "mid_write":
    real_write = faiss.write_index
    def patched(index_obj, path):
        real_write(index_obj, path)
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 2])
        die()
    faiss.write_index = patched
elif point == "before_swap":
    def patched(*args, **kwargs):
        die()
    ix.IndexStore._swap_manifest = patched
elif point == "mid_swap":
    real_atomic = ix.atomic_write_bytes
    def patched(path, data):
        if Path(path).name == "manifest.json":
            tmp = Path(path).with_name(f".{Path(path).name}.killed.tmp")
            tmp.write_bytes(data[: len(data) // 2])
            die()
        real_atomic(path, data)
    ix.atomic_write_bytes = patched
elif point == "after_swap":
    def patched(*args, **kwargs):
        die()
    ix.IndexStore._collect_garbage = patched
else:
    raise SystemExit(f"unknown kill point {point}")

Engine(Settings(source_dir=source, index_dir=index), embedder=FakeEmbedder()).update_index()
raise SystemExit(3)  # the kill point was never reached
'''


def run_killed(tmp_path: Path, source: Path, index: Path, point: str) -> None:
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(script), str(source), str(index), point],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, f"indexer was not killed at {point}: {proc.stderr[-2000:]}"


def edit_corpus(source: Path) -> None:
    (source / "alpacas.txt").write_text(
        "Alpacas of the Andes\n\nAlpacas graze on the altiplano near Lake Titicaca.\n\n"
        "Their fleece is sheared once a year in November.\n", encoding="utf-8")
    (source / "glaciers.txt").write_text(
        "Glaciers are shrinking\n\nThe Quelccaya ice cap in Peru lost a third of its area.\n",
        encoding="utf-8")


PRE_SWAP = ["after_embedding", "mid_write", "before_swap", "mid_swap"]


@pytest.mark.parametrize("point", [*PRE_SWAP, "after_swap"])
def test_indexer_killed_during_an_update_leaves_a_working_index(fake_engine, tmp_path, point):
    source, root = fake_engine.source_dir, fake_engine.store.root
    before = results(fake_engine)
    old_manifest = (root / MANIFEST).read_bytes()
    edit_corpus(source)
    run_killed(tmp_path, source, root, point)
    engine = fresh_engine(source, root)
    fresh = fresh_engine(source, tmp_path / "fresh")
    fresh.update_index()
    if point == "after_swap":  # the new generation was complete and live before the kill
        assert results(engine) == results(fresh)
        assert engine.status().fresh
    else:
        assert (root / MANIFEST).read_bytes() == old_manifest
        assert results(engine) == before
        assert engine.status().changed == ["alpacas.txt"]
    # the next run finishes the job and sweeps what the killed one left behind
    engine.update_index()
    assert results(engine) == results(fresh)
    leftovers = [p.name for p in root.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert len([p for p in root.iterdir() if p.name.startswith("gen-")]) <= 2


@pytest.mark.parametrize("point", ["after_embedding", "mid_write", "mid_swap"])
def test_first_build_killed_midway_leaves_no_index(tiny_corpus, tmp_path, point):
    root = tmp_path / "index"
    run_killed(tmp_path, tiny_corpus, root, point)
    engine = fresh_engine(tiny_corpus, root)
    assert not engine.status().exists
    with pytest.raises(IndexMissingError, match="python -m retrieval index"):
        engine.search("alpaca wool")
    report = engine.update_index()
    assert report.written and sorted(report.added) == sorted(p.name for p in tiny_corpus.iterdir())
    assert [p.chunk.source for p in engine.search("alpaca wool", k=1)] == ["alpacas.txt"]
    assert [p.name for p in root.iterdir() if p.name.endswith(".tmp")] == []


# ---------------------------------------------------------- 4. model and schema match
class OtherWeights(FakeEmbedder):
    """Same name and dimension as the index's model, different weights."""

    def __init__(self, name: str = "fake-hash", dim: int = 64) -> None:
        super().__init__(dim=dim, name=name)
        self.fingerprint = "retrained-weights"


def test_manifest_records_schema_model_dimension_and_chunker(fake_engine):
    manifest = fake_engine.store.read_manifest()
    assert manifest.schema_version == SCHEMA_VERSION
    assert (manifest.model, manifest.dim) == ("fake-hash", 64)
    assert manifest.model_fingerprint == fake_engine.embedder.fingerprint
    assert manifest.chunker == fake_engine.chunker.model_dump()


@pytest.mark.parametrize("embedder", [FakeEmbedder(dim=64, name="other-model"), OtherWeights(),
                                      FakeEmbedder(dim=32)], ids=["name", "weights", "dim"])
def test_another_model_fails_before_any_query(fake_engine, embedder):
    embedder.calls = 0
    engine = Engine(fake_engine.settings, embedder=embedder)
    with pytest.raises(IndexMismatchError) as err:
        engine.search("alpaca wool")
    assert REBUILD_HINT in str(err.value) and "\n" not in str(err.value)
    assert embedder.calls == 0  # refused before the query was embedded
    with pytest.raises(IndexMismatchError):
        engine.update_index()
    engine.update_index(rebuild=True)
    assert engine.search("alpaca wool", k=1)[0].chunk.source == "alpacas.txt"


def test_another_schema_version_is_refused(fake_engine):
    manifest = json.loads(fake_engine.store.manifest_path.read_text())
    manifest["schema_version"] = SCHEMA_VERSION + 1
    fake_engine.store.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        fresh_engine(fake_engine.source_dir, fake_engine.store.root).search("alpaca")


@pytest.mark.integration
def test_real_model_index_refuses_other_weights_of_the_same_dimension(seed_engine):
    imposter = OtherWeights(name=seed_engine.embedder.name, dim=seed_engine.embedder.dim)
    engine = Engine(seed_engine.settings, embedder=imposter)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        engine.search("trade")
    assert imposter.calls == 0


# ------------------------------------------------------------ 5. stale, incremental
def test_edit_add_delete_mark_the_index_stale_per_file(fake_engine):
    source = fake_engine.source_dir
    original = (source / "alpacas.txt").read_text(encoding="utf-8")
    assert fake_engine.status().fresh
    (source / "alpacas.txt").write_text("Alpacas\n\nThey hum.\n", encoding="utf-8")
    status = fake_engine.status()
    assert (status.changed, status.added, status.deleted) == (["alpacas.txt"], [], [])
    (source / "new.txt").write_text("New\n\nA new article.\n", encoding="utf-8")
    (source / "coffee.txt").unlink()
    status = fake_engine.status()
    assert status.changed == ["alpacas.txt"]
    assert status.added == ["new.txt"]
    assert status.deleted == ["coffee.txt"]
    assert not status.fresh
    # staleness is by content, not by time stamp: the original bytes are fresh again
    (source / "alpacas.txt").write_text(original, encoding="utf-8")
    status = fake_engine.status()
    assert (status.changed, status.added, status.deleted) == ([], ["new.txt"], ["coffee.txt"])


def _snapshot_state(engine: Engine):
    snap = engine.store.load(engine.embedder)
    return [c.__dict__ for c in snap.chunks], snap.vectors, snap.manifest


def test_incremental_update_equals_a_fresh_build(fake_engine, tmp_path):
    source = fake_engine.source_dir
    (source / "alpacas.txt").write_text(
        "Alpacas of the Andes\n\nAlpacas hum to each other and spit when annoyed.\n",
        encoding="utf-8")
    (source / "glaciers.txt").write_text(
        "Glaciers are shrinking\n\nThe Quelccaya ice cap in Peru lost a third of its area.\n",
        encoding="utf-8")
    (source / "coffee.txt").unlink()
    calls_before = fake_engine.embedder.calls
    report = fake_engine.update_index()
    assert (report.changed, report.added, report.deleted) == (
        ["alpacas.txt"], ["glaciers.txt"], ["coffee.txt"])
    assert sorted(report.unchanged) == ["ports.txt", "trains.md"]
    fresh = fresh_engine(source, tmp_path / "fresh")
    fresh.update_index()
    chunks, vectors, manifest = _snapshot_state(fake_engine)
    fresh_chunks, fresh_vectors, fresh_manifest = _snapshot_state(fresh)
    assert chunks == fresh_chunks
    np.testing.assert_array_equal(vectors, fresh_vectors)
    assert manifest.sources == fresh_manifest.sources
    assert manifest.counts == fresh_manifest.counts
    queries = [*QUERIES, "Quelccaya ice cap", "robusta Central Highlands", "spit"]
    assert results(fake_engine, queries) == results(fresh, queries)
    # only the changed and added files were embedded; nothing of coffee.txt is left
    embedded = sum(1 for c in chunks if c["source"] in ("alpacas.txt", "glaciers.txt"))
    assert report.chunks_embedded == embedded
    assert fake_engine.embedder.calls > calls_before
    assert "coffee.txt" not in {c["source"] for c in chunks}
    assert all(p.chunk.source != "coffee.txt"
               for p in fake_engine.search("robusta Central Highlands"))
    assert set(manifest.sources) == {p.name for p in source.iterdir()}


def test_indexing_the_same_corpus_twice_changes_nothing(fake_engine):
    root = fake_engine.store.root
    on_disk = tree_digest(root)
    before = results(fake_engine)
    calls = fake_engine.embedder.calls
    report = fake_engine.update_index()
    assert not report.written and report.chunks_embedded == 0
    assert fake_engine.embedder.calls == calls
    assert tree_digest(root) == on_disk
    assert results(fake_engine) == before


def test_old_generations_are_collected(fake_engine):
    source, root = fake_engine.source_dir, fake_engine.store.root
    for i in range(4):
        (source / "extra.txt").write_text(f"Extra\n\nVersion {i} of the extra file.\n")
        fake_engine.update_index()
    generations = sorted(p.name for p in root.iterdir() if p.name.startswith("gen-"))
    assert len(generations) == 2
    assert live_generation(root).name in generations


# ---------------------------------------------------- 6. search during a rebuild swap
VERSIONS = 3


def _write_version(source: Path, version: int) -> None:
    """Each version changes every article, so a mix of two versions is detectable."""
    for name, topic in (("alpacas.txt", "alpaca wool"), ("trains.txt", "railway trains"),
                        ("coffee.txt", "coffee harvest")):
        paragraphs = [f"{topic.title()} report {version}"]
        paragraphs += [f"Paragraph {i} about {topic} in edition {version} with fact {i * version}."
                       for i in range(3 + version)]
        (source / name).write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")


def test_search_from_eight_threads_while_rebuilds_swap_the_index(tmp_path):
    source = tmp_path / "corpus"
    source.mkdir()
    queries = ["alpaca wool", "railway trains edition", "coffee fact"]
    expected = []
    for version in range(VERSIONS):
        _write_version(source, version)
        engine = fresh_engine(source, tmp_path / f"expected-{version}")
        engine.update_index()
        expected.append(results(engine, queries))
    assert len({json.dumps(e) for e in expected}) == VERSIONS
    _write_version(source, 0)
    shared = fresh_engine(source, tmp_path / "index")
    shared.update_index()

    stop = threading.Event()
    failures: list[str] = []
    seen: set[int] = set()
    counts = [0] * 8

    def reader(slot: int) -> None:
        while not stop.is_set():
            q = counts[slot] % len(queries)
            try:
                [got] = results(shared, [queries[q]])
            except Exception as err:  # any exception at all is a failure
                failures.append(f"{type(err).__name__}: {err}")
                return
            versions = [v for v in range(VERSIONS) if expected[v][q] == got]
            if not versions:  # one search must read one generation, never a mix
                failures.append(f"result of {queries[q]!r} mixes index versions: {got}")
                return
            seen.update(versions)
            counts[slot] += 1

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    try:
        for swap in range(1, 13):
            _write_version(source, swap % VERSIONS)
            report = shared.update_index()
            assert report.written
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not failures, failures[:3]
    assert all(counts), counts
    assert len(seen) >= 2  # the readers really ran across swaps
    assert results(shared, queries) == expected[12 % VERSIONS]


def test_a_reader_whose_generation_is_collected_mid_load_reads_the_new_one(fake_engine,
                                                                             tmp_path):
    """The slowest reader: it read the manifest, then two rebuilds swapped the index and
    collected its generation before it opened the files. It must not fail."""
    source, root = fake_engine.source_dir, fake_engine.store.root
    reader = fresh_engine(source, root)
    real_load = reader.store._load_generation
    rebuilt = []

    def slow_load(manifest):
        if not rebuilt:
            for i in range(2):
                (source / "extra.txt").write_text(f"Extra\n\nEdition {i} of the extra file.\n")
                fake_engine.update_index()
            rebuilt.append(True)
        return real_load(manifest)

    reader.store._load_generation = slow_load
    got = results(reader)
    assert rebuilt
    fresh = fresh_engine(source, tmp_path / "fresh")
    fresh.update_index()
    assert got == results(fresh)
