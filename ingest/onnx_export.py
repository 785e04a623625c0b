"""Ingest exports the embedding model to ONNX once per model and checks it against sentence-transformers,
so answering can embed questions with onnxruntime instead of importing torch (ivl_index/onnx_encoder.py).
The whole sentence-transformers pipeline (transformer, pooling, normalisation) goes into the graph, so the
answering side only tokenizes and runs it."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
from filelock import FileLock

from ivl_index import checksums
from ivl_index.model_files import META, UNAVAILABLE, encoder_folder
from ivl_index.onnx_encoder import ENCODER_FILES, FIELDS, OnnxEmbeddings, encoder_ready
from ivl_index.settings import IndexSettings

# Short and long, cased and not, padded in a batch and alone, one past the model's length limit.
PROBES = [
    "What is IVL?",
    "  HOW is Intravenous Leiomyomatosis (IVL) treated after a hysterectomy?  ",
    "Tumour thrombus extended through the inferior vena cava into the right atrium; 45-year-old woman, 6.2 cm.",
    "leiomyoma " * 300,
]
TOLERANCE = 1e-4  # largest difference allowed in any coordinate of a unit vector (measured: ~1e-7)


def _export(model, path: Path) -> None:
    import torch  # lazy: only an export needs torch itself (seconds to import)

    names = [n for n in model.tokenizer("probe", return_tensors="pt") if n in FIELDS]

    class Pipeline(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(dict(zip(names, inputs)))["sentence_embedding"]

    sample = model.tokenizer(PROBES[:2], padding=True, return_tensors="pt")
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"sentence_embedding": {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about Python branches; the check below is what counts
        torch.onnx.export(Pipeline().eval(), tuple(sample[n] for n in names), str(path), input_names=names,
                          output_names=["sentence_embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)  # fmt: skip


def _tokenizer(model, path: Path) -> None:
    from tokenizers import Tokenizer  # lazy: only an export needs it here

    tok = Tokenizer.from_str(model.tokenizer.backend_tokenizer.to_str())
    tok.enable_truncation(int(model.max_seq_length))
    tok.enable_padding(pad_id=model.tokenizer.pad_token_id, pad_token=model.tokenizer.pad_token)
    tok.save(str(path))


def ensure_onnx(settings: IndexSettings, embeddings) -> str:
    """Make (once per model) and check the ONNX copy; returns which encoder answering will use, and why. Ingests
    sharing IVL_ENCODER_DIR take turns (a file lock): each builds under its own temporary name and renames it
    into place, so none ever sees or removes another's half-made copy; a damaged copy is made again."""
    folder = encoder_folder(settings)
    if encoder_ready(settings):
        return "onnx"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(folder.with_name(folder.name + ".lock")):
        if encoder_ready(settings):
            return "onnx"  # another ingest made it while this one waited
        work = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
        try:
            _make(embeddings, work)
            shutil.rmtree(folder, ignore_errors=True)  # a damaged copy, or the reason an earlier export failed
            work.rename(folder)
            return "onnx"
        except Exception as err:  # noqa: BLE001 -- a model that cannot be exported is still served by sentence-transformers
            shutil.rmtree(work, ignore_errors=True)
            why = f"the model could not be exported to ONNX ({type(err).__name__}: {str(err)[:200]})"
            try:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / UNAVAILABLE).write_text(why, encoding="utf-8")
            except OSError:
                pass  # an unwritable data folder already failed ingest earlier; the reason is still returned
            return f"sentence-transformers: {why}"


def _make(embeddings, work: Path) -> None:
    """Export into `work`, check the copy against sentence-transformers, and record its files' checksums."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    _export(embeddings.model, work / "model.onnx")
    _tokenizer(embeddings.model, work / "tokenizer.json")
    first = embeddings.model[0]
    meta = {"model": embeddings.name, "dimension": embeddings.dimension,
            "lowercase": bool(getattr(first, "do_lower_case", False))}  # fmt: skip
    (work / META).write_text(json.dumps(meta), encoding="utf-8")
    copy = OnnxEmbeddings(embeddings.name, work, check=False)
    reference = embeddings.model.encode(PROBES, normalize_embeddings=True)
    diff = max(
        float(np.abs(copy.embed_batch(PROBES) - reference).max()),
        max(float(np.abs(copy.embed_batch([p])[0] - r).max()) for p, r in zip(PROBES, reference)),
    )
    if diff > TOLERANCE:
        raise ValueError(f"its vectors differ from sentence-transformers' by up to {diff:.1e}")
    files = {n: v for n, v in checksums.record(work).items() if n in ENCODER_FILES}
    (work / META).write_text(json.dumps(meta | {"max_abs_difference": diff, "files": files}), encoding="utf-8")
