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

from chatbot.text import Lexicon


def to_document(chunk_id: str, text: str, meta: dict) -> Document:
    return Document(id=chunk_id, page_content=text, metadata=dict(meta))


class DenseRetriever(BaseRetriever):
    """Cosine search in the chunk collection."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    collection: object
    embeddings: object
    k: int = 8
    where: dict | None = None  # a Chroma metadata filter on the chunks searched

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        vector = self.embeddings.embed_query(Lexicon.load().expand(query))
        got = self.collection.query(
            query_embeddings=[vector], n_results=self.k, where=self.where, include=["documents", "metadatas"]
        )
        return [to_document(i, t, m) for i, t, m in zip(got["ids"][0], got["documents"][0], got["metadatas"][0])]


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
        k = min(self.k, len(self.docs))
        ids, scores = self.index.retrieve([terms], k=k, show_progress=False, n_threads=0)  # 0: no thread pool per call
        return [self.docs[i] for i, s in zip(ids[0], scores[0]) if s > 0]


def hybrid(
    collection, embeddings, docs: list[Document], k_dense: int, k_bm25: int, weights, rrf_c: int, where: dict | None
):
    """docs: the chunks BM25 searches; where: the same choice as a Chroma filter for the dense search."""
    dense = DenseRetriever(collection=collection, embeddings=embeddings, k=k_dense, where=where)
    return EnsembleRetriever(
        retrievers=[dense, BM25Retriever.from_documents(docs, k_bm25)],
        weights=list(weights),
        c=rrf_c,
        id_key="chunk_id",
    )
