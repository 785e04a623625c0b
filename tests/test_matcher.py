"""The learned matcher: training is deterministic, the stored artefact is what the product loads (and says so
in one line when it is damaged or of another format), and the shipped one is small and documented."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evals.train import Recipe, fine_tune, weights
from evals.trainset import Pair
from ivl_index import learned
from ivl_index.errors import EncoderError
from ivl_index.model_files import bundled_model

PAIRS = [
    Pair("is ivl cancer", ("Intravenous leiomyomatosis (IVL) is a benign smooth muscle tumor.",), "a", "x", "lay", "tune"),
    Pair("how is IVL treated", ("Surgery is the mainstay of treatment.",), "b", "x", "student", "tune"),
    Pair("recurrence rate post myomectomy", ("The recurrence rate after myomectomy was 30%.",), "c", "x", "clinician", "tune"),
    Pair("can it reach the heart", ("The tumour may extend into the right atrium.",), "d", "x", "lay", "tune"),
    Pair("what are the symptoms of anemia", ("Anemia causes tiredness and shortness of breath.",), "e", "medquad", "", "medquad"),
    Pair("how is gout diagnosed", ("Gout is diagnosed by finding crystals in joint fluid.",), "f", "medquad", "", "medquad"),
]
TINY = Recipe(epochs=1, batch_size=2, max_tokens=24, medquad=0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A matcher trained for three steps, written and materialised in temp folders."""
    model = fine_tune(PAIRS, TINY, say=lambda _: None)
    folder = tmp_path_factory.mktemp("matcher") / "m"
    base = bundled_model()
    learned.write(folder, weights(model), {"base_sha256": learned.file_hash(base / "model.safetensors"), "seed": TINY.seed})
    return model, folder


def test_training_twice_gives_the_same_weights(tiny):
    first = weights(tiny[0])
    again = weights(fine_tune(PAIRS, TINY, say=lambda _: None))
    assert all(np.array_equal(first[k], again[k]) for k in first)
    base = fine_tune(PAIRS, Recipe(epochs=1, batch_size=2, max_tokens=24, medquad=0, learning_rate=1e-9), say=lambda _: None)
    assert not all(np.array_equal(first[k], v) for k, v in weights(base).items())  # training moved the weights


def test_the_stored_matcher_embeds_as_the_trained_model(tiny, tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformer

    model, folder = tiny
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    whole = learned.materialised(folder, bundled_model())
    loaded = SentenceTransformer(str(whole), device="cpu")
    texts = ["how is IVL treated", "The tumour may extend into the right atrium."]
    model.max_seq_length = loaded.max_seq_length
    diff = np.abs(loaded.encode(texts, normalize_embeddings=True) - model.encode(texts, normalize_embeddings=True)).max()
    assert diff < 5e-3  # float16 storage
    assert (folder / learned.WEIGHTS).stat().st_size < 30e6  # the word-piece table is not stored


def test_a_damaged_or_foreign_matcher_is_one_clear_message(tiny, tmp_path, monkeypatch):
    import shutil

    _, folder = tiny
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    damaged = tmp_path / "damaged"
    shutil.copytree(folder, damaged)
    with open(damaged / learned.WEIGHTS, "r+b") as f:
        f.seek(-64, 2)
        f.write(b"\0" * 64)
    with pytest.raises(EncoderError, match="do not match its manifest.*ivl train"):
        learned.materialised(damaged, bundled_model())
    manifest = json.loads((folder / learned.MANIFEST).read_text())
    (damaged / learned.MANIFEST).write_text(json.dumps(manifest | {"format": 0}))
    with pytest.raises(EncoderError, match="another format.*ivl train"):
        learned.read_manifest(damaged)


def test_the_shipped_matcher_is_small_and_says_how_it_was_made():
    manifest = learned.read_manifest(learned.SHIPPED)
    size = sum(f.stat().st_size for f in learned.SHIPPED.iterdir())
    assert size < 50e6
    assert manifest["base_sha256"] == learned.file_hash(bundled_model() / "model.safetensors")
    assert manifest["weights_sha256"] == learned.file_hash(learned.SHIPPED / learned.WEIGHTS)
    assert {"data_sha256", "seed", "metrics", "recipe", "data"} <= manifest.keys()


def test_an_unwritable_cache_is_one_clear_message(tiny, tmp_path, monkeypatch):
    _, folder = tiny
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    with pytest.raises(EncoderError, match="XDG_CACHE_HOME"):
        learned.materialised(folder, bundled_model())
