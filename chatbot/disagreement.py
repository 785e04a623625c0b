"""Where two sources give different figures for the same thing, show both: a sentence from another source with
another figure for the same quantity of the same thing joins the answer, and the answer says the sources
differ. "The same thing" is read from the words around the figure: "~800 cases documented" and "about 200
cases reported" share "cases" and the question's subject; "a median age of 45 years" and "followed up for 2
years" share only the unit, and are not a disagreement.

>>> like(("45", "years", frozenset({"median", "age"})), ("40", "years", frozenset({"age", "diagnosi"})))
True
>>> like(("45", "years", frozenset({"median", "age"})), ("2", "years", frozenset({"follow"})))
False
"""

from __future__ import annotations

import re
from functools import cache

from chatbot.scoring import Candidate
from chatbot.text import Lexicon

QUANTITY = re.compile(r"(\d+(?:\.\d+)?)\s*(%|cases|years|months|weeks|days|mm|cm|mg)\b")
CONTEXT = 5  # words either side of a figure that say what it counts

Figure = tuple[str, str, frozenset[str]]  # value, unit, stems around it


@cache
def figures(text: str) -> tuple[Figure, ...]:
    lex = Lexicon.load()
    out = []
    for m in QUANTITY.finditer(text):
        around = " ".join(text[: m.start()].split()[-CONTEXT:] + text[m.end() :].split()[:CONTEXT])
        unit = set(lex.terms(m.group(2), expand=False))
        stems = frozenset(t for t in lex.terms(around, expand=False) if not t.isdigit()) - unit - set(lex.topic)
        out.append((m.group(1), m.group(2), stems))
    return tuple(out)


def like(a: Figure, b: Figure) -> bool:
    """The same quantity of the same thing: same unit, different value, and a word in common around them."""
    return a[1] == b[1] and a[0] != b[0] and bool(a[2] & b[2])


def disagreements(chosen: list[Candidate], cands: list[Candidate], threshold: float) -> list[Candidate]:
    """Sentences from another source giving another figure for the same quantity of the same thing."""
    extra = []
    for sentence in chosen:
        for fig in figures(sentence.text):
            for other in cands:
                if other in chosen or other in extra or other.source_id == sentence.source_id:
                    continue
                if other.overlap < sentence.overlap * 0.8 or other.score < threshold:
                    continue
                if any(like(fig, f) for f in figures(other.text)):
                    extra.append(other)
                    break
    return extra


def differ(chosen: list[Candidate]) -> bool:
    """Do two sentences from different sources give different figures for the same thing?"""
    figs = [(c.source_id, f) for c in chosen for f in figures(c.text)]
    return any(s1 != s2 and like(f1, f2) for s1, f1 in figs for s2, f2 in figs)
