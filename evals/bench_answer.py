"""Warm answer latency over the labelled questions, against the floor (one query embedding + one Chroma query).

python -m evals.bench_answer [--repeats 3]   (needs a built index; prints JSON, medians of per-repeat percentiles)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from chatbot.answerer import Answerer
from chatbot.settings import load_settings
from evals.labelled import load_items


def percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)) * 1000, float(np.percentile(values, 95)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    answerer = Answerer(load_settings())
    items = load_items()
    for item in items[:5]:  # warm caches and lazy imports once
        answerer.answer(item.question, item.history)
    product, floor = [], []
    for _ in range(args.repeats):
        answerer.embeddings.clear_cache()  # every repeat pays for its query embeddings
        times = []
        for item in items:
            start = time.perf_counter()
            answerer.answer(item.question, item.history)
            times.append(time.perf_counter() - start)
        product.append(percentiles(times))
        times = []
        for item in items:
            start = time.perf_counter()
            vec = answerer.embeddings._inner.embed_query(item.question)
            answerer.index.chunks.query(query_embeddings=[vec], n_results=4)
            times.append(time.perf_counter() - start)
        floor.append(percentiles(times))
    med = lambda pairs, i: round(statistics.median(p[i] for p in pairs), 1)  # noqa: E731
    print(
        json.dumps(
            {
                "questions": len(items),
                "product_p50_ms": med(product, 0),
                "product_p95_ms": med(product, 1),
                "floor_p50_ms": med(floor, 0),
                "floor_p95_ms": med(floor, 1),
                "ratio_p50": round(med(product, 0) / med(floor, 0), 2),
                "repeats": args.repeats,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
