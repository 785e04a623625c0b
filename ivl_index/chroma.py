"""Talking to Chroma: a local folder or a server, its two collections, and reading a collection whole.

Two collections: `<name>` holds chunks (what retrieval searches), `<name>_sentences` holds each chunk's
sentences (what the answerer scores), both keyed by chunk id and kept in step by ingest."""

from __future__ import annotations

import os
from pathlib import Path

from ivl_index.errors import IndexMissing, KnowledgeBaseUnavailable, UserError
from ivl_index.settings import IndexSettings
from ivl_index.versions import current, private_copy


def chroma_settings():
    """Chroma client settings with its anonymized telemetry off (clinicians may type patient details)."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    from chromadb.config import Settings as ChromaSettings  # lazy: importing chromadb costs ~0.4 s

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def where(settings: IndexSettings) -> str:
    if settings.chroma_host:
        return f"Chroma server at {settings.chroma_host}:{settings.chroma_port}"
    return f"local index in {settings.data_dir}"


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
    """A Chroma client: the server's, a local one to write the version folder `root` (ingest), or by default one
    that reads a private copy of the version in service (versions.private_copy: it is never written)."""
    import chromadb  # lazy: see chroma_settings()

    try:
        if settings.chroma_host:
            return http_client(settings)
        if root is not None:
            return chromadb.PersistentClient(path=str(root / "chroma"), settings=chroma_settings())
        serving = current(settings)
        if serving is None:
            raise IndexMissing(f"no index in {settings.data_dir}; run `ivl ingest` first")
        return chromadb.PersistentClient(path=str(private_copy(serving / "chroma")), settings=chroma_settings())
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 -- chromadb wraps connection failures in several types
        raise KnowledgeBaseUnavailable(
            f"knowledge base unavailable: cannot open the {where(settings)} ({type(err).__name__}: {err})"
        ) from None


def close(folder: Path) -> None:
    """Stop every client of a local Chroma folder, so that all it holds is on disk (HNSW files were written
    after ingest recorded their checksums otherwise)."""
    from chromadb.api.client import SharedSystemClient

    system = SharedSystemClient._identifier_to_system.pop(str(folder), None)  # noqa: SLF001 -- chromadb has no public close (1.5)
    if system is not None:
        system.stop()


def http_client(settings: IndexSettings):
    """The server's client, each whole request of it (from the first) limited to IVL_CHROMA_TIMEOUT seconds."""
    from ivl_index.chroma_http import server_client  # lazy: see chroma_settings()

    return server_client(settings.chroma_host, settings.chroma_port, settings.chroma_timeout, chroma_settings())


def collection_names(settings: IndexSettings) -> tuple[str, str]:
    return settings.collection, f"{settings.collection}_sentences"


def held_collections(client) -> set[str]:
    """The names of the collections a client holds (chromadb returns names or Collection objects by version)."""
    return {c.name if hasattr(c, "name") else c for c in client.list_collections()}


def model_of(collection) -> str | None:
    return (collection.metadata or {}).get("embedding_model")


def collection_metadata(model_name: str, dimension: int) -> dict:
    return {"hnsw:space": "cosine", "embedding_model": model_name, "embedding_dim": dimension}
