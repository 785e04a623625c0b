"""Sentences: their spans in medical prose, and the ids by which ingest stores and the answerer fetches them.

Hand-written because the usual splitters either need a downloaded model (nltk punkt, spaCy) or cut
this corpus's abbreviations ("Fig. 1", "et al.", "vs. 7.6%", "approx."); both chunking and answering
need exact character spans, so a sentence can be quoted verbatim.

>>> text = "IVL is rare (Fig. 1). It grows ~7 cm. vs. 7.6% after."
>>> [text[s:e] for s, e in sentence_spans(text)]
['IVL is rare (Fig. 1).', 'It grows ~7 cm. vs. 7.6% after.']
"""

from __future__ import annotations

import hashlib
import re

from langchain_core.documents import Document

# Words that end with a full stop without ending the sentence.
ABBREVIATIONS = {
    "fig", "figs", "al", "vs", "e.g", "i.e", "approx", "dr", "prof", "no", "nos", "ref", "refs", "cf",
    "mr", "mrs", "ms", "st", "vol", "pp", "ca", "resp",
}  # fmt: skip
# Units end a sentence only when a capital follows ("~7 cm. The mass" splits, "7 cm. vs." does not).
UNITS = {"cm", "mm", "mg", "ml", "min", "kg", "etc"}

_END = re.compile(r"[.!?](?:[\"'’”)\]]+)?(?=\s+|$)")
_NEXT_START = re.compile(r"\s+([\"'‘“(\[]?[A-Z0-9•\-])")
_LAST_WORD = re.compile(r"(\S+)$")
_WORD_WINDOW = 64  # longer than any abbreviation or unit, so a cut-off word never matches one
_NUMBER_ONLY = re.compile(r"\s*(?:Figure|Table)?\s*\d+")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of each sentence in text[start:end], surrounding whitespace excluded."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _END.finditer(text, start, end):
        stop = match.end()
        # Only the few characters before the stop are read: slicing from `cursor` made a long run without a
        # sentence end (one unpunctuated line) cost the square of its length.
        word = _LAST_WORD.search(text, max(cursor, match.start() - _WORD_WINDOW), match.start())
        token = (word.group(1) if word else "").lower().lstrip("(['\"")
        following = _NEXT_START.match(text, stop, end)
        if _NUMBER_ONLY.fullmatch(text, cursor, match.start()):
            continue  # "Figure 3." and "2." open a caption or a list item
        if match.group().startswith("."):
            if token in ABBREVIATIONS or re.fullmatch(r"[a-z]", token):
                continue
            if token in UNITS and not (following and following.group(1)[0].isupper()):
                continue
        if stop < end and not following:
            continue  # next word starts lowercase: a decimal, an abbreviation we don't know, or "Fig. 1" style
        _add(text, cursor, stop, spans)
        cursor = stop
    _add(text, cursor, end, spans)
    return spans


def _add(text: str, start: int, stop: int, spans: list[tuple[int, int]]) -> None:
    # Paragraph breaks also end sentences (headings, list items, captions with no full stop).
    for piece in re.finditer(r"[^\n]+(?:\n(?!\s*\n)[^\n]+)*", text[start:stop]):
        s, e = start + piece.start(), start + piece.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))


def squash(text: str) -> str:
    """Whitespace folded to single spaces: how quotes are compared with the passages they come from."""
    return " ".join(text.split())


def chunk_sentences(chunk: Document) -> list[tuple[str, str, int, int]]:
    """(sentence id, text, start, end in the source file) for each sentence of a chunk. The id depends only
    on the source, the span and the words, so a reader can recompute it from a chunk and fetch by id."""
    meta = chunk.metadata
    out = []
    for s, e in sentence_spans(chunk.page_content):
        text = chunk.page_content[s:e]
        start, end = meta["start"] + s, meta["start"] + e
        key = f"{meta['source_id']}:{start}-{end}:{hashlib.sha256(text.encode()).hexdigest()[:8]}"
        out.append((key, text, start, end))
    return out


def sentence_location(sentence_id: str) -> tuple[str, int, int]:
    """(source id, start, end) read back from an id that `chunk_sentences` made."""
    source_id, span, _ = sentence_id.rsplit(":", 2)
    start, end = span.split("-")
    return source_id, int(start), int(end)
