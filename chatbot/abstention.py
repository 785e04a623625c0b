"""The one place abstention lives: the calibrated thresholds, the decision, and the abstained answer.
`ivl calibrate` (evals/calibrate.py) fits the thresholds; everything that answers asks `Abstention`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files

from chatbot.models import ABSTAIN, COVERAGE, Answer
from chatbot.settings import AnswerSettings
from ivl_index.errors import CalibrationMissing

CALIBRATION = files("chatbot").joinpath("data/calibration.json")


def calibration() -> dict:
    """The abstention thresholds `ivl calibrate` chose on the labelled questions."""
    try:
        return json.loads(CALIBRATION.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationMissing(f"{CALIBRATION} is missing; run `ivl calibrate` to create it") from None


@dataclass(frozen=True)
class Abstention:
    abstain_below: float  # best sentence score under which the sources do not answer
    unknown_above: float  # share of the question's weight in words the corpus never uses
    support: float  # LLM path: support score a paraphrase needs (1.0 = verbatim only)

    @staticmethod
    def from_settings(settings: AnswerSettings) -> Abstention:
        """Settings win over the calibrated values (a maintainer trying a threshold)."""
        calibrated = calibration()
        below = settings.abstain_threshold if settings.abstain_threshold is not None else calibrated["abstain_below"]
        unknown = settings.unknown_limit if settings.unknown_limit is not None else calibrated["unknown_above"]
        return Abstention(below, unknown, calibrated.get("support_threshold", 1.0))

    def abstains(self, best_score: float | None, unknown_share: float) -> bool:
        """best_score: the best candidate sentence's, None when there is no candidate."""
        return best_score is None or best_score < self.abstain_below or unknown_share > self.unknown_above


def abstained(question: str, seconds: float = 0.0) -> Answer:
    """The fixed abstention sentence and the pointer to what the sources cover."""
    return Answer(question=question, answer=f"{ABSTAIN} {COVERAGE}", abstained=True, seconds=seconds)
