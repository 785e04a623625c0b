"""Drop documents that repeat another document (GARD's Q&A summary repeats the GARD page).

Hand-written: LangChain's indexing dedups identical chunks only, and the summary differs in
typos, reference markers and paragraphing, so its chunks never hash alike.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from ingest.documents import SourceDocument
from ingest.sentences import sentence_spans

NEAR = 0.9  # SequenceMatcher ratio above which two sentences are the same sentence ("ad venous" vs "and venous")
COVERED = 0.8  # share of a document's sentences found elsewhere above which it is a duplicate


def _norm(sentence: str) -> str:
    return re.sub(r"\[\d+\]|[^a-z0-9]+", " ", sentence.lower()).strip()


def _sentences(doc: SourceDocument) -> list[str]:
    out = []
    for section in doc.sections:
        if section.indexed:
            out += [_norm(doc.text[s:e]) for s, e in sentence_spans(doc.text, section.start, section.end)]
    return [s for s in out if len(s) > 20]


def _covered(sentence: str, pool: set[str]) -> bool:
    if sentence in pool:
        return True
    for other in pool:
        m = SequenceMatcher(None, sentence, other, autojunk=False)
        if m.real_quick_ratio() >= NEAR and m.quick_ratio() >= NEAR and m.ratio() >= NEAR:  # cheap bounds first
            return True
    return False


def _repeats(sentences: list[str], pool: set[str]) -> bool:
    allowed_misses = int(len(sentences) * (1 - COVERED))
    misses = 0
    for sentence in sentences:
        if not _covered(sentence, pool):
            misses += 1
            if misses > allowed_misses:
                return False
    return bool(sentences)


def drop_duplicates(docs: list[SourceDocument]) -> tuple[list[SourceDocument], dict[str, str]]:
    """Keep documents in order of authority (front matter with a URL first, then longer); return the kept
    ones in input order and {dropped path: source_id it repeats}."""
    ranked = sorted(docs, key=lambda d: (not d.meta.get("url"), -len(d.text)))
    kept: list[tuple[SourceDocument, set[str]]] = []
    dropped: dict[str, str] = {}
    for doc in ranked:
        sentences = _sentences(doc)
        match = next((other for other, pool in kept if _repeats(sentences, pool)), None)
        if match is None:
            kept.append((doc, set(sentences)))
        else:
            dropped[str(doc.path)] = match.source_id
    keep = {id(d) for d, _ in kept}
    return [d for d in docs if id(d) in keep], dropped
