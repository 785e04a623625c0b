"""What an answer is, as every caller sees it (`ivl ask --json`, the chat, the evals), and what a search
returned (`Retrieval`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from langchain_core.documents import Document
from pydantic import BaseModel, Field

from ivl_index.documents import from_record
from ivl_index.notes import note_on

# Fixed sentences that tests and evals assert on.
ABSTAIN = "The sources here do not answer that."
NOT_ADVICE = "This is general information from published sources, not a substitute for advice from your own clinician."
SOURCES_DIFFER = "The sources differ on this; each figure is shown with its source and date."


EDITOR_NOTES = "editor_notes"  # in a chunk's metadata as the answerer holds it: its document's notes (sentence -> note)
COVERAGE_LISTED = 5  # documents named in the coverage sentence; the rest are counted


def coverage(documents: dict[str, tuple[str, str]]) -> str:
    """What the sources cover, from the documents the index in service holds (source id -> title, date): a
    sentence written once for two documents went on claiming them after one was removed."""
    from chatbot.render import escape_markdown  # lazy: render.py imports this module

    # A title is a document's text: shown literally, never as a link or emphasis ("[Updated](https://evil...)").
    named = [f"“{escape_markdown(t)}” ({escape_markdown(d)})" if d else f"“{escape_markdown(t)}”" for t, d in sorted(documents.values())]
    if len(named) > COVERAGE_LISTED + 1:
        named = [*named[:COVERAGE_LISTED], f"{len(named) - COVERAGE_LISTED} more documents"]
    listed = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
    return f"They cover what {'this document says' if len(documents) == 1 else 'these documents say'}: {listed}."


class Citation(BaseModel):
    n: int
    source_id: str
    title: str
    section: str
    date: str
    url: str
    quote: str = Field(description="The cited sentence exactly as the corpus has it.")
    chunk_id: str
    evidence: str = ""
    licence: str = ""
    start: int = Field(-1, description="Character offset of the quote in its corpus file.")
    end: int = -1
    note: str = Field("", description="An editor's note on a known flaw of this sentence (not the source's words).")
    record: bool = Field(
        False, description="The cited line comes from the source's catalogue record (publisher, journal, licence), "
        "added by the corpus: shown as 'from the source's record', never as a quotation of the source.",
    )


class Definition(BaseModel):
    term: str
    text: str
    origin: str = Field("glossary", description="Always this tool's glossary: a general definition, not a source's claim.")


class Related(BaseModel):
    """A passage close to a question the sources do not answer: for a reader to judge, never part of an answer."""

    source_id: str
    title: str
    section: str
    quote: str = Field(description="The sentence exactly as the corpus has it.")
    chunk_id: str
    start: int = -1
    end: int = -1


class Answer(BaseModel):
    question: str
    answer: str = Field(description="Markdown; every sentence ends with its [n] marker(s).")
    abstained: bool
    citations: list[Citation] = []
    seconds: float = 0.0
    notices: list[str] = []
    sentences: list[str] = Field([], description="The answer's claims, in order, as plain text.")
    definition: Definition | None = Field(
        None, description="For a question asking what a term means that the cited sentences do not define: the "
        "glossary's definition, shown marked as a definition (not a source's claim).",
    )
    related: list[Related] = Field(
        [], description="Only when the answer abstains: the closest passages the search found, labelled 'not an "
        "answer', so a reader can judge for themselves. Never cited, never part of the answer.",
    )
    query: str = Field("", description="What was searched for the question (follow-up history joined, orders dropped).")
    follows: str = Field(
        "", description="The previous question, when the answer was read as a follow-up to it (the search joined "
        "the two); empty when the question was read on its own.",
    )
    model_sentences: int = Field(
        0, description="Sentences a language model wrote for this answer, before the validator; 0 when none wrote it."
    )
    model_kept: int = Field(
        0, description="How many of those the validator kept. Shown only when enough survived (IVL_LLM_MIN_KEPT); "
        "otherwise the quoted answer replaced them, with a notice.",
    )


def citation_from_chunk(n: int, meta: dict, quote: str, start: int = -1, end: int = -1) -> Citation:
    """A citation of `quote` in the chunk whose metadata this is: the one place a chunk becomes a Citation."""
    return Citation(
        n=n,
        source_id=meta["source_id"],
        title=meta["title"],
        section=meta["section"],
        date=str(meta.get("date", "")),
        url=meta.get("url", ""),
        quote=quote,
        chunk_id=meta["chunk_id"],
        evidence=meta.get("evidence", ""),
        licence=meta.get("licence", ""),
        start=start,
        end=end,
        note=note_on(meta.get(EDITOR_NOTES, {}), quote),
        record=from_record(quote),
    )


@dataclass
class Retrieval:
    """What the product searched for a question, and what it found."""

    question: str  # the checked question
    query: str  # the search query actually sent (follow-up history joined, orders and markup dropped)
    ranked: list[Document]  # the fused ranking, best first
    chunks: list[Document] = field(default_factory=list)  # the passages an answer may cite
