"""`index.json`, what a local version holds: the model, each document's title, file and record digest, and the
size and hash of every other file of the version. The next ingest reads only this file to learn that nothing
changed (without importing Chroma, torch or the model); every open checks the files against it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ivl_index import checksums
from ivl_index.chroma import all_records

MANIFEST = "index.json"


def source_digest(chunk_ids: list[str], sentence_ids: list[str]) -> str:
    """Names one document's exact records: the same chunks and sentences give the same digest."""
    return hashlib.sha256("\x1f".join(sorted(chunk_ids) + ["|"] + sorted(sentence_ids)).encode()).hexdigest()[:32]


def file_name(meta: dict) -> str:
    """The name of the file a chunk's document was ingested from."""
    return Path(str(meta.get("path", ""))).name


def describe(model_name: str, chunks, sentences) -> dict:
    """The manifest of a version, read back from its collections after ingest wrote them (`seal` writes it)."""
    ids: dict[str, tuple[list[str], list[str]]] = {}
    titles: dict[str, str] = {}
    files: dict[str, str] = {}
    for kind, collection in enumerate((chunks, sentences)):
        got = all_records(collection, ["metadatas"])
        for key, meta in zip(got["ids"], got["metadatas"]):
            ids.setdefault(meta["source_id"], ([], []))[kind].append(key)
            if kind == 0:
                titles.setdefault(meta["source_id"], str(meta.get("title") or meta["source_id"]))
                files.setdefault(meta["source_id"], file_name(meta))
    return {
        "embedding_model": model_name,
        "sources": {
            sid: {"title": titles.get(sid, sid), "file": files.get(sid, ""), "digest": source_digest(*pair)}
            for sid, pair in ids.items()
        },
    }


def seal(root: Path, manifest: dict) -> None:
    """Write the manifest with the checksum of every file of the version (call it once they are all closed)."""
    data = manifest | {"files": checksums.record(root, skip=frozenset({MANIFEST, f".{MANIFEST}"}))}
    temp = root / f".{MANIFEST}"
    temp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(temp, root / MANIFEST)


def read_manifest(root: Path | None) -> dict | None:
    """A version's manifest; None for a server index, or a version written before manifests (or damaged)."""
    if root is None:
        return None
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        return data if isinstance(data.get("sources"), dict) else None
    except (OSError, ValueError, AttributeError):
        return None


def damaged(root: Path) -> str | None:
    """The file of a local version that is missing or not as ingest wrote it (the manifest itself, when it is
    unreadable or predates checksums), else None."""
    manifest = read_manifest(root)
    if manifest is None or not isinstance(manifest.get("files"), dict):
        return MANIFEST
    return checksums.damaged(root, manifest["files"])


def rebuild_hint(root: Path, name: str) -> str:
    """The one line every damaged version ends in."""
    return f"the index file {root / name} is damaged or missing; run `ivl ingest` to rebuild the index"


def files_held(chunks) -> dict[str, str]:
    """source id -> the name of the file each document in a chunk collection was ingested from."""
    return {m["source_id"]: file_name(m) for m in all_records(chunks, ["metadatas"])["metadatas"]}


def documents_held(chunks) -> dict[str, str]:
    """source id -> title of every document in a chunk collection."""
    got = all_records(chunks, ["metadatas"])
    return {m["source_id"]: str(m.get("title") or m["source_id"]) for m in got["metadatas"]}
