"""Search: hybrid dense + keyword retrieval over an index snapshot, and its LangChain retriever."""
