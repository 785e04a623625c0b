"""Answers as clean Markdown, for pasting into notes: what the chat's copy button and "Export conversation"
give. Sentences with their [n] markers and a numbered reference list (title, section, date, URL, quote, editor's
note); nothing of the page's HTML. Every field that came from a document or a user stays text when the Markdown is
rendered (a title "[Updated](https://evil...) **fatal**" is no link and no bold), with no escape a reader would notice
otherwise ("~800", not "\\~800").
"""

from __future__ import annotations

from datetime import UTC, datetime

from chatbot.models import Answer
from chatbot.render import escape_markdown, readable, source_refs

NOTICE = "Every claim is quoted from the sources cited under it. An information tool, not medical advice."


def _text(field: str) -> str:
    return readable(escape_markdown(field))


def answer_markdown(answer: Answer) -> str:
    parts = [f"Read as a follow-up to: {_text(answer.follows)}"] if answer.follows else []
    if answer.definition:
        d = answer.definition
        parts.append(f"**Definition ({_text(d.term)})**, from this tool's glossary, not from the sources: {_text(d.text)}")
    parts.append(source_refs(readable(answer.answer)))
    if answer.citations:
        refs = []
        for c in answer.citations:
            ref = f"{c.n}. {_text(c.title)}. {_text(c.section)}. {_text(c.date)}." + (f" {_text(c.url)}" if c.url else "")
            if c.record:
                ref += f"\n   From the source's record (not the source's own words): {_text(c.quote)}"
            else:
                ref += f"\n   > {_text(c.quote)}"
            if c.note:
                ref += f"\n   Editor's note (not the source's words): {_text(c.note)}"
            refs.append(ref)
        parts.append("References\n\n" + "\n".join(refs))
    return "\n\n".join(parts)


def conversation_markdown(turns: list[tuple[str, Answer | str]], now: datetime | None = None) -> str:
    """The whole conversation: each question, then its answer (or the message shown instead of one)."""
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"# IVL chatbot conversation\n\nExported {when}. {NOTICE}"]
    for i, (question, reply) in enumerate(turns, 1):
        body = answer_markdown(reply) if isinstance(reply, Answer) else reply
        out.append(f"## {i}. {_text(question)}\n\n{body}")
    return "\n\n".join(out) + "\n"
