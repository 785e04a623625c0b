"""The one place citations are enforced. Every answer path ends here.

A claim survives only if it has at least one [n], every n resolves to a citation, every citation's
chunk was among the passages retrieved for this question, its quote stands verbatim in that chunk,
and the claim is supported by its own citation's quote. Whatever survives is renumbered and
rendered; when nothing survives, the answer abstains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from chatbot.abstention import abstained
from chatbot.models import SOURCES_DIFFER, Answer, Citation
from chatbot.render import render
from chatbot.support import verbatim
from ivl_index.sentences import squash

Support = Callable[[str, str], bool]  # (claim, quote) -> does the quote support the claim? (chatbot/support.py)


@dataclass
class Claim:
    text: str
    cites: list[int]


@dataclass
class Draft:
    question: str
    claims: list[Claim]
    citations: dict[int, Citation]
    notices: list[str] = field(default_factory=list)


def validate(draft: Draft, passages: dict[str, str], supports: Support = verbatim, *, covered: str) -> Answer:
    """passages: chunk_id -> text of every chunk retrieved for this question; covered: what the sources cover,
    said when nothing survives (chatbot.models.coverage)."""
    kept: list[Claim] = []
    for claim in draft.claims:
        cites = [draft.citations.get(n) for n in claim.cites]
        if cites and all(
            c is not None
            and c.chunk_id in passages
            and squash(c.quote) in squash(passages[c.chunk_id])
            and supports(claim.text, c.quote)
            for c in cites
        ):
            kept.append(claim)
    if not kept:
        return abstained(draft.question, covered)
    renumber: dict[int, int] = {}
    for claim in kept:
        for n in claim.cites:
            renumber.setdefault(n, len(renumber) + 1)
    citations = {new: draft.citations[old].model_copy(update={"n": new}) for old, new in renumber.items()}
    sources = {citations[renumber[n]].source_id for claim in kept for n in claim.cites}
    notices = [n for n in draft.notices if n != SOURCES_DIFFER or len(sources) > 1]
    shown = [(claim.text, [renumber[n] for n in claim.cites]) for claim in kept]
    return Answer(
        question=draft.question,
        answer=render(shown, citations, notices),
        abstained=False,
        citations=list(citations.values()),
        notices=notices,
        sentences=[c.text for c in kept],
    )
