"""The sentence ranker and the abstention decision: logistic models `ivl calibrate` fits with scikit-learn on
the `tune` questions, applied here with numpy and the stored weights alone (no scikit-learn at answer time).

Hand-written features rather than a learned embedding because they carry to new questions and new documents:
how close and how lexically covered a sentence is, where it sits, and whether it has the kind of answer the
question wants (a number for a quantity, the case for a question about the patient).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from chatbot.analysis import Analysis
from chatbot.scoring import Candidate, Group, covered

NUMBER = re.compile(r"\d")
DEFINES = re.compile(r"^[^,;:]{0,60}?\b(is|are|refers to|means)\b (a|an|the|defined)\b", re.IGNORECASE)
CASE_SECTION = "Case report"

SENTENCE_FEATURES = (
    "similarity", "overlap", "chunk_rank", "similarity_gap", "overlap_gap", "part_cover",
    "number_for_quantity", "number_otherwise", "case_for_case", "case_otherwise", "defines_for_definition",
    "defines", "log_words",
)  # fmt: skip
QUESTION_FEATURES = (
    "best", "margin", "best_overlap", "best_similarity", "unknown_rare", "unknown_common", "about_sources",
    "quantity", "quantity_figure_by_key_word",
)  # fmt: skip
TOP = 3  # best-ranked sentences in which a quantity question looks for its figure


def sentence_features(cands: list[Candidate], analysis: Analysis, parts: list[list[Group]]) -> np.ndarray:
    """One row per candidate, columns as SENTENCE_FEATURES. parts: the term groups of each part of the question."""
    if not cands:
        return np.zeros((0, len(SENTENCE_FEATURES)), dtype=np.float32)
    sim = np.array([c.similarity for c in cands])
    ovl = np.array([c.overlap for c in cands])
    quantity, case, definition = "quantity" in analysis.kinds, analysis.about_case, "definition" in analysis.kinds
    rows = []
    for c, s, o in zip(cands, sim, ovl):
        number = bool(NUMBER.search(c.text))
        in_case = c.section == CASE_SECTION
        defines = bool(DEFINES.search(c.text))
        part_cover = max((covered(p, c.terms) for p in parts), default=o) if len(parts) > 1 else o
        rows.append((
            s, o, 1 / (1 + c.rank), s - sim.max(), o - ovl.max(), part_cover,
            number and quantity, number and not quantity, in_case and case, in_case and not case,
            defines and definition, defines, np.log1p(len(c.text.split())),
        ))  # fmt: skip
    return np.array(rows, dtype=np.float32)


def question_features(
    cands: list[Candidate], analysis: Analysis, groups: list[Group], unknown: tuple[float, float]
) -> np.ndarray:
    """One row for the question, columns as QUESTION_FEATURES; cands ranked (score set, best first).
    A quantity is answered only by a figure beside the question's key word: "what dose of tamoxifen" is not
    answered by "3.75 mg leuprolide" in a sentence without tamoxifen."""
    best = cands[0] if cands else None
    second = cands[1].score if len(cands) > 1 else 0.0
    quantity = "quantity" in analysis.kinds
    present = [g for g in groups if any(g[1] & c.terms for c in cands)]  # words some candidate uses
    key = max(present, key=lambda g: g[2])[1] if present else frozenset()
    figure = any(NUMBER.search(c.text) and key & c.terms for c in cands[:TOP])
    return np.array([
        best.score if best else 0.0, (best.score - second) if best else 0.0,
        best.overlap if best else 0.0, best.similarity if best else 0.0, unknown[0], unknown[1],
        float(analysis.about_sources), float(quantity), float(quantity and figure),
    ], dtype=np.float32)  # fmt: skip


@dataclass(frozen=True)
class Logistic:
    """A fitted logistic model: standardise with the stored mean and scale, then the sigmoid of a dot product."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @staticmethod
    def from_dict(d: dict, expected: tuple[str, ...]) -> Logistic:
        if tuple(d["features"]) != expected:
            raise ValueError(f"calibration has features {d['features']}, the code computes {list(expected)}")
        return Logistic(tuple(d["features"]), *(np.asarray(d[k], dtype=np.float64) for k in ("mean", "scale", "coef")),
                        float(d["intercept"]))  # fmt: skip

    def probability(self, x: np.ndarray) -> np.ndarray:
        z = ((np.atleast_2d(x) - self.mean) / self.scale) @ self.coef + self.intercept
        return 1 / (1 + np.exp(-z))


def rank(cands: list[Candidate], probabilities: np.ndarray) -> list[Candidate]:
    """Candidates best first by the ranker's probability (set as their score); ties by retrieval rank, place."""
    for c, p in zip(cands, probabilities):
        c.score = float(p)
    return sorted(cands, key=lambda c: (-c.score, c.rank, c.source_id, c.start))
