"""Every sentence vector of a local version, sorted by id, in two files beside Chroma's: the answerer
memory-maps them, because a Chroma get of a question's ~40 unseen sentence vectors costs 2-4 ms at any index
size (measured), which a 1000x index pays on most questions (its sentences outgrow the cache)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ivl_index.chroma import all_records

VECTORS, VECTOR_IDS = "sentence-vectors.npy", "sentence-ids.npy"


def write_sentence_vectors(root: Path, sentences) -> None:
    """The vectors of a sentence collection, in id order, and their ids."""
    got = all_records(sentences, ["embeddings"])
    order = sorted(range(len(got["ids"])), key=got["ids"].__getitem__)
    ids = np.array([got["ids"][i].encode() for i in order], dtype=bytes)
    vectors = np.asarray([got["embeddings"][i] for i in order], dtype=np.float32)
    for name, array in ((VECTORS, vectors), (VECTOR_IDS, ids)):
        temp = root / f".{name}"
        with temp.open("wb") as fh:
            np.save(fh, array)
        os.replace(temp, root / name)


class SentenceVectors:
    """The vector file of one local version: sentence id -> vector without asking Chroma."""

    def __init__(self, root: Path):
        self.ids = _load(root / VECTOR_IDS)
        self.vectors = _load(root / VECTORS, mmap_mode="r")
        if len(self.ids) != len(self.vectors):
            raise ValueError(f"{root / VECTOR_IDS} holds {len(self.ids)} ids but {VECTORS} {len(self.vectors)} vectors")

    def get(self, keys: list[str]) -> dict:
        """The vectors of the ids the file holds (an id it lacks is not in the index either)."""
        if not len(self.ids):
            return {}
        wanted = np.array([k.encode() for k in keys], dtype=bytes)
        rows = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)
        found = self.ids[rows] == wanted
        vectors = np.asarray(self.vectors[rows[found]], dtype=np.float32)
        return dict(zip((k for k, ok in zip(keys, found) if ok), vectors))


def _load(path: Path, **kw) -> np.ndarray:
    """One of the two files, an error naming that file (a damaged id file was once reported as the vectors)."""
    try:
        return np.load(path, **kw)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is unreadable ({err})") from None


def sentence_vectors(root: Path | None, warn: bool = True) -> SentenceVectors | None:
    """The version's vector file; None for a server index, or a version written before the file existed
    (both are read from Chroma). A damaged file is reported, and Chroma serves instead."""
    if root is None or not (root / VECTORS).exists():
        return None
    try:
        return SentenceVectors(root)
    except ValueError as err:
        if warn:
            print(f"warning: {err}; reading sentence vectors from Chroma instead. Run `ivl ingest` to write it "
                  "again.", file=sys.stderr)  # fmt: skip
        return None
