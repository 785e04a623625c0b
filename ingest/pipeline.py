"""`ivl ingest`: read every file first, then chunk, then let LangChain's indexing API sync Chroma.

Nothing touches the index until every file has loaded, so one bad file leaves the index as it was.
Locally the sync runs on a copy that is switched in only when complete (see ingest/store.py), so a
crash, a kill or a full disk also leave the previous index serving.
The index mirrors the files given (default: the corpus folder): a file no longer there loses its chunks.
"""

from __future__ import annotations

import errno
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from langchain_core.documents import Document
from tqdm import tqdm

from ingest.chunking import chunk_document
from ingest.dedupe import drop_duplicates
from ingest.loaders import discover, load
from ingest.onnx_export import ensure_onnx
from ivl_index import store
from ivl_index.documents import SourceDocument
from ivl_index.embeddings import ModelEmbeddings
from ivl_index.errors import IngestError, KnowledgeBaseUnavailable, UserError
from ivl_index.notes import check_notes
from ivl_index.sentences import chunk_sentences
from ivl_index.settings import IndexSettings

INDEX_BATCH = 256  # documents per indexing round; the model still batches by IVL_EMBEDDING_BATCH_SIZE inside it


@dataclass
class IngestReport:
    documents: int
    chunks: int
    added: int
    updated: int
    deleted: int
    skipped: int
    seconds: float
    embedded: int = 0  # texts sent to the model this run (chunks and sentences)
    sentences: int = 0
    duplicates: dict[str, str] = field(default_factory=dict)  # dropped file -> source_id it repeats
    rebuilt: str | None = None  # why the whole index was rebuilt, if it was
    query_encoder: str = ""  # what will embed questions: "onnx", or "sentence-transformers: <why not onnx>"
    per_document: dict[str, dict] = field(default_factory=dict)

    def json(self) -> dict:
        return asdict(self)


def load_all(paths: list[Path], max_mb: float = 50) -> list[SourceDocument]:
    files = discover(paths)
    if not files:
        raise IngestError(f"no supported files in {', '.join(map(str, paths))}")
    errors, docs = [], []
    for path in files:
        try:
            docs.append(load(path, max_mb))
        except IngestError as err:
            errors.append(str(err))
    if errors:
        raise IngestError("nothing was ingested; the index is unchanged:\n  " + "\n  ".join(errors))
    seen: dict[str, Path] = {}
    for doc in docs:
        if doc.source_id in seen:
            raise IngestError(f"{doc.path} and {seen[doc.source_id]} share source_id {doc.source_id!r}; rename one")
        seen[doc.source_id] = doc.path
    return docs


def sentence_documents(chunks: list[Document]) -> list[Document]:
    """Each sentence once, even where overlapping chunks share it, located by its span in the source file."""
    out: dict[str, Document] = {}
    for chunk in chunks:
        for key, text, start, end in chunk_sentences(chunk):
            out.setdefault(
                key,
                Document(
                    page_content=text,
                    metadata={"source_id": chunk.metadata["source_id"], "start": start, "end": end, "sentence_id": key},
                ),
            )
    return list(out.values())


def _vector_store(client, name: str, embeddings: ModelEmbeddings):
    from langchain_chroma import Chroma  # lazy: only a sync needs it

    return Chroma(
        client=client,
        collection_name=name,
        embedding_function=embeddings,
        collection_metadata=store.collection_metadata(embeddings.name, embeddings.dimension),
    )


def _reset_if_other_model(client, settings: IndexSettings, model_name: str, root: Path | None) -> str | None:
    """An index of another model cannot be updated in place: its vectors live in another space."""
    existing = {c.name if hasattr(c, "name") else c for c in client.list_collections()}
    names = store.collection_names(settings)
    built_with = {store.model_of(client.get_collection(n)) for n in names if n in existing}
    if not built_with or built_with == {model_name}:
        return None
    for n in names:
        if n in existing:
            client.delete_collection(n)
    for kind in ("chunks", "sentences"):
        manager = store.record_manager(settings, kind, root)
        manager.delete_keys(manager.list_keys())
    return f"index was built with {sorted(map(str, built_with))}; rebuilt with {model_name}"


def _sync(settings: IndexSettings, root: Path | None, embeddings, chunks, sentences, progress: bool):
    """Bring the two collections (in `root`, or on the server) in line with these chunks and sentences."""
    from langchain_core.indexing import index  # lazy: only a sync needs it

    client = store.client(settings, root)
    rebuilt = _reset_if_other_model(client, settings, embeddings.name, root)
    results = {}
    for kind, items, name in (
        ("chunks", chunks, store.collection_names(settings)[0]),
        ("sentences", sentences, store.collection_names(settings)[1]),
    ):
        # Length order keeps padding low in each model batch: padded word pieces are most of the cost otherwise.
        ordered = sorted(items, key=lambda d: len(d.page_content))
        bar = tqdm(ordered, desc=f"Indexing {kind}", unit=kind[:-1], disable=not progress, leave=False)
        manager = store.record_manager(settings, kind, root)
        if root is None:  # server mode: records and vectors live apart (see store.forget_unwritten)
            store.forget_unwritten(client, manager, name)
        results[kind] = index(
            bar,
            manager,
            _vector_store(client, name, embeddings),
            cleanup="full",
            source_id_key="source_id",
            key_encoder=lambda d: d.metadata["chunk_id" if "chunk_id" in d.metadata else "sentence_id"],
            batch_size=INDEX_BATCH,
        )
    return results, rebuilt


def _sync_on_server(settings: IndexSettings, embeddings, chunks, sentences, progress: bool):
    """Sync in place on the server: a server lost or frozen mid-run ends the run with one line; the next run
    completes the index (records first dropped for anything the server does not hold)."""
    try:
        return _sync(settings, None, embeddings, chunks, sentences, progress)
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 -- a lost server surfaces as many httpx/chromadb types
        raise KnowledgeBaseUnavailable(
            f"knowledge base unavailable: the {store.where(settings)} stopped answering during ingest "
            f"({type(err).__name__}); run `ivl ingest` again when it is back, it completes the index"
        ) from None


def _build_beside(settings: IndexSettings, embeddings, chunks, sentences, progress: bool):
    """Sync a copy of the current version; switch to it only if it is complete and different."""
    try:
        root = store.new_version(settings)
    except OSError as err:
        raise IngestError(f"cannot prepare the new index in {settings.data_dir}: {err.strerror or err}") from None
    try:
        results, rebuilt = _sync(settings, root, embeddings, chunks, sentences, progress)
        # A version without a readable vector file (older, or damaged) gets one on its next ingest, changed or not.
        changed = (
            rebuilt
            or store.current(settings) is None
            or any(r["num_added"] or r["num_deleted"] or r["num_updated"] for r in results.values())
            or store.sentence_vectors(root, warn=False) is None  # last: it reads the file
        )
        if changed:
            store.write_sentence_vectors(root, store.client(settings, root).get_collection(
                store.collection_names(settings)[1]))  # fmt: skip
    except BaseException as err:
        store.discard(root)
        if isinstance(err, UserError) or not isinstance(err, Exception):
            raise
        full = " (the disk is full)" if getattr(err, "errno", None) == errno.ENOSPC or "disk is full" in str(err) else ""
        raise IngestError(
            f"ingest failed{full}; the previous index is unchanged ({type(err).__name__}: {err})"
        ) from None
    if changed:
        store.switch(settings, root)
    else:
        store.discard(root)  # nothing changed: keep serving the same files
    return results, rebuilt


def run_ingest(
    settings: IndexSettings,
    paths: list[Path] | None = None,
    embeddings: ModelEmbeddings | None = None,
    progress: bool = True,
) -> IngestReport:
    started = time.perf_counter()

    def say(step: str) -> None:
        """A first ingest loads a model and exports it for minutes' worth of silence otherwise: name each step."""
        if progress:
            print(f"{step}...", file=sys.stderr, flush=True)

    say("Reading documents")
    docs = load_all(paths or [settings.corpus_dir], settings.max_file_mb)
    docs, duplicates = drop_duplicates(docs)
    check_notes(docs)
    say(f"Chunking {len(docs)} documents (loading the embedding model {settings.embedding_model})")
    embeddings = embeddings or ModelEmbeddings(settings.embedding_model, settings.embedding_batch_size)
    max_tokens = min(settings.chunk_max_tokens, embeddings.max_tokens)
    target = min(settings.chunk_target_tokens, max_tokens)
    chunks: list[Document] = []
    per_document: dict[str, dict] = {}
    for doc in docs:
        doc_chunks = chunk_document(doc, embeddings.count_tokens, max_tokens, target, settings.chunk_overlap_sentences)
        chunks += doc_chunks
        per_document[doc.source_id] = {
            "path": str(doc.path),
            "sections": sum(s.indexed for s in doc.sections),
            "chunks": len(doc_chunks),
        }
    sentences = sentence_documents(chunks)

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise IngestError(f"cannot use the data directory {settings.data_dir}: {err.strerror or err}") from None
    before = embeddings.embedded
    with store.ingest_lock(settings):
        if settings.chroma_host:
            results, rebuilt = _sync_on_server(settings, embeddings, chunks, sentences, progress)
        else:
            results, rebuilt = _build_beside(settings, embeddings, chunks, sentences, progress)
        if settings.query_encoder != "sentence-transformers":
            say("Checking the question encoder (exported to ONNX once per model)")
        encoder = "sentence-transformers" if settings.query_encoder == "sentence-transformers" else ensure_onnx(
            settings, embeddings
        )
    r = results["chunks"]
    return IngestReport(
        documents=len(docs),
        chunks=len(chunks),
        added=r["num_added"],
        updated=r["num_updated"],
        deleted=r["num_deleted"],
        skipped=r["num_skipped"],
        seconds=round(time.perf_counter() - started, 3),
        embedded=embeddings.embedded - before,
        sentences=len(sentences),
        duplicates=duplicates,
        rebuilt=rebuilt,
        per_document=per_document,
        query_encoder=encoder,
    )
