"""Section-first chunking measured in the embedding model's own word pieces.

MiniLM silently drops everything past 256 word pieces, so sizes are counted with its tokenizer,
not estimated from characters. Chunks are runs of whole sentences; neighbours share
`overlap` sentences. A single sentence too long for the model is the one exception: it is cut
at clause boundaries (";", ":", ","), and its pieces are marked `split_sentence`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from langchain_core.documents import Document

from ivl_index.documents import SourceDocument
from ivl_index.sentences import sentence_spans

TokenCounter = Callable[[str], int]  # word pieces including the model's special tokens


def chunk_id(source_id: str, section: str, start: int, end: int, text: str) -> str:
    """Same document, same place, same words -> same id; any change -> a new id."""
    key = "\x1f".join([source_id, section, str(start), str(end), text])
    return f"{source_id}:{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _fit(text: str, span: tuple[int, int], count: TokenCounter, limit: int) -> list[tuple[int, int]]:
    """A sentence span, or its clause-sized pieces when the sentence alone is over the limit."""
    if count(text[span[0] : span[1]]) <= limit:
        return [span]
    for pattern in (r"(?<=[;:])\s+", r"(?<=,)\s+", r"\s+"):
        cuts = [m.end() for m in re.finditer(pattern, text[span[0] : span[1]])]
        if not cuts:
            continue
        pieces: list[tuple[int, int]] = []
        start = span[0]
        for cut in cuts + [span[1] - span[0]]:
            end = span[0] + cut
            if pieces and count(text[pieces[-1][0] : end]) <= limit:
                pieces[-1] = (pieces[-1][0], end)
            elif start < end:
                pieces.append((start, end))
            start = end
        pieces = [(s, len(text[:e].rstrip())) for s, e in pieces]
        if all(count(text[s:e]) <= limit for s, e in pieces):
            return pieces
    raise ValueError(f"cannot fit a sentence into {limit} word pieces")


def chunk_document(
    doc: SourceDocument, count: TokenCounter, max_tokens: int, target_tokens: int, overlap: int
) -> list[Document]:
    chunks: list[Document] = []
    base = doc.citation_meta()
    for section in doc.sections:
        if not section.indexed:
            continue
        units: list[tuple[int, int, bool]] = []
        for span in sentence_spans(doc.text, section.start, section.end):
            pieces = _fit(doc.text, span, count, max_tokens)
            units += [(s, e, len(pieces) > 1) for s, e in pieces]
        i = 0
        while i < len(units):
            j = i + 1
            while j < len(units) and count(doc.text[units[i][0] : units[j][1]]) <= target_tokens:
                j += 1
            start, end = units[i][0], units[j - 1][1]
            text = doc.text[start:end]
            chunks.append(
                Document(
                    page_content=text,
                    metadata={
                        **base,
                        "section": section.name,
                        "position": len(chunks),
                        "start": start,
                        "end": end,
                        "tokens": count(text),
                        "split_sentence": any(u[2] for u in units[i:j]),
                        "chunk_id": chunk_id(doc.source_id, section.name, start, end, text),
                    },
                )
            )
            if j >= len(units):
                break
            # Step back `overlap` sentences, but always move forward and keep the next chunk under the ceiling.
            back = max(i + 1, j - overlap)
            while back < j and count(doc.text[units[back][0] : units[j][1]]) > max_tokens:
                back += 1
            i = back
    return chunks
