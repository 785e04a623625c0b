"""Which ranked sentences make the answer: a lead that answers the question, then the sentences that complete
it (the sentence the matcher finds nearest each further part of the question, the other source when it also
speaks, the sentence a lead ending in a colon introduces, any other sentence the ranker rates as likely), within
a word budget, near-repeats dropped. The thresholds are fitted by `ivl calibrate` on the tune questions."""

from __future__ import annotations

import numpy as np

from chatbot.scoring import Candidate

NEAR_DUPLICATE = 0.9  # cosine above which two sentences say the same thing


def _words(c: Candidate) -> int:
    return len(c.text.split())


def compose(
    cands: list[Candidate], part_vectors: np.ndarray, add_at: float, part_at: float, other_source_at: float,
    max_sentences: int, max_words: int,
) -> list[Candidate]:
    """cands ranked best first (score = the ranker's probability); at least the best one is chosen.
    part_vectors: the matcher's vector of each part of a question that asks several things (else none)."""
    chosen = [cands[0]]

    def fits(c: Candidate) -> bool:
        return (
            c not in chosen
            and len(chosen) < max_sentences
            and sum(map(_words, chosen)) + _words(c) <= max_words
            and all(float(c.vector @ s.vector) < NEAR_DUPLICATE for s in chosen)
        )

    lead = cands[0]
    if lead.text.rstrip().endswith(":"):  # "The two routes are:" says nothing without what follows
        after = [c for c in cands if c.source_id == lead.source_id and c.start > lead.end]
        following = min(after, key=lambda c: c.start, default=None)
        if following is not None and fits(following):
            chosen.append(following)
    if len(part_vectors) > 1:
        sims = np.stack([c.vector for c in cands]) @ np.asarray(part_vectors).T  # candidate x part
        for p in range(sims.shape[1]):
            i = int(np.argmax(sims[:, p]))  # first of equals: the better ranked
            if sims[i, p] >= part_at and fits(cands[i]):
                chosen.append(cands[i])
    if len({c.source_id for c in chosen}) == 1:
        other = next((c for c in cands if c.source_id != lead.source_id), None)
        if other is not None and other.score >= other_source_at and fits(other):
            chosen.append(other)
    for c in cands[1:]:
        if c.score < add_at:
            break
        if fits(c):
            chosen.append(c)
    return chosen
