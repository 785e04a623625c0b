"""Misspelt question words ("leiomyomatosys", "simptoms", "recurance") corrected against the corpus's own
vocabulary before searching. A word is corrected only when the corpus never uses it, it is not a real
English word (wordfreq), and a corpus word is close in spelling (rapidfuzz): "survival" stays "survival",
so a question the sources do not answer still looks like one."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rapidfuzz import fuzz, process
from wordfreq import zipf_frequency

ENGLISH = 3.0  # Zipf frequency from which a word is real English, not a typo (typos in the tune split: 0-2.2)
SIMILAR = 80  # rapidfuzz ratio a corpus word needs to replace a typo
SHORTEST = 5  # shorter words are abbreviations (the lexicon's business), not typos
LETTERS = re.compile(r"[A-Za-z]+")


class Speller:
    def __init__(self, vocabulary: Iterable[str], known: Iterable[str] = ()):
        """vocabulary: the corpus's words (candidates for a correction); known: other words never to correct."""
        self.corpus = {w.lower() for w in vocabulary}
        self.vocabulary = sorted({w for w in self.corpus if len(w) >= SHORTEST and w.isalpha()})
        self.known = set(self.vocabulary) | set(known)
        self.cache: dict[str, str] = {}

    def word(self, word: str) -> str:
        low = word.lower()
        if len(low) < SHORTEST or low in self.known:
            return word
        fixed = self.cache.get(low)
        if fixed is None:
            if len(self.cache) > 50_000:  # a server meets unbounded distinct words; keep memory bounded
                self.cache.clear()
            best = None
            if zipf_frequency(low, "en") < ENGLISH:
                best = process.extractOne(low, self.vocabulary, scorer=fuzz.ratio, score_cutoff=SIMILAR)
            fixed = self.cache[low] = best[0] if best else word
        return fixed  # never re-read from the cache: another chat worker may have just cleared it

    def correct(self, text: str) -> str:
        """The text with each misspelt word replaced by the corpus word it most resembles."""
        return LETTERS.sub(lambda m: self.word(m.group(0)), text)
