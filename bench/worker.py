"""One cold pipeline in a fresh process: ``python -m bench.worker ours|langchain|embed``.

Prints one JSON line. The clock for the cold build starts before the pipeline's imports, so
build time includes imports and model load, as a user running the tool would see it.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from retrieval.environment import set_offline_environment  # noqa: E402

set_offline_environment()

from bench.common import (  # noqa: E402
    SEEDS,
    dev_questions,
    load_scorer,
    median,
    peak_rss_mb,
    summarise_ms,
)

K = 10


def _timed_queries(fn, questions: list[str], repeats: int) -> dict:
    """Warm-up pass over every question, then ``repeats`` timed passes; p50/p95 in ms."""
    for q in questions:
        fn(q)
    times = []
    for _ in range(repeats):
        for q in questions:
            started = time.perf_counter()
            fn(q)
            times.append((time.perf_counter() - started) * 1000)
    return summarise_ms(times)


def _quality(results: list[dict], questions: list[dict]) -> dict:
    metrics = load_scorer().score(questions, results)
    keep = ("recall@1", "recall@5", "recall@10", "mrr@10", "answer_accuracy",
            "answer_supported_by_citation", "unanswerable_abstain_rate", "qa_score")
    return {k: metrics.get(k) for k in keep}


def _build_times(imported: float, loaded: float, built: float) -> dict[str, float]:
    """A cold build, from the process's start (``_T0``) to a searchable index, in seconds, and
    its parts: imports, model load and indexing. Both pipelines are timed by it."""
    return {"cold_build_s": round(built - _T0, 2), "import_s": round(imported - _T0, 2),
            "model_load_s": round(loaded - imported, 2), "index_s": round(built - loaded, 2)}


def ours(backend: str, repeats: int, quick: bool) -> dict:
    from retrieval import Engine, Settings

    imported = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-ours-") as tmp:
        engine = Engine(Settings(source_dir=SEEDS, index_dir=Path(tmp) / "index",
                                 backend=backend))
        engine.embedder  # noqa: B018 - model load, inside the cold build clock
        loaded = time.perf_counter()
        report = engine.update_index(rebuild=True)
        built = time.perf_counter()
        questions = dev_questions()
        texts = [q["question"] for q in (questions[:20] if quick else questions)]
        search = _timed_queries(lambda q: engine.search(q, K), texts, repeats)
        results = [{"id": q["id"], "answer": "", "abstained": True, "citations": [],
                    "passages": [p.to_dict() for p in engine.search(q["question"], K)]}
                   for q in questions]
        out = {
            "pipeline": f"ours ({backend})",
            **_build_times(imported, loaded, built),
            "chunks": report.chunks_total,
            "search": search,
            **_quality(results, questions),
        }
        if hasattr(engine, "ask"):
            out["ask"] = _timed_queries(engine.ask, texts, max(1, repeats // 2))
            answers = [engine.ask(q["question"]).to_dict(q["id"]) for q in questions]
            out["ask_quality"] = _quality(answers, questions)
            out["answerer"] = engine.settings.answerer  # the library's default
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def langchain(repeats: int, quick: bool) -> dict:
    """The LangChain RAG tutorial's indexing and retrieval, on the same files and model."""
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from retrieval.embed.embedder import bundled_model_path

    imported = time.perf_counter()
    embeddings = HuggingFaceEmbeddings(model_name=str(bundled_model_path()),
                                       model_kwargs={"device": "cpu"})
    loaded = time.perf_counter()
    docs = [Document(page_content=p.read_text(encoding="utf-8"), metadata={"source": p.name})
            for p in sorted(SEEDS.iterdir()) if p.is_file()]
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200,
                                            add_start_index=True).split_documents(docs)
    store = FAISS.from_documents(splits, embeddings)
    built = time.perf_counter()
    questions = dev_questions()
    texts = [q["question"] for q in (questions[:20] if quick else questions)]
    search = _timed_queries(lambda q: store.similarity_search(q, k=K), texts, repeats)
    results = [{"id": q["id"], "answer": "", "abstained": True, "citations": [],
                "passages": [{"text": d.page_content}
                             for d in store.similarity_search(q["question"], k=K)]}
               for q in questions]
    return {
        "pipeline": "LangChain tutorial",
        **_build_times(imported, loaded, built),
        "chunks": len(splits),
        "search": search,
        **_quality(results, questions),
        "peak_rss_mb": peak_rss_mb(),
    }


def embed(repeats: int, quick: bool) -> dict:
    """Throughput on the seed chunks: plain sentence-transformers torch fp32 vs our backends."""
    from sentence_transformers import SentenceTransformer

    from retrieval.config import ChunkerSettings
    from retrieval.embed.embedder import SentenceTransformerEmbedder, bundled_model_path
    from retrieval.ingest.chunk import Chunker
    from retrieval.ingest.load import load_folder

    chunker = Chunker(ChunkerSettings())
    texts = [c.with_title for f in load_folder(SEEDS).files for d in f.documents
             for c in chunker.chunk(d)]
    # every 4th chunk (8th when quick): the same length mix; four contenders x three passes
    texts = texts[::8] if quick else texts[::4]
    plain = SentenceTransformer(str(bundled_model_path()), device="cpu", local_files_only=True)
    contenders = {
        "sentence-transformers torch fp32 (plain encode)":
            lambda: plain.encode(texts, batch_size=32, normalize_embeddings=True),
        "ours torch fp32 (length-sorted batches)":
            SentenceTransformerEmbedder(backend="torch").embed,
        "ours onnx fp32, fused graph (length-sorted batches)":
            SentenceTransformerEmbedder(backend="onnx-fp32").embed,
        "ours onnx int8 (length-sorted batches)":
            SentenceTransformerEmbedder(backend="onnx").embed,
    }
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for name, fn in contenders.items():  # warm-up
        fn(texts[:32]) if name.startswith("ours") else plain.encode(texts[:32])
    for _ in range(repeats):  # interleaved, so contention hits every contender alike
        for name, fn in contenders.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            fn(texts) if name.startswith("ours") else fn()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
    plain_name = "sentence-transformers torch fp32 (plain encode)"
    ceiling = gemm_ceiling(model_flops(plain, texts), median(wall[plain_name]))
    base = median(wall[plain_name])
    base_cpu = median(cpu["sentence-transformers torch fp32 (plain encode)"])
    rows = {name: {"texts_per_s": round(len(texts) / median(wall[name]), 1),
                   "speedup": round(base / median(wall[name]), 2),
                   "texts_per_cpu_s": round(len(texts) / median(cpu[name]), 1),
                   "cpu_speedup": round(base_cpu / median(cpu[name]), 2)}
            for name in contenders}
    return {"texts": len(texts), "repeats": repeats, "threads": len(os.sched_getaffinity(0)),
            "rows": rows, "ceiling": ceiling}


def model_flops(model, texts: list[str]) -> float:
    """Multiply-adds x 2 of one forward pass over ``texts`` (no padding): the dense layers'
    weights for every token, plus attention's scores and weighted sum."""
    config = model[0].auto_model.config
    hidden, ffn, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    dense = 2 * (4 * hidden * hidden + 2 * hidden * ffn)  # Q, K, V, output; two FFN layers
    total = 0.0
    for text in texts:
        n = len(model.tokenizer(text, truncation=True, max_length=model.max_seq_length)
                ["input_ids"])
        total += layers * (n * dense + 2 * 2 * n * n * hidden)
    return total


def gemm_ceiling(flops: float, plain_seconds: float, rows: int = 8192) -> dict:
    """The int8 ceiling: ONNX Runtime's fp32 and int8 (dynamic, per channel, reduced range,
    as our recipe) matrix products at the model's own shapes, and what int8 saves on one
    layer's products (FLOP-weighted). Everything else (softmax, layer norms, GELU) stays fp32,
    so the int8 graph can't beat the fp32 graph by more than that."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    shapes = {"Q/K/V 384x1152": (384, 1152), "FFN in 384x1536": (384, 1536),
              "FFN out 1536x384": (1536, 384), "attention out 384x384": (384, 384)}
    rng = np.random.default_rng(0)
    out: dict = {"plain_gflop_s": round(flops / plain_seconds / 1e9, 1), "shapes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (k, n) in shapes.items():
            weight = numpy_helper.from_array((rng.standard_normal((k, n)) * 0.05)
                                             .astype(np.float32), "W")
            graph = helper.make_graph(
                [helper.make_node("MatMul", ["A", "W"], ["Y"])], "gemm",
                [helper.make_tensor_value_info("A", TensorProto.FLOAT, [None, k])],
                [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, n])], [weight])
            fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
            onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
                      str(fp32))
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8,
                             per_channel=True, reduce_range=True)
            data = rng.standard_normal((rows, k)).astype(np.float32)
            rates = {}
            for name, file in (("fp32", fp32), ("int8", int8)):
                options = ort.SessionOptions()
                options.intra_op_num_threads = len(os.sched_getaffinity(0))
                session = ort.InferenceSession(str(file), options,
                                               providers=["CPUExecutionProvider"])
                session.run(None, {"A": data})
                best = min(_seconds(session.run, None, {"A": data}) for _ in range(5))
                rates[name] = round(2 * rows * k * n / best / 1e9, 1)
            out["shapes"][label] = rates
    # every layer runs each shape once per token: time is FLOPs / rate, summed over shapes
    fp32_time = sum(k * n / out["shapes"][label]["fp32"] for label, (k, n) in shapes.items())
    int8_time = sum(k * n / out["shapes"][label]["int8"] for label, (k, n) in shapes.items())
    out["layer_gemm_speedup"] = round(fp32_time / int8_time, 2)
    return out


def _seconds(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["ours", "langchain", "embed"])
    parser.add_argument("--backend", default="onnx")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.mode == "ours":
        result = ours(args.backend, args.repeats, args.quick)
    elif args.mode == "langchain":
        result = langchain(args.repeats, args.quick)
    else:
        result = embed(args.repeats, args.quick)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
