"""The engine's search behind LangChain's ``BaseRetriever`` interface.

Its own module so that the rest of the library does not import LangChain until it is used.
"""

from __future__ import annotations

from collections.abc import Callable

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from ..types import Passage
from .hybrid import HybridRetriever


class LangChainRetriever(BaseRetriever):
    """The hybrid retriever behind LangChain's ``BaseRetriever`` interface.

    ``search``: the function that ranks, ``(query, k, docs) -> passages``; ``Engine.as_retriever``
    passes ``Engine.search`` (with the sentence re-ranking). Without it, the first stage only.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: HybridRetriever
    k: int = 5
    docs: list[str] | None = None
    search: Callable[[str, int, list[str] | None], list[Passage]] | None = None

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        search = self.search or self.retriever.search
        return [
            LCDocument(page_content=p.text, metadata={k: v for k, v in p.to_dict().items()
                                                       if k != "text"})
            for p in search(query, self.k, self.docs)
        ]
