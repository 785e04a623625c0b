"""The one place abstention lives: the calibrated models, the decision, and the abstained answer.
`ivl calibrate` (evals/calibrate.py) fits them; everything that answers asks `Abstention`."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from chatbot.models import ABSTAIN, Answer
from chatbot.ranker import QUESTION_FEATURES, SENTENCE_FEATURES, Logistic
from chatbot.settings import AnswerSettings
from ivl_index.errors import CalibrationMissing
from ivl_index.learned import read_calibration

CALIBRATION = files("chatbot").joinpath("data/calibration.json")


def calibration() -> dict:
    """What `ivl calibrate` fitted on the labelled questions, checked (ivl_index/learned.py)."""
    return read_calibration(Path(str(CALIBRATION)))


@dataclass(frozen=True)
class Abstention:
    ranker: Logistic  # P(a sentence answers the question)
    answerable: Logistic  # P(the sources answer the question), from the ranked candidates
    answer_at: float  # the answer abstains below this P(answerable)
    add_at: float  # a further sentence joins the answer from this ranker probability
    part_at: float  # ... the best sentence for a part of the question not yet answered, from this one
    other_source_at: float  # ... or from this one, when it brings the other source
    support: float  # LLM path: support score a paraphrase needs (1.0 = verbatim only)

    @staticmethod
    def from_settings(settings: AnswerSettings, fitted: dict | None = None) -> Abstention:
        """The calibrated models; a set IVL_ABSTAIN_THRESHOLD wins over the calibrated cut (a maintainer trying
        one). fitted: a calibration being made (evals/calibrate.py) instead of the shipped file."""
        c = fitted or calibration()
        try:
            ranker = Logistic.from_dict(c["ranker"], SENTENCE_FEATURES)
            answerable = Logistic.from_dict(c["abstention"], QUESTION_FEATURES)
        except ValueError as err:
            raise CalibrationMissing(f"{CALIBRATION}: {err}; run `ivl calibrate` to refit it") from None
        cut = settings.abstain_threshold if settings.abstain_threshold is not None else c["abstention"]["answer_at"]
        comp = c["composition"]
        return Abstention(
            ranker, answerable, cut, comp["add_at"], comp["part_at"], comp["other_source_at"],
            c.get("support_threshold", 1.0),
        )

    def answerable_probability(self, question_row: np.ndarray) -> float:
        return float(self.answerable.probability(question_row)[0])

    def abstains(self, p_answerable: float | None) -> bool:
        """p_answerable: None when there is no candidate sentence at all."""
        return p_answerable is None or p_answerable < self.answer_at


def abstained(question: str, covered: str, seconds: float = 0.0) -> Answer:
    """The fixed abstention sentence and `covered`, what the index's sources cover (`models.coverage`)."""
    return Answer(question=question, answer=f"{ABSTAIN} {covered}", abstained=True, seconds=seconds)
