"""What an answer is, as every caller sees it (`ivl ask --json`, the chat, the evals)."""

from __future__ import annotations

from pydantic import BaseModel, Field

# Fixed sentences that tests and evals assert on.
ABSTAIN = "The sources here do not answer that."
COVERAGE = (
    "They cover what IVL is, who it affects and how rare it is, its signs and symptoms, how it spreads "
    "through the veins, diagnosis and differential diagnosis, surgery and hormone therapy, recurrence and "
    "follow-up, and one 2026 case in detail."
)
NOT_ADVICE = "This is general information from published sources, not a substitute for advice from your own clinician."
SOURCES_DIFFER = "The sources differ on this; each figure is shown with its source and date."


class QuestionError(ValueError):
    """A question that cannot be asked (empty, too long); the message says what to do instead."""


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


class Answer(BaseModel):
    question: str
    answer: str = Field(description="Markdown; every sentence ends with its [n] marker(s).")
    abstained: bool
    citations: list[Citation] = []
    seconds: float = 0.0
    notices: list[str] = []
    sentences: list[str] = Field([], description="The answer's claims, in order, as plain text.")
