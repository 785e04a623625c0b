"""What a question asks for, read from its words with the lexicon's patterns (chatbot/data/lexicon.yaml):
the kinds of answer it wants (a quantity, a definition, yes or no, ...), whether it asks about the reported
case or about a source itself, and its parts. The sentence ranker and abstention take these as features, and
a question about a source is answered only from the sources' own dating, authorship and licence lines.

>>> a = analyse("pt's age at dx and what was she given?")
>>> sorted(a.kinds), a.about_case, a.about_sources, len(a.parts)
(['quantity'], True, False, 2)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from chatbot.text import WORD, clean, lexicon_data

KINDS = ("quantity", "definition", "yes_no", "why", "comparison", "list")


@dataclass(frozen=True)
class Analysis:
    kinds: frozenset[str]
    about_case: bool
    about_sources: bool
    parts: tuple[str, ...]  # the question's own words, one entry per thing it asks


@cache
def _patterns() -> dict[str, re.Pattern]:
    data = lexicon_data()
    out = {k: re.compile(p) for k, p in data["question_kinds"].items()}
    for key in ("case_cues", "source_strong", "source_weak", "source_names", "part_breaks"):
        out[key] = re.compile(data[key])
    return out


def _plain(text: str) -> str:
    """Lower-cased words joined by single spaces ("Pt's age?" -> "pt s age"), % kept: what the patterns read."""
    return " ".join(WORD.findall(clean(text).lower().replace("%", " % ")) + (["%"] if "%" in text else []))


def analyse(question: str) -> Analysis:
    p = _patterns()
    words = _plain(question)
    parts = [x.strip() for x in p["part_breaks"].split(clean(question).lower()) if x and WORD.search(x)]
    parts = [x for x in parts if len(WORD.findall(x)) >= 2 and x not in KINDS and not re.fullmatch(r"[a-z]+", x)]
    kinds = frozenset(k for k in KINDS if any(p[k].search(_plain(part)) for part in parts or [words]))
    about_case = bool(p["case_cues"].search(words))
    # "how old was the patient in the case report" asks about the case; "how old is the GARD info" does not
    about_sources = bool(p["source_strong"].search(words)) or bool(
        not about_case and p["source_weak"].search(words) and p["source_names"].search(words)
    )
    return Analysis(kinds, about_case, about_sources, tuple(parts) or (words,))
