"""The answerer's interface, declared: what the CLI, the chat, the evals and the bench call, implemented by the
built-in answerer (answerer.py) and the LLM answerer (llm.py); and the one extension of the built-in answerer
the LLM answerer builds on (its ranked, decided passages and its support test)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from chatbot.models import Answer, Retrieval

if TYPE_CHECKING:  # answerer.py implements these protocols, so it cannot be imported at run time here
    from chatbot.answerer import Considered


@runtime_checkable
class AnswerService(Protocol):
    def answer(self, question: str, history: Iterable = ()) -> Answer:
        """The cited answer, or the abstention."""

    def stream(self, question: str, history: Iterable = ()) -> Iterator[str | Answer]:
        """Text while it is written (none for the built-in answerer), the Answer last."""

    def retrieve(self, question: str, history: Iterable = ()) -> Retrieval:
        """The query searched for this question and the chunks found (the evals score these)."""

    def chunks(self) -> list[Document]:
        """Every chunk of the index in service."""

    def clear_cache(self) -> None:
        """Forget cached question vectors and sentences (the bench starts each round cold)."""

    @property
    def encoder(self) -> Embeddings:
        """What embeds questions."""

    @property
    def coverage(self) -> str:
        """What the index's sources cover, said when an answer abstains."""


@runtime_checkable
class RankedPassages(AnswerService, Protocol):
    """The built-in answerer's extension the LLM answerer uses: one decision on the same ranked passages."""

    def consider(self, question: str, history: Iterable = ()) -> Considered:
        """Candidates ranked best first, P(answerable) and the abstention decision."""

    def supports(self, claim: str, quote: str) -> bool:
        """Does the quote support this claim (verbatim, or a calibrated paraphrase)?"""
