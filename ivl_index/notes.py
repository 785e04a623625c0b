"""Editor's notes on known flaws of the sources: `notes.yaml` beside the documents, each note attached to one
sentence quoted exactly. Ingest reads them (a bad file stops ingest, not the next question), checks that every
note's sentence is still in its document, and stores the notes of the documents it indexes with the index
version (`notes.json`: written by `write_version_notes`, read by `read_version_notes`). Every citation of a
noted sentence carries the note (`Citation.note`), shown as the editor's, never as the source's claim."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from ivl_index.documents import SourceDocument
from ivl_index.errors import IngestError
from ivl_index.sentences import squash

NOTES_FILE = "notes.yaml"
VERSION_NOTES, FORMAT = "notes.json", 1

Notes = dict[str, dict[str, str]]  # source id -> sentence (whitespace squashed) -> note


def notes_in(folder: Path) -> dict[tuple[str, str], str]:
    """(source id, sentence) -> note, for the notes file in this folder (none: no notes)."""
    path = folder / NOTES_FILE
    if not path.exists():
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        if not all(isinstance(n[k], str) for n in raw for k in ("sentence", "note")):
            raise TypeError("a sentence or note that is not text")  # a list as sentence was a traceback
        return {(str(n["source_id"]), squash(n["sentence"])): n["note"] for n in raw}
    except (OSError, UnicodeDecodeError, yaml.YAMLError, TypeError, KeyError) as err:
        raise IngestError(
            f"{path}: cannot read the editor's notes ({type(err).__name__}); each entry needs source_id, sentence "
            "and note (the index is unchanged)"
        ) from None


def notes_for(docs: list[SourceDocument]) -> Notes:
    """The notes on the documents being ingested, each checked to quote a sentence that is still in its document."""
    out: Notes = {d.source_id: {} for d in docs}
    for folder in sorted({d.path.parent for d in docs}):
        texts = {d.source_id: squash(d.text) for d in docs if d.path.parent == folder}
        for (source_id, sentence), note in notes_in(folder).items():
            if source_id not in texts:
                continue
            if sentence not in texts[source_id]:
                raise IngestError(
                    f"{folder / NOTES_FILE}: a note on {source_id} quotes a sentence that is no longer in it: "
                    f"“{sentence[:80]}…”; update or remove the note (the index is unchanged)"
                )
            out[source_id][sentence] = note
    return out


def read_version_notes(root: Path) -> Notes:
    """The notes stored with an index version (none for a version written before they were)."""
    try:
        data = json.loads((root / VERSION_NOTES).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    if data.get("format") != FORMAT:
        raise ValueError(f"{root / VERSION_NOTES} has format {data.get('format')!r}, not {FORMAT}")
    return data["notes"]


def write_version_notes(root: Path, given: Notes, kept: set[str]) -> None:
    """Store with the version the notes of the documents given this run, and the notes it already held for the
    other documents it still holds (`kept`)."""
    held = {sid: n for sid, n in read_version_notes(root).items() if sid in kept}
    temp = root / f".{VERSION_NOTES}"
    temp.write_text(json.dumps({"format": FORMAT, "notes": held | given}, sort_keys=True), encoding="utf-8")
    os.replace(temp, root / VERSION_NOTES)


def note_on(notes: dict[str, str], sentence: str) -> str:
    """The editor's note on a sentence, given its document's notes, or ''."""
    return notes.get(squash(sentence), "")
