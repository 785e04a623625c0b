"""Answers as clean Markdown, for pasting into notes: what the chat's copy button and "Export conversation"
give. Plain sentences with their [n] markers and a numbered reference list (title, section, date, URL, quote,
editor's note); nothing of the page's HTML and no Markdown escapes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from chatbot.models import Answer
from chatbot.render import plain

NOTICE = "Every claim is quoted from the sources cited under it. An information tool, not medical advice."


def answer_markdown(answer: Answer) -> str:
    parts = []
    if answer.definition:
        d = answer.definition
        parts.append(f"**Definition ({d.term})**, from this tool's glossary, not from the sources: {d.text}")
    parts.append(plain(answer.answer))
    if answer.citations:
        refs = []
        for c in answer.citations:
            ref = f"{c.n}. {c.title}. {c.section}. {c.date}." + (f" {c.url}" if c.url else "")
            if c.record:
                ref += f"\n   From the source's record (not the source's own words): {' '.join(c.quote.split())}"
            else:
                ref += f"\n   > {' '.join(c.quote.split())}"
            if c.note:
                ref += f"\n   Editor's note (not the source's words): {c.note}"
            refs.append(ref)
        parts.append("References\n\n" + "\n".join(refs))
    return "\n\n".join(parts)


def conversation_markdown(turns: list[tuple[str, Answer | str]], now: datetime | None = None) -> str:
    """The whole conversation: each question, then its answer (or the message shown instead of one)."""
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"# IVL chatbot conversation\n\nExported {when}. {NOTICE}"]
    for i, (question, reply) in enumerate(turns, 1):
        body = answer_markdown(reply) if isinstance(reply, Answer) else reply
        out.append(f"## {i}. {' '.join(question.split())}\n\n{body}")
    return "\n\n".join(out) + "\n"
