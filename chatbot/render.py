"""An answer's Markdown: each checked claim shown literally with its [n] markers, the dated list when the
sources differ, and the not-advice line. Only the validator calls `render`: nothing unchecked is shown."""

from __future__ import annotations

import re

from chatbot.models import NOT_ADVICE, SOURCES_DIFFER, Citation
from ivl_index.sentences import squash

MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~]|^[-+](?= )|!(?=\[))")
MARKER = re.compile(r"(?<!\\)\[(\d+)\]")
# A quoted source's own reference to its bibliography, as the case report writes them: a bare small number or
# list at a clause's end, "staging (1).", "(1, 2);", "(3-5)". Data in parentheses is not one: "(7.6% recurrence
# rate)", "(n = 12)", "(2019)", "(20-25°C)".
SOURCE_REF = re.compile(r"(?<=\s)\((\d{1,3}(?:(?:,\s?|\s?[-–]\s?)\d{1,3})*)\)(?=[.,;:]|\s*\[\d|\s*$)")


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


def source_refs(markdown: str, shown=lambda refs: f"(ref. {refs})") -> str:
    """An answer's Markdown with the sources' own reference numbers shown as `shown(refs)`, never confusable
    with this tool's [n]; the citation's quote keeps them verbatim.

    >>> source_refs("staging (1). [1] Radical surgery (7.6% recurrence rate) (8). [2]")
    'staging (ref. 1). [1] Radical surgery (7.6% recurrence rate) (ref. 8). [2]'
    """
    return SOURCE_REF.sub(lambda m: shown(m.group(1)), markdown)


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
