"""An answer's Markdown: each checked claim shown literally with its [n] markers, the dated list when the
sources differ, and the not-advice line. Only the validator calls `render`: nothing unchecked is shown."""

from __future__ import annotations

import re

from chatbot.models import NOT_ADVICE, SOURCES_DIFFER, Citation
from ivl_index.sentences import squash

MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~]|^[-+](?= )|!(?=\[))")
MARKER = re.compile(r"(?<!\\)\[(\d+)\]")


def escape_markdown(text: str) -> str:
    """Source text shown literally: no emphasis, links, images or HTML from a quote, and no fake [n]."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", squash(text))


def readable(markdown: str) -> str:
    """Escaped Markdown for pasting into notes: only the escapes that stop a link, image, emphasis, code, HTML or
    strikethrough are kept ("\\~800" reads "~800"; "\\[x\\](https://evil)" stays text)."""
    text = re.sub(r"\\([|#+-])", r"\1", markdown)
    return re.sub(r"(?<!\\~)\\~(?!\\~)", "~", text)


def render(claims: list[tuple[str, list[int]]], citations: dict[int, Citation], notices: list[str]) -> str:
    """claims: (text, citation numbers) in order; citations by number."""
    lines = [(escape_markdown(text), "".join(f"[{n}]" for n in cites), citations[cites[0]]) for text, cites in claims]
    if SOURCES_DIFFER in notices:
        body = f"*{SOURCES_DIFFER}*\n\n" + "\n".join(
            f"- {text} {marks} — {escape_markdown(c.title)}, {c.date}" for text, marks, c in lines
        )
    else:
        body = " ".join(f"{text} {marks}" for text, marks, _ in lines)
    if NOT_ADVICE in notices:
        body += f"\n\n*{NOT_ADVICE}*"
    return body


def plain(markdown: str) -> str:
    """An answer's Markdown as plain text for a file or a pipe: escapes and emphasis marks removed.

    >>> plain(r"With only \\~800 cases [1]. *The sources differ.*")
    'With only ~800 cases [1]. The sources differ.'
    """
    text = re.sub(r"(?<!\\)\*([^*\n]+)\*", r"\1", markdown)
    return re.sub(r"\\([\\`*_\[\]<>#|~!+-])", r"\1", text)


def markers(markdown: str) -> list[int]:
    """The [n] markers in rendered Markdown (escaped brackets from quoted text are not markers)."""
    return [int(n) for n in MARKER.findall(markdown)]
