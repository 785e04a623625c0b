"""The Study tab's questions and the reading of a student's answer.

An item is offered only when Ask answers it right today: the question as the tab shows it, asked the way the Ask
tab asks it (a fresh conversation; `answer` is what the Ask tab's `stream` ends with, on either answerer), must get a cited answer that passes the eval's check
(its vital facts, from an expected source). A key that the cited answer under it contradicts would teach the wrong
thing, and a question Study offers must not be refused in Ask. A student's answer is read by evals/student.py:
per key fact "stated", "missed" or "wrong" (with the value the sources give).
"""

from __future__ import annotations

from dataclasses import dataclass

from chatbot.models import Answer
from evals.checks import check
from evals.labelled import Item, load_items
from evals.student import Reader, Reading, encoder, load_fit
from evals.suite import index_chunks


@dataclass(frozen=True)
class StudyItem:
    item: Item
    answer: Answer


def study_items(answerer) -> dict[str, StudyItem]:
    """The `study: true` tune items Ask answers right today, by question, with that answer."""
    chunks = index_chunks(answerer)
    offered = {}
    for item in load_items("tune"):
        if not item.study:
            continue
        answer = answerer.answer(item.question, [])  # what Ask's stream ends with, on either answerer
        if answer.citations and check(item, answer, chunks).passed:
            offered[item.question] = StudyItem(item, answer)
    return offered


class Study:
    """The offered items and the reader of students' answers, with the answerer's encoder and the fitted cut."""

    def __init__(self, answerer):
        self.offered = study_items(answerer)
        self.fit = load_fit()
        self.reader = Reader([s.item for s in self.offered.values()], encoder(answerer.encoder))

    def read(self, item: Item, attempt: str) -> list[Reading]:
        """Each vital fact of the item, in order, as the answer states, misses or contradicts it."""
        readings = self.reader.read(item, attempt, self.fit)
        return [readings[i] for i in sorted(readings)]
