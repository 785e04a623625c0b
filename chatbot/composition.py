"""Which ranked sentences make the answer: a lead that answers the question, then the sentences that complete
it (the best for each further part of the question, the other source when it also speaks, the sentence a lead
ending in a colon introduces, any other sentence the ranker rates as likely), within a word budget, near-repeats
dropped. The thresholds are fitted by `ivl calibrate` on the tune questions."""

from __future__ import annotations

from chatbot.scoring import Candidate, Group, covered

NEAR_DUPLICATE = 0.9  # cosine above which two sentences say the same thing


def _words(c: Candidate) -> int:
    return len(c.text.split())


def compose(
    cands: list[Candidate], parts: list[list[Group]], add_at: float, part_at: float, other_source_at: float,
    max_sentences: int, max_words: int,
) -> list[Candidate]:
    """cands ranked best first (score = the ranker's probability); at least the best one is chosen."""
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
    for part in parts[1:] if len(parts) > 1 else ():
        if covered(part, frozenset().union(*(c.terms for c in chosen))) >= 0.5:
            continue  # already answered by what is chosen
        best = max(cands, key=lambda c: (covered(part, c.terms) * c.score, -c.rank))
        if best.score >= part_at and fits(best):
            chosen.append(best)
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
