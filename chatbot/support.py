"""The one test of "does this quote support this claim", for the validator (verbatim only), the LLM path (a
paraphrase, judged by a calibrated score) and the eval's faithfulness check (a paraphrase, judged by its words).

A claim is supported when it is the quote word for word; a paraphrase only when every number it states is in
the quote and its score reaches the threshold: the share of the claim's content words the quote holds, or,
with `similarity` (the matcher's cosine), the mean of the two.

>>> from chatbot.text import Lexicon
>>> supports("75% recur after myomectomy", "a 75% recurrence rate after myomectomy", Lexicon.load(), 0.6)
True
>>> supports("57% recur after myomectomy", "a 75% recurrence rate after myomectomy", Lexicon.load(), 0.6)
False
"""

from __future__ import annotations

import re
from collections.abc import Callable

from chatbot.text import Lexicon
from ivl_index.sentences import squash

NUMBER = re.compile(r"\d+(?:\.\d+)?")  # a paraphrase must keep its quote's numbers
VERBATIM_ONLY = 1.01  # a threshold no score reaches: only the quote itself supports a claim


def verbatim(claim: str, quote: str) -> bool:
    """The extractive rule: the claim is the quote, or a part of it, word for word."""
    return bool(claim.strip()) and squash(claim) in squash(quote)


def score(claim: str, quote: str, lexicon: Lexicon, similarity: Callable[[str, str], float] | None = None) -> float:
    """Share of the claim's content words in the quote; with `similarity`, its mean with the similarity."""
    words = set(lexicon.terms(claim, expand=False))
    overlap = len(words & set(lexicon.terms(quote, expand=False))) / len(words) if words else 0.0
    return overlap if similarity is None else 0.5 * overlap + 0.5 * similarity(claim, quote)


def supports(claim: str, quote: str, lexicon: Lexicon, threshold: float = VERBATIM_ONLY,
             similarity: Callable[[str, str], float] | None = None) -> bool:  # fmt: skip
    if verbatim(claim, quote):
        return True
    if not set(NUMBER.findall(claim)) <= set(NUMBER.findall(quote)):
        return False
    return score(claim, quote, lexicon, similarity) >= threshold
