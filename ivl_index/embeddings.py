"""sentence-transformers behind LangChain's Embeddings interface, loaded without network."""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from langchain_core.embeddings import Embeddings

from ivl_index.errors import EncoderError
from ivl_index.model_files import resolve_model


class QueryCache(Embeddings):
    """Retrieval and sentence scoring embed the same question; a small cache makes that one model call."""

    def __init__(self) -> None:
        self._queries: dict[str, list[float]] = {}

    @abstractmethod
    def embed_uncached(self, text: str) -> list[float]:
        """The question's vector computed afresh (the bench times encoders without the cache)."""

    def embed_query(self, text: str) -> list[float]:
        if text not in self._queries:
            if len(self._queries) >= 256:
                self._queries.pop(next(iter(self._queries)))
            self._queries[text] = self.embed_uncached(text)
        return self._queries[text]

    def clear_cache(self) -> None:
        self._queries.clear()


class ModelEmbeddings(QueryCache):
    """HuggingFaceEmbeddings plus what ingest needs beside it: the tokenizer, and a count of texts embedded
    (so "unchanged re-ingest embeds nothing" is a number the user sees, not a promise)."""

    def __init__(self, name: str, batch_size: int = 32):
        super().__init__()
        # Offline unless the user says otherwise: nothing here may reach a model hub at run time.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        # lazy: these import torch and transformers (seconds); answering embeds questions with the ONNX copy
        from langchain_huggingface import HuggingFaceEmbeddings
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # chunking measures over-long spans on purpose; the length warning is noise
        hf_logging.disable_progress_bar()

        self.name = name
        try:
            self._inner = HuggingFaceEmbeddings(
                model_name=resolve_model(name),
                model_kwargs={"device": "cpu"},
                encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
            )
        except Exception as err:  # noqa: BLE001 -- hub, OS and format errors all mean "this model cannot be loaded"
            raise EncoderError(
                f"cannot load embedding model {name!r} ({type(err).__name__}); set IVL_EMBEDDING_MODEL to a "
                "local sentence-transformers folder or a model in your Hugging Face cache, or unset it for the "
                "built-in all-MiniLM-L6-v2"
            ) from None
        # LangChain keeps the SentenceTransformer private; chunking must count with this exact tokenizer.
        self.model = self._inner._client
        self.embedded = 0
        self._seen: dict[str, np.ndarray] | None = None  # text -> vector, inside each_text_once

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    @property
    def dimension(self) -> int:
        get = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get())

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    @contextmanager
    def each_text_once(self) -> Iterator[None]:
        """Within it, a text already embedded is not embedded again: ingest embeds chunks, then their sentences,
        and a sentence that is a whole chunk (a long line cut in pieces makes hundreds) was embedded twice."""
        self._seen = {}
        try:
            yield
        finally:
            self._seen = None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Each distinct text embedded once (and once only within `each_text_once`)."""
        seen = {} if self._seen is None else self._seen
        new = [t for t in dict.fromkeys(texts) if t not in seen]
        self.embedded += len(new)
        seen.update(zip(new, (np.asarray(v, dtype=np.float32) for v in self._inner.embed_documents(new))))
        return [seen[t].tolist() for t in texts]

    def embed_uncached(self, text: str) -> list[float]:
        return self._inner.embed_query(text)
