"""`ivl calibrate`: the shipped thresholds are the ones the tune questions give today, the test split is never
read, and the search and its cross-validated figures behave as documented."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chatbot.abstention import CALIBRATION
from chatbot.answerer import Answerer
from evals import labelled
from evals.calibrate import abstention_cuts, calibrate, folds, held_out_abstention, support_cut


def test_shipped_calibration_is_what_calibrate_gives_now(built_index, tmp_path):
    """Change the corpus, the model or the scoring without rerunning `ivl calibrate`, and this fails."""
    fresh = calibrate(built_index, tmp_path / "calibration.json")
    shipped = json.loads(CALIBRATION.read_text(encoding="utf-8"))
    # Within a rounding step: the ONNX and sentence-transformers encoders differ by ~1e-7.
    assert fresh == pytest.approx(shipped, abs=2e-4), "run `ivl calibrate` and commit chatbot/data/calibration.json"
    assert fresh["labelled_answerable"] + fresh["labelled_unanswerable"] <= len(labelled.load_items("tune"))
    assert 0 <= fresh["cv_abstention_recall"] <= 1 and 0 <= fresh["cv_answerable_kept"] <= 1


def test_calibrate_never_reads_a_test_item(built_index, tmp_path, monkeypatch):
    """Nothing is fitted on the test split: loading it fails this test, and so does asking one of its questions."""
    test_questions = {i.question for i in labelled.load_items("test")}
    real_load, asked = labelled._load, []

    def tune_only(split):
        assert split != "test", "calibrate loaded the test split"
        return real_load(split)

    real_consider = Answerer.consider

    def spy(self, question, history=()):
        asked.append(question)
        return real_consider(self, question, history)

    monkeypatch.setattr(labelled, "_load", tune_only)
    monkeypatch.setattr(Answerer, "consider", spy)
    calibrate(built_index, tmp_path / "calibration.json")
    assert asked and not set(asked) & test_questions


def test_the_split_keeps_every_paraphrase_group_on_one_side():
    tune, test = labelled.load_items("tune"), labelled.load_items("test")
    assert not {i.group for i in tune} & {i.group for i in test}
    assert len(tune) + len(test) >= 300 and 0.25 <= len(test) / (len(tune) + len(test)) <= 0.45
    for split in (tune, test):
        sizes: dict[str, int] = {}
        for item in split:
            sizes[item.group] = sizes.get(item.group, 0) + 1
        assert min(sizes.values()) >= 3  # each fact asked at least three ways
    assert {i.register for i in test} == {"clinician", "lay", "student"}


def test_cross_validation_folds_keep_paraphrase_groups_together():
    groups = ["a", "a", "b", "c", "c", "c", "d", "e", "f"]
    fold = folds(groups, k=3)
    for g in set(groups):
        assert len({f for f, name in zip(fold, groups) if name == g}) == 1
    assert set(fold) == {0, 1, 2}


def test_search_separates_what_can_be_separated_with_the_widest_margin():
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    unknown = np.zeros(5)
    abstain = np.array([False, False, False, True, True])
    t, u = abstention_cuts(scores, unknown, abstain)
    assert t == pytest.approx(0.45) and u >= unknown.max()  # midway between 0.2 and 0.7; nothing abstains for unknown words
    assert held_out_abstention(scores, unknown, abstain, ["a", "b", "c", "d", "e"]) == (1.0, 1.0)
    assert support_cut(np.array([0.9, 0.6, 0.3, 0.1]), np.array([True, True, False, False])) == pytest.approx(0.45)


def test_when_groups_overlap_a_wrong_answer_costs_more_than_an_abstention():
    # One unanswerable question scores like the answerable ones: catching it costs two answerable ones.
    scores = np.array([0.9, 0.6, 0.55, 0.58, 0.1])
    abstain = np.array([False, False, False, True, True])
    t, _ = abstention_cuts(scores, np.zeros(5), abstain)
    assert ((scores < t) == abstain)[abstain].all()  # every unanswerable question abstains
