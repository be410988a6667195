"""The ONNX int8 backend: exported locally once, cached, close to torch, kept apart in the index."""

from __future__ import annotations

import json

import numpy as np
import pytest

from retrieval.errors import ConfigError, IndexMismatchError

pytestmark = pytest.mark.integration

TEXTS = [
    "Alpacas live in the high Andes of Peru.",
    "China opened its first high-speed railway in 2008, between Beijing and Tianjin. " * 20,
    "coffee",
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    """A fresh cache folder: the first load in it exports the model."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def torch_embedder():
    from retrieval import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(backend="torch")


@pytest.fixture(scope="module")
def onnx_model(onnx_cache):
    from retrieval.embed.embedder import bundled_model_path
    from retrieval.embed.onnx_backend import load_onnx_model

    return load_onnx_model(bundled_model_path(), cache=onnx_cache)


def test_export_lands_in_the_cache_with_a_checksum(onnx_model, onnx_cache):
    from retrieval.embed.onnx_backend import FP32_FILE, META_FILE, MODEL_FILE
    from retrieval.ingest.load import sha256_file

    [folder] = [p for p in (onnx_cache / "onnx").iterdir() if p.is_dir()]
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["sha256"] == {f: sha256_file(folder / f) for f in (MODEL_FILE, FP32_FILE)}
    # only the fused fp32 graph and its int8 version stay: no raw export, no temp folder
    assert sorted(p.name for p in folder.iterdir()) == sorted([FP32_FILE, META_FILE, MODEL_FILE])
    assert not list(onnx_cache.rglob("*.tmp"))


def test_second_load_reuses_the_export_and_a_damaged_one_is_redone(onnx_model, onnx_cache):
    from retrieval.embed.embedder import bundled_model_path
    from retrieval.embed.onnx_backend import MODEL_FILE, exported_model_path

    path = exported_model_path(bundled_model_path(), onnx_cache)
    stamp = path.stat().st_mtime_ns
    assert exported_model_path(bundled_model_path(), onnx_cache) == path
    assert path.stat().st_mtime_ns == stamp
    with path.open("r+b") as handle:  # flip a byte: the checksum no longer matches
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    again = exported_model_path(bundled_model_path(), onnx_cache)
    assert again.name == MODEL_FILE and again.stat().st_mtime_ns != stamp


def test_int8_vectors_agree_with_torch(onnx_model, torch_embedder):
    ours = onnx_model.encode(TEXTS, batch_size=2)
    reference = torch_embedder.embed(TEXTS)
    assert ours.shape == (3, 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * reference).sum(axis=1).min() > 0.97
    # Batch-mates change a text's vector only a little (dynamic int8 quantises activations
    # per batch), so documents embedded in batches still match queries embedded alone.
    alone = onnx_model.encode(TEXTS[:1])
    assert float(alone[0] @ ours[0]) > 0.99


def test_fused_fp32_graph_gives_the_torch_vectors(onnx_cache, torch_embedder):
    import onnx

    from retrieval.embed.embedder import bundled_model_path
    from retrieval.embed.onnx_backend import exported_model_path, load_onnx_model

    fused = load_onnx_model(bundled_model_path(), cache=onnx_cache, variant="fp32")
    ours = fused.encode(TEXTS, batch_size=2)
    reference = torch_embedder.embed(TEXTS)
    assert np.allclose(ours, reference, atol=2e-4)
    # the optimizer really fused the graph: one Attention op per layer, embeddings fused
    graph = onnx.load(str(exported_model_path(bundled_model_path(), onnx_cache, "fp32"))).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("Attention") == 6 and ops.count("EmbedLayerNormalization") == 1


def test_each_backend_has_its_own_fingerprint_and_an_unknown_one_is_refused(
        onnx_cache, monkeypatch, torch_embedder):
    from retrieval import SentenceTransformerEmbedder
    from retrieval.embed.onnx_backend import EXPORT_VERSION

    monkeypatch.setenv("RETRIEVAL_CACHE_DIR", str(onnx_cache))
    fp32 = SentenceTransformerEmbedder(backend="onnx-fp32")
    assert fp32.fingerprint == f"{torch_embedder.fingerprint}+onnx-fp32-v{EXPORT_VERSION}"
    with pytest.raises(ConfigError, match="backend must be one of torch, onnx, onnx-fp32"):
        SentenceTransformerEmbedder(backend="tensorrt")


def test_tokenizer_counts_word_pieces_like_transformers(onnx_model, torch_embedder):
    for text in TEXTS:
        assert (len(onnx_model.tokenizer(text)["input_ids"])
                == torch_embedder.count_word_pieces(text))
    assert onnx_model.max_seq_length == torch_embedder.max_seq_length


def test_index_built_with_one_backend_refuses_queries_from_the_other(
        tmp_path, tiny_corpus, onnx_cache, monkeypatch, torch_embedder):
    from retrieval import Engine, SentenceTransformerEmbedder, Settings

    monkeypatch.setenv("RETRIEVAL_CACHE_DIR", str(onnx_cache))
    onnx = SentenceTransformerEmbedder(backend="onnx")
    assert onnx.fingerprint != torch_embedder.fingerprint
    settings = Settings(source_dir=tiny_corpus, index_dir=tmp_path / "index")
    engine = Engine(settings, embedder=onnx)
    engine.update_index()
    assert engine.search("alpaca wool", 1)[0].doc == "alpacas.txt"
    with pytest.raises(IndexMismatchError, match="rebuild"):
        Engine(settings, embedder=torch_embedder).search("alpaca wool", 1)


def test_a_folder_that_is_not_a_model_is_refused(tmp_path):
    from retrieval.embed.onnx_backend import load_onnx_model

    with pytest.raises(ConfigError, match=r"config\.json"):
        load_onnx_model(tmp_path)


def test_a_batch_split_across_cores_keeps_each_text_in_its_row(onnx_model, onnx_cache):
    from retrieval.embed.embedder import bundled_model_path
    from retrieval.embed.onnx_backend import load_onnx_model

    one_core = load_onnx_model(bundled_model_path(), threads=1, cache=onnx_cache)
    two_cores = load_onnx_model(bundled_model_path(), threads=2, cache=onnx_cache)
    texts = [*TEXTS, "Tea grows on the hills of Yunnan.", "The port opened in 2019."]
    split = two_cores.encode(texts, batch_size=len(texts))  # dealt out to two workers
    whole = one_core.encode(texts, batch_size=len(texts))
    # each row is its own text's vector (batch-mates move int8 vectors only a little)
    assert np.diag(split @ whole.T).min() > 0.99
    assert (split @ whole.T - np.eye(len(texts))).max() < 0.9


def test_lengths_are_word_pieces_cut_at_the_model_limit(torch_embedder, onnx_cache,
                                                         monkeypatch):
    from retrieval import SentenceTransformerEmbedder

    monkeypatch.setenv("RETRIEVAL_CACHE_DIR", str(onnx_cache))
    onnx = SentenceTransformerEmbedder(backend="onnx")
    for embedder in (onnx, torch_embedder):
        lengths = embedder.lengths(TEXTS)
        assert lengths[0] == torch_embedder.count_word_pieces(TEXTS[0])
        assert lengths[1] == embedder.max_seq_length < torch_embedder.count_word_pieces(TEXTS[1])
        assert lengths[2] == 3  # [CLS] coffee [SEP]
