"""ONNX Runtime backend: the bundled sentence-transformers model, int8-quantised, exported here.

The first load exports the model folder to ONNX (``torch.onnx.export``, eager attention so
that the graph can be fused), fuses it with ONNX Runtime's transformer optimizer (one
EmbedLayerNormalization, fused Attention, BiasGelu and SkipLayerNormalization per layer), keeps
that fp32 graph (variant ``fp32``: the torch vectors to within 2e-4, and faster) and
quantises its MatMul and fused Attention weights to int8 per channel
(``onnxruntime.quantization.quantize_dynamic``; variant ``int8``, the default backend). Both
land in a cache folder outside the repository (``~/.cache/retrieval/onnx/`` or
``$RETRIEVAL_CACHE_DIR/onnx/``), keyed by the model's
fingerprint and the recipe version. Later loads read the cached files: no torch import,
nothing downloaded, ever.

The encoder mirrors the part of ``SentenceTransformer`` that ``SentenceTransformerEmbedder``
uses: ``encode``, ``tokenizer``, ``max_seq_length`` and ``get_embedding_dimension``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..config import locations
from ..errors import ConfigError
from ..ingest.load import sha256_file
from ..once import folder_lock

EXPORT_VERSION = 3  # bump when the export, fusion or quantisation recipe changes
MODEL_FILE = "model-int8.onnx"
FP32_FILE = "model-fp32-fused.onnx"
VARIANTS = {"int8": MODEL_FILE, "fp32": FP32_FILE}
META_FILE = "export.json"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cache_root() -> Path:
    """``$RETRIEVAL_CACHE_DIR`` or ``~/.cache/retrieval``: never inside the repository."""
    return locations().cache_dir


def _fingerprint(path: Path) -> str:
    from .embedder import model_fingerprint

    return model_fingerprint(path)


def _valid_export(folder: Path, fingerprint: str) -> bool:
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return False
    sums = meta.get("sha256")
    return (meta.get("fingerprint") == fingerprint and meta.get("version") == EXPORT_VERSION
            and isinstance(sums, dict)
            and all((folder / f).is_file() and sums.get(f) == sha256_file(folder / f)
                    for f in VARIANTS.values()))


def exported_model_path(model_dir: Path, cache: Path | None = None,
                        variant: str = "int8") -> Path:
    """The ONNX file of ``variant`` (int8 or fp32) for ``model_dir``, exported on first use."""
    if variant not in VARIANTS:
        raise ConfigError(f"ONNX variant must be int8 or fp32. Currently, variant is {variant}")
    fingerprint = _fingerprint(model_dir)
    folder = (cache or cache_root()) / "onnx" / f"{fingerprint}-v{EXPORT_VERSION}"
    if _valid_export(folder, fingerprint):
        return folder / VARIANTS[variant]
    with folder_lock(folder.parent):
        if not _valid_export(folder, fingerprint):
            _export(model_dir, folder, fingerprint)
    return folder / VARIANTS[variant]


def _export(model_dir: Path, folder: Path, fingerprint: str) -> None:
    """Export fp32 ONNX, fuse it, quantise to int8, then move the finished folder into place."""
    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir(parents=True)
    try:
        _export_fp32(model_dir, tmp / "model-fp32.onnx")
        _fuse(model_dir, tmp / "model-fp32.onnx", tmp / FP32_FILE)
        (tmp / "model-fp32.onnx").unlink()
        _quantise(tmp / FP32_FILE, tmp / MODEL_FILE)
        meta = {"fingerprint": fingerprint, "version": EXPORT_VERSION,
                "source": str(model_dir),
                "sha256": {f: sha256_file(tmp / f) for f in VARIANTS.values()}}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _export_fp32(model_dir: Path, target: Path) -> None:
    try:
        import torch
        from transformers import AutoModel, AutoTokenizer
    except ImportError:  # pragma: no cover - torch is a core dependency
        raise ConfigError("exporting the ONNX model needs torch and transformers; run "
                          "`make install`") from None

    class _LastHidden(torch.nn.Module):
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    # Eager attention exports as plain MatMul/Softmax, which the optimizer fuses into one
    # Attention op; the SDPA export does not match its patterns.
    model = _LastHidden(AutoModel.from_pretrained(str(model_dir), local_files_only=True,
                                                  attn_implementation="eager")).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    sample = tokenizer(["a short text", "a somewhat longer text to give the batch padding"],
                       padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
    with torch.no_grad():
        torch.onnx.export(model, tuple(sample[n] for n in _INPUTS), str(target),
                          input_names=list(_INPUTS), output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)


def _fuse(model_dir: Path, source: Path, target: Path) -> None:
    """ONNX Runtime's BERT fusions: embeddings + LayerNorm, attention, bias + GELU, skip +
    LayerNorm. The arithmetic is the same (fp32); fewer, larger kernels run faster."""
    from onnxruntime.transformers import optimizer

    config = _read_json(model_dir / "config.json")
    model = optimizer.optimize_model(
        str(source), model_type="bert", num_heads=int(config.get("num_attention_heads", 12)),
        hidden_size=int(config.get("hidden_size", 384)), opt_level=1, use_gpu=False)
    model.save_model_to_file(str(target))


def _quantise(source: Path, target: Path,
              op_types: Sequence[str] = ("MatMul", "Attention")) -> None:
    """Dynamic int8 quantisation of the MatMul and fused Attention weights, per channel,
    reduced range.

    Reduced range (7-bit weights) avoids the u8*s8 overflow of AVX2 without VNNI; the word
    embedding table stays fp32. Recipe 3 quantises the attention's Q/K/V projections too
    (QAttention), which recipe 2 left fp32: faster, with the same retrieval and answer quality
    (docs/experiments.md).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8,
                     op_types_to_quantize=list(op_types), per_channel=True,
                     reduce_range=True,
                     # fused ops have no shape inference: their outputs are fp32
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


class _Tokenizer:
    """``tokenizer(text, add_special_tokens=True)["input_ids"]``, as transformers has it."""

    def __init__(self, model_dir: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        file = model_dir / "tokenizer.json"
        if not file.is_file():
            raise ConfigError(f"{model_dir} has no tokenizer.json; the ONNX backend needs a "
                              "fast tokenizer, use backend torch for this model")
        self.raw = Tokenizer.from_file(str(file))
        self.raw.no_padding()
        self.raw.no_truncation()
        self.batch = Tokenizer.from_file(str(file))
        self.batch.enable_truncation(max_length)
        self.batch.enable_padding(pad_id=self.raw.token_to_id("[PAD]") or 0, pad_token="[PAD]")

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        encoding = self.raw.encode(text, add_special_tokens=add_special_tokens)
        return {"input_ids": encoding.ids, "attention_mask": encoding.attention_mask}

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, special tokens included, before truncation."""
        return [len(e.ids) for e in self.raw.encode_batch(list(texts))]

    def encode_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        encodings = self.batch.encode_batch(list(texts))
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


class OnnxSentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings from an ONNX Runtime session."""

    def __init__(self, model_dir: Path, onnx_file: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        pooling = _read_json(model_dir / "1_Pooling" / "config.json")
        if pooling and not pooling.get("pooling_mode_mean_tokens", False):
            raise ConfigError(f"{model_dir} does not use mean pooling; the ONNX backend only "
                              "supports mean pooling, use backend torch for this model")
        config = _read_json(model_dir / "sentence_bert_config.json")
        self.max_seq_length = int(config.get("max_seq_length", 256))
        self.tokenizer = _Tokenizer(model_dir, self.max_seq_length)
        # One thread per run, one run per core at a time: each batch is split between the
        # cores and the parts run side by side. That is faster than one run on two threads,
        # whose threads wait for each other at every operation, and a two-text query runs
        # each text on its own core.
        self.workers = threads or len(os.sched_getaffinity(0))
        self._pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        # Busy-waiting threads steal CPU from everything else on a shared machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_file), options,
                                            providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self.session.get_inputs()]
        self._dim = int(self.session.get_outputs()[0].shape[-1])

    def get_embedding_dimension(self) -> int:
        return self._dim

    def encode(self, sentences: Sequence[str], batch_size: int = 32,
               normalize_embeddings: bool = True, convert_to_numpy: bool = True,
               show_progress_bar: bool = False) -> np.ndarray:
        out = np.zeros((len(sentences), self._dim), dtype=np.float32)
        for begin in range(0, len(sentences), max(1, batch_size)):
            out[begin:begin + batch_size] = self._encode_split(
                sentences[begin:begin + batch_size])
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def _encode_split(self, texts: Sequence[str]) -> np.ndarray:
        """One batch, split into a part per worker that run at the same time (ONNX Runtime
        releases the GIL and a session may run from several threads)."""
        if self._pool is None or len(texts) < 2:
            return self._encode_batch(texts)
        n = min(self.workers, len(texts))
        parts = [np.arange(w, len(texts), n) for w in range(n)]  # dealt out: equal lengths
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        done = self._pool.map(lambda part: self._encode_batch([texts[i] for i in part]), parts)
        for part, vectors in zip(parts, done):
            out[part] = vectors
        return out

    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        batch = self.tokenizer.encode_batch(texts)
        hidden = self.session.run(None, {name: batch[name] for name in self._inputs})[0]
        mask = batch["attention_mask"][..., None].astype(np.float32)
        return (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)


def load_onnx_model(path: Path | str, threads: int | None = None,
                    cache: Path | None = None, variant: str = "int8") -> OnnxSentenceEncoder:
    """An ONNX Runtime encoder (``variant`` int8 or fused fp32) for the folder ``path``."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ConfigError("backend onnx needs onnxruntime; run `make install` or set "
                          "RETRIEVAL_BACKEND=torch") from None
    model_dir = Path(path)
    if not (model_dir / "config.json").is_file():
        raise ConfigError(f"{model_dir} is not a sentence-transformers folder (no config.json); "
                          "pass the model folder")
    return OnnxSentenceEncoder(model_dir, exported_model_path(model_dir, cache, variant),
                               threads)
