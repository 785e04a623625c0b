"""`ivl ingest`: read every file first, then chunk, then let LangChain's indexing API sync Chroma.

Nothing touches the index until every file has loaded, so one bad file leaves the index as it was.
Locally the sync runs on a copy that is switched in only when complete (see ivl_index/store.py), so a
crash, a kill or a full disk also leave the previous index serving.
Ingest adds and updates: each document given replaces its own chunks, and every other document in the index
stays. Removing one is explicit: `prune` (documents not given this run) or `remove_documents`, both naming what
they removed. What changed is decided before the embedding model loads (chunking counts word pieces with the
model's tokenizer file), so an unchanged re-ingest never imports torch.
"""

from __future__ import annotations

import errno
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from langchain_core.documents import Document

from ingest.chunking import chunk_document
from ingest.dedupe import drop_duplicates
from ingest.loaders import discover, load
from ingest.tokens import WordPieces
from ivl_index import store
from ivl_index.documents import Section, SourceDocument
from ivl_index.errors import IngestError, KnowledgeBaseUnavailable, UserError
from ivl_index.model_files import META, encoder_folder
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
    removed: dict[str, str] = field(default_factory=dict)  # source id -> title of each document removed (--prune)

    def json(self) -> dict:
        return asdict(self)


def load_all(paths: list[Path], max_mb: float = 50, max_sentences: int = 20_000) -> list[SourceDocument]:
    files = discover(paths)
    if not files:
        raise IngestError(f"no supported files in {', '.join(map(str, paths))}")
    errors, docs = [], []
    for path in files:
        try:
            docs.append(load(path, max_mb, max_sentences))
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


def _vector_store(client, name: str, embeddings):
    from langchain_chroma import Chroma  # lazy: only a sync needs it

    return Chroma(
        client=client,
        collection_name=name,
        embedding_function=embeddings,
        collection_metadata=store.collection_metadata(embeddings.name, embeddings.dimension),
    )


def _reset_if_other_model(client, settings: IndexSettings, model_name: str, root: Path | None) -> str | None:
    """An index of another model cannot be updated in place: its vectors live in another space."""
    existing = store.held_collections(client)
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


def _delete_documents(settings: IndexSettings, root: Path | None, client, source_ids: list[str]) -> int:
    """Every chunk and sentence of these documents, from Chroma and the record manager; returns chunks deleted."""
    if not source_ids:
        return 0  # the record manager reads no group ids as "every key": nothing to remove means nothing
    deleted = 0
    for kind, name in zip(("chunks", "sentences"), store.collection_names(settings)):
        manager = store.record_manager(settings, kind, root)
        keys = manager.list_keys(group_ids=source_ids)
        if keys:
            client.get_collection(name).delete(ids=keys)
            manager.delete_keys(keys)
        deleted += len(keys) if kind == "chunks" else 0
    return deleted


def _sync(settings: IndexSettings, root: Path | None, embeddings, chunks, sentences, bars: bool, prune: bool):
    """Bring these documents' records (in `root`, or on the server) in line with these chunks and sentences;
    other documents stay unless `prune`. Returns LangChain's counts per kind, why the index was rebuilt, and the
    documents pruned."""
    from langchain_core.indexing import index  # lazy: only a sync needs it
    from tqdm import tqdm

    client = store.client(settings, root)
    rebuilt = _reset_if_other_model(client, settings, embeddings.name, root)
    results = {}
    for kind, items, name in (
        ("chunks", chunks, store.collection_names(settings)[0]),
        ("sentences", sentences, store.collection_names(settings)[1]),
    ):
        # Length order keeps padding low in each model batch: padded word pieces are most of the cost otherwise.
        ordered = sorted(items, key=lambda d: len(d.page_content))
        bar = tqdm(ordered, desc=f"Indexing {kind}", unit=kind[:-1], disable=not bars, leave=False)
        manager = store.record_manager(settings, kind, root)
        if root is None:  # server mode: records and vectors live apart (see store.forget_unwritten)
            store.forget_unwritten(client, manager, name)
        results[kind] = index(
            bar,
            manager,
            _vector_store(client, name, embeddings),
            # Only the documents of this run are cleaned (their stale chunks); the others are kept.
            cleanup="scoped_full",
            source_id_key="source_id",
            key_encoder=lambda d: d.metadata["chunk_id" if "chunk_id" in d.metadata else "sentence_id"],
            batch_size=INDEX_BATCH,
        )
    removed: dict[str, str] = {}
    if prune:
        given = {c.metadata["source_id"] for c in chunks}
        held = store.documents_held(client.get_collection(store.collection_names(settings)[0]))
        removed = {sid: title for sid, title in sorted(held.items()) if sid not in given}
        results["chunks"]["num_deleted"] += _delete_documents(settings, root, client, list(removed))
    return results, rebuilt, removed


def _sync_on_server(settings: IndexSettings, embeddings, chunks, sentences, bars: bool, prune: bool):
    """Sync in place on the server: a server lost or frozen mid-run ends the run with one line; the next run
    completes the index (records first dropped for anything the server does not hold)."""
    try:
        return _sync(settings, None, embeddings, chunks, sentences, bars, prune)
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 -- a lost server surfaces as many httpx/chromadb types
        raise KnowledgeBaseUnavailable(
            f"knowledge base unavailable: the {store.where(settings)} stopped answering during ingest "
            f"({type(err).__name__}); run `ivl ingest` again when it is back, it completes the index"
        ) from None


def _complete(settings: IndexSettings, root: Path, model_name: str, changed: bool) -> bool:
    """Write the version's sentence vector file and manifest when it changed (or lacks either); returns whether
    to switch to it (otherwise it is discarded and the same files keep serving)."""
    changed = (
        changed
        or store.current(settings) is None
        or store.read_manifest(root) is None
        or store.sentence_vectors(root, warn=False) is None  # last: it reads the file
    )
    if changed:
        c = store.client(settings, root)
        chunks, sentences = (c.get_collection(n) for n in store.collection_names(settings))
        store.write_sentence_vectors(root, sentences)
        store.write_manifest(root, model_name, chunks, sentences)
    return changed


def _beside(settings: IndexSettings, work):
    """Run `work(root)` on a copy of the current version; any failure discards the copy and leaves the index in
    service as it was. `work` returns (its result, whether the index changed, the model name)."""
    try:
        root = store.new_version(settings)
    except OSError as err:
        raise IngestError(f"cannot prepare the new index in {settings.data_dir}: {err.strerror or err}") from None
    try:
        result, changed, model_name = work(root)
        changed = _complete(settings, root, model_name, changed)
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
    return result


def _build_beside(settings: IndexSettings, embeddings, chunks, sentences, bars: bool, prune: bool):
    """Sync a copy of the current version; switch to it only if it is complete and different."""

    def work(root: Path):
        results, rebuilt, removed = _sync(settings, root, embeddings, chunks, sentences, bars, prune)
        changed = bool(rebuilt) or any(r["num_added"] or r["num_deleted"] or r["num_updated"] for r in results.values())
        return (results, rebuilt, removed), changed, embeddings.name

    return _beside(settings, work)


def _records(chunks: list[Document], sentences: list[Document]) -> dict[str, str]:
    """source id -> the digest of the records this run would leave for it (see store.source_digest)."""
    ids: dict[str, tuple[list[str], list[str]]] = {}
    for kind, docs in enumerate((chunks, sentences)):
        for d in docs:
            ids.setdefault(d.metadata["source_id"], ([], []))[kind].append(
                d.metadata["chunk_id" if kind == 0 else "sentence_id"]
            )
    return {sid: store.source_digest(*pair) for sid, pair in ids.items()}


def _unchanged(settings: IndexSettings, chunks: list[Document], sentences: list[Document]) -> bool:
    """True when the local index in service already holds exactly these records for these documents, with its
    vector file, and the question encoder is ready: then there is nothing to embed, update or export, and the
    model is never loaded. Read from the version's manifest only (other documents may be pruned, without it)."""
    if settings.chroma_host:
        return False  # a server index is shared: ask it (the full sync), not a local note
    root = store.current(settings)
    manifest = store.read_manifest(root)
    if manifest is None or manifest.get("embedding_model") != settings.embedding_model:
        return False
    held = {sid: entry.get("digest") for sid, entry in manifest["sources"].items()}
    wanted = _records(chunks, sentences)
    if any(held.get(sid) != digest for sid, digest in wanted.items()):
        return False
    if settings.query_encoder != "sentence-transformers":
        if not (encoder_folder(settings) / META).is_file():
            return False  # the ONNX copy still has to be made, from the model
    return store.sentence_vectors(root, warn=False) is not None


def _held_chunks(settings: IndexSettings):
    """The chunk collection of the index in service (local or on the server); None when there is none yet."""
    root = None if settings.chroma_host else store.current(settings)
    if root is None and not settings.chroma_host:
        return None
    client = store.client(settings, root)
    name = store.collection_names(settings)[0]
    return client.get_collection(name) if name in store.held_collections(client) else None


def _indexed_documents(settings: IndexSettings, given: set[str]) -> list[SourceDocument]:
    """The documents the index in service holds and this run does not give, rebuilt from their chunks, so that a
    new file repeating one of them is skipped as it would be beside it in one run (overlapping chunks repeat a
    sentence, which does not change what a document covers)."""
    chunks = _held_chunks(settings)
    if chunks is None:
        return []
    got = store.all_records(chunks, ["documents", "metadatas"])
    parts: dict[str, list[str]] = {}
    metas: dict[str, dict] = {}
    for text, meta in sorted(zip(got["documents"], got["metadatas"]), key=lambda pair: pair[1]["start"]):
        if meta["source_id"] not in given:
            parts.setdefault(meta["source_id"], []).append(text)
            metas.setdefault(meta["source_id"], meta)
    docs = []
    for sid, texts in parts.items():
        text = "\n\n".join(texts)
        docs.append(SourceDocument(sid, Path(metas[sid]["path"]), text, [Section("Text", 0, len(text))], metas[sid]))
    return docs


def _clashes(settings: IndexSettings, docs: list[SourceDocument]) -> list[str]:
    """Documents given whose source id the index already holds from a file of another name ("GARD IVL.txt", or
    front matter `source_id: gard-ivl`): ingesting them would silently replace that document. Read from the
    version's manifest where it says; from the chunks otherwise (a server index, an older manifest)."""
    manifest = None if settings.chroma_host else store.read_manifest(store.current(settings))
    if manifest is not None and all("file" in e for e in manifest["sources"].values()):
        held = {sid: e["file"] for sid, e in manifest["sources"].items()}
    else:
        chunks = _held_chunks(settings)
        held = {} if chunks is None else store.files_held(chunks)
    return [
        f"{d.path} has the source id {d.source_id!r} of the indexed document from {held[d.source_id]}"
        for d in docs if d.source_id in held and held[d.source_id] and held[d.source_id] != d.path.name
    ]  # fmt: skip


def _load_model(settings: IndexSettings):
    from ivl_index.embeddings import ModelEmbeddings  # lazy: imports torch and loads the model (seconds)

    return ModelEmbeddings(settings.embedding_model, settings.embedding_batch_size)


def run_ingest(
    settings: IndexSettings,
    paths: list[Path] | None = None,
    embeddings=None,
    progress: bool = True,
    prune: bool = False,
    replace: bool = False,
) -> IngestReport:
    """Add or update the documents at `paths` (default: the corpus folder), keeping every other document in the
    index; `prune` also removes the documents not given; `replace` lets a file replace an indexed document of
    the same source id that came from a file of another name (refused otherwise). progress: name each step on
    stderr (bars as well when stderr is a terminal)."""
    started = time.perf_counter()
    bars = progress and sys.stderr.isatty()

    def say(step: str) -> None:
        """A first ingest loads a model and exports it for minutes' worth of silence otherwise: name each step."""
        if progress:
            print(f"{step}...", file=sys.stderr, flush=True)

    say("Reading documents")
    docs = load_all(paths or [settings.corpus_dir], settings.max_file_mb, settings.max_document_sentences)
    docs, duplicates = drop_duplicates(docs)
    check_notes(docs)
    say(f"Chunking {len(docs)} documents")
    pieces = WordPieces.of_embeddings(embeddings) if embeddings else WordPieces.of_model_files(settings.embedding_model)
    if pieces is None:  # a model with no local tokenizer file: its own tokenizer counts
        say(f"Loading the embedding model {settings.embedding_model}")
        embeddings = _load_model(settings)
        pieces = WordPieces.of_embeddings(embeddings)
    max_tokens = min(settings.chunk_max_tokens, pieces.max_tokens)
    target = min(settings.chunk_target_tokens, max_tokens)
    chunks: list[Document] = []
    per_document: dict[str, dict] = {}
    for doc in docs:
        doc_chunks = chunk_document(doc, pieces, max_tokens, target, settings.chunk_overlap_sentences, settings.max_document_sentences)
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
    with store.ingest_lock(settings):
        if _unchanged(settings, chunks, sentences):
            # Nothing to embed: at most documents to prune, which needs no model either.
            extra = sorted(set(store.read_manifest(store.current(settings))["sources"]) - {d.source_id for d in docs})
            removed, deleted = _remove(settings, extra) if prune and extra else ({}, 0)
            say("Nothing to embed")
            skipped = {"num_added": 0, "num_updated": 0, "num_deleted": deleted, "num_skipped": len(chunks)}
            results, rebuilt, embedded = {"chunks": skipped}, None, 0
            encoder = "sentence-transformers" if settings.query_encoder == "sentence-transformers" else "onnx"
        else:
            # Checked only here: an unchanged run holds exactly these records already, so it replaces nothing.
            clashes = [] if replace else _clashes(settings, docs)
            if clashes:
                raise IngestError(
                    "nothing was ingested; the index is unchanged:\n  " + "\n  ".join(clashes)
                    + "\n  give the file another source_id (front matter) or name, or pass --replace to replace that document"
                )
            docs, repeats = drop_duplicates(docs, _indexed_documents(settings, {d.source_id for d in docs}))
            if repeats:  # a new file that repeats a document already indexed adds nothing
                duplicates |= repeats
                kept = {d.source_id for d in docs}
                chunks = [c for c in chunks if c.metadata["source_id"] in kept]
                sentences = [s for s in sentences if s.metadata["source_id"] in kept]
                per_document = {sid: v for sid, v in per_document.items() if sid in kept}
            if embeddings is None:
                say(f"Loading the embedding model {settings.embedding_model}")
                embeddings = _load_model(settings)
            before = embeddings.embedded
            say("Indexing")
            with embeddings.each_text_once():
                if settings.chroma_host:
                    results, rebuilt, removed = _sync_on_server(settings, embeddings, chunks, sentences, bars, prune)
                else:
                    results, rebuilt, removed = _build_beside(settings, embeddings, chunks, sentences, bars, prune)
            embedded = embeddings.embedded - before
            if settings.query_encoder != "sentence-transformers":
                say("Checking the question encoder (exported to ONNX once per model)")
            from ingest.onnx_export import ensure_onnx  # lazy: it imports onnxruntime

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
        embedded=embedded,
        sentences=len(sentences),
        duplicates=duplicates,
        rebuilt=rebuilt,
        per_document=per_document,
        query_encoder=encoder,
        removed=removed,
    )


def remove_documents(settings: IndexSettings, source_ids: list[str]) -> dict[str, str]:
    """Remove these documents (every chunk and sentence) from the index; returns source id -> title of each
    one removed. An id the index does not hold is an IngestError naming the ids it does hold, and nothing is
    removed. No model is loaded: nothing is embedded."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise IngestError(f"cannot use the data directory {settings.data_dir}: {err.strerror or err}") from None
    with store.ingest_lock(settings):
        return _remove(settings, source_ids)[0]


def _remove(settings: IndexSettings, source_ids: list[str]) -> tuple[dict[str, str], int]:
    """remove_documents, with the ingest lock held; also returns how many chunks went."""

    def work(root: Path | None):
        client = store.client(settings, root)
        names = store.collection_names(settings)
        if names[0] not in store.held_collections(client):
            raise IngestError(f"the {store.where(settings)} holds no documents; nothing to remove")
        chunks = client.get_collection(names[0])
        held = store.documents_held(chunks)
        unknown = [sid for sid in source_ids if sid not in held]
        if unknown:
            raise IngestError(
                f"no document {', '.join(map(repr, unknown))} in the index; it holds: {', '.join(sorted(held))}"
            )
        removed = {sid: held[sid] for sid in source_ids}
        deleted = _delete_documents(settings, root, client, list(removed))
        return (removed, deleted), True, store.model_of(chunks) or settings.embedding_model

    if settings.chroma_host:
        return work(None)[0]
    if store.current(settings) is None:
        raise IngestError(f"no index in {settings.data_dir}; nothing to remove")
    return _beside(settings, work)
