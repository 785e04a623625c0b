"""Questions that name a source ("according to GARD, ...", "what does the Zhou review say about ...", "in the
2026 case report, ..."): the name is matched against the documents the index holds, by what each document says
of itself (its id, title, authors or publisher and their acronyms, year, kind of evidence), so a case report
added tomorrow is found by its first author's name with no change here.

>>> docs = {"gard-ivl": {"title": "Intravenous leiomyomatosis", "by": "Genetic and Rare Diseases Information Center (GARD), NCATS, NIH", "date": "2013-11-01", "evidence": "government information page"},
...         "zhao-tian-2026": {"title": "IVL of the uterus: A case report", "by": "Yuzhen Zhao, Fei Tian", "date": "2026", "evidence": "case report"}}
>>> names = SourceNames(docs, {"ivl", "recurrence"})
>>> names.find("according to GARD, is it hereditary?")
Named(name='GARD', source_ids=('gard-ivl',))
>>> names.find("what does the Zhou 2019 review say about recurrence")
Named(name='Zhou', source_ids=())
>>> names.find("In IVL, what is the recurrence rate?") is None
True
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

# A reference to a source: "according to X", "what does/do X say/report/...", "X's", "X et al", "X (and Y) review".
KINDS = r"(?:case reports?|case series|reviews?|papers?|articles?|reports?|stud(?:y|ies)|series|pages?|websites?|guidelines?|trials?)"
NAME = r"(?P<name>[A-Z][\w'’-]+(?:\s+(?:and|&)\s+[A-Z][\w'’-]+)?)"
CUES = [
    re.compile(rf"\baccording to (?:the )?{NAME}"),
    re.compile(rf"\b(?:what|how) (?:does|do|did) (?:the )?{NAME}(?:'s)? (?:{KINDS} )?(?:say|says|report|state|recommend|suggest|find|describe|conclude)"),
    re.compile(rf"\b{NAME}(?:'s| et al\.?)"),
    re.compile(rf"\b(?:the|in|from) {NAME}(?: \(?(?:19|20)\d\d\)?)? {KINDS}\b"),
]
YEAR = re.compile(rf"\b(?P<year>(?:19|20)\d\d) {KINDS}\b")
KIND_ONLY = re.compile(r"\b(?:the|this|that) (?P<kind>case report|review|(?:gard |nih )?(?:web ?)?page|website)\b", re.IGNORECASE)
NOT_NAMES = {"What", "How", "Is", "Are", "Does", "Do", "The", "In", "And", "Can", "Why", "When", "Which", "Who", "Please"}


@dataclass(frozen=True)
class Named:
    """A name the question gives a source by, and the documents held that it names (none: a source not held)."""

    name: str
    source_ids: tuple[str, ...]


def keys(source_id: str, meta: dict) -> set[str]:
    """Lower-cased words a document may be named by: its id's parts, the capitalised words and acronyms of its
    authors or publisher (surnames, "GARD", "NIH"), its year."""
    out = {p for p in re.split(r"[-_ ]", source_id.lower()) if len(p) > 2 and not p.isdigit()}
    by = str(meta.get("by", ""))
    out |= {w.lower() for w in re.findall(r"\b[A-Z][A-Za-z'’-]+\b", by) if w not in {"And", "Of", "The", "For"}}
    out |= {w.lower() for w in re.findall(r"\b[A-Z]{2,}\b", by + " " + str(meta.get("title", "")))}
    year = re.match(r"(?:19|20)\d\d", str(meta.get("date", "")))
    return out | ({year.group()} if year else set())


class SourceNames:
    """The names the held documents answer to, worked out once per index version (knowledge.IndexView), so a
    question pays only for its own matching. topic_words: words the corpus itself uses ("IVL", "CT"), which are a
    topic and not a name unless a document is named by them."""

    def __init__(self, documents: dict[str, dict], topic_words: Collection[str]):
        self.documents = documents
        self.keys = {sid: keys(sid, meta) for sid, meta in documents.items()}
        self.topic_words = topic_words

    def find(self, question: str) -> Named | None:
        """The sources a question names and the held documents they match ("the GARD page and the 2026
        article": both); None when it names none. A name no held document answers to is reported only when the
        question names no held one."""
        found: list[Named] = []
        for cue in CUES:
            for m in cue.finditer(question):
                words = [w for w in re.split(r"\s+(?:and|&)\s+", m.group("name")) if w not in NOT_NAMES]
                held = tuple(sid for sid, k in self.keys.items() if any(re.sub(r"['’]s$", "", w).lower() in k for w in words))
                if held or (words and all(w.lower() not in self.topic_words for w in words)):
                    found.append(Named(m.group("name"), held))
        for m in YEAR.finditer(question):
            found.append(Named(m.group(0), tuple(sid for sid, k in self.keys.items() if m.group("year") in k)))
        for m in KIND_ONLY.finditer(question):
            held = tuple(sid for sid, meta in self.documents.items() if _kind_matches(m.group("kind").lower(), meta))
            if held and len(held) < len(self.documents):
                found.append(Named(m.group(0), held))
        if not found:
            return None
        held = tuple(sorted({sid for n in found for sid in n.source_ids}))
        return Named(found[0].name, held) if held else found[0]


def _kind_matches(kind: str, meta: dict) -> bool:
    """"the case report" names the documents whose kind of evidence or title says case report; "the page" or
    "the website" an information page."""
    about = f"{meta.get('evidence', '')} {meta.get('title', '')}".lower()
    if "page" in kind or "website" in kind:
        return "page" in about or "website" in about
    return kind in about
