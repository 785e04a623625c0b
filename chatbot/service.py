"""The answerer's interface, declared: what the CLI, the chat, the evals and the bench call, implemented by the
built-in answerer (answerer.py) and the LLM answerer (llm.py); and the one extension of the built-in answerer
the LLM answerer builds on (its ranked, decided passages and its support test); and `Explains`, the answer with
the reasons for it, which the eval reports for every failing question."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
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


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk the answer could cite: its place in the fused ranking (1 = first; None: added beside a
    retrieved chunk, not ranked itself) and the best of its sentences by the matcher's cosine and by the ranker's
    probability (None: no candidate sentence in it)."""

    chunk_id: str
    source_id: str
    section: str
    rank: int | None
    similarity: float | None
    probability: float | None


@dataclass(frozen=True)
class RankedSentence:
    """A candidate sentence as the ranker saw it: P(it answers the question), its cosine and word overlap."""

    text: str
    chunk_id: str
    probability: float
    similarity: float
    overlap: float


@dataclass
class Explained:
    """An answer with the reasons for it, so a failing answer can be told apart as retrieval (the passages),
    ranking (the sentences) or abstention (P(answerable) against the cut)."""

    answer: Answer
    retrieval: Retrieval | None = None  # None: refused before any search (a question in another script)
    passages: list[Passage] = field(default_factory=list)
    ranked: list[RankedSentence] = field(default_factory=list)  # best first
    answerable: float | None = None  # P(the sources answer the question)
    answer_at: float | None = None  # the cut: the answer abstains below it

    def json(self) -> dict:
        """The reasons (not the answer) as plain JSON."""
        return {
            "query": self.retrieval.query if self.retrieval else None,
            "passages": [asdict(p) for p in self.passages],
            "ranked": [asdict(s) for s in self.ranked],
            "answerable": self.answerable,
            "answer_at": self.answer_at,
        }


@runtime_checkable
class Explains(Protocol):
    """An answerer that can say why it answered as it did (the built-in answerer and the eval's yardsticks)."""

    def explain(self, question: str, history: Iterable = ()) -> Explained:
        """The answer `answer` gives, with the retrieval, the ranked sentences and P(answerable) behind it."""
