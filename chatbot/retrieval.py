"""Hybrid retrieval as a LangChain retriever: Chroma (dense) and BM25 (lexical), fused by weighted RRF.

LangChain's EnsembleRetriever does the fusion; the two retrievers under it are small because each
needs something the stock ones lack: the dense one reuses the query vector the answerer also needs,
and the lexical one runs on bm25s with the lexicon's spellings and stemming.
"""

from __future__ import annotations

import bm25s
from langchain_classic.retrievers import EnsembleRetriever
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from chatbot.nearest import best_rows
from chatbot.text import Lexicon


def to_document(chunk_id: str, text: str, meta: dict) -> Document:
    return Document(id=chunk_id, page_content=text, metadata=dict(meta))


class DenseRetriever(BaseRetriever):
    """Cosine search over the chunks (chatbot/nearest.py: exact for an index of ordinary size)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    nearest: object  # chatbot.nearest.Nearest over the chunks searched
    docs: dict[str, Document]  # those chunks by id
    embeddings: object
    k: int = 8

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        vector = self.embeddings.embed_query(Lexicon.load().expand(query))
        return [self.docs[i] for i in self.nearest(vector, self.k) if i in self.docs]


class BM25Retriever(BaseRetriever):
    """BM25 over the same chunks, on the lexicon's terms."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    docs: list[Document]
    index: object
    k: int = 8

    @classmethod
    def from_documents(cls, docs: list[Document], k: int = 8) -> BM25Retriever:
        lexicon = Lexicon.load()
        index = bm25s.BM25()
        index.index([lexicon.terms(d.page_content, expand=False) or ["_"] for d in docs], show_progress=False)
        return cls(docs=docs, index=index, k=k)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        terms = [t for t in Lexicon.load().terms(query) if t in self.index.vocab_dict]
        if not terms:
            return []
        scores = self.index.get_scores(terms)
        return [self.docs[i] for i in best_rows(scores, self.k) if scores[i] > 0]  # ties: docs are in id order


def hybrid(nearest, embeddings, docs: list[Document], k_dense: int, k_bm25: int, weights, rrf_c: int):
    """docs: the chunks both retrievers search, in id order; nearest: the dense search over the same chunks.
    The fusion sorts stably, so equal fused scores keep the dense ranking's order, then BM25's."""
    dense = DenseRetriever(nearest=nearest, docs={d.id: d for d in docs}, embeddings=embeddings, k=k_dense)
    return EnsembleRetriever(
        retrievers=[dense, BM25Retriever.from_documents(docs, k_bm25)],
        weights=list(weights),
        c=rrf_c,
        id_key="chunk_id",
    )
