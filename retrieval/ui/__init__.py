"""User interfaces other than the page: the CLI, safe rendering of document text, and Markdown
export.
"""
