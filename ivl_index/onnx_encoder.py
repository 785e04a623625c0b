"""Embedding questions without torch: onnxruntime runs the ONNX copy of the embedding model that ingest
exported and checked (ingest/onnx_export.py). Importing sentence-transformers (torch, transformers,
scikit-learn) was 4.9 of the 7.9 s of a cold `ivl ask`; onnxruntime and tokenizers load in a fraction."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ivl_index import checksums
from ivl_index.embeddings import ModelEmbeddings, QueryCache
from ivl_index.errors import EncoderError
from ivl_index.model_files import META, UNAVAILABLE, encoder_folder
from ivl_index.settings import IndexSettings

# tokenizers' Encoding fields under the input names transformers models take
FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}


class OnnxEmbeddings(QueryCache):
    """The same vectors as sentence-transformers (checked at export), from onnxruntime and tokenizers."""

    def __init__(self, name: str, folder: Path, batch_size: int = 32, check: bool = True):
        super().__init__()
        import onnxruntime as ort  # lazy: only a process that embeds questions loads it
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: ORT's graph-optimisation notes are not the user's business
        bad = damaged(folder) if check else None  # an export checks its copy against the model itself
        if bad:
            raise EncoderError(
                f"the ONNX copy of the embedding model is damaged ({folder / bad} is not as ingest wrote it); "
                "run `ivl ingest` to make it again"
            )
        try:
            self.session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            self.meta = json.loads((folder / META).read_text(encoding="utf-8"))
        except Exception as err:  # noqa: BLE001 -- any unreadable copy means the same thing to the user
            raise EncoderError(
                f"the ONNX copy of the embedding model in {folder} cannot be loaded ({type(err).__name__}); "
                "delete that folder and run `ivl ingest` to make it again"
            ) from None
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.name = name
        self.batch_size = batch_size

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        # sentence-transformers strips (and, for some models, lowercases) before tokenizing; so must we
        texts = [t.strip().lower() if self.meta.get("lowercase") else t.strip() for t in texts]
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer.encode_batch(texts[i : i + self.batch_size])
            feed = {n: np.array([getattr(e, FIELDS[n]) for e in enc], dtype=np.int64) for n in self.inputs}
            out.append(self.session.run(None, feed)[0])
        return np.concatenate(out) if out else np.zeros((0, self.meta["dimension"]), dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_batch(texts).tolist()

    def embed_uncached(self, text: str) -> list[float]:
        return self.embed_batch([text])[0].tolist()


ENCODER_FILES = ("model.onnx", "tokenizer.json")


def damaged(folder: Path) -> str | None:
    """The file of an encoder folder that differs from the checksums its export recorded in META (META itself when
    unreadable or older than checksums), else None."""
    try:
        recorded = json.loads((folder / META).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return META
    return checksums.damaged(folder, recorded)


def encoder_ready(settings: IndexSettings) -> bool:
    """Whether ingest has made the ONNX copy of the configured model and it is as ingest wrote it."""
    folder = encoder_folder(settings)
    return (folder / META).is_file() and damaged(folder) is None


def query_embeddings(settings: IndexSettings):
    """The encoder questions are embedded with, as IVL_QUERY_ENCODER asks."""
    if settings.query_encoder != "sentence-transformers":
        folder = encoder_folder(settings)
        if (folder / META).is_file():
            return OnnxEmbeddings(settings.embedding_model, folder, settings.embedding_batch_size)
        why = (folder / UNAVAILABLE).read_text(encoding="utf-8").strip() if (folder / UNAVAILABLE).is_file() else (
            "ingest has not made one yet; `ivl ingest` does"
        )
        if settings.query_encoder == "onnx":
            raise EncoderError(
                f"IVL_QUERY_ENCODER=onnx, but there is no ONNX copy of {settings.embedding_model} ({why}); "
                "run `ivl ingest`, or set IVL_QUERY_ENCODER=auto"
            )
        print(f"note: questions are embedded with sentence-transformers (slower to start): no ONNX copy of "
              f"{settings.embedding_model}: {why}", file=sys.stderr)  # fmt: skip
    return ModelEmbeddings(settings.embedding_model, settings.embedding_batch_size)
