"""Chroma (local folder or server) plus the record manager that makes ingest incremental.

Two collections: `<name>` holds chunks (what retrieval searches), `<name>_sentences` holds each
chunk's sentences (what the answerer scores), both keyed by chunk id and kept in step by ingest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from chatbot.settings import Settings
from ingest.documents import IngestError


class KnowledgeBaseUnavailable(IngestError):
    """The Chroma server cannot be reached, or the local index cannot be opened."""


class IndexMissing(IngestError):
    """No index has been built yet."""


class ModelMismatch(IngestError):
    """The index was built with another embedding model."""


def _chroma_settings():
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def where(settings: Settings) -> str:
    if settings.chroma_host:
        return f"Chroma server at {settings.chroma_host}:{settings.chroma_port}"
    return f"local index in {settings.chroma_dir}"


def client(settings: Settings, create: bool = False):
    """A Chroma client; `create` allows making the local folder (ingest), otherwise it must exist (queries)."""
    import chromadb

    try:
        if settings.chroma_host:
            c = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=_chroma_settings())
            c.heartbeat()
            return c
        if not create and not settings.chroma_dir.exists():
            raise IndexMissing(f"no index in {settings.chroma_dir}; run `ivl ingest` first")
        if create:
            settings.chroma_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=_chroma_settings())
    except IngestError:
        raise
    except PermissionError as err:
        raise KnowledgeBaseUnavailable(f"cannot write the data directory {settings.data_dir}: {err.strerror}") from None
    except Exception as err:  # noqa: BLE001 -- chromadb wraps connection failures in several types
        raise KnowledgeBaseUnavailable(
            f"knowledge base unavailable: cannot open the {where(settings)} ({type(err).__name__}: {err})"
        ) from None


def collection_names(settings: Settings) -> tuple[str, str]:
    return settings.collection, f"{settings.collection}_sentences"


def model_of(collection) -> str | None:
    return (collection.metadata or {}).get("embedding_model")


@dataclass
class OpenIndex:
    chunks: object  # chromadb Collection
    sentences: object


def open_index(settings: Settings, model_name: str) -> OpenIndex:
    """The built index, refusing one made by another model (its vectors would be meaningless to this one)."""
    c = client(settings)
    names = collection_names(settings)
    try:
        existing = {col.name if hasattr(col, "name") else col for col in c.list_collections()}
        if not set(names) <= existing:
            raise IndexMissing(f"no index in the {where(settings)}; run `ivl ingest` first")
        chunks, sentences = (c.get_collection(n) for n in names)
    except IngestError:
        raise
    except Exception as err:  # noqa: BLE001 -- see client()
        raise KnowledgeBaseUnavailable(f"knowledge base unavailable: {where(settings)} ({type(err).__name__})") from None
    built_with = model_of(chunks)
    if built_with != model_name:
        raise ModelMismatch(
            f"the index was built with embedding model {built_with!r} but IVL_EMBEDDING_MODEL is {model_name!r}; "
            "run `ivl ingest` to rebuild it with this model, or set IVL_EMBEDDING_MODEL back"
        )
    return OpenIndex(chunks, sentences)


def collection_metadata(model_name: str, dimension: int) -> dict:
    return {"hnsw:space": "cosine", "embedding_model": model_name, "embedding_dim": dimension}


def record_manager(settings: Settings, kind: str):
    from langchain_classic.indexes import SQLRecordManager

    place = f"{settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host else "local"
    manager = SQLRecordManager(f"{place}/{settings.collection}/{kind}", db_url=f"sqlite:///{settings.record_db}")
    manager.create_schema()
    return manager
