"""`ivl calibrate`: the shipped thresholds are the ones the tune questions give today, the test split is never
read, and the search and its cross-validated figures behave as documented."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chatbot.abstention import CALIBRATION
from chatbot.answerer import Answerer
from chatbot.ranker import Logistic
from evals import labelled
from evals.calibrate import answer_cut, calibrate, fit_logistic, folds, support_cut


def test_shipped_calibration_is_what_calibrate_gives_now(built_index, tmp_path):
    """Change the corpus, the model or the scoring without rerunning `ivl calibrate`, and this fails."""
    fresh = calibrate(built_index, tmp_path / "calibration.json")
    shipped = json.loads(CALIBRATION.read_text(encoding="utf-8"))
    # Within a rounding step: the ONNX and sentence-transformers encoders differ by ~1e-7.
    for key in ("ranker", "abstention", "composition"):
        for field, value in fresh[key].items():
            assert value == pytest.approx(shipped[key][field], abs=2e-3), f"{key}.{field}: run `ivl calibrate`"
    flat = {k: v for k, v in fresh.items() if not isinstance(v, dict) and k not in ("ranker_sentences", "ranker_positives")}
    assert flat == pytest.approx({k: shipped[k] for k in flat}, abs=2e-4), "run `ivl calibrate` and commit it"
    # One candidate sentence more or less where two near-sentence scores tie between the two encoders.
    assert fresh["ranker_sentences"] == pytest.approx(shipped["ranker_sentences"], rel=1e-3)
    tune_and_written = len(labelled.load_items("tune")) + fresh["written_unanswerable"]
    assert fresh["labelled_answerable"] + fresh["labelled_unanswerable"] <= tune_and_written
    assert 0 <= fresh["cv_abstention_recall"] <= 1 and 0 <= fresh["cv_answerable_kept"] <= 1


def test_calibrate_never_reads_a_test_item(built_index, tmp_path, monkeypatch):
    """Nothing is fitted on the test split: loading it fails this test, and so does asking one of its questions."""
    test_questions = {i.question for i in labelled.load_items("test")}
    real_load, asked = labelled._load, []

    def tune_only(split):
        assert split != "test", "calibrate loaded the test split"
        return real_load(split)

    real_gather = Answerer.gather

    def spy(self, question, history=()):
        asked.append(question)
        return real_gather(self, question, history)

    monkeypatch.setattr(labelled, "_load", tune_only)
    monkeypatch.setattr(Answerer, "gather", spy)
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


def test_the_cut_abstains_on_the_required_share_and_keeps_the_most():
    p = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    answerable = np.array([True, True, True, False, False])
    cut = answer_cut(p, answerable, recall=0.95)
    assert cut == pytest.approx(0.45)  # midway between 0.2 and 0.7: every unanswerable abstains, all kept
    support = support_cut(np.array([0.9, 0.6, 0.3, 0.1]), np.array([True, True, False, False]))
    assert support == pytest.approx(0.45)


def test_when_groups_overlap_abstaining_right_comes_before_keeping_answers():
    # One unanswerable question looks like the answerable ones: catching it costs two answerable ones.
    p = np.array([0.9, 0.6, 0.55, 0.58, 0.1])
    answerable = np.array([True, True, True, False, False])
    cut = answer_cut(p, answerable, recall=0.95)
    assert ((p < cut) == ~answerable)[~answerable].all()  # every unanswerable question abstains


def test_the_answerer_applies_the_fitted_weights_as_scikit_learn_would():
    """numpy at answer time gives scikit-learn's probabilities: the stored dict is the whole model."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = x[:, 0] - 0.5 * x[:, 2] + rng.normal(scale=0.3, size=200) > 0
    fitted = fit_logistic(x, y, ("a", "b", "c"))
    model = Logistic.from_dict(fitted, ("a", "b", "c"))
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    reference = LogisticRegression(C=1.0, max_iter=5000).fit((x - mean) / scale, y)
    expected = reference.predict_proba((x - mean) / scale)[:, 1]
    assert np.allclose(model.probability(x), expected, atol=1e-4)
    with pytest.raises(ValueError, match="features"):
        Logistic.from_dict(fitted, ("a", "b"))


@pytest.mark.parametrize(
    "damage",
    [lambda d: d["abstention"]["coef"].__setitem__(0, float("nan")),  # before: abstention silently off
     lambda d: d["ranker"]["coef"].pop(),
     lambda d: d["composition"].__setitem__("add_at", "high"),
     lambda d: d.pop("abstention"),
     lambda d: d["ranker"]["scale"].__setitem__(1, 0.0),
     lambda d: d.__setitem__("format", 1)],
)  # fmt: skip
def test_a_damaged_calibration_is_one_line_naming_the_command_that_rebuilds_it(tmp_path, damage):
    from ivl_index.errors import CalibrationMissing
    from ivl_index.learned import read_calibration

    data = json.loads(CALIBRATION.read_text(encoding="utf-8"))
    damage(data)
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CalibrationMissing, match="run `ivl calibrate`"):
        read_calibration(path)
