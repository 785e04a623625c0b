"""`ivl calibrate`: choose the abstention thresholds on the `tune` questions, reproducibly.

For every labelled question with a definite label (answer or abstain) take the two features abstention
decides on, then search the pair of thresholds that best separates the two groups (abstention recall weighted
twice against answerable questions kept);
among equally good pairs take the one farthest from any question (the widest margin), so a small
change in scores does not flip a decision. Cross-validated figures (folds by paraphrase group) say how the
thresholds do on questions the calibration did not see.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from chatbot.abstention import CALIBRATION
from chatbot.answerer import Answerer
from chatbot.settings import AnswerSettings
from evals.labelled import load_items


def _cuts(values, low: float, high: float) -> np.ndarray:
    """Midpoints between neighbouring observed values, plus the ends."""
    points = sorted(set(float(v) for v in values) | {low, high})
    return np.array([points[0]] + [(a + b) / 2 for a, b in zip(points, points[1:])] + [points[-1]])


def _margins(cuts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each cut, its distance to the nearest observed value."""
    return np.abs(cuts[:, None] - values[None, :]).min(axis=1) if len(values) else np.zeros(len(cuts))


def _best(keys: list[np.ndarray]) -> int:
    """Index of the largest key, compared element by element (first wins a tie), over flattened arrays."""
    return int(np.lexsort([-k.ravel() for k in reversed(keys)])[0])


def abstention_cuts(scores: np.ndarray, unknown: np.ndarray, abstain: np.ndarray) -> tuple[float, float]:
    """The (abstain_below, unknown_above) pair that best separates the rows: abstention recall weighted twice
    against answerable questions kept, then recall, then the widest margin."""
    ts, us = _cuts(scores, 0.0, 1.0), _cuts(unknown, 0.0, 1.0)
    abstains = (scores[None, None, :] < ts[:, None, None]) | (unknown[None, None, :] > us[None, :, None])
    recall = abstains[:, :, abstain].sum(axis=2) / max(abstain.sum(), 1)
    kept = (~abstains[:, :, ~abstain]).sum(axis=2) / max((~abstain).sum(), 1)
    margin = np.minimum(_margins(ts, scores)[:, None], _margins(us, unknown)[None, :])
    # A wrong answer is worse than an honest abstention: recall counts twice.
    i, j = np.unravel_index(_best([(2 * recall + kept) / 3, recall, margin]), recall.shape)
    return float(ts[i]), float(us[j])


def support_cut(scores: np.ndarray, supported: np.ndarray) -> float:
    """The support threshold that best separates supported from unsupported pairs: rejecting unsupported
    ones counts twice (accepting one is the worst failure), then rejection, then the widest margin."""
    cuts = _cuts(scores, 0.0, 1.0)
    accepts = scores[None, :] >= cuts[:, None]
    tpr = accepts[:, supported].sum(axis=1) / max(supported.sum(), 1)
    tnr = (~accepts[:, ~supported]).sum(axis=1) / max((~supported).sum(), 1)
    return float(cuts[_best([(tpr + 2 * tnr) / 3, tnr, _margins(cuts, scores)])])


FOLDS = 5


def folds(groups: list[str], k: int = FOLDS) -> np.ndarray:
    """A fold number per row, whole paraphrase groups together (a paraphrase of a held-out question in the
    fitting rows would flatter the figure), groups dealt to folds in sorted order: reproducible."""
    names = sorted(set(groups))
    fold_of = {g: i % k for i, g in enumerate(names)}
    return np.array([fold_of[g] for g in groups])


def held_out_abstention(scores, unknown, abstain, groups: list[str], k: int = FOLDS) -> tuple[float, float]:
    """Cross-validation by paraphrase group: each question decided by thresholds chosen on the other folds.
    (abstention recall, answerable kept) for questions the calibration has not seen; the shipped thresholds
    use every tune question."""
    fold = folds(groups, k)
    decided = np.zeros(len(scores), dtype=bool)
    for f in range(k):
        mine = fold == f
        if not mine.any() or mine.all():
            continue
        t, u = abstention_cuts(scores[~mine], unknown[~mine], abstain[~mine])
        decided[mine] = (scores[mine] < t) | (unknown[mine] > u)
    return float(decided[abstain].mean()), float((~decided[~abstain]).mean())


def held_out_support(scores, supported, first, second) -> tuple[float, float]:
    """Leave-one-item-out: the pairs of one item (its paraphrase or its quote in them) judged by a threshold
    chosen on the pairs of the other items only."""
    accepted = np.zeros(len(scores), dtype=bool)
    for item in np.unique(first):
        mine = (first == item) | (second == item)
        cut = support_cut(scores[~mine], supported[~mine])
        accepted[mine & (first == item)] = scores[mine & (first == item)] >= cut
    return float(accepted[supported].mean()), float((~accepted[~supported]).mean())


def calibrate_support(answerer: Answerer, items) -> dict:
    """The LLM path's support threshold: each study item's own paraphrase (`explain`) against its gold quote
    is a supported pair; against every other item's gold quote, an unsupported one."""
    study = [i for i in items if i.explain and i.gold]
    pairs = [(answerer.support_score(a.explain, b.gold[0]), a.id == b.id, ia, ib)
             for ia, a in enumerate(study) for ib, b in enumerate(study)]  # fmt: skip
    scores, supported, first, second = (np.array(col) for col in zip(*pairs))
    cut = support_cut(scores, supported)
    tpr = float((scores[supported] >= cut).mean())
    tnr = float((scores[~supported] < cut).mean())
    held_tpr, held_tnr = held_out_support(scores, supported, first, second)
    return {"threshold": round(cut, 4), "pairs": len(pairs), "accuracy": round((tpr + tnr) / 2, 4),
            "supported_kept": round(tpr, 4), "unsupported_rejected": round(tnr, 4),
            "held_out_supported_kept": round(held_tpr, 4), "held_out_unsupported_rejected": round(held_tnr, 4)}


def calibrate(settings: AnswerSettings, out: Path | None = None) -> dict:
    """Fit on the `tune` split only; the `test` split is never read here (a test holds it to that)."""
    tune = load_items("tune")
    answerer = Answerer(settings.model_copy(update={"abstain_threshold": 0.0, "unknown_limit": 1.0}))
    rows, groups = [], []
    for item in tune:
        if item.abstain == "any":
            continue
        c = answerer.consider(item.question, item.history)
        rows.append((c.candidates[0].score if c.candidates else 0.0, c.unknown_share, bool(item.abstain)))
        groups.append(item.group)
    scores, unknown, abstain = (np.array(col) for col in zip(*rows))
    t, u = abstention_cuts(scores, unknown, abstain)
    decided = (scores < t) | (unknown > u)
    held_recall, held_kept = held_out_abstention(scores, unknown, abstain, groups)
    support = calibrate_support(answerer, tune)
    result = {
        "abstain_below": round(t, 4),
        "unknown_above": round(u, 4),
        "labelled_answerable": int((~abstain).sum()),
        "labelled_unanswerable": int(abstain.sum()),
        "abstention_recall": round(float(decided[abstain].mean()), 4),
        "answerable_kept": round(float((~decided[~abstain]).mean()), 4),
        "cross_validation": f"{FOLDS} folds by paraphrase group, tune split only",
        "cv_abstention_recall": round(held_recall, 4),
        "cv_answerable_kept": round(held_kept, 4),
        "support_threshold": support["threshold"],
        "support_pairs": support["pairs"],
        "support_accuracy": support["accuracy"],
        "support_supported_kept": support["supported_kept"],
        "support_unsupported_rejected": support["unsupported_rejected"],
        "support_held_out_supported_kept": support["held_out_supported_kept"],
        "support_held_out_unsupported_rejected": support["held_out_unsupported_rejected"],
        "embedding_model": settings.embedding_model,
        "note": "written by `ivl calibrate` from the tune split (evals/questions.yaml); do not edit by hand",
    }
    target = out or Path(str(CALIBRATION))
    target.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result
