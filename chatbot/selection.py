"""Which candidate sentences make the answer: MMR over those scoring close to the best, near-repeats dropped."""

from __future__ import annotations

from chatbot.scoring import Candidate

NEAR_DUPLICATE = 0.9  # cosine above which two sentences say the same thing
KEEP_RELATIVE = 0.8  # a sentence joins the answer only if it scores at least this share of the best


def select(cands: list[Candidate], threshold: float, max_sentences: int, mmr_lambda: float) -> list[Candidate]:
    """cands best first; at least the best one is chosen."""
    best = cands[0].score
    pool = [c for c in cands if c.score >= max(threshold, best * KEEP_RELATIVE)]
    chosen = [pool.pop(0)]
    lam = mmr_lambda
    while pool and len(chosen) < max_sentences:
        def mmr(c: Candidate) -> float:
            return lam * c.score - (1 - lam) * max(float(c.vector @ s.vector) for s in chosen)

        nxt = max(pool, key=mmr)
        pool.remove(nxt)
        if max(float(nxt.vector @ s.vector) for s in chosen) < NEAR_DUPLICATE:
            chosen.append(nxt)
    return chosen
