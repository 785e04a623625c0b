"""`ivl calibrate`: choose the abstention thresholds on the labelled questions, reproducibly.

For every labelled question with a definite label (answer or abstain) take the two features abstention
decides on, then search the pair of thresholds that best separates the two groups (abstention recall weighted
twice against answerable questions kept);
among equally good pairs take the one farthest from any question (the widest margin), so a small
change in scores does not flip a decision.
"""

from __future__ import annotations

import json
from pathlib import Path

from chatbot.settings import Settings


def _cuts(values: list[float], low: float, high: float) -> list[float]:
    """Midpoints between neighbouring observed values, plus the ends."""
    points = sorted(set(values) | {low, high})
    return [points[0]] + [(a + b) / 2 for a, b in zip(points, points[1:])] + [points[-1]]


def _margin(cut: float, values: list[float]) -> float:
    return min(abs(v - cut) for v in values) if values else 0.0


def calibrate_support(answerer, items) -> dict:
    """The LLM path's support threshold: each study item's own paraphrase (`explain`) against its gold quote
    is a supported pair; against every other item's gold quote, an unsupported one."""
    from chatbot.llm import support_score

    study = [i for i in items if i.explain and i.gold]
    scored = [
        (support_score(answerer, a.explain, b.gold[0]), a.id == b.id) for a in study for b in study
    ]
    positives = [s for s, ok in scored if ok]
    negatives = [s for s, ok in scored if not ok]
    best = None
    for cut in _cuts([s for s, _ in scored], 0.0, 1.0):
        tpr = sum(s >= cut for s in positives) / len(positives)
        tnr = sum(s < cut for s in negatives) / len(negatives)
        # Accepting an unsupported sentence is the worst failure: rejecting them counts twice.
        key = ((tpr + 2 * tnr) / 3, tnr, _margin(cut, [s for s, _ in scored]))
        if best is None or key > best[0]:
            best = (key, cut)
    _, cut = best
    tpr = sum(s >= cut for s in positives) / len(positives)
    tnr = sum(s < cut for s in negatives) / len(negatives)
    return {"threshold": round(cut, 4), "pairs": len(scored), "accuracy": round((tpr + tnr) / 2, 4),
            "supported_kept": round(tpr, 4), "unsupported_rejected": round(tnr, 4)}


def calibrate(settings: Settings, out: Path | None = None) -> dict:
    from chatbot.answerer import CALIBRATION, Answerer
    from evals.labelled import load_items

    answerer = Answerer(settings.model_copy(update={"abstain_threshold": 0.0, "unknown_limit": 1.0}))
    rows = []
    for item in load_items():
        if item.abstain == "any":
            continue
        score, unknown = answerer.features(item.question, item.history)
        rows.append((item.id, bool(item.abstain), score, unknown))
    answerable = [r for r in rows if not r[1]]
    unanswerable = [r for r in rows if r[1]]
    best = None
    for t in _cuts([r[2] for r in rows], 0.0, 1.0):
        for u in _cuts([r[3] for r in rows], 0.0, 1.0):
            abstains = {r[0]: r[2] < t or r[3] > u for r in rows}
            recall = sum(abstains[r[0]] for r in unanswerable) / max(len(unanswerable), 1)
            kept = sum(not abstains[r[0]] for r in answerable) / max(len(answerable), 1)
            margin = min(_margin(t, [r[2] for r in rows]), _margin(u, [r[3] for r in rows]))
            # A wrong answer is worse than an honest abstention: recall counts twice.
            key = ((2 * recall + kept) / 3, recall, margin)
            if best is None or key > best[0]:
                best = (key, t, u, recall, kept)
    _, t, u, recall, kept = best
    support = calibrate_support(answerer, load_items())
    result = {
        "abstain_below": round(t, 4),
        "unknown_above": round(u, 4),
        "labelled_answerable": len(answerable),
        "labelled_unanswerable": len(unanswerable),
        "abstention_recall": round(recall, 4),
        "answerable_kept": round(kept, 4),
        "support_threshold": support["threshold"],
        "support_pairs": support["pairs"],
        "support_accuracy": support["accuracy"],
        "support_supported_kept": support["supported_kept"],
        "support_unsupported_rejected": support["unsupported_rejected"],
        "embedding_model": settings.embedding_model,
        "note": "written by `ivl calibrate` from evals/questions.yaml; do not edit by hand",
    }
    target = out or Path(str(CALIBRATION))
    target.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result
