"""What the chat shows: an answer with clickable [n] markers, its sources grouped by document (each citation's
quote highlighted inside its passage, a link to the same place in the Sources tab), editor's notes, glossary
definitions, and the clean Markdown the copy button takes (ivl/export.py).

Everything that came from a user or a document is escaped here; the chatbot's HTML sanitizer stays on too.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

from chatbot.glossary import Glossary
from chatbot.models import Answer, Citation
from chatbot.render import MARKER, escape_markdown, source_refs
from ivl.export import answer_markdown

CLINICIAN, STUDENT = "Clinician", "Student"


def safe_url(url: str) -> str:
    return url if re.match(r"^https?://[^\s\"'<>]+$", url or "") else ""


def source_link(source_id: str, start: int, end: int) -> str:
    """The page's own address opening the Sources tab at [start, end) of a document (ui.py reads it)."""
    return "?" + urlencode({"doc": source_id, "at": start, "to": end})


def _text(text: str) -> str:
    """Escaped, on one line: a blank line would end the HTML block inside the chat's Markdown."""
    return html.escape(" ".join(text.split()))


def passage(citation: Citation, chunk: tuple[str, int] | None) -> str:
    """The cited chunk with the quote marked; the quote alone when the chunk is unknown or has moved."""
    if chunk is not None:
        text, chunk_start = chunk
        at, to = citation.start - chunk_start, citation.end - chunk_start
        if 0 <= at < to <= len(text) and " ".join(text[at:to].split()) == " ".join(citation.quote.split()):
            return f"{_text(text[:at])} <mark>{_text(text[at:to])}</mark> {_text(text[to:])}"
    return f"<mark>{_text(citation.quote)}</mark>"


def render_sources(answer: Answer, key: str, chunks) -> str:
    """Citations grouped by document, in order of first citation: the document's details once, then each
    citation [n] as a collapsible passage with its quote highlighted. `key` makes the ids unique on the page;
    `chunks.get(chunk_id)` gives a chunk's (text, start offset) or None (a dict, or ui.Passages)."""
    groups: dict[str, list[Citation]] = {}
    for c in answer.citations:
        groups.setdefault(c.source_id, []).append(c)
    docs = []
    for cites in groups.values():
        first = cites[0]
        url = safe_url(first.url)
        link = f' · <a href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">{html.escape(url)}</a>' if url else ""
        items = []
        for c in cites:
            note = f'<div class="ivl-note"><b>Editor\'s note</b> (not the source\'s words): {_text(c.note)}</div>' if c.note else ""
            if c.record:
                note += "<div class=\"ivl-note\"><b>From the source's record</b>, not the source's own words</div>"
            opener = ""
            if c.start >= 0:
                opener = f'<a class="ivl-open" href="{html.escape(source_link(c.source_id, c.start, c.end))}" target="_blank">Open in the Sources tab</a>'
            items.append(
                f'<details id="ivl-{key}-{c.n}" class="ivl-c"><summary>[{c.n}] {_text(c.section)}</summary>'
                f'<div class="ivl-passage">{passage(c, chunks.get(c.chunk_id))}</div>{opener}{note}</details>'
            )
        docs.append(
            f'<div class="ivl-doc"><b>{_text(first.title)}</b> · {_text(first.date)} · <i>{_text(first.evidence)}</i>{link}'
            f'{"".join(items)}</div>'
        )
    return f'<div class="ivl-sources"><b>Sources</b>{"".join(docs)}</div>'


def render_related(answer: Answer) -> str:
    """Under a refusal: the closest passages, plainly labelled as not an answer, each openable in the Sources tab."""
    if not answer.related:
        return ""
    items = "".join(
        f'<li><b>{_text(r.title)}</b> — {_text(r.section)}: “{_text(r.quote)}”'
        + (f' <a class="ivl-open" href="{html.escape(source_link(r.source_id, r.start, r.end))}" target="_blank">Open in the Sources tab</a>' if r.start >= 0 else "")
        + "</li>"
        for r in answer.related
    )
    return f'<div class="ivl-related"><b>Closest passages — not an answer</b><ul>{items}</ul></div>\n\n'


def render_definition(answer: Answer) -> str:
    d = answer.definition
    if d is None:
        return ""
    return (
        f'<div class="ivl-def"><b>Definition: {_text(d.term)}</b> <i>(from this tool\'s glossary, not from the '
        f"sources)</i><br>{_text(d.text)}</div>\n\n"
    )


def render_glossary(answer: Answer, glossary: Glossary) -> str:
    asked = answer.definition.term if answer.definition else None
    found = [e for e in glossary.terms_in(" ".join(answer.sentences)) if e.term != asked]
    if not found:
        return ""
    rows = "".join(f"<li><b>{_text(e.term)}</b>: {_text(e.definition)}</li>" for e in found)
    return (
        '<div class="ivl-glossary"><b>Terms explained</b> <i>(general definitions from this tool\'s glossary, '
        f"not claims from the sources)</i><ul>{rows}</ul></div>"
    )


def render_follows(answer: Answer) -> str:
    """One line when the conversation shaped the answer, with the question's own text kept for the page's "Ask it
    on its own" link (ivl/page/chat.js reads it and asks again without the conversation)."""
    if not answer.follows:
        return ""
    return (
        f'<div class="ivl-follows">Read as a follow-up to: “{_text(answer.follows)}” · '
        f'<a class="ivl-alone" href="#">Ask it on its own</a>'
        f'<span class="ivl-q" hidden title="{html.escape(answer.question)}"></span></div>\n\n'
    )


def copy_text(answer: Answer) -> str:
    """The clean Markdown, kept in a hidden element the page's copy button reads (ivl/page/chat.js). Newlines
    as character references: a blank line would end the HTML block."""
    return f'<span class="ivl-md" hidden title="{html.escape(answer_markdown(answer)).replace(chr(10), "&#10;")}"></span>'


def render_answer(answer: Answer, view: str, glossary: Glossary, key: str, chunks, feedback: str = "") -> str:
    """One assistant message. `feedback` is the confirmation shown just above the thumbs once they are used."""
    tail = (f'\n\n<div class="ivl-feedback">{_text(feedback)}</div>' if feedback else "") + copy_text(answer)
    if answer.abstained:
        return f"{render_follows(answer)}{render_definition(answer)}> **Not in the sources.** {answer.answer}\n\n{render_related(answer)}{tail}"
    text = source_refs(answer.answer, lambda refs: f'<span class="ivl-ref" title="the source\'s own reference">(ref. {refs})</span>')
    text = MARKER.sub(lambda m: f'<a class="ivl-cite" href="#ivl-{key}-{m.group(1)}">[{m.group(1)}]</a>', text)
    text = f"{render_follows(answer)}{render_definition(answer)}{text}\n\n{render_sources(answer, key, chunks)}"
    if view == STUDENT:
        text += render_glossary(answer, glossary)
    return text + tail


def render_section(doc, section_name: str, mark: tuple[int, int] | None = None) -> str:
    """A section of a document for the Sources tab, with [start, end) of the document marked when given."""
    section = next((s for s in doc.sections if s.name == section_name), None)
    meta = doc.citation_meta()
    url = safe_url(meta["url"])
    head = (
        f"### {escape_markdown(doc.title)}\n\n"
        f"{escape_markdown(meta['by'])} · {escape_markdown(meta['date'])} · *{escape_markdown(meta['evidence'])}*  \n"
        + (f"[{url}]({url})  \n" if url else "")
        + f"Licence: {escape_markdown(meta['licence'] or 'not stated')}\n\n"
    )
    if section is None:
        return head
    note = "" if section.indexed else "*This section is shown for reference; answers do not quote it.*\n\n"
    paragraphs, at = [], section.start
    for para in re.split(r"(\n\s*\n)", doc.text[section.start : section.end]):
        start, at = at, at + len(para)
        if not para.strip():
            continue
        if mark and start < mark[1] and mark[0] < at:
            a, b = max(mark[0], start) - start, min(mark[1], at) - start
            paragraphs.append(
                f"{escape_markdown(para[:a])} <mark id=\"ivl-here\">{escape_markdown(para[a:b])}</mark> {escape_markdown(para[b:])}"
            )
        else:
            paragraphs.append(escape_markdown(para))
    return f"{head}#### {escape_markdown(section.name)}\n\n{note}" + "\n\n".join(paragraphs)


def section_at(doc, offset: int) -> str | None:
    """The name of the section of `doc` holding character `offset`."""
    return next((s.name for s in doc.sections if s.start <= offset < s.end), None)
