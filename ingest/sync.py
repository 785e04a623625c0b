"""Bringing Chroma and the record manager in line with a run's chunks and sentences (LangChain's indexing API),
in a version folder or on a server."""

from __future__ import annotations

from pathlib import Path

from ivl_index import chroma, store
from ivl_index.errors import KnowledgeBaseUnavailable, UserError
from ivl_index.manifest import documents_held
from ivl_index.settings import IndexSettings

INDEX_BATCH = 256  # documents per indexing round; the model still batches by IVL_EMBEDDING_BATCH_SIZE inside it


def _vector_store(client, name: str, embeddings):
    from langchain_chroma import Chroma  # lazy: only a sync needs it

    return Chroma(
        client=client,
        collection_name=name,
        embedding_function=embeddings,
        collection_metadata=chroma.collection_metadata(embeddings.name, embeddings.dimension),
    )


def _reset_if_other_model(client, settings: IndexSettings, model_name: str, root: Path | None) -> str | None:
    """An index of another model cannot be updated in place: its vectors live in another space."""
    existing = chroma.held_collections(client)
    names = chroma.collection_names(settings)
    built_with = {chroma.model_of(client.get_collection(n)) for n in names if n in existing}
    if not built_with or built_with == {model_name}:
        return None
    for n in names:
        if n in existing:
            client.delete_collection(n)
    for kind in ("chunks", "sentences"):
        manager = store.record_manager(settings, kind, root)
        manager.delete_keys(manager.list_keys())
    return f"index was built with {sorted(map(str, built_with))}; rebuilt with {model_name}"


def delete_documents(settings: IndexSettings, root: Path | None, client, source_ids: list[str]) -> int:
    """Every chunk and sentence of these documents, from Chroma and the record manager; returns chunks deleted."""
    if not source_ids:
        return 0  # the record manager reads no group ids as "every key": nothing to remove means nothing
    deleted = 0
    for kind, name in zip(("chunks", "sentences"), chroma.collection_names(settings)):
        manager = store.record_manager(settings, kind, root)
        keys = manager.list_keys(group_ids=source_ids)
        if keys:
            client.get_collection(name).delete(ids=keys)
            manager.delete_keys(keys)
        deleted += len(keys) if kind == "chunks" else 0
    return deleted


def sync(settings: IndexSettings, root: Path | None, embeddings, chunks, sentences, bars: bool, prune: bool):
    """Bring these documents' records (in `root`, or on the server) in line with these chunks and sentences;
    other documents stay unless `prune`. Returns LangChain's counts per kind, why the index was rebuilt, and the
    documents pruned."""
    from langchain_core.indexing import index  # lazy: only a sync needs it
    from tqdm import tqdm

    client = chroma.client(settings, root)
    rebuilt = _reset_if_other_model(client, settings, embeddings.name, root)
    results = {}
    for kind, items, name in zip(("chunks", "sentences"), (chunks, sentences), chroma.collection_names(settings)):
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
        held = documents_held(client.get_collection(chroma.collection_names(settings)[0]))
        removed = {sid: title for sid, title in sorted(held.items()) if sid not in given}
        results["chunks"]["num_deleted"] += delete_documents(settings, root, client, list(removed))
    return results, rebuilt, removed


def sync_on_server(settings: IndexSettings, embeddings, chunks, sentences, bars: bool, prune: bool):
    """Sync in place on the server: a server lost or frozen mid-run ends the run with one line; the next run
    completes the index (records first dropped for anything the server does not hold)."""
    try:
        return sync(settings, None, embeddings, chunks, sentences, bars, prune)
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 -- a lost server surfaces as many httpx/chromadb types
        raise KnowledgeBaseUnavailable(
            f"knowledge base unavailable: the {chroma.where(settings)} stopped answering during ingest "
            f"({type(err).__name__}); run `ivl ingest` again when it is back, it completes the index"
        ) from None
