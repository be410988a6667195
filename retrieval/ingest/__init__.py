"""Ingest: read source files (text, Markdown, web pages, PDF, DOCX, JSONL) into documents of
numbered paragraphs, accept uploads, and cut paragraph-aligned chunks.
"""
