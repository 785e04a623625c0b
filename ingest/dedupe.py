"""Drop documents that repeat another document (GARD's Q&A summary repeats the GARD page).

Hand-written: LangChain's indexing dedups identical chunks only, and the summary differs in
typos, reference markers and paragraphing, so its chunks never hash alike.
Sentences are matched through an index of word 4-grams, so the cost grows with the corpus, not with
its square: only sentences sharing most of their 4-grams are compared character by character.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from difflib import SequenceMatcher

from ivl_index.documents import SourceDocument
from ivl_index.sentences import sentence_spans

NEAR = 0.9  # SequenceMatcher ratio above which two sentences are the same sentence ("ad venous" vs "and venous")
COVERED = 0.8  # share of a document's sentences found in one other document above which it is a duplicate
SHARED = 0.7  # share of 4-grams a sentence must share with another before they are compared


def _norm(sentence: str) -> str:
    return re.sub(r"\[\d+\]|[^a-z0-9]+", " ", sentence.lower()).strip()


def _sentences(doc: SourceDocument) -> list[str]:
    out = []
    for section in doc.sections:
        if section.indexed:
            out += [_norm(doc.text[s:e]) for s, e in sentence_spans(doc.text, section.start, section.end)]
    return [s for s in out if len(s) > 20]


def _shingles(sentence: str) -> set[str]:
    words = sentence.split()
    return {" ".join(words[i : i + 4]) for i in range(max(len(words) - 3, 1))}


class SentenceIndex:
    """Which kept documents contain (nearly) this sentence?"""

    def __init__(self):
        self.exact: dict[str, set[int]] = defaultdict(set)
        self.by_shingle: dict[str, set[int]] = defaultdict(set)
        self.rows: list[tuple[str, int]] = []

    def add(self, doc: int, sentences: list[str]) -> None:
        for s in sentences:
            self.exact[s].add(doc)
            row = len(self.rows)
            self.rows.append((s, doc))
            for sh in _shingles(s):
                self.by_shingle[sh].add(row)

    def docs_containing(self, sentence: str) -> set[int]:
        if sentence in self.exact:
            return set(self.exact[sentence])
        shingles = _shingles(sentence)
        shared = Counter(row for sh in shingles for row in self.by_shingle.get(sh, ()))
        found = set()
        for row, count in shared.items():
            other, doc = self.rows[row]
            if doc not in found and count >= SHARED * len(shingles):
                m = SequenceMatcher(None, sentence, other, autojunk=False)
                if m.real_quick_ratio() >= NEAR and m.quick_ratio() >= NEAR and m.ratio() >= NEAR:  # cheap bounds first
                    found.add(doc)
        return found


def drop_duplicates(
    docs: list[SourceDocument], indexed: list[SourceDocument] = ()
) -> tuple[list[SourceDocument], dict[str, str]]:
    """Keep documents in order of authority (front matter with a URL first, then longer); return the kept
    ones in input order and {dropped path: source_id it repeats}. `indexed`: documents already in the index
    and not given again, which a new document may repeat; they are never dropped (adding keeps them)."""
    held = list(indexed)
    every = held + list(docs)
    index = SentenceIndex()
    for i, doc in enumerate(held):
        index.add(i, _sentences(doc))
    ranked = sorted(range(len(held), len(every)), key=lambda i: (not every[i].meta.get("url"), -len(every[i].text)))
    dropped: dict[str, str] = {}
    keep: set[int] = set()
    for i in ranked:
        sentences = _sentences(every[i])
        allowed_misses = int(len(sentences) * (1 - COVERED))
        counts: Counter = Counter()
        misses = 0
        for s in sentences:
            holders = index.docs_containing(s)
            misses += not holders
            if misses > allowed_misses:
                break
            counts.update(holders)
        best = counts.most_common(1)
        if sentences and misses <= allowed_misses and best and best[0][1] >= COVERED * len(sentences):
            dropped[str(every[i].path)] = every[best[0][0]].source_id
        else:
            keep.add(i)
            index.add(i, sentences)
    return [d for i, d in enumerate(every) if i in keep], dropped
