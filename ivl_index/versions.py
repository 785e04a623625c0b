"""The version folders of a local index: `DATA_DIR/versions/<id>/` each hold one complete index, and
`DATA_DIR/current` is a symlink to the one in service. Ingest builds the next version beside it and switches
the link atomically, so a killed or failed ingest leaves the previous index serving; readers never write to a
version (see `private_copy`)."""

from __future__ import annotations

import atexit
import errno
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from ivl_index.settings import IndexSettings


def current(settings: IndexSettings) -> Path | None:
    """The version folder in service, or None before the first ingest."""
    link = settings.data_dir / "current"
    return link.resolve() if link.is_symlink() and link.resolve().is_dir() else None


def version(settings: IndexSettings) -> str:
    """Changes whenever ingest switches the index (server mode has a single, live index)."""
    if settings.chroma_host:
        return "server"
    link = settings.data_dir / "current"
    return os.readlink(link) if link.is_symlink() else ""


@contextmanager
def ingest_lock(settings: IndexSettings):
    """One ingest at a time per data directory; a second one waits (readers never take this lock)."""
    lock = FileLock(settings.data_dir / "ingest.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"another ingest is running on {settings.data_dir}; waiting for it", file=sys.stderr)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def disk_full(err: BaseException) -> bool:
    """Whether a failure was the disk filling up (shutil.copytree gathers each file's error as text in a list)."""
    return getattr(err, "errno", None) == errno.ENOSPC or any(
        s in str(err) for s in ("No space left on device", "disk is full")
    )


def new_version(settings: IndexSettings, fresh: bool = False) -> Path:
    """A copy of the current version (an empty folder when there is none or `fresh`) to build the next index in.
    A copy that fails (a full disk) is removed before the error is raised: it would take the last free space."""
    target = settings.data_dir / "versions" / f"{time.time_ns()}-{os.getpid()}"
    source = None if fresh else current(settings)
    if source is None:
        (target / "chroma").mkdir(parents=True)
    else:
        copy_folder(source, target)
    return target


def copy_folder(source: Path, target: Path) -> None:
    """shutil.copytree, but a copy that fails is removed, and its error is one OSError (copytree gathers each
    file's error as text in a list, which was once the whole message)."""
    try:
        shutil.copytree(source, target)
    except (OSError, shutil.Error) as err:
        discard(target)
        code = errno.ENOSPC if disk_full(err) else getattr(err, "errno", None) or errno.EIO
        raise OSError(code, f"{os.strerror(code)}: cannot copy {source} to {target.parent}") from None


def switch(settings: IndexSettings, target: Path) -> None:
    """Put `target` in service atomically (rename of a symlink), then drop all but it and its predecessor."""
    previous = current(settings)
    temp = settings.data_dir / f".current-{os.getpid()}"
    temp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, settings.data_dir), temp)
    os.replace(temp, settings.data_dir / "current")
    keep = {target.name, previous.name if previous else ""}
    for old in (settings.data_dir / "versions").iterdir():
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def discard(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


_copies: dict[Path, Path] = {}  # version's chroma folder -> this process's private copy of it


def private_copy(folder: Path) -> Path:
    """A copy of a version's Chroma folder in the temp dir, for this process only. Chroma (1.5) writes whenever it
    opens a folder (a lock row in chroma.sqlite3, HNSW files rewritten), which broke answering from a read-only
    or full data dir and would change a version's checksums; so no reader opens a version itself. The copy is
    removed when the process exits (2.3 MB for the corpus: ~5 ms)."""
    if folder not in _copies:
        place = Path(tempfile.mkdtemp(prefix="ivl-index-"))
        atexit.register(shutil.rmtree, place, True)
        copy_folder(folder, place / "chroma")
        _copies[folder] = place / "chroma"
    return _copies[folder]
