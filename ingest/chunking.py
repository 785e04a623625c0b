"""Section-first chunking measured in the embedding model's own word pieces.

MiniLM silently drops everything past 256 word pieces, so sizes are counted with its tokenizer,
not estimated from characters. Chunks are runs of whole sentences; neighbours share
`overlap` sentences. A single sentence too long for the model is the one exception: it is cut
at clause boundaries (";", ":", ","), else between words, else (a run with no space at all) between
word pieces, and its pieces are marked `split_sentence`.

Each sentence (or piece) is counted once and a chunk's size is the sum of its parts, checked by one count
of the chunk itself, so chunking time grows with the text, not with its square: recounting every growing
run made a 1 MB line without a full stop take ~32 s (~3 s for 1 MB of prose).
"""

from __future__ import annotations

import hashlib
import re
from itertools import accumulate

from langchain_core.documents import Document

from ingest.tokens import WordPieces
from ivl_index.documents import SourceDocument
from ivl_index.errors import IngestError
from ivl_index.sentences import sentence_spans

Span = tuple[int, int]
CLAUSE_ENDS = (re.compile(r"(?<=[;:])\s+"), re.compile(r"(?<=,)\s+"), re.compile(r"\s+"))


def chunk_id(source_id: str, section: str, start: int, end: int, text: str) -> str:
    """Same document, same place, same words -> same id; any change -> a new id."""
    key = "\x1f".join([source_id, section, str(start), str(end), text])
    return f"{source_id}:{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _pack(text: str, spans: list[Span], sizes: list[int], pieces: WordPieces, limit: int) -> tuple[list[Span], list[int]]:
    """Neighbouring spans joined while the sum of their word pieces stays within `limit`, with each result's
    count. BERT-style tokenizers split at spaces, so the sum is exact; where one is not, that run is undone."""
    runs: list[list[int]] = []  # first span, last span, summed size without the special tokens
    for k, n in enumerate(sizes):
        if runs and runs[-1][2] + n + pieces.specials <= limit:
            runs[-1][1:] = [k, runs[-1][2] + n]
        else:
            runs.append([k, k, n])
    counts = pieces.count_many([text[spans[f][0] : spans[t][1]] for f, t, _ in runs])
    out: list[Span] = []
    sized: list[int] = []
    for (f, t, _), n in zip(runs, counts):
        if n <= limit or f == t:
            out.append((spans[f][0], spans[t][1]))
            sized.append(n)
        else:
            out += spans[f : t + 1]
            sized += [m + pieces.specials for m in sizes[f : t + 1]]
    return out, sized


def _forced(text: str, span: Span, pieces: WordPieces, limit: int) -> list[Span]:
    """A run with no space to cut at, cut between word pieces (each part checked, and cut shorter where the
    pieces of a word cut in two count differently apart)."""
    offsets = [(span[0] + s, span[0] + e) for s, e in pieces.offsets(text[span[0] : span[1]])]
    out, i, step = [], 0, limit - pieces.specials
    while i < len(offsets):
        take = min(step, len(offsets) - i)
        while True:
            start = offsets[i][0]
            end = offsets[i + take][0] if i + take < len(offsets) else span[1]
            end = start + len(text[start:end].rstrip())
            if take == 1 or pieces.count(text[start:end]) <= limit:
                break
            take = max(1, take * 9 // 10)
        out.append((start, end))
        i += take
    return out


def _split(text: str, span: Span, whole: int, pieces: WordPieces, limit: int) -> tuple[list[Span], list[int]]:
    """The clause-sized pieces of a sentence over the limit (`whole`: its count), and their counts."""
    parts, counts = [span], [whole]
    for pattern in CLAUSE_ENDS:
        cut: list[Span] = []
        for s, e in parts:
            bounds = [s] + [m.end() for m in pattern.finditer(text, s, e)] + [e]
            cut += [(a, a + len(text[a:b].rstrip())) for a, b in zip(bounds, bounds[1:]) if text[a:b].strip()]
        if len(cut) == len(parts):
            continue  # no such boundary in it
        sizes = [n - pieces.specials for n in pieces.count_many([text[s:e] for s, e in cut])]
        parts, counts = _pack(text, cut, sizes, pieces, limit)
        if max(counts) <= limit:
            return parts, counts
    parts = [p for part, n in zip(parts, counts) for p in ([part] if n <= limit else _forced(text, part, pieces, limit))]
    return parts, pieces.count_many([text[s:e] for s, e in parts])


def _within(doc: SourceDocument, sentences: int, limit: int | None) -> None:
    """Refuse a document whose sentences (and pieces of over-long ones) pass `limit`: each is embedded, and a
    chunk holds at least one, so this bounds the embedding work and memory one document may cause."""
    if limit is not None and sentences > limit:
        raise IngestError(
            f"{doc.path}: more than {limit:,} sentences in one document (IVL_MAX_DOCUMENT_SENTENCES); "
            "split it or raise that setting. Nothing was ingested; the index is unchanged"
        )


def chunk_document(
    doc: SourceDocument,
    pieces: WordPieces,
    max_tokens: int,
    target_tokens: int,
    overlap: int,
    max_sentences: int | None = None,
) -> list[Document]:
    """The document's chunks; an IngestError, before any is made, if it holds more than `max_sentences`."""
    chunks: list[Document] = []
    base = doc.citation_meta()
    text = doc.text
    indexed = [s for s in doc.sections if s.indexed]
    section_spans = [sentence_spans(text, s.start, s.end) for s in indexed]
    _within(doc, sum(map(len, section_spans)), max_sentences)  # before counting word pieces, which takes longer
    held = 0
    for section, spans in zip(indexed, section_spans):
        units: list[tuple[int, int, bool]] = []
        sizes: list[int] = []
        for span, n in zip(spans, pieces.count_many([text[s:e] for s, e in spans])):
            parts, counts = _split(text, span, n, pieces, max_tokens) if n > max_tokens else ([span], [n])
            units += [(s, e, len(parts) > 1) for s, e in parts]
            sizes += counts
        held += len(units)
        _within(doc, held, max_sentences)
        # Word pieces of units i..j-1 together: specials + sums[j] - sums[i] (exact for BERT-style tokenizers,
        # and each chunk is checked by one count below).
        sums = [0, *accumulate(n - pieces.specials for n in sizes)]
        i = 0
        while i < len(units):
            j = i + 1
            while j < len(units) and pieces.specials + sums[j + 1] - sums[i] <= target_tokens:
                j += 1
            while True:
                start, end = units[i][0], units[j - 1][1]
                chunk_text = text[start:end]
                tokens = pieces.count(chunk_text)
                if tokens <= max_tokens or j == i + 1:
                    break
                j -= 1  # the sum was not exact for this tokenizer: the ceiling still holds
            chunks.append(
                Document(
                    page_content=chunk_text,
                    metadata={
                        **base,
                        "section": section.name,
                        "position": len(chunks),
                        "start": start,
                        "end": end,
                        "tokens": tokens,
                        "split_sentence": any(u[2] for u in units[i:j]),
                        "chunk_id": chunk_id(doc.source_id, section.name, start, end, chunk_text),
                    },
                )
            )
            if j >= len(units):
                break
            # Step back `overlap` sentences, but always move forward and keep the next chunk under the ceiling.
            back = max(i + 1, j - overlap)
            while back < j and pieces.specials + sums[j + 1] - sums[back] > max_tokens:
                back += 1
            i = back
    return chunks
