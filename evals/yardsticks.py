"""Simple answerers to read every product figure against, run as eval variants on the product's own index:
`top-chunk` (the plain RAG answer: the first retrieved chunk, quoted whole) and `top-sentences` (the k
best-scored sentences, cited, never abstaining). Both have the answerer's `answer`/`retrieve`/`explain` surface."""

from __future__ import annotations

import time
from collections.abc import Iterable

from langchain_core.documents import Document

from chatbot.answerer import explained
from chatbot.models import Answer, Retrieval, citation_from_chunk
from chatbot.render import escape_markdown
from chatbot.service import Explained, RankedPassages
from chatbot.validator import Claim, Draft, validate


def chunk_answer(question: str, chunk: Document) -> Answer:
    """A whole chunk as the answer, cited to itself (what a plain RAG pipeline shows)."""
    citation = citation_from_chunk(1, chunk.metadata, chunk.page_content)
    return Answer(question=question, answer=f"{escape_markdown(chunk.page_content)} [1]", abstained=False,
                  citations=[citation], sentences=[chunk.page_content])  # fmt: skip


class TopChunk:
    def __init__(self, answerer: RankedPassages):
        self.answerer = answerer

    def retrieve(self, question: str, history: Iterable = ()) -> Retrieval:
        return self.answerer.retrieve(question, history)

    def answer(self, question: str, history: Iterable = ()) -> Answer:
        return self.explain(question, history).answer

    def explain(self, question: str, history: Iterable = ()) -> Explained:
        started = time.perf_counter()
        found = self.retrieve(question, history)
        answer = chunk_answer(found.question, found.ranked[0])
        answer.seconds = round(time.perf_counter() - started, 4)
        return Explained(answer, found)


class TopSentences:
    def __init__(self, answerer: RankedPassages, k: int = 4):
        self.answerer = answerer
        self.k = k

    def retrieve(self, question: str, history: Iterable = ()) -> Retrieval:
        return self.answerer.retrieve(question, history)

    def answer(self, question: str, history: Iterable = ()) -> Answer:
        return self.explain(question, history).answer

    def explain(self, question: str, history: Iterable = ()) -> Explained:
        started = time.perf_counter()
        c = self.answerer.consider(question, history)
        best = c.candidates[: self.k]
        citations = {n: citation_from_chunk(n, s.chunk.metadata, s.text, s.start, s.end) for n, s in enumerate(best, 1)}
        claims = [Claim(s.text, [n]) for n, s in enumerate(best, 1)]
        passages = {ch.metadata["chunk_id"]: ch.page_content for ch in c.retrieval.chunks}
        answer = validate(Draft(c.retrieval.question, claims, citations), passages, covered=self.answerer.coverage)
        answer.seconds = round(time.perf_counter() - started, 4)
        return explained(answer, c, None)  # never abstains: no cut
