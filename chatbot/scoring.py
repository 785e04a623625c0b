"""Candidate sentences and what is measured of them before ranking: embedding similarity to the question and
the share of the question's weighted words (IDF, with their lexicon expansions) that the sentence contains.
The ranker (ranker.py) turns these and the question's analysis into the probability a sentence answers it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from langchain_core.documents import Document
from wordfreq import zipf_frequency

from chatbot.knowledge import IndexView
from chatbot.text import STOP, Lexicon

COMMON_ENGLISH = 4.0  # Zipf frequency from which an unknown word is everyday English ("role", "whole", "typical")
RARE_ENGLISH, EVERYDAY = 3.0, 7.0  # Zipf range over which an unknown word's weight falls to a quarter

Group = tuple[str, frozenset[str], float]  # a question word, the stems that count as it, its weight


@dataclass
class Candidate:
    text: str
    source_id: str
    start: int
    end: int
    vector: np.ndarray
    chunk: Document  # the highest-ranked retrieved chunk holding this sentence
    rank: int
    terms: frozenset[str] = frozenset()
    similarity: float = 0.0
    overlap: float = 0.0
    score: float = 0.0  # the ranker's probability that the sentence answers the question

    @property
    def section(self) -> str:
        return str(self.chunk.metadata.get("section", ""))


def term_groups(text: str, lexicon: Lexicon, view: IndexView) -> list[Group]:
    """Each content word of the question with the stems that count as it (its expansions), and its weight."""
    groups = []
    for word in dict.fromkeys(w for w in lexicon.words(text) if w not in STOP):
        stems = set(lexicon.terms(word, expand=False))
        if not stems:
            continue
        stems |= set(lexicon.terms(lexicon.expansions.get(word, ""), expand=False))
        known = [view.idf[t] for t in stems if t in view.idf]
        weight = max(known) if known else view.unknown_idf * english_rarity(word)
        groups.append((word, frozenset(stems), weight))
    return groups


def english_rarity(word: str) -> float:
    """1 for a word rare in English, down to 1/4 for an everyday one: a word the corpus never uses weighs the
    corpus's highest IDF only if it is also unusual English ("desmin"), not when it is "role" or "whole"."""
    zipf = zipf_frequency(word, "en")
    return float(min(1.0, max(0.25, (EVERYDAY - zipf) / (EVERYDAY - RARE_ENGLISH))))


def covered(groups: list[Group], terms: frozenset[str]) -> float:
    """Share of the groups' weight that a set of stems contains."""
    total = sum(w for *_, w in groups) or 1.0
    return sum(w for _, stems, w in groups if stems & terms) / total


def unknown_shares(groups: list[Group], view: IndexView) -> tuple[float, float]:
    """Share of the question's weight in words the corpus never uses: (rare in English, everyday English).
    "leiomyosarcomatosis" and "France" are apart from "role" and "whole", which any question may carry."""
    total = sum(w for *_, w in groups) or 1.0
    rare = common = 0.0
    for word, stems, w in groups:
        if stems & view.idf.keys():
            continue
        if zipf_frequency(word, "en") >= COMMON_ENGLISH:
            common += w
        else:
            rare += w
    return rare / total, common / total


def candidates(groups: list[Group], qvec: np.ndarray, chunks: list[Document], view: IndexView, k_sentences: int) -> list[Candidate]:
    """Sentences of the retrieved chunks, plus the sentences nearest the question in their own right
    (a one-line fact can drown in a chunk about something else); `chunks` grows by the chunks those sentences
    come from, so every candidate has a retrieved passage to cite. groups: the question's term groups
    (term_groups), computed once per question."""
    spans = {key: span for c in chunks for key, span in view.sentence_spans(c)}
    if k_sentences:
        for key, span in view.near_sentences(qvec, k_sentences).items():
            spans.setdefault(key, span)
    rows = view.sentence_rows(spans)
    out = []
    for text, meta, vec, terms in rows.values():
        if terms is None:
            continue  # never quoted (see IndexView.sentence_rows)
        found = view.containing_chunk(meta, chunks)
        if found is None:
            continue
        rank, chunk = found
        cand = Candidate(text, meta["source_id"], meta["start"], meta["end"], vec, chunk, rank, terms)
        cand.similarity = float(vec @ qvec)
        cand.overlap = covered(groups, terms)
        out.append(cand)
    return sorted(out, key=lambda c: (c.rank, c.start))
