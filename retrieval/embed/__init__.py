"""Embed: the sentence-transformers model, and its int8 ONNX backend."""
