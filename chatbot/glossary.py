"""Plain-language definitions of the terms the sources use (chatbot/data/glossary.yaml). They are this tool's
own general definitions, never claims from the sources: every place that shows one marks it as a definition.

A question that asks what a term means ("what does adnexectomy mean?") gets the term's definition attached to
its answer when the cited sentences do not define the term themselves; the answer and its citations are
unchanged, so an abstention stays an abstention.

>>> g = Glossary.load()
>>> [e.term for e in g.terms_in("a bilateral salpingo-oophorectomy, then adnexectomy")]
['salpingo-oophorectomy', 'adnexectomy']
>>> g.asked("what does adnexectomy mean?").term
'adnexectomy'

An entry's `unless` names the phrases where a form has another sense: "recurrent syncope" is fainting again and
again, not the disease's return, so it is not defined as "recurrence".

>>> [e.term for e in g.terms_in("recurrent syncope; the recurrence rate")]
['syncope', 'recurrence']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property
from importlib.resources import files

import yaml

from chatbot.models import Answer, Definition


@dataclass(frozen=True)
class Entry:
    term: str
    match: tuple[str, ...]
    definition: str
    unless: tuple[str, ...] = ()  # phrases where a form is used in another sense

    def other_sense(self, text: str, start: int, end: int) -> bool:
        """True when text[start:end], a form of this term, lies inside one of the entry's `unless` phrases."""
        return any(
            u.start() <= start and end <= u.end()
            for phrase in self.unless
            for u in re.finditer(rf"(?i)(?<![\w-]){re.escape(phrase)}(?![\w-])", text)
        )


@dataclass(frozen=True)
class Glossary:
    entries: tuple[Entry, ...]

    @staticmethod
    @cache
    def load() -> Glossary:
        raw = yaml.safe_load(files("chatbot").joinpath("data/glossary.yaml").read_text(encoding="utf-8"))
        return Glossary(tuple(Entry(e["term"], tuple(e["match"]), e["definition"], tuple(e.get("unless", ()))) for e in raw))

    @cached_property
    def by_form(self) -> dict[str, Entry]:
        """Each form of a term, lower-cased, to its entry."""
        return {m.lower(): e for e in self.entries for m in e.match}

    @cached_property
    def pattern(self) -> re.Pattern:
        """Every form of every term, longest first, so "salpingo-oophorectomy" is not read as "oophorectomy"."""
        forms = sorted({m for e in self.entries for m in e.match}, key=len, reverse=True)
        return re.compile(r"(?i)(?<![\w-])(?:" + "|".join(re.escape(f) for f in forms) + r")(?![\w-])")

    def terms_in(self, text: str) -> list[Entry]:
        """The entries whose forms occur in `text` in the entry's sense, each once, in order of first appearance."""
        found = ((self.by_form[m.group(0).lower()], m) for m in self.pattern.finditer(text))
        return list(dict.fromkeys(e for e, m in found if not e.other_sense(text, m.start(), m.end())))

    def asked(self, question: str) -> Entry | None:
        """The term a definition question asks about ("what does X mean?", "what's a X", "define X"), if it is
        in the glossary and the question is about the term itself, not a longer phrase it begins."""
        q = " ".join(question.split())
        for m in self.pattern.finditer(q):
            before, after = q[: m.start()], q[m.end() :]
            if ASKS_MEANING.search(before + " TERM " + after) and not FOLLOWED.match(after):
                return self.by_form[m.group(0).lower()]
        return None

    def define(self, answer: Answer) -> Answer:
        """The answer with the glossary's definition attached when it asks what a term means and the cited
        sentences do not define that term."""
        entry = self.asked(answer.question)
        if entry is None or any(_defines(entry, s) for s in answer.sentences):
            return answer
        return answer.model_copy(update={"definition": Definition(term=entry.term, text=entry.definition)})


# "what does TERM mean", "what's a TERM?", "define TERM", "meaning of TERM", "TERM meaning", "what is meant by TERM"
ASKS_MEANING = re.compile(
    r"(?i)^\W*(?:what|wh?at'?s|whats)\s+(?:does|do|is|are|'s)?\s*(?:an?|the)?\s*TERM\s*(?:mean|means|stand for|refer to)?\W*$"
    r"|\b(?:define|definition of|meaning of|what is meant by|explain the (?:word|term))\s+(?:an?|the)?\s*TERM\b"
    r"|\bTERM\s+(?:mean|means|meaning|stand for|refer to)\W*$"
)
# A term followed by another word of its phrase ("intravenous leiomyomatosis") is not the thing asked about.
FOLLOWED = re.compile(r"\s*[A-Za-z]{3,}(?<!mean)(?<!means)\b(?!\s*\?)")


def _defines(entry: Entry, sentence: str) -> bool:
    """"Adnexectomy is the removal of ...", "X (Y) refers to ...": a sentence that says what the term is."""
    forms = "|".join(re.escape(m) for m in entry.match)
    return re.search(rf"(?i)\b(?:{forms})\b(?:\s*\([^)]*\))?,?\s+(?:is|are|refers? to|means|describes)\s+(?:a|an|the)\b", sentence) is not None
