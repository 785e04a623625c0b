"""`ivl ingest`: read every file first, then chunk, then let LangChain's indexing API sync Chroma.

Nothing touches the index until every file (and the editor's notes) has loaded, so one bad file leaves the index
as it was. Locally the sync runs on a copy that is switched in only when complete (see ivl_index/versions.py),
so a crash, a kill or a full disk also leave the previous index serving; a version whose files are not as
ingest wrote them (ivl_index/manifest.py) is rebuilt from the documents given.
Ingest adds and updates: each document given replaces its own chunks, and every other document in the index
stays. Removing one is explicit: `prune` (documents not given this run) or `remove_documents`, both naming what
they removed. What changed is decided before the embedding model loads (chunking counts word pieces with the
model's tokenizer file), so an unchanged re-ingest never imports torch.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from langchain_core.documents import Document

from ingest.chunking import chunk_document
from ingest.dedupe import drop_duplicates
from ingest.loaders import discover, load
from ingest.sync import delete_documents, sync, sync_on_server
from ingest.tokens import WordPieces
from ivl_index import chroma, manifest, versions
from ivl_index.documents import Section, SourceDocument
from ivl_index.errors import IngestError, UserError
from ivl_index.notes import Notes, notes_for, read_version_notes, write_version_notes
from ivl_index.onnx_encoder import encoder_ready
from ivl_index.sentences import chunk_sentences
from ivl_index.settings import IndexSettings
from ivl_index.vector_file import VECTOR_IDS, VECTORS, sentence_vectors, write_sentence_vectors


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


@dataclass
class Plan:
    """What this run would leave in the index for the documents it was given."""

    docs: list[SourceDocument]
    chunks: list[Document]
    sentences: list[Document]
    per_document: dict[str, dict]
    notes: Notes
    duplicates: dict[str, str]

    def keep(self, source_ids: set[str]) -> None:
        """Drop everything of the documents not in `source_ids`."""
        self.docs = [d for d in self.docs if d.source_id in source_ids]
        self.chunks = [c for c in self.chunks if c.metadata["source_id"] in source_ids]
        self.sentences = [s for s in self.sentences if s.metadata["source_id"] in source_ids]
        self.per_document = {sid: v for sid, v in self.per_document.items() if sid in source_ids}
        self.notes = {sid: v for sid, v in self.notes.items() if sid in source_ids}


def _plan(settings: IndexSettings, paths: list[Path] | None, embeddings, say) -> tuple[Plan, object]:
    """Read, check and chunk every document; returns the plan and the embeddings (loaded here only for a model
    without a local tokenizer file)."""
    say("Reading documents")
    docs = load_all(paths or [settings.corpus_dir], settings.max_file_mb, settings.max_document_sentences)
    docs, duplicates = drop_duplicates(docs)
    notes = notes_for(docs)
    say(f"Chunking {len(docs)} documents")
    pieces = WordPieces.of_embeddings(embeddings) if embeddings else WordPieces.of_model_files(settings.embedding_model)
    if pieces is None:  # a model with no local tokenizer file: its own tokenizer counts
        embeddings = _load_model(settings, say)
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
    return Plan(docs, chunks, sentence_documents(chunks), per_document, notes, duplicates), embeddings


def _complete(settings: IndexSettings, root: Path, model_name: str, changed: bool, notes: Notes) -> bool:
    """Store the notes with the version; when it changed (or lacks a file), write its sentence vector file, close
    Chroma and seal the manifest with every file's checksum. Returns whether to switch to it (otherwise it is
    discarded and the same files keep serving)."""
    c = chroma.client(settings, root)
    chunks, sentences = (c.get_collection(n) for n in chroma.collection_names(settings))
    described = manifest.describe(model_name, chunks, sentences)
    before = read_version_notes(root)
    write_version_notes(root, notes, set(described["sources"]))
    changed = (
        changed
        or before != read_version_notes(root)
        or versions.current(settings) is None
        or manifest.read_manifest(root) is None
        or sentence_vectors(root, warn=False) is None  # last: it reads the file
    )
    if changed:
        write_sentence_vectors(root, sentences)
    chroma.close(root / "chroma")
    if changed:
        manifest.seal(root, described)
    return changed


def _beside(settings: IndexSettings, work, notes: Notes | None = None, fresh: bool = False, force: bool = False):
    """Run `work(root)` on a copy of the current version (an empty one when `fresh`; switched to even if nothing
    changed when `force`, to repair the one in service); any failure removes the copy and leaves the index in
    service as it was. `work` returns (its result, whether the index changed, the model name); `notes` are the
    editor's notes of the documents given (the version keeps those of the others)."""
    root = None
    try:
        root = versions.new_version(settings, fresh)
        result, changed, model_name = work(root)
        changed = _complete(settings, root, model_name, changed or fresh or force, notes or {})
    except BaseException as err:
        if root is not None:
            chroma.close(root / "chroma")
            versions.discard(root)
        if isinstance(err, UserError) or not isinstance(err, Exception):
            raise
        if versions.disk_full(err):
            raise IngestError(
                f"ingest failed: disk full in {settings.data_dir}; the previous index is unchanged and what this "
                "run wrote is removed (free some space and run `ivl ingest` again)"
            ) from None
        why = (str(err).splitlines() or [""])[0][:200]
        raise IngestError(f"ingest failed; the previous index is unchanged ({type(err).__name__}: {why})") from None
    if changed:
        versions.switch(settings, root)
    else:
        versions.discard(root)  # nothing changed: keep serving the same files
    return result


def _build_beside(settings: IndexSettings, embeddings, plan: Plan, bars: bool, prune: bool, fresh: bool, force: bool):
    """Sync a copy of the current version; switch to it only if it is complete and different."""

    def work(root: Path):
        results, rebuilt, removed = sync(settings, root, embeddings, plan.chunks, plan.sentences, bars, prune)
        changed = bool(rebuilt) or any(r["num_added"] or r["num_deleted"] or r["num_updated"] for r in results.values())
        return (results, rebuilt, removed), changed, embeddings.name

    return _beside(settings, work, plan.notes, fresh, force)


def _records(chunks: list[Document], sentences: list[Document]) -> dict[str, str]:
    """source id -> the digest of the records this run would leave for it (see manifest.source_digest)."""
    ids: dict[str, tuple[list[str], list[str]]] = {}
    for kind, docs in enumerate((chunks, sentences)):
        for d in docs:
            ids.setdefault(d.metadata["source_id"], ([], []))[kind].append(
                d.metadata["chunk_id" if kind == 0 else "sentence_id"]
            )
    return {sid: manifest.source_digest(*pair) for sid, pair in ids.items()}


def _unchanged(settings: IndexSettings, plan: Plan) -> bool:
    """True when the local index in service already holds exactly these records for these documents, with its
    vector file, and the question encoder is ready: then there is nothing to embed, update or export, and the
    model is never loaded. Read from the version's manifest and notes only (other documents may be pruned, without
    it); the caller has checked that the version's files are as ingest wrote them."""
    if settings.chroma_host:
        return False  # a server index is shared: ask it (the full sync), not a local note
    root = versions.current(settings)
    held = manifest.read_manifest(root)
    if held is None or held.get("embedding_model") != settings.embedding_model:
        return False
    digests = {sid: entry.get("digest") for sid, entry in held["sources"].items()}
    if any(digests.get(sid) != digest for sid, digest in _records(plan.chunks, plan.sentences).items()):
        return False
    notes = read_version_notes(root)
    if any(notes.get(sid, {}) != n for sid, n in plan.notes.items()):
        return False  # an edited notes file: the version stores the notes
    if settings.query_encoder != "sentence-transformers" and not encoder_ready(settings):
        return False  # the ONNX copy still has to be made (or made again), from the model
    return sentence_vectors(root, warn=False) is not None


def _held_chunks(settings: IndexSettings):
    """The chunk collection of the index in service (local or on the server); None when there is none yet."""
    if not settings.chroma_host and versions.current(settings) is None:
        return None
    client = chroma.client(settings)  # the server's, or a private copy of the version in service
    name = chroma.collection_names(settings)[0]
    return client.get_collection(name) if name in chroma.held_collections(client) else None


def _indexed_documents(settings: IndexSettings, given: set[str]) -> list[SourceDocument]:
    """The documents the index in service holds and this run does not give, rebuilt from their chunks, so that a
    new file repeating one of them is skipped as it would be beside it in one run (overlapping chunks repeat a
    sentence, which does not change what a document covers)."""
    chunks = _held_chunks(settings)
    if chunks is None:
        return []
    got = chroma.all_records(chunks, ["documents", "metadatas"])
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
    held_manifest = None if settings.chroma_host else manifest.read_manifest(versions.current(settings))
    if held_manifest is not None and all("file" in e for e in held_manifest["sources"].values()):
        held = {sid: e["file"] for sid, e in held_manifest["sources"].items()}
    else:
        chunks = _held_chunks(settings)
        held = {} if chunks is None else manifest.files_held(chunks)
    return [
        f"{d.path} has the source id {d.source_id!r} of the indexed document from {held[d.source_id]}"
        for d in docs if d.source_id in held and held[d.source_id] and held[d.source_id] != d.path.name
    ]  # fmt: skip


def _load_model(settings: IndexSettings):
    from ivl_index.embeddings import ModelEmbeddings  # lazy: imports torch and loads the model (seconds)

    return ModelEmbeddings(settings.embedding_model, settings.embedding_batch_size)


def _load_model(settings: IndexSettings, say):
    from ivl_index.embeddings import ModelEmbeddings  # lazy: imports torch and loads the model (seconds)

    say(f"Loading the embedding model {settings.embedding_model}")
    return ModelEmbeddings(settings.embedding_model, settings.embedding_batch_size)


def _narrator(progress: bool):
    def say(step: str) -> None:
        """A first ingest loads a model and exports it for minutes' worth of silence otherwise: name each step."""
        if progress:
            print(f"{step}...", file=sys.stderr, flush=True)

    return say


def _use_data_dir(settings: IndexSettings) -> None:
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise IngestError(f"cannot use the data directory {settings.data_dir}: {err.strerror or err}") from None


DERIVED = {VECTORS, VECTOR_IDS}  # written from Chroma's records: repaired without rebuilding the index


def _damage(settings: IndexSettings) -> tuple[str | None, bool]:
    """What of the local index in service is not as ingest wrote it (why it is rebuilt, or None), and whether
    the index must be rebuilt from the documents given (a damaged vector file is only written again)."""
    root = None if settings.chroma_host else versions.current(settings)
    bad = None if root is None else manifest.damaged(root)
    if bad is None:
        return None, False
    if bad in DERIVED:
        return f"{root / bad} was damaged or missing; written again from the index", False
    return f"{root / bad} was damaged or missing; rebuilt from the documents given", True


def _left_out(held: dict | None, plan: Plan) -> str:
    """What a rebuild from the documents given leaves out of what the damaged index held, said so the user can
    ingest those files again (a rebuild cannot read documents it was not given)."""
    if held is None:
        return "; any other document the damaged index held is not in it now (its list was unreadable): ingest those files again"
    lost = {sid: e.get("title", sid) for sid, e in held["sources"].items() if sid not in {d.source_id for d in plan.docs}}
    if not lost:
        return ""
    return "; not in it now (ingest their files again): " + ", ".join(f"{sid} ({title})" for sid, title in sorted(lost.items()))


def _encoder(settings: IndexSettings, embeddings=None) -> str:
    """What will embed questions (ingest/onnx_export.py makes the ONNX copy when given the model)."""
    if settings.query_encoder == "sentence-transformers":
        return "sentence-transformers"
    if embeddings is None:
        return "onnx"  # an unchanged run: the copy is ready (see _unchanged)
    from ingest.onnx_export import ensure_onnx  # lazy: it imports onnxruntime

    return ensure_onnx(settings, embeddings)


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
    stderr (bars as well when stderr is a terminal). A damaged local index is rebuilt from the documents given."""
    started = time.perf_counter()
    say = _narrator(progress)
    plan, embeddings = _plan(settings, paths, embeddings, say)
    _use_data_dir(settings)
    with versions.ingest_lock(settings):
        damage, fresh = _damage(settings)
        held_before = manifest.read_manifest(versions.current(settings)) if fresh else None
        if damage is None and _unchanged(settings, plan):
            # Nothing to embed: at most documents to prune, which needs no model either.
            held = manifest.read_manifest(versions.current(settings))["sources"]
            extra = sorted(set(held) - {d.source_id for d in plan.docs})
            removed, deleted = _remove(settings, extra) if prune and extra else ({}, 0)
            say("Nothing to embed")
            skipped = {"num_added": 0, "num_updated": 0, "num_deleted": deleted, "num_skipped": len(plan.chunks)}
            results = {"chunks": skipped}
            rebuilt, embedded, encoder = None, 0, _encoder(settings)
        else:
            if not fresh:  # a rebuilt index holds only the documents given: nothing to clash with or repeat
                _refuse_clashes(settings, plan, replace)
                plan.duplicates |= _drop_indexed_repeats(settings, plan)
            if embeddings is None:
                embeddings = _load_model(settings, say)
            before = embeddings.embedded
            say("Indexing")
            bars = progress and sys.stderr.isatty()
            with embeddings.each_text_once():
                if settings.chroma_host:
                    results, rebuilt, removed = sync_on_server(settings, embeddings, plan.chunks, plan.sentences, bars, prune)
                else:
                    results, rebuilt, removed = _build_beside(settings, embeddings, plan, bars, prune, fresh, bool(damage))
            rebuilt = (damage + _left_out(held_before, plan)) if damage else rebuilt
            embedded = embeddings.embedded - before
            if settings.query_encoder != "sentence-transformers":
                say("Checking the question encoder (exported to ONNX once per model)")
            encoder = _encoder(settings, embeddings)
    r = results["chunks"]
    return IngestReport(
        documents=len(plan.docs),
        chunks=len(plan.chunks),
        added=r["num_added"],
        updated=r["num_updated"],
        deleted=r["num_deleted"],
        skipped=r["num_skipped"],
        seconds=round(time.perf_counter() - started, 3),
        embedded=embedded,
        sentences=len(plan.sentences),
        duplicates=plan.duplicates,
        rebuilt=rebuilt,
        per_document=plan.per_document,
        query_encoder=encoder,
        removed=removed,
    )


def _refuse_clashes(settings: IndexSettings, plan: Plan, replace: bool) -> None:
    """Checked only when something changes: an unchanged run holds exactly these records already."""
    clashes = [] if replace else _clashes(settings, plan.docs)
    if clashes:
        raise IngestError(
            "nothing was ingested; the index is unchanged:\n  "
            + "\n  ".join(clashes)
            + "\n  give the file another source_id (front matter) or name, or pass --replace to replace that document"
        )


def _drop_indexed_repeats(settings: IndexSettings, plan: Plan) -> dict[str, str]:
    """A new file that repeats a document already indexed adds nothing: dropped from the plan (file -> source)."""
    docs, repeats = drop_duplicates(plan.docs, _indexed_documents(settings, {d.source_id for d in plan.docs}))
    if repeats:
        plan.keep({d.source_id for d in docs})
    return repeats


def remove_documents(settings: IndexSettings, source_ids: list[str]) -> dict[str, str]:
    """Remove these documents (every chunk and sentence) from the index; returns source id -> title of each
    one removed. An id the index does not hold is an IngestError naming the ids it does hold, and nothing is
    removed. No model is loaded: nothing is embedded."""
    _use_data_dir(settings)
    with versions.ingest_lock(settings):
        return _remove(settings, source_ids)[0]


def _remove(settings: IndexSettings, source_ids: list[str]) -> tuple[dict[str, str], int]:
    """remove_documents, with the ingest lock held; also returns how many chunks went."""

    def work(root: Path | None):
        client = chroma.client(settings, root)
        names = chroma.collection_names(settings)
        if names[0] not in chroma.held_collections(client):
            raise IngestError(f"the {chroma.where(settings)} holds no documents; nothing to remove")
        chunks = client.get_collection(names[0])
        held = manifest.documents_held(chunks)
        unknown = [sid for sid in source_ids if sid not in held]
        if unknown:
            raise IngestError(
                f"no document {', '.join(map(repr, unknown))} in the index; it holds: {', '.join(sorted(held))}"
            )
        removed = {sid: held[sid] for sid in source_ids}
        deleted = delete_documents(settings, root, client, list(removed))
        return (removed, deleted), True, chroma.model_of(chunks) or settings.embedding_model

    if settings.chroma_host:
        return work(None)[0]
    if versions.current(settings) is None:
        raise IngestError(f"no index in {settings.data_dir}; nothing to remove")
    damage, _ = _damage(settings)
    if damage:
        raise IngestError(f"nothing was removed: {damage.split(';')[0]}; run `ivl ingest` to rebuild the index")
    return _beside(settings, work)
