"""Candidate sentences and their scores: embedding similarity to the question plus the share of the
question's weighted words (IDF, with their lexicon expansions) that the sentence contains."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from langchain_core.documents import Document

from chatbot.knowledge import IndexView
from chatbot.text import STOP, Lexicon


@dataclass
class Candidate:
    text: str
    source_id: str
    start: int
    end: int
    vector: np.ndarray
    chunk: Document  # the highest-ranked retrieved chunk holding this sentence
    rank: int
    similarity: float = 0.0
    overlap: float = 0.0
    score: float = 0.0


def term_groups(text: str, lexicon: Lexicon, view: IndexView) -> list[tuple[set[str], float]]:
    """Each content word of the question with the stems that count as it (its expansions), and its weight."""
    groups = []
    for word in dict.fromkeys(w for w in lexicon.words(text) if w not in STOP):
        stems = set(lexicon.terms(word, expand=False))
        if not stems:
            continue
        stems |= set(lexicon.terms(lexicon.expansions.get(word, ""), expand=False))
        weight = max(view.idf.get(t, view.unknown_idf) for t in lexicon.terms(word, expand=False))
        groups.append((stems, weight))
    return groups


def unknown_share(groups: list[tuple[set[str], float]], view: IndexView) -> float:
    """Share of the question's weight (its term groups) in words the corpus never uses ("survival", "France")."""
    total = sum(w for _, w in groups) or 1.0
    return sum(w for stems, w in groups if not stems & view.idf.keys()) / total


def candidates(
    groups: list[tuple[set[str], float]], qvec: np.ndarray, chunks: list[Document], view: IndexView,
    k_sentences: int, similarity_weight: float,
) -> list[Candidate]:
    """Sentences of the retrieved chunks, plus the sentences nearest the question in their own right
    (a one-line fact can drown in a chunk about something else), best first; `chunks` grows by the chunks
    those sentences come from, so every candidate has a retrieved passage to cite. groups: the question's
    term groups (term_groups), computed once per question for this and unknown_share."""
    spans = {key: span for c in chunks for key, span in view.sentence_spans(c)}
    if k_sentences:
        for key, span in view.near_sentences(qvec, k_sentences).items():
            spans.setdefault(key, span)
    rows = view.sentence_rows(spans)
    total = sum(w for _, w in groups) or 1.0
    w = similarity_weight
    out = []
    for text, meta, vec, terms in rows.values():
        if terms is None:
            continue  # never quoted (see IndexView.sentence_rows)
        found = view.containing_chunk(meta, chunks)
        if found is None:
            continue
        rank, chunk = found
        cand = Candidate(text, meta["source_id"], meta["start"], meta["end"], vec, chunk, rank)
        cand.similarity = float(vec @ qvec)
        cand.overlap = sum(wt for stems, wt in groups if stems & terms) / total
        cand.score = w * max(cand.similarity, 0.0) + (1 - w) * cand.overlap
        out.append(cand)
    return sorted(out, key=lambda c: (-c.score, c.rank, c.start))
