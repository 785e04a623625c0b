"""Editor's notes on known flaws of the sources: `notes.yaml` beside the documents, each note attached to one
sentence quoted exactly. Ingest checks that every note's sentence is still in its document; every citation of
that sentence carries the note (`Citation.note`), shown as the editor's, never as the source's claim."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from ivl_index.documents import SourceDocument
from ivl_index.errors import IngestError
from ivl_index.sentences import squash

NOTES_FILE = "notes.yaml"


@lru_cache(maxsize=16)
def _read(path: Path, mtime: float) -> dict[tuple[str, str], str]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        if not all(isinstance(n[k], str) for n in raw for k in ("sentence", "note")):
            raise TypeError("a sentence or note that is not text")  # a list as sentence was a traceback
        return {(str(n["source_id"]), squash(n["sentence"])): n["note"] for n in raw}
    except (OSError, UnicodeDecodeError, yaml.YAMLError, TypeError, KeyError) as err:
        raise IngestError(
            f"{path}: cannot read the editor's notes ({type(err).__name__}); each entry needs source_id, sentence "
            "and note"
        ) from None


def notes_in(folder: Path) -> dict[tuple[str, str], str]:
    """(source id, sentence) -> note, for the notes file in this folder (none: no notes). Read again only when
    the file changes."""
    path = folder / NOTES_FILE
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {}
    return _read(path, mtime)


def note_for(document_path: str, source_id: str, sentence: str) -> str:
    """The editor's note on a sentence of the document at this path, or ''."""
    if not document_path:
        return ""
    return notes_in(Path(document_path).parent).get((source_id, squash(sentence)), "")


def check_notes(docs: list[SourceDocument]) -> None:
    """Every note on a document being ingested must quote a sentence that is still in it."""
    for folder in sorted({d.path.parent for d in docs}):
        texts = {d.source_id: squash(d.text) for d in docs if d.path.parent == folder}
        for (source_id, sentence), _ in notes_in(folder).items():
            if source_id in texts and sentence not in texts[source_id]:
                raise IngestError(
                    f"{folder / NOTES_FILE}: a note on {source_id} quotes a sentence that is no longer in it: "
                    f"“{sentence[:80]}…”; update or remove the note (the index is unchanged)"
                )
