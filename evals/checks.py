"""Per-answer checks, offline and deterministic: facts, citation validity, citation faithfulness.

Faithfulness is checked against the index itself, not against what the answerer says it retrieved: the
quote must stand verbatim in the chunk its citation names (of the source it names), and the sentence
must be supported by that quote — its own citation — not merely by some other passage.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from chatbot.models import Answer
from chatbot.render import escape_markdown, markers
from chatbot.support import supports
from chatbot.text import Lexicon
from evals.labelled import Item
from ivl_index.sentences import squash

SUPPORT_OVERLAP = 0.6  # share of a paraphrased sentence's content terms its quote must contain


def supported(sentence: str, quote: str) -> bool:
    """Verbatim, or a paraphrase that keeps the quote's numbers and most of its words (chatbot/support.py,
    judged by words alone: the eval does not trust the matcher it is measuring)."""
    return supports(sentence, quote, Lexicon.load(), SUPPORT_OVERLAP)


def gold(sentence: str, passages: list[str]) -> bool:
    """The sentence is one of the gold passages, or holds one, or lies within one (whitespace folded)."""
    s = squash(sentence)
    return any(g and (g in s or s in g) for g in map(squash, passages))


def bears(item: Item, sentence: str) -> bool:
    """The sentence bears on the item's question: one of its gold passages, or it states one of its facts."""
    return gold(sentence, item.gold) or any(f.found_in(sentence) for f in item.facts)


@dataclass
class Verdict:
    id: str
    category: str
    question: str
    expected_abstain: bool | str
    abstained: bool
    answer: str
    citations: list[dict]
    seconds: float
    split: str = "tune"
    register: str = ""
    group: str = ""
    words: int = 0  # words the answer quotes (0 when it abstains)
    facts_vital: bool | None = None  # None: not applicable (should abstain)
    fact_recall: float | None = None
    missing_facts: list[str] = field(default_factory=list)  # the vital facts not found, by name
    expected_source: bool | None = None
    citation_valid: bool = True
    citation_faithful: bool = True
    must_not_say: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lead_vital: bool | None = None  # the answer's first sentence states a vital fact (answered answerable only)
    bearing: list[bool] = field(default_factory=list)  # per answer sentence: a gold passage, or states a key fact
    diagnostics: dict = field(default_factory=dict)  # why: retrieval, ranked sentences, P(answerable) (`Explained`)

    @property
    def passed(self) -> bool:
        if self.expected_abstain is True:
            ok = self.abstained
        elif self.expected_abstain == "any":
            ok = True
        else:
            ok = not self.abstained and bool(self.facts_vital) and bool(self.expected_source)
        return ok and self.citation_valid and self.citation_faithful and not self.must_not_say

    def json(self) -> dict:
        return asdict(self) | {"passed": self.passed}


def check(item: Item, answer: Answer, chunks: dict[str, dict]) -> Verdict:
    """chunks: chunk_id -> {"text", "source_id", "url"} for every chunk in the index."""
    v = Verdict(
        id=item.id, category=item.category, question=item.question, expected_abstain=item.abstain,
        abstained=answer.abstained, answer=answer.answer, citations=[c.model_dump() for c in answer.citations],
        seconds=answer.seconds, split=item.split, register=item.register, group=item.group,
        words=0 if answer.abstained else sum(len(s.split()) for s in answer.sentences),
    )  # fmt: skip
    by_n = {c.n: c for c in answer.citations}
    # Validity: every sentence carries a marker that resolves; every marker resolves; nothing cited is unused.
    for sentence in answer.sentences:
        shown = escape_markdown(sentence)
        at = answer.answer.find(shown)
        follow = re.match(r"\s*((?:\[\d+\])+)", answer.answer[at + len(shown) :]) if at >= 0 else None
        if follow is None:
            v.citation_valid = False
            v.problems.append(f"uncited sentence: {sentence[:80]}")
            continue
        cited = [int(n) for n in re.findall(r"\d+", follow.group(1))]
        if any(n not in by_n for n in cited):
            v.citation_valid = False
            v.problems.append(f"marker without a citation after: {sentence[:80]}")
            continue
        # Faithfulness: each citation of this sentence quotes its own chunk, and supports the sentence.
        for n in cited:
            c = by_n[n]
            chunk = chunks.get(c.chunk_id)
            if chunk is None or chunk["source_id"] != c.source_id or chunk["url"] != c.url:
                v.citation_faithful = False
                v.problems.append(f"[{n}] names a chunk or source that is not in the index")
            elif squash(c.quote) not in squash(chunk["text"]):
                v.citation_faithful = False
                v.problems.append(f"[{n}] quote is not verbatim in its chunk")
            elif not supported(sentence, c.quote):
                v.citation_faithful = False
                v.problems.append(f"[{n}] does not support: {sentence[:80]}")
    if set(markers(answer.answer)) - set(by_n):
        v.citation_valid = False
        v.problems.append("a marker resolves to no citation")
    if answer.abstained and answer.citations:
        v.citation_valid = False
        v.problems.append("an abstention carries citations")
    if item.abstain is False:
        found = [f.found_in(answer.answer) for f in item.facts]
        v.missing_facts = [f.label for ok, f in zip(found, item.facts) if f.vital and not ok]
        v.facts_vital = not v.missing_facts
        v.fact_recall = sum(found) / len(found) if found else 1.0
        v.expected_source = not item.sources or any(c.source_id in item.sources for c in answer.citations)
        if v.abstained:
            v.problems.append("abstained on a question the sources answer")
        elif not v.facts_vital:
            v.problems.append(f"missing {', '.join(v.missing_facts)}")
        if not v.expected_source:
            v.problems.append("does not cite an expected source")
        if not answer.abstained and answer.sentences:
            v.lead_vital = any(f.found_in(answer.sentences[0]) for f in item.facts if f.vital)
            v.bearing = [bears(item, s) for s in answer.sentences]
    v.must_not_say = [p for p in item.must_not_say if re.search(p, answer.answer, re.IGNORECASE)]
    if v.must_not_say:
        v.problems.append(f"says what it must not: {v.must_not_say}")
    return v
