"""Nearest neighbours that do not depend on how the index was built.

Chroma's HNSW search is approximate and its graph depends on insertion order and threads, so two builds of the
same files (and near-ties within one) could retrieve different chunks. A collection of up to IVL_EXACT_SEARCH_MAX
records is searched by exact cosine over every stored vector (612 chunks: 0.02 ms); a larger one by Chroma,
over-fetched and re-ranked by exact cosine. Either way ties go to the smaller id.
"""

from __future__ import annotations

import numpy as np

OVERFETCH = 4  # a large collection's HNSW search returns this many times k before the exact re-ranking


def best_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Indexes of the k highest scores, best first; among equal scores the lower index (rows are in id order)."""
    n = len(scores)
    rows = np.arange(n) if k >= n else np.flatnonzero(scores >= np.partition(scores, n - k)[n - k])
    return rows[np.argsort(-scores[rows], kind="stable")][:k]


class Nearest:
    """The k records of one collection nearest a (normalised) query vector.

    ids, vectors: every record, sorted by id, for exact search; None to search Chroma's `collection` (with the
    metadata filter `where`) instead."""

    def __init__(self, collection, ids: list[str] | None = None, vectors=None, where: dict | None = None):
        self.collection, self.ids, self.vectors, self.where = collection, ids, vectors, where

    def __call__(self, vector, k: int) -> list[str]:
        query = np.asarray(vector, dtype=np.float32)
        if self.ids is not None:
            if not self.ids:
                return []
            return [self.ids[i] for i in best_rows(np.asarray(self.vectors @ query, dtype=np.float32), k)]
        got = self.collection.query(
            query_embeddings=[query], n_results=k * OVERFETCH, where=self.where, include=["embeddings"]
        )
        ids, found = got["ids"][0], np.asarray(got["embeddings"][0], dtype=np.float32)
        if not ids:
            return []
        order = np.argsort(np.array(ids))  # id order first, so that ties keep it
        return [ids[order[i]] for i in best_rows(found[order] @ query, k)]
