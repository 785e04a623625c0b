"""An extractive draft: the composed sentences, ordered as they read (oldest source first when the sources
differ), each a claim citing the chunk it was quoted from. The validator decides what survives."""

from __future__ import annotations

import numpy as np

from chatbot.abstention import Abstention
from chatbot.composition import compose
from chatbot.disagreement import differ, disagreements
from chatbot.models import NOT_ADVICE, SOURCES_DIFFER, citation_from_chunk
from chatbot.scoring import Candidate
from chatbot.settings import AnswerSettings
from chatbot.text import Lexicon
from chatbot.validator import Claim, Draft


def draft(
    question: str, cands: list[Candidate], part_vectors: np.ndarray, lexicon: Lexicon, fitted: Abstention,
    settings: AnswerSettings,
) -> Draft:
    """cands ranked best first; fitted: the calibrated thresholds the composition uses."""
    chosen = compose(
        cands, part_vectors, fitted.add_at, fitted.part_at, fitted.other_source_at, settings.answer_max_sentences,
        settings.answer_max_words,
    )
    chosen += disagreements(chosen, cands, fitted.other_source_at)
    differing = differ(chosen)
    notices = [SOURCES_DIFFER] if differing else []
    if lexicon.is_personal(question):
        notices.append(NOT_ADVICE)
    if differing:  # oldest source first, so the figures read as a timeline
        chosen.sort(key=lambda c: (str(c.chunk.metadata.get("date")), c.start))
    else:  # the sentence that answers first; what completes it after, each source in reading order
        lead = chosen[0]
        chosen = [lead, *sorted(chosen[1:], key=lambda c: (c.source_id != lead.source_id, c.source_id, c.start))]
    claims, citations = [], {}
    for n, c in enumerate(chosen, start=1):
        citations[n] = citation_from_chunk(n, c.chunk.metadata, c.text, c.start, c.end)
        claims.append(Claim(c.text, [n]))
    return Draft(question, claims, citations, notices)
