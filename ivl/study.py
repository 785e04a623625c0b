"""The Study tab's questions and the check of a student's answer.

An item is offered only when the product's own cited answer passes the eval's check for it (its vital facts,
from an expected source): a key that the cited answer under it contradicts would teach the wrong thing. A
student's answer is read with the same fact patterns the evals use, so "missed" means what it means there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chatbot.models import Answer
from evals.checks import check
from evals.labelled import Item, load_items
from evals.suite import index_chunks


@dataclass(frozen=True)
class StudyItem:
    item: Item
    answer: Answer


def study_items(answerer) -> dict[str, StudyItem]:
    """The `study: true` tune items whose cited answer holds their key facts, by question, with that answer."""
    chunks = index_chunks(answerer)
    offered = {}
    for item in load_items("tune"):
        if not item.study:
            continue
        answer = answerer.answer(item.question, item.history)
        if check(item, answer, chunks).passed:
            offered[item.question] = StudyItem(item, answer)
    return offered


def _normal(text: str) -> str:
    """British spellings and hyphens as the fact patterns expect them: "smooth-muscle tumour" -> "smooth muscle tumor"."""
    return re.sub(r"(?<=[a-z])our\b", "or", text.lower().replace("-", " "))


def missed_facts(item: Item, attempt: str) -> tuple[list[str], list[str]]:
    """(found, missed): the names of the item's key facts the student's answer states, and those it does not."""
    text = _normal(attempt)
    found, missed = [], []
    for fact in item.facts:
        if fact.vital:
            (found if fact.found_in(text) or fact.found_in(attempt) else missed).append(fact.label)
    return found, missed
