"""Chroma (local folder or server) plus the record manager that makes ingest incremental.

Two collections: `<name>` holds chunks (what retrieval searches), `<name>_sentences` holds each
chunk's sentences (what the answerer scores), both keyed by chunk id and kept in step by ingest.

Locally, an index is a folder `DATA_DIR/versions/<id>/` (Chroma files + the record manager's SQLite +
the sentence vector file + `index.json`, what it holds) and `DATA_DIR/current` is a symlink to the one in
service. Ingest builds the next version beside it and switches the link atomically, so a killed ingest leaves
the previous index serving, and readers never share a SQLite file with a writer (Chroma's PersistentClient is
not safe across processes).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from ivl_index.errors import IndexMissing, KnowledgeBaseUnavailable, ModelMismatch, UserError
from ivl_index.settings import IndexSettings


def chroma_settings():
    """Chroma client settings with its anonymized telemetry off (clinicians may type patient details)."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    from chromadb.config import Settings as ChromaSettings  # lazy: importing chromadb costs ~0.4 s

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def where(settings: IndexSettings) -> str:
    if settings.chroma_host:
        return f"Chroma server at {settings.chroma_host}:{settings.chroma_port}"
    return f"local index in {settings.data_dir}"


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


PAGE = 5000  # records per get(): Chroma's SQLite refuses one get() of ~32k ids or more ("too many SQL variables")


def all_records(collection, include: list[str]) -> dict[str, list]:
    """Every record of a collection, read in pages, so that opening a large index works (a single get() of
    the 50,490 chunks of the 1000x bench corpus failed)."""
    out: dict[str, list] = {"ids": [], **{k: [] for k in include}}
    while True:
        got = collection.get(include=include, limit=PAGE, offset=len(out["ids"]))
        for key in out:
            out[key].extend(got[key])
        if len(got["ids"]) < PAGE:
            return out


def client(settings: IndexSettings, root: Path | None = None):
    """A Chroma client: the server's, or the local one for version folder `root` (default: the current one)."""
    import chromadb  # lazy: see chroma_settings()

    try:
        if settings.chroma_host:
            return http_client(settings)
        root = root or current(settings)
        if root is None:
            raise IndexMissing(f"no index in {settings.data_dir}; run `ivl ingest` first")
        return chromadb.PersistentClient(path=str(root / "chroma"), settings=chroma_settings())
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 -- chromadb wraps connection failures in several types
        raise KnowledgeBaseUnavailable(
            f"knowledge base unavailable: cannot open the {where(settings)} ({type(err).__name__}: {err})"
        ) from None


def http_client(settings: IndexSettings):
    """The server's client, each whole request of it (from the first) limited to IVL_CHROMA_TIMEOUT seconds."""
    from ivl_index.chroma_http import server_client  # lazy: see chroma_settings()

    return server_client(settings.chroma_host, settings.chroma_port, settings.chroma_timeout, chroma_settings())


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


def new_version(settings: IndexSettings) -> Path:
    """A copy of the current version (or an empty folder) to build the next index in."""
    target = settings.data_dir / "versions" / f"{time.time_ns()}-{os.getpid()}"
    source = current(settings)
    if source is not None:
        shutil.copytree(source, target)
    else:
        (target / "chroma").mkdir(parents=True)
    return target


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


def collection_names(settings: IndexSettings) -> tuple[str, str]:
    return settings.collection, f"{settings.collection}_sentences"


def held_collections(client) -> set[str]:
    """The names of the collections a client holds (chromadb returns names or Collection objects by version)."""
    return {c.name if hasattr(c, "name") else c for c in client.list_collections()}


def model_of(collection) -> str | None:
    return (collection.metadata or {}).get("embedding_model")


VECTORS, VECTOR_IDS = "sentence-vectors.npy", "sentence-ids.npy"


def write_sentence_vectors(root: Path, sentences) -> None:
    """Every sentence vector of a local version, sorted by id, in one file beside Chroma's: the answerer
    memory-maps it, because a Chroma get of a question's ~40 unseen sentence vectors costs 2-4 ms at any
    index size (measured), which a 1000x index pays on most questions (its sentences outgrow the cache)."""
    got = all_records(sentences, ["embeddings"])
    order = sorted(range(len(got["ids"])), key=got["ids"].__getitem__)
    ids = np.array([got["ids"][i].encode() for i in order], dtype=bytes)
    vectors = np.asarray([got["embeddings"][i] for i in order], dtype=np.float32)
    for name, array in ((VECTORS, vectors), (VECTOR_IDS, ids)):
        temp = root / f".{name}"
        with temp.open("wb") as fh:
            np.save(fh, array)
        os.replace(temp, root / name)


MANIFEST = "index.json"


def source_digest(chunk_ids: list[str], sentence_ids: list[str]) -> str:
    """Names one document's exact records: the same chunks and sentences give the same digest."""
    return hashlib.sha256("\x1f".join(sorted(chunk_ids) + ["|"] + sorted(sentence_ids)).encode()).hexdigest()[:32]


def write_manifest(root: Path, model_name: str, chunks, sentences) -> None:
    """What a local version holds, read back from its collections after ingest wrote them: the model, and each
    document's title and record digest. The next ingest reads only this file to learn that nothing changed,
    without importing Chroma, torch or the model."""
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
    data = {
        "embedding_model": model_name,
        "sources": {
            sid: {"title": titles.get(sid, sid), "file": files.get(sid, ""), "digest": source_digest(*pair)}
            for sid, pair in ids.items()
        },
    }
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


def file_name(meta: dict) -> str:
    """The name of the file a chunk's document was ingested from."""
    return Path(str(meta.get("path", ""))).name


def files_held(chunks) -> dict[str, str]:
    """source id -> the name of the file each document in a chunk collection was ingested from."""
    return {m["source_id"]: file_name(m) for m in all_records(chunks, ["metadatas"])["metadatas"]}


def documents_held(chunks) -> dict[str, str]:
    """source id -> title of every document in a chunk collection."""
    got = all_records(chunks, ["metadatas"])
    return {m["source_id"]: str(m.get("title") or m["source_id"]) for m in got["metadatas"]}


class SentenceVectors:
    """The vector file of one local version: sentence id -> vector without asking Chroma."""

    def __init__(self, root: Path):
        self.ids = np.load(root / VECTOR_IDS)
        self.vectors = np.load(root / VECTORS, mmap_mode="r")
        if len(self.ids) != len(self.vectors):
            raise ValueError(f"{len(self.ids)} ids but {len(self.vectors)} vectors")

    def get(self, keys: list[str]) -> dict:
        """The vectors of the ids the file holds (an id it lacks is not in the index either)."""
        if not len(self.ids):
            return {}
        wanted = np.array([k.encode() for k in keys], dtype=bytes)
        rows = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)
        found = self.ids[rows] == wanted
        vectors = np.asarray(self.vectors[rows[found]], dtype=np.float32)
        return dict(zip((k for k, ok in zip(keys, found) if ok), vectors))


def sentence_vectors(root: Path | None, warn: bool = True) -> SentenceVectors | None:
    """The version's vector file; None for a server index, or a version written before the file existed
    (both are read from Chroma). A damaged file is reported, and Chroma serves instead."""
    if root is None or not (root / VECTORS).exists():
        return None
    try:
        return SentenceVectors(root)
    except (OSError, ValueError) as err:
        if warn:
            print(f"warning: {root / VECTORS} is unreadable ({err}); reading sentence vectors from Chroma "
                  "instead. Run `ivl ingest` to write it again.", file=sys.stderr)  # fmt: skip
        return None


@dataclass
class OpenIndex:
    chunks: object  # chromadb Collection
    sentences: object
    vectors: SentenceVectors | None = None


def open_index(settings: IndexSettings, model_name: str) -> OpenIndex:
    """The built index, refusing one made by another model (its vectors would be meaningless to this one)."""
    root = None if settings.chroma_host else current(settings)
    c = client(settings, root)
    names = collection_names(settings)
    try:
        existing = {col.name if hasattr(col, "name") else col for col in c.list_collections()}
        if not set(names) <= existing:
            raise IndexMissing(f"no index in the {where(settings)}; run `ivl ingest` first")
        chunks, sentences = (c.get_collection(n) for n in names)
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 -- see client()
        raise KnowledgeBaseUnavailable(f"knowledge base unavailable: {where(settings)} ({type(err).__name__})") from None
    built_with = model_of(chunks)
    if built_with != model_name:
        raise ModelMismatch(
            f"the index was built with embedding model {built_with!r} but IVL_EMBEDDING_MODEL is {model_name!r}; "
            "run `ivl ingest` to rebuild it with this model, or set IVL_EMBEDDING_MODEL back"
        )
    return OpenIndex(chunks, sentences, sentence_vectors(root))


def collection_metadata(model_name: str, dimension: int) -> dict:
    return {"hnsw:space": "cosine", "embedding_model": model_name, "embedding_dim": dimension}


def forget_unwritten(client, manager, name: str) -> None:
    """Drop the records of ids the server's collection `name` does not hold, so the next sync writes them again.
    In server mode the records live in DATA_DIR and the vectors on the server: a server that lost writes (killed
    before they were durable, restored from a backup, collection deleted) must not leave the index short while
    the records say it is complete."""
    keys = manager.list_keys()
    present: set[str] = set()
    if name in held_collections(client):
        collection = client.get_collection(name)
        for start in range(0, len(keys), PAGE):
            present.update(collection.get(ids=keys[start : start + PAGE], include=[])["ids"])
    missing = [k for k in keys if k not in present]
    if missing:
        manager.delete_keys(missing)


def record_manager(settings: IndexSettings, kind: str, root: Path | None = None):
    """Records live beside the vectors they describe: in the version folder, or (server mode) in DATA_DIR."""
    from langchain_classic.indexes import SQLRecordManager  # lazy: SQLAlchemy is only needed to write

    place = f"{settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host else "local"
    db = (settings.data_dir / "server-records.sqlite") if settings.chroma_host else (root / "records.sqlite")
    manager = SQLRecordManager(f"{place}/{settings.collection}/{kind}", db_url=f"sqlite:///{db}")
    manager.create_schema()
    return manager
