"""`ivl calibrate`: the shipped thresholds are the ones the labelled questions give today, and the search and
its leave-one-out figures behave as documented."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chatbot.abstention import CALIBRATION
from evals.calibrate import abstention_cuts, calibrate, held_out_abstention, support_cut


def test_shipped_calibration_is_what_calibrate_gives_now(built_index, tmp_path):
    """Change the corpus, the model or the scoring without rerunning `ivl calibrate`, and this fails."""
    fresh = calibrate(built_index, tmp_path / "calibration.json")
    shipped = json.loads(CALIBRATION.read_text(encoding="utf-8"))
    # Within a rounding step: the ONNX and sentence-transformers encoders differ by ~1e-7.
    assert fresh == pytest.approx(shipped, abs=2e-4), "run `ivl calibrate` and commit chatbot/data/calibration.json"
    assert fresh["abstention_recall"] == 1.0 and fresh["held_out_abstention_recall"] <= fresh["abstention_recall"]


def test_search_separates_what_can_be_separated_with_the_widest_margin():
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    unknown = np.zeros(5)
    abstain = np.array([False, False, False, True, True])
    t, u = abstention_cuts(scores, unknown, abstain)
    assert t == pytest.approx(0.45) and u >= unknown.max()  # midway between 0.2 and 0.7; nothing abstains for unknown words
    assert held_out_abstention(scores, unknown, abstain) == (1.0, 1.0)
    assert support_cut(np.array([0.9, 0.6, 0.3, 0.1]), np.array([True, True, False, False])) == pytest.approx(0.45)


def test_when_groups_overlap_a_wrong_answer_costs_more_than_an_abstention():
    # One unanswerable question scores like the answerable ones: catching it costs two answerable ones.
    scores = np.array([0.9, 0.6, 0.55, 0.58, 0.1])
    abstain = np.array([False, False, False, True, True])
    t, _ = abstention_cuts(scores, np.zeros(5), abstain)
    assert ((scores < t) == abstain)[abstain].all()  # every unanswerable question abstains
