"""Where two sources give different figures, show both: a sentence from another source with another figure
for the same kind of quantity joins the answer, and the answer says the sources differ."""

from __future__ import annotations

import re

from chatbot.scoring import Candidate

QUANTITY = re.compile(r"(\d+(?:\.\d+)?)\s*(%|cases|years|months|weeks|days|mm|cm|mg)\b")


def disagreements(chosen: list[Candidate], cands: list[Candidate], threshold: float) -> list[Candidate]:
    """Sentences from another source giving another figure for the same kind of quantity."""
    extra = []
    for sentence in chosen:
        for value, unit in QUANTITY.findall(sentence.text):
            for other in cands:
                if other in chosen or other in extra or other.source_id == sentence.source_id:
                    continue
                if other.overlap < sentence.overlap * 0.8 or other.score < threshold:
                    continue
                if any(u == unit and v != value for v, u in QUANTITY.findall(other.text)):
                    extra.append(other)
                    break
    return extra


def differ(chosen: list[Candidate]) -> bool:
    """Do two sentences from different sources give different figures in the same unit?"""
    figures = [(c.source_id, u, v) for c in chosen for v, u in QUANTITY.findall(c.text)]
    return any(s1 != s2 and u1 == u2 and v1 != v2 for s1, u1, v1 in figures for s2, u2, v2 in figures)
