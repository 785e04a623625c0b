"""One document model for every file type: the text as read, its sections as character spans, and attribution.
`citation_meta` is the contract: the fields every chunk carries so an answer can cite it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Section:
    name: str
    start: int  # character offsets into SourceDocument.text
    end: int
    indexed: bool = True


@dataclass
class SourceDocument:
    source_id: str
    path: Path
    text: str  # the file's text; chunk spans point into it
    sections: list[Section]
    meta: dict = field(default_factory=dict)  # title, authors/publisher, date, url, licence, evidence, ...

    @property
    def title(self) -> str:
        return str(self.meta.get("title") or self.source_id)

    def citation_meta(self) -> dict[str, str]:
        """The scalar fields each chunk carries so that an answer can cite it without reopening the file."""
        by = self.meta.get("publisher") or ", ".join(self.meta.get("authors") or []) or ""
        return {
            "source_id": self.source_id,
            "title": self.title,
            "by": str(by),
            "date": str(self.meta.get("date") or ""),
            "url": str(self.meta.get("url") or ""),
            "licence": str(self.meta.get("licence") or ""),
            "evidence": str(self.meta.get("evidence") or "unclassified document"),
            "path": str(self.path),
        }


# The section holding a source's own dating, authorship and licence lines (corpus/build_from_seeds.py writes it):
# it answers questions about the source, never a question about the disease.
SOURCE_DETAILS = "Source details"
# How the corpus marks a line it adds from a source's catalogue record (publisher, journal, licence): the line is
# the record's words, not the source's, so it is shown as "from the source's record", never quoted as the source.
RECORD_MARK = "(from the source record)"


def from_record(text: str) -> bool:
    return RECORD_MARK in text
