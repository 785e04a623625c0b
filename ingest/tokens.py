"""The embedding model's word pieces, counted by its own tokenizer file with `tokenizers` (Rust), not through
sentence-transformers: chunking, and so deciding what an ingest changes, then needs neither torch nor the model
(loading them was ~10 s of an unchanged re-ingest). The model is loaded only when something must be embedded."""

from __future__ import annotations

import json
from pathlib import Path

from ivl_index.model_files import resolve_model


class WordPieces:
    """Counts and places the word pieces of texts, special tokens included in counts as the model sees them."""

    def __init__(self, tokenizer, max_tokens: int):
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.specials = len(tokenizer.encode("").ids)  # [CLS] and [SEP] for BERT-style models

    @classmethod
    def of_model_files(cls, name: str) -> WordPieces | None:
        """From the model folder's tokenizer.json and sentence_bert_config.json; None when the model is not a
        local folder holding both (a hub name): then the loaded model's tokenizer is used (`of_embeddings`)."""
        from tokenizers import Tokenizer  # lazy: ingest only

        folder = Path(resolve_model(name))
        try:
            limit = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))["max_seq_length"]
            return cls(Tokenizer.from_file(str(folder / "tokenizer.json")), int(limit))
        except Exception:  # noqa: BLE001 -- a missing or unreadable file, bad JSON, or a file tokenizers cannot read
            return None

    @classmethod
    def of_embeddings(cls, embeddings) -> WordPieces:
        """The tokenizer of a loaded sentence-transformers model (its fast tokenizer's Rust backend)."""
        from tokenizers import Tokenizer

        backend = embeddings.model.tokenizer.backend_tokenizer
        return cls(Tokenizer.from_str(backend.to_str()), embeddings.max_tokens)

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text).ids)

    def count_many(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self._tokenizer.encode_batch(texts)]

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each word piece of text, special tokens left out."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).offsets)
