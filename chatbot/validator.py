"""The one place citations are enforced. Every answer path ends here.

A claim survives only if it has at least one [n], every n resolves to a citation, every citation's
chunk was among the passages retrieved for this question, its quote stands verbatim in that chunk,
and the claim is supported by its own citation's quote. Whatever survives is renumbered and
rendered; when nothing survives, the answer abstains.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from chatbot.models import ABSTAIN, COVERAGE, NOT_ADVICE, SOURCES_DIFFER, Answer, Citation

Support = Callable[[str, str], bool]  # (claim, quote) -> does the quote support the claim?
NUMBER = re.compile(r"\d+(?:\.\d+)?")  # a paraphrase must keep its quote's numbers


def squash(text: str) -> str:
    return " ".join(text.split())


def verbatim(claim: str, quote: str) -> bool:
    """The extractive rule: the claim is the quote, or a part of it, word for word."""
    return bool(claim.strip()) and squash(claim) in squash(quote)


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


MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~]|^[-+](?= )|!(?=\[))")


def escape_markdown(text: str) -> str:
    """Source text shown literally: no emphasis, links, images or HTML from a quote, and no fake [n]."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", squash(text))


def abstention(question: str, seconds: float = 0.0) -> Answer:
    return Answer(question=question, answer=f"{ABSTAIN} {COVERAGE}", abstained=True, seconds=seconds)


def validate(draft: Draft, passages: dict[str, str], supports: Support = verbatim) -> Answer:
    """passages: chunk_id -> text of every chunk retrieved for this question."""
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
        return abstention(draft.question)
    renumber: dict[int, int] = {}
    for claim in kept:
        for n in claim.cites:
            renumber.setdefault(n, len(renumber) + 1)
    citations = [draft.citations[old].model_copy(update={"n": new}) for old, new in renumber.items()]
    by_n = {c.n: c for c in citations}
    sources = {by_n[renumber[n]].source_id for claim in kept for n in claim.cites}
    notices = [n for n in draft.notices if n != SOURCES_DIFFER or len(sources) > 1]
    lines = []
    for claim in kept:
        marks = "".join(f"[{renumber[n]}]" for n in claim.cites)
        lines.append((escape_markdown(claim.text), marks, by_n[renumber[claim.cites[0]]]))
    if SOURCES_DIFFER in notices:
        body = f"*{SOURCES_DIFFER}*\n\n" + "\n".join(
            f"- {text} {marks} — {escape_markdown(c.title)}, {c.date}" for text, marks, c in lines
        )
    else:
        body = " ".join(f"{text} {marks}" for text, marks, _ in lines)
    if NOT_ADVICE in notices:
        body += f"\n\n*{NOT_ADVICE}*"
    return Answer(
        question=draft.question,
        answer=body,
        abstained=False,
        citations=citations,
        notices=notices,
        sentences=[c.text for c in kept],
    )


MARKER = re.compile(r"(?<!\\)\[(\d+)\]")


def markers(markdown: str) -> list[int]:
    """The [n] markers in rendered Markdown (escaped brackets from quoted text are not markers)."""
    return [int(n) for n in MARKER.findall(markdown)]
