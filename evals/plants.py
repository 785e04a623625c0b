"""`ivl train --part plants`: fit the plant detector's learned reader (chatbot/planted.py), reproducibly.

A logistic regression over the hashed n-grams `chatbot.planted.features` gives, fitted on planted text written
by helper sessions who never saw the detector (evals/train-data/plants/) against ordinary sentences: written
ones, hard cases among them ("Patients were instructed to ..."), and MedQuAD's questions and answer sentences.
and the corpus's own sentences. The cut is the lowest score that flags no ordinary text out of fold, so it is
set on text the model did not fit. A sentence not in English is never quoted whatever its score
(chatbot/language.py); the figures count it as caught, as answering does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from chatbot.language import in_english
from chatbot.planted import Detector, cued, features
from ivl_index import learned
from ivl_index.settings import REPO_ROOT

DATA = REPO_ROOT / "evals" / "train-data"


@dataclass(frozen=True)
class Recipe:
    buckets: int = 1 << 18
    c: float = 16.0  # inverse regularisation strength, chosen out of fold on tune from 1, 4, 16, 64 (README)
    other_languages: float = 5.0  # weight of an ordinary text not in English: few are written, against thousands
    # of English ones, so without it "not English" itself would read as planted
    folds: int = 5
    seed: int = 13


@dataclass
class Texts:
    planted: list[str]
    ordinary: list[str]
    origins: list[str]  # per text, planted first: the file it came from
    english: list[bool]  # per text, as its writer labelled it (MedQuAD: English)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def gather(data: Path = DATA, corpus: list[str] = ()) -> Texts:
    """The written plants and ordinary texts, MedQuAD's questions and answer sentences, and the corpus's sentences."""
    planted, ordinary, origins, english = [], [], [], []
    for kind, out in (("plants", planted), ("ordinary", ordinary)):
        for path in sorted((data / "plants").glob(f"{kind}-*.jsonl")):
            rows = _rows(path)
            out += [r["text"] for r in rows]
            origins += [path.name] * len(rows)
            english += [r.get("language", "en") == "en" for r in rows]
    general = list(dict.fromkeys(t for row in _rows(data / "medquad.jsonl") for t in (row["question"], row["answer"])))
    origins += ["medquad.jsonl"] * len(general) + ["corpus"] * len(corpus)
    return Texts(planted, ordinary + general + list(corpus), origins, english + [True] * (len(general) + len(corpus)))


def matrix(texts: list[str], buckets: int):
    """Rows as `chatbot.planted.plant_score` reads them: each distinct feature 1/sqrt(count)."""
    from scipy.sparse import csr_matrix

    found = [features(t, buckets) for t in texts]
    indptr = np.cumsum([0] + [len(f) for f in found])
    values = np.concatenate([np.full(len(f), 1 / max(len(f), 1) ** 0.5, dtype=np.float32) for f in found])
    return csr_matrix((values, np.concatenate(found), indptr), shape=(len(texts), buckets))


def weights(y: np.ndarray, english: np.ndarray, recipe: Recipe) -> np.ndarray:
    """Ordinary texts in other languages up-weighted; the planted side then weighs as much as the ordinary."""
    w = np.where((y == 0) & ~english, recipe.other_languages, 1.0)
    w[y == 1] = w[y == 0].sum() / max((y == 1).sum(), 1)
    return w


def _fit(x, y, w, recipe: Recipe):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=recipe.c, max_iter=5000, random_state=recipe.seed).fit(x, y, sample_weight=w)


def out_of_fold(x, y, english: np.ndarray, recipe: Recipe) -> np.ndarray:
    """Scores of each text from a model fitted without it (folds stratified by class and language)."""
    from sklearn.model_selection import StratifiedKFold

    scores, w = np.zeros(len(y)), weights(y, english, recipe)
    for fit, held in StratifiedKFold(recipe.folds, shuffle=True, random_state=recipe.seed).split(x, y * 2 + english):
        scores[held] = _fit(x[fit], y[fit], w[fit], recipe).decision_function(x[held])
    return scores


def data_hash(texts: Texts) -> str:
    return hashlib.sha256(json.dumps([texts.planted, texts.ordinary]).encode()).hexdigest()


def train(folder: Path, corpus: list[str], recipe: Recipe = Recipe(), data: Path = DATA,
          say: Callable[[str], None] = lambda _m: None) -> dict:  # fmt: skip
    """Fit, measure out of fold, write the detector to `folder`; the manifest's metrics are returned. The corpus's
    sentences are ordinary texts too (a source's own prose is what must never be hidden)."""
    texts = gather(data, corpus)
    all_texts = texts.planted + texts.ordinary
    y = np.array([1] * len(texts.planted) + [0] * len(texts.ordinary))
    english = np.array(texts.english)
    x = matrix(all_texts, recipe.buckets)
    say(f"plant detector: {len(texts.planted)} planted, {len(texts.ordinary)} ordinary texts; {recipe.folds}-fold scores...")
    oof = out_of_fold(x, y, english, recipe)
    cut = float(oof[y == 0].max()) + 1e-6  # no ordinary text flagged out of fold
    model = _fit(x, y, weights(y, english, recipe), recipe)
    coef, bias = model.coef_[0].astype(np.float32), float(model.intercept_[0])
    # As answering decides: the learned reader, or the cues, or a sentence not in English (never quoted).
    unquoted = (oof >= cut) | np.array([cued(t) or not in_english(t) for t in all_texts])
    by_origin = {}
    for origin in dict.fromkeys(texts.origins):
        mine = np.array([o == origin for o in texts.origins])
        by_origin[origin] = round(float(unquoted[mine].mean()), 3)
    metrics = {
        "out_of_fold_planted_caught": round(float(unquoted[y == 1].mean()), 4),
        "out_of_fold_planted_caught_by_learned_reader_alone": round(float((oof >= cut)[y == 1].mean()), 4),
        "out_of_fold_ordinary_flagged": int(unquoted[y == 0].sum()),
        "out_of_fold_unquoted_share_by_file": by_origin,
    }
    detector = Detector(coef, bias, cut, recipe.buckets)  # as answering reads: the fitted model and the cues
    metrics["corpus_sentences_flagged"] = sum(detector.planted(s) or not in_english(s) for s in corpus)
    metrics["out_of_fold_english_ordinary_flagged"] = int((unquoted & (y == 0) & english).sum())
    english_ordinary = [t for t, e, o in zip(texts.ordinary, texts.english[len(texts.planted):], texts.origins[len(texts.planted):]) if e and o != "medquad.jsonl"]
    metrics["written_english_ordinary_flagged"] = [t for t in english_ordinary if detector.planted(t)]
    learned.write_detector(folder, coef, {
        "bias": bias, "cut": cut, "buckets": recipe.buckets, "recipe": asdict(recipe), "data_sha256": data_hash(texts),
        "counts": {"planted": len(texts.planted), "ordinary": len(texts.ordinary)}, "metrics": metrics,
    })  # fmt: skip
    say(f"plant detector: {metrics}")
    return metrics
