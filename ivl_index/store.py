"""Opening the index for answering, checked, and the record manager that makes ingest incremental.

A local index is a version folder (ivl_index/versions.py) holding Chroma's files, the record manager's SQLite,
the sentence vector file (ivl_index/vector_file.py), the editor's notes (ivl_index/notes.py) and `index.json`
(ivl_index/manifest.py). Opening one checks every file against the checksums ingest recorded and reads a
private copy of Chroma's folder: answering never writes to the data dir, and a damaged or unreadable index
ends in one line naming `ivl ingest`, which rebuilds it.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ivl_index import manifest, notes
from ivl_index.chroma import PAGE, all_records, client, collection_names, held_collections, model_of, where
from ivl_index.errors import IndexMissing, KnowledgeBaseUnavailable, ModelMismatch, UserError
from ivl_index.settings import IndexSettings
from ivl_index.vector_file import SentenceVectors, sentence_vectors
from ivl_index.versions import current


@dataclass
class OpenIndex:
    chunks: object  # chromadb Collection
    sentences: object
    vectors: SentenceVectors | None = None
    notes: dict[str, dict[str, str]] = field(default_factory=dict)  # source id -> sentence -> editor's note
    broken: str = ""  # what to say if reading it fails

    def read_chunks(self, embeddings_up_to: int) -> tuple[dict[str, list], bool]:
        """Every chunk record, with their vectors when there are at most `embeddings_up_to` of them (and whether
        there were)."""
        with unreadable(self.broken):
            exact = self.chunks.count() <= embeddings_up_to
            return all_records(self.chunks, ["documents", "metadatas", *(["embeddings"] if exact else [])]), exact


@contextmanager
def unreadable(message: str):
    """Any failure inside ends in KnowledgeBaseUnavailable with `message`. Chroma's Rust core panics on a damaged
    file (pyo3's PanicException derives from BaseException, not Exception), so all but an interrupt is caught."""
    try:
        yield
    except (UserError, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as err:  # noqa: BLE001 -- see above
        raise KnowledgeBaseUnavailable(f"knowledge base unavailable: {message} ({type(err).__name__})") from None


def verified(settings: IndexSettings) -> Path:
    """The version in service, once every file of it is as ingest wrote it."""
    root = current(settings)
    if root is None:
        raise IndexMissing(f"no index in {settings.data_dir}; run `ivl ingest` first")
    bad = manifest.damaged(root)
    if bad:
        raise KnowledgeBaseUnavailable(f"knowledge base unavailable: {manifest.rebuild_hint(root, bad)}")
    return root


def open_index(settings: IndexSettings, model_name: str) -> OpenIndex:
    """The built index, refusing one made by another model (its vectors would be meaningless to this one)."""
    if settings.chroma_host:
        root, broken = None, f"the {where(settings)} cannot be read"
        c = client(settings)
    else:
        root = verified(settings)
        broken = f"the index in {root} cannot be read; run `ivl ingest` to rebuild it"
        with unreadable(broken):
            c = client(settings)
    names = collection_names(settings)
    with unreadable(broken):
        if not set(names) <= held_collections(c):
            raise IndexMissing(f"no index in the {where(settings)}; run `ivl ingest` first")
        chunks, sentences = (c.get_collection(n) for n in names)
    built_with = model_of(chunks)
    if built_with != model_name:
        raise ModelMismatch(
            f"the index was built with embedding model {built_with!r} but IVL_EMBEDDING_MODEL is {model_name!r}; "
            "run `ivl ingest` to rebuild it with this model, or set IVL_EMBEDDING_MODEL back"
        )
    with unreadable(broken):
        held_notes = notes.read_version_notes(root) if root else {}
    return OpenIndex(chunks, sentences, sentence_vectors(root), held_notes, broken)


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
