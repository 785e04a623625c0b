"""`ivl calibrate`: fit the sentence ranker, the abstention decision and the composition thresholds on the
`tune` questions, reproducibly, with scikit-learn; the answerer applies the stored weights with numpy alone.

1. Ranker: a logistic regression over chatbot/ranker.py's sentence features; a candidate sentence is a positive
   when it holds one of its question's vital facts and comes from a source the question expects.
2. Abstention: a logistic regression over the question features (the ranker's best probability and margin,
   the question's words unknown to the corpus by English rarity, ...), trained on ranker scores from
   cross-validation (each question ranked by a ranker that never saw its paraphrase group), so the decision
   is fitted on scores like those a new question gets. The cut on its probability is the one that keeps the
   most answerable questions while abstaining on at least ABSTENTION_RECALL of the unanswerable ones (out of
   fold); a wrong answer is worse than an honest abstention.
3. Composition: the thresholds at which further sentences join an answer, searched on a grid for the most
   answerable questions answered with their facts and expected source, median answer within MEDIAN_WORDS.
Every figure written beside the weights is cross-validated by paraphrase group, tune split only.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from chatbot.abstention import CALIBRATION, Abstention
from chatbot.answerer import Answerer, Gathered
from chatbot.composition import compose
from chatbot.ranker import QUESTION_FEATURES, SENTENCE_FEATURES, Logistic, question_features, rank
from chatbot.settings import AnswerSettings
from evals.checks import bears
from evals.labelled import Item, load_items
from evals.trainset import synthetic_unanswerable
from ivl_index.learned import write_calibration

FOLDS = 5
ABSTENTION_RECALL = 0.85  # share of unanswerable questions (tune and written; out of fold) the cut must abstain on
MEDIAN_WORDS = 60  # the composition's median answer length may not exceed this
OFF_TOPIC_COST = 0.1  # ten sentences that bear on nothing asked cost as much as one question answered wrong
WRITTEN_UNANSWERABLE = True  # chosen by cross-validation on tune (README, "The matcher")
# With the matcher's similarities, weight 2 let 2.6% of unsupported pairs through held out, weight 4 let 1.0%
# through, both keeping 81% of supported ones (tune, leave-one-item-out).
REJECT_WEIGHT = 4
GRID = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.01)  # 1.01: never


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


def answer_cut(p: np.ndarray, answerable: np.ndarray, recall: float = ABSTENTION_RECALL) -> float:
    """The cut on P(answerable) below which to abstain: the most answerable questions kept among the cuts that
    abstain on at least `recall` of the unanswerable ones (the highest recall reached, if none does), then the
    widest margin."""
    cuts = _cuts(p, 0.0, 1.0)
    abstains = p[None, :] < cuts[:, None]
    got = abstains[:, ~answerable].sum(axis=1) / max((~answerable).sum(), 1)
    kept = (~abstains[:, answerable]).sum(axis=1) / max(answerable.sum(), 1)
    enough = got >= min(recall, got.max()) - 1e-9
    return float(cuts[_best([enough.astype(float), kept, _margins(cuts, p)])])


def support_cut(scores: np.ndarray, supported: np.ndarray) -> float:
    """The support threshold that best separates supported from unsupported pairs: rejecting unsupported
    ones counts REJECT_WEIGHT times (accepting one is the worst failure), then rejection, then the widest margin."""
    cuts = _cuts(scores, 0.0, 1.0)
    accepts = scores[None, :] >= cuts[:, None]
    tpr = accepts[:, supported].sum(axis=1) / max(supported.sum(), 1)
    tnr = (~accepts[:, ~supported]).sum(axis=1) / max((~supported).sum(), 1)
    return float(cuts[_best([(tpr + REJECT_WEIGHT * tnr) / (1 + REJECT_WEIGHT), tnr, _margins(cuts, scores)])])


def folds(groups: list[str], k: int = FOLDS) -> np.ndarray:
    """A fold number per row, whole paraphrase groups together (a paraphrase of a held-out question in the
    fitting rows would flatter the figure), groups dealt to folds in sorted order: reproducible."""
    names = sorted(set(groups))
    fold_of = {g: i % k for i, g in enumerate(names)}
    return np.array([fold_of[g] for g in groups])


def fit_logistic(x: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> dict:
    """A standardised L2 logistic regression, as the stored dict chatbot/ranker.py's Logistic reads."""
    from sklearn.linear_model import LogisticRegression  # lazy: only calibration needs scikit-learn

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=5000).fit((x - mean) / scale, y)
    r = lambda a: [round(float(v), 6) for v in a]  # noqa: E731
    return {"features": list(names), "mean": r(mean), "scale": r(scale), "coef": r(model.coef_[0]),
            "intercept": round(float(model.intercept_[0]), 6)}  # fmt: skip


def positive(item: Item, text: str, source_id: str) -> bool:
    """Does this sentence answer (part of) the item: one of its vital facts, from a source it expects?"""
    facts = [f for f in item.facts if f.vital] or item.facts
    return any(f.found_in(text) for f in facts) and (not item.sources or source_id in item.sources)


def ranker_rows(items: list[Item], gathered: list[Gathered]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, row's item index) over the candidates of the answerable items."""
    xs, ys, owner = [], [], []
    for n, (item, g) in enumerate(zip(items, gathered)):
        if item.abstain is not False or not len(g.candidates):
            continue
        xs.append(g.sentence_rows)
        ys += [positive(item, c.text, c.source_id) for c in g.candidates]
        owner += [n] * len(g.candidates)
    return np.vstack(xs), np.array(ys), np.array(owner)


def answered_right(item: Item, chosen: list) -> bool:
    text = " ".join(c.text for c in chosen)
    facts_ok = all(f.found_in(text) for f in item.facts if f.vital)
    return facts_ok and (not item.sources or any(c.source_id in item.sources for c in chosen))


def fit_composition(items: list[Item], lists: list[list], gathered: list[Gathered], s: AnswerSettings) -> dict:
    """The grid point with the most answerable items answered right, less OFF_TOPIC_COST for each sentence that
    bears no fact of its question, with the median answer within MEDIAN_WORDS."""
    rows = [(i, c, g) for i, c, g in zip(items, lists, gathered) if i.abstain is False and c]
    best = None
    for add_at, part_at, other_at in itertools.product(GRID, GRID, GRID):
        right, off, words = 0, 0, []
        for item, cands, g in rows:
            chosen = compose(cands, g.part_vectors, add_at, part_at, other_at, s.answer_max_sentences, s.answer_max_words)
            right += answered_right(item, chosen)
            off += sum(not bears(item, c.text) for c in chosen)
            words.append(sum(len(c.text.split()) for c in chosen))
        median = float(np.median(words))
        key = (median <= MEDIAN_WORDS, round(right - OFF_TOPIC_COST * off, 6), -median)
        if best is None or key > best[0]:
            best = (key, {"add_at": add_at, "part_at": part_at, "other_source_at": other_at,
                          "tune_answerable_right": right, "tune_answerable": len(rows), "tune_median_words": median,
                          "tune_sentences_off_topic": off})  # fmt: skip
    return best[1]


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


def calibrate(settings: AnswerSettings, out: Path | None = None, written_unanswerable: bool = WRITTEN_UNANSWERABLE) -> dict:
    """Fit on the `tune` split only (with written_unanswerable, also on the training data's unanswerable
    questions, which the matcher never saw); the `test` split is never read here (a test holds it to that)."""
    items = [i for i in load_items("tune") if i.abstain != "any"]
    written = synthetic_unanswerable() if written_unanswerable else []
    tune = np.array([True] * len(items) + [False] * len(written))  # the tune split's own items, not the written ones
    items += written
    answerer = Answerer(settings)
    gathered = [answerer.gather(i.question, i.history) for i in items]
    fold = folds([i.group for i in items])

    # 1. The ranker, and out-of-fold sentence probabilities for every item.
    x, y, owner = ranker_rows(items, gathered)
    ranker = fit_logistic(x, y, SENTENCE_FEATURES)
    oof = [np.zeros(len(g.candidates)) for g in gathered]
    for f in range(FOLDS):
        train = fold[owner] != f
        model = Logistic.from_dict(fit_logistic(x[train], y[train], SENTENCE_FEATURES), SENTENCE_FEATURES)
        for n in np.flatnonzero(fold == f):
            if len(gathered[n].candidates):
                oof[n] = model.probability(gathered[n].sentence_rows)
    lists = [rank(g.candidates, p) for g, p in zip(gathered, oof)]
    answerable = np.array([i.abstain is False for i in items])
    top_right = [positive(i, c[0].text, c[0].source_id) for i, c in zip(items, lists) if i.abstain is False and c]

    # 2. The abstention decision on out-of-fold ranker scores.
    q = np.vstack([question_features(c, g.analysis, g.groups, g.unknown) for c, g in zip(lists, gathered)])
    decision = fit_logistic(q, answerable, QUESTION_FEATURES)
    held = np.zeros(len(items))
    for f in range(FOLDS):
        mine = fold == f
        model = Logistic.from_dict(fit_logistic(q[~mine], answerable[~mine], QUESTION_FEATURES), QUESTION_FEATURES)
        held[mine] = model.probability(q[mine])
    cv_cuts = {f: answer_cut(held[fold != f], answerable[fold != f]) for f in range(FOLDS)}
    decided = np.array([held[n] < cv_cuts[fold[n]] for n in range(len(items))])
    decision["answer_at"] = round(answer_cut(held, answerable), 4)

    # 3. Composition, on the same out-of-fold rankings.
    composition = fit_composition(items, lists, gathered, settings)
    support = calibrate_support(answerer, load_items("tune"))
    result = {
        "ranker": ranker,
        "abstention": decision,
        "composition": composition,
        "labelled_answerable": int(answerable.sum()),
        "labelled_unanswerable": int((~answerable).sum()),
        "ranker_sentences": int(len(y)),
        "ranker_positives": int(y.sum()),
        "cross_validation": f"{FOLDS} folds by paraphrase group, tune split only",
        "cv_ranker_top_sentence_right": round(float(np.mean(top_right)), 4),
        "cv_abstention_recall": round(float(decided[~answerable].mean()), 4),
        "cv_answerable_kept": round(float((~decided[answerable]).mean()), 4),
        "cv_abstention_recall_tune_only": round(float(decided[~answerable & tune].mean()), 4),
        "written_unanswerable": int((~tune).sum()),
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
    Abstention.from_settings(settings, result)  # the answerer can read what was fitted
    write_calibration(out or Path(str(CALIBRATION)), result)
    return result
