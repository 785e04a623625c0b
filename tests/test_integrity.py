"""Issue 24 items 3, 4, 8, 9, 17, 18: an index that notices damage, names the file and `ivl ingest`, is repaired by
the next ingest, is never written by answering, and keeps the editor's notes it was built with."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot.answerer import Answerer
from ingest.pipeline import run_ingest
from ivl_index import store
from ivl_index.errors import EncoderError, IngestError, KnowledgeBaseUnavailable
from ivl_index.model_files import META, UNAVAILABLE, encoder_folder
from ivl_index.onnx_encoder import query_embeddings
from tests.conftest import CORPUS

QUESTION = "How many cases of IVL have been reported?"
NOTE = "This figure dates from 2013"  # corpus/notes.yaml's note on the GARD page's "about 200 cases"


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, embeddings, shared_encoders):
    """An index of the GARD page alone, with the corpus's notes file: a few seconds to build or rebuild."""
    from ivl.settings import load_settings

    corpus = tmp_path_factory.mktemp("small-corpus")
    for name in ("gard-ivl.md", "notes.yaml"):
        shutil.copy(CORPUS / name, corpus / name)
    settings = load_settings(data_dir=tmp_path_factory.mktemp("small") / "data", encoder_dir=shared_encoders)
    run_ingest(settings, [corpus], embeddings=embeddings, progress=False)
    return settings, corpus


@pytest.fixture
def index_copy(small_index, tmp_path):
    """A private copy of the small index (times kept, so its checksums still match) and of its corpus."""
    settings, corpus = small_index
    shutil.copytree(settings.data_dir, tmp_path / "data", symlinks=True)
    shutil.copytree(corpus, tmp_path / "corpus")
    return settings.model_copy(update={"data_dir": tmp_path / "data"}), tmp_path / "corpus"


def overwrite(path: Path) -> None:
    """Random bytes over the middle of a file, its size kept (what a bad disk or a stray write does)."""
    with path.open("r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        fh.write(os.urandom(min(4096, path.stat().st_size // 4)))


DAMAGE = {
    "sentence-vectors.npy": ("sentence-vectors.npy", overwrite),
    "sentence-ids.npy": ("sentence-ids.npy", overwrite),  # once reported as sentence-vectors.npy
    "chroma.sqlite3 random bytes": ("chroma/chroma.sqlite3", overwrite),  # a Rust panic, or wrong answers
    "chroma.sqlite3 truncated": ("chroma/chroma.sqlite3", lambda p: os.truncate(p, 4096)),
    "chroma folder removed": ("chroma", shutil.rmtree),
    "records.sqlite": ("records.sqlite", lambda p: p.write_bytes(b"garbage" * 100)),  # broke every later ingest
    "index.json": ("index.json", lambda p: p.write_text("{")),
    "notes.json": ("notes.json", lambda p: p.write_text('{"format": 1, "notes": {}}')),  # the notes, silently gone
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_index_file_is_one_line_naming_it_and_the_next_ingest_repairs_it(index_copy, embeddings, case):
    settings, corpus = index_copy
    name, damage = DAMAGE[case]
    root = store.current(settings)
    damage(root / name)
    with pytest.raises(KnowledgeBaseUnavailable) as err:
        Answerer(settings, embeddings).answer(QUESTION)
    message = str(err.value)
    assert "\n" not in message and name.split("/")[0] in message and "run `ivl ingest`" in message, message

    report = run_ingest(settings, [corpus], embeddings=embeddings, progress=False)
    assert report.rebuilt and name.split("/")[0] in report.rebuilt  # not "54 unchanged"
    answer = Answerer(settings, embeddings).answer(QUESTION)
    assert "200" in answer.answer and any(NOTE in c.note for c in answer.citations)
    assert run_ingest(settings, [corpus], embeddings=embeddings, progress=False).embedded == 0  # repaired for good


def test_a_rebuild_from_other_documents_names_what_the_damaged_index_held(index_copy, embeddings, tmp_path):
    """A damaged index is rebuilt from the documents given: one it held but was not given is named, not lost
    without a word."""
    settings, _ = index_copy
    (store.current(settings) / "records.sqlite").write_bytes(b"garbage" * 100)
    other = tmp_path / "other"
    other.mkdir()
    (other / "note.md").write_text("---\nsource_id: other-note\ntitle: Other note\n---\n\n## Summary\n\nIVL is rare.\n")
    report = run_ingest(settings, [other], embeddings=embeddings, progress=False)
    assert "records.sqlite" in report.rebuilt and "not in it now" in report.rebuilt and "gard-ivl" in report.rebuilt


def snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_answering_never_writes_to_the_data_dir_and_works_when_it_is_read_only(index_copy, shared_encoders):
    """A read-only data dir gave "attempt to write a readonly database", a full one "database or disk is full":
    Chroma writes whenever it opens a folder, so answering reads a private copy. Checked by the bytes as well as
    by permissions (tests may run as root, who may write anyway)."""
    settings, _ = index_copy
    before = {d: snapshot(d) for d in (settings.data_dir, shared_encoders)}
    modes = {p: p.stat().st_mode for p in [settings.data_dir, *settings.data_dir.rglob("*")] if not p.is_symlink()}
    for p, mode in modes.items():
        p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        answer = Answerer(settings).answer(QUESTION)  # the ONNX question encoder, as `ivl ask` runs
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert "200" in answer.answer
    assert {d: snapshot(d) for d in before} == before


def test_full_disk_while_copying_the_index_is_one_line_and_leaves_nothing_behind(index_copy, embeddings, monkeypatch):
    """Before: the message was a raw Python list of copy errors and a partial version took the last free space."""
    settings, corpus = index_copy
    serving = store.current(settings)
    gard = corpus / "gard-ivl.md"
    gard.write_text(gard.read_text().replace("The exact cause of IVL remains unknown.", "Its cause is unknown."))
    real_copy, copied = shutil.copyfile, []

    def fills_up(src, dst, **kw):
        if len(copied) >= 3 and Path(dst).is_relative_to(settings.data_dir):
            raise OSError(errno.ENOSPC, "No space left on device")
        copied.append(dst)
        return real_copy(src, dst, **kw)

    monkeypatch.setattr(shutil, "copyfile", fills_up)  # what copytree's copy2 calls for each file
    with pytest.raises(IngestError) as err:
        run_ingest(settings, [corpus], embeddings=embeddings, progress=False)
    message = str(err.value)
    assert "\n" not in message and "disk full" in message and "[" not in message, message
    assert copied and [p.name for p in (settings.data_dir / "versions").iterdir()] == [serving.name]
    assert store.current(settings) == serving
    monkeypatch.undo()
    assert "200" in Answerer(settings, embeddings).answer(QUESTION).answer


def test_the_editors_notes_are_stored_with_the_index_not_read_at_each_question(index_copy, embeddings, monkeypatch):
    """Before: notes were looked up through the document path stored at ingest, so an index built from a
    relative path answered with `note: ''` from another working directory, and a syntax error added to
    notes.yaml after ingest made every question fail. A bad notes file now stops ingest instead."""
    settings, corpus = index_copy
    settings = settings.model_copy(update={"data_dir": corpus.parent / "fresh"})
    monkeypatch.chdir(corpus.parent)
    run_ingest(settings, [Path(corpus.name)], embeddings=embeddings, progress=False)  # relative, as typed
    (corpus / "notes.yaml").write_text("- source_id: gard-ivl\n  sentence: [unclosed\n")
    monkeypatch.chdir(settings.data_dir)
    answer = Answerer(settings, embeddings).answer(QUESTION)
    assert [c.note for c in answer.citations if "about 200 cases" in c.quote][0].startswith(NOTE)
    with pytest.raises(IngestError, match=r"notes\.yaml: cannot read the editor's notes"):
        run_ingest(settings, [corpus], embeddings=embeddings, progress=False)


def test_a_damaged_onnx_copy_is_named_and_the_next_ingest_makes_it_again(index_copy, embeddings, shared_encoders, tmp_path):
    """Before: one altered weight matrix in model.onnx changed 9 of 30 answers, and ingest reported nothing."""
    settings, corpus = index_copy
    settings = settings.model_copy(update={"encoder_dir": tmp_path / "encoders"})
    shutil.copytree(shared_encoders, settings.encoder_dir)
    overwrite(encoder_folder(settings) / "model.onnx")
    with pytest.raises(EncoderError, match=r"model\.onnx is not as ingest wrote it\); run `ivl ingest`"):
        query_embeddings(settings)
    assert run_ingest(settings, [corpus], embeddings=embeddings, progress=False).query_encoder == "onnx"
    assert "200" in Answerer(settings).answer(QUESTION).answer


@pytest.mark.slow
def test_two_ingests_sharing_an_encoder_folder_both_get_the_onnx_copy(tmp_path):
    """Before: two ingests sharing IVL_ENCODER_DIR exported into the same temporary folder; one said "could not
    be exported to ONNX" and left a stale unavailable.txt that every later question read."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "gard-ivl.md", corpus)
    env = {**os.environ, "IVL_ENCODER_DIR": str(tmp_path / "encoders")}
    procs = [
        subprocess.Popen([sys.executable, "-m", "ivl", "ingest", "--json", str(corpus)], env=env | {"IVL_DATA_DIR": str(tmp_path / f"data{i}")},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        for i in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert all('"query_encoder": "onnx"' in out for out, _ in outs), outs
    folders = [p for p in (tmp_path / "encoders").iterdir() if p.is_dir()]
    assert len(folders) == 1 and (folders[0] / META).is_file() and not (folders[0] / UNAVAILABLE).exists()
