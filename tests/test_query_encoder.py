"""Questions are embedded by onnxruntime from the ONNX copy that ingest makes: the model's own vectors, no torch
in `ivl ask`, the same answers, and one clear message when the copy is missing, broken or impossible."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from evals.labelled import load_items
from ivl_index.embeddings import ModelEmbeddings
from ivl_index.model_files import encoder_folder
from ivl_index.onnx_encoder import OnnxEmbeddings, query_embeddings


def ivl(*args, data, **env):
    full = {**os.environ, "IVL_DATA_DIR": str(data), **env}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=full)


def test_the_onnx_copy_gives_the_models_own_vectors(built_index, embeddings):
    encoder = query_embeddings(built_index)
    assert isinstance(encoder, OnnxEmbeddings)
    questions = [i.question for i in load_items()]
    batched = np.array(encoder.embed_documents(questions))
    reference = np.array(embeddings.embed_documents(questions))
    assert np.abs(batched - reference).max() < 1e-4
    alone = np.array([encoder.embed_query(q) for q in questions[:10]])
    assert np.abs(alone - reference[:10]).max() < 1e-4


@pytest.mark.slow
def test_ask_loads_no_torch_and_answers_exactly_as_with_sentence_transformers(built_index):
    question = "How is IVL treated after hysterectomy?"
    fast = ivl("-X", "importtime", "-m", "ivl", "ask", "--json", question, data=built_index.data_dir)
    assert fast.returncode == 0, fast.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in fast.stderr.splitlines() if line.startswith("import time:")}
    assert not {"torch", "sentence_transformers", "transformers", "gradio"} & imported
    slow = ivl("-m", "ivl", "ask", "--json", question, data=built_index.data_dir,
               IVL_QUERY_ENCODER="sentence-transformers")  # fmt: skip
    assert slow.returncode == 0, slow.stderr
    a, b = json.loads(fast.stdout.splitlines()[-1]), json.loads(slow.stdout)
    assert a["answer"] == b["answer"] and a["citations"] == b["citations"] and not a["abstained"]


def test_missing_or_broken_copy_is_one_clear_message(built_index, tmp_path):
    empty = tmp_path / "no-encoders"
    out = ivl("-m", "ivl", "ask", "What is IVL?", data=built_index.data_dir,
              IVL_ENCODER_DIR=str(empty), IVL_QUERY_ENCODER="onnx")  # fmt: skip
    assert out.returncode == 1 and "no ONNX copy" in out.stderr and "ivl ingest" in out.stderr
    assert "Traceback" not in out.stderr

    broken = tmp_path / "broken"
    folder = encoder_folder(built_index)
    shutil.copytree(folder, broken / folder.name)
    (broken / folder.name / "model.onnx").write_bytes(b"not a model")
    out = ivl("-m", "ivl", "ask", "What is IVL?", data=built_index.data_dir, IVL_ENCODER_DIR=str(broken))
    assert out.returncode == 1 and "model.onnx is not as ingest wrote it" in out.stderr and "run `ivl ingest`" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_model_that_cannot_be_exported_is_still_ingested_and_served(settings, embeddings, monkeypatch, tmp_path, capsys):
    from chatbot.answerer import Answerer
    from ingest import onnx_export
    from ingest.pipeline import run_ingest

    def refuse(model, path):
        raise RuntimeError("operator not supported")

    monkeypatch.setattr(onnx_export, "_export", refuse)  # stands in for a model whose graph ONNX cannot express
    own = settings.model_copy(update={"encoder_dir": tmp_path / "encoders"})
    report = run_ingest(own, embeddings=embeddings, progress=False)
    assert report.query_encoder.startswith("sentence-transformers: the model could not be exported to ONNX")
    assert "operator not supported" in report.query_encoder
    answerer = Answerer(own)
    assert isinstance(answerer.encoder, ModelEmbeddings)
    assert "operator not supported" in capsys.readouterr().err
    assert not answerer.answer("How is IVL treated?").abstained
