"""A question as the answerer takes it: checked (text, not empty, not too long), and turned into the query
that is searched (a follow-up joined to the question before it, orders and markup dropped, topic words
left out unless they are all it asks about)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from chatbot.spelling import Speller
from chatbot.text import STOP, WORD, Lexicon, clean, strip_markup
from ivl_index.errors import QuestionError

AGE = re.compile(r"\b(\d{1,3}) ?(?:f|yo|y/o|yof|yo f|year old f)\b", re.IGNORECASE)  # "48F" -> "48-year-old woman"


def previous_questions(history: Iterable) -> list[str]:
    """User turns from any history shape the callers use: strings, (user, bot) pairs, or role/content dicts."""
    out = []
    for turn in history or ():
        if isinstance(turn, str):
            out.append(turn)
        elif isinstance(turn, dict) and turn.get("role") == "user" and isinstance(turn.get("content"), str):
            out.append(turn["content"])
        elif isinstance(turn, (list, tuple)) and turn and isinstance(turn[0], str):
            out.append(turn[0])
    return out


def checked(question: str, max_chars: int) -> str:
    """The question cleaned of control characters, or a QuestionError saying what to ask instead."""
    if not isinstance(question, str):
        raise QuestionError("Ask a question as text.")
    q = clean(question)
    if not WORD.search(q.lower()):
        raise QuestionError("Ask a question about intravenous leiomyomatosis, e.g. “How is IVL treated?”")
    if len(q) > max_chars:
        raise QuestionError(
            f"That question is {len(q):,} characters long; the limit is {max_chars:,}. "
            "Ask the question on its own, without pasted documents."
        )
    return q


def search_query(question: str, history: Iterable, lexicon: Lexicon, speller: Speller, join: bool | None = None) -> str:
    """What is searched for a checked question. A follow-up ("and after radical surgery?") is searched
    together with the question before it (join: True or False decides instead of the question's wording);
    shorthand ages are spelled out and misspelt words corrected."""
    earlier = previous_questions(history)
    joined = lexicon.is_followup(question) if join is None else join
    text = f"{earlier[-1]} {question}" if earlier and joined else question
    text = strip_markup(lexicon.strip_commands(speller.correct(AGE.sub(r"\1-year-old woman", text))))
    focused = lexicon.focus(text)
    # "what is ivl, my sister just got told she has it": without the topic nothing the corpus knows is left
    if not any(w in speller.corpus or w in lexicon.expansions for w in lexicon.words(focused) if w not in STOP):
        return text
    return focused
