"""Ingest benchmark: full ingest against embedding the same texts alone, and the unchanged re-ingest.

python -m evals.bench_ingest [--repeats 3]   (prints JSON; medians, model loaded once, fresh temp index each run)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from chatbot.settings import load_settings
from ingest.chunking import chunk_document
from ingest.embeddings import ModelEmbeddings
from ingest.loaders import load
from ingest.pipeline import run_ingest, sentence_documents


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings()
    emb = ModelEmbeddings(settings.embedding_model, settings.embedding_batch_size)
    docs = [load(p) for p in sorted(settings.corpus_dir.glob("*.md")) if p.name != "README.md"]
    chunks = [c for d in docs for c in chunk_document(d, emb.count_tokens, 256, 200, 1)]
    texts = [c.page_content for c in chunks]
    sentences = [s.page_content for s in sentence_documents(chunks)]
    emb.embed_documents(texts[:4])  # warm the model once, as ingest's own first batch would

    def timed(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    full, reingest, embed_chunks, embed_all, reembedded = [], [], [], [], []
    for _ in range(args.repeats):
        embed_chunks.append(timed(lambda: emb.embed_documents(texts)))
        embed_all.append(timed(lambda: (emb.embed_documents(texts), emb.embed_documents(sentences))))
        with tempfile.TemporaryDirectory() as tmp:
            s = load_settings(data_dir=Path(tmp))
            full.append(timed(lambda: run_ingest(s, embeddings=emb, progress=False)))
            before = emb.embedded
            reingest.append(timed(lambda: run_ingest(s, embeddings=emb, progress=False)))
            reembedded.append(emb.embedded - before)
    med = statistics.median
    print(
        json.dumps(
            {
                "chunks": len(texts),
                "sentences": len(sentences),
                "full_ingest_s": round(med(full), 3),
                "embed_chunks_only_s": round(med(embed_chunks), 3),
                "embed_chunks_and_sentences_s": round(med(embed_all), 3),
                "ratio_vs_same_texts": round(med(full) / med(embed_all), 2),
                "ratio_vs_chunks_only": round(med(full) / med(embed_chunks), 2),
                "unchanged_reingest_s": round(med(reingest), 3),
                "unchanged_reingest_embedded": max(reembedded),
                "repeats": args.repeats,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
