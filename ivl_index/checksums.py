"""Sizes and hashes of the files of an index version or an encoder folder, recorded when it is written and
checked when it is opened: an overwritten vector file or one altered weight matrix changed a third of the
answers with no warning.

Opening checks each file's size and modification time (a stat); a file whose time moved is hashed, once per
process and state, so an untouched index costs no reading at all (see `damaged`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 20
_hashed: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> sha256, so a moved time is hashed once


def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    key = (str(path), size, mtime_ns)
    if key not in _hashed:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(CHUNK):
                digest.update(block)
        _hashed[key] = digest.hexdigest()
    return _hashed[key]


def record(folder: Path, skip: frozenset[str] = frozenset()) -> dict[str, dict]:
    """relative path -> {size, mtime_ns, sha256} of every file under `folder` but those named in `skip`."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name not in skip:
            st = path.stat()
            out[name] = {
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "sha256": _sha256(path, st.st_size, st.st_mtime_ns),
            }
    return out


def damaged(folder: Path, recorded: dict[str, dict]) -> str | None:
    """The name of the first recorded file that is missing or whose bytes differ from the record (e.g.
    'chroma/chroma.sqlite3' once it was truncated), else None."""
    for name, want in sorted(recorded.items()):
        path = folder / name
        try:
            st = path.stat()
        except OSError:
            return name
        if st.st_size != want["size"]:
            return name
        if st.st_mtime_ns != want["mtime_ns"]:
            try:
                if _sha256(path, st.st_size, st.st_mtime_ns) != want["sha256"]:
                    return name
            except OSError:
                return name
    return None
