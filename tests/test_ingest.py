"""Ingest against real Chroma in a temp dir: idempotent, incremental, duplicate-proof, model-safe."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from ingest.pipeline import run_ingest
from ivl.settings import load_settings
from ivl_index import store, versions
from ivl_index.errors import IngestError, KnowledgeBaseUnavailable
from ivl_index.settings import REPO_ROOT
from ivl_index.vector_file import VECTORS
from tests.conftest import CORPUS
from tests.test_loaders import make_pdf

SEEDS = REPO_ROOT.parent / "shared" / "seeds"


def chunk_ids(settings, source_id=None):
    col = store.client(settings).get_collection(settings.collection)
    got = col.get(where={"source_id": source_id} if source_id else None, include=[])
    return set(got["ids"])


def test_unchanged_reingest_embeds_nothing_and_keeps_ids(settings, embeddings):
    first = run_ingest(settings, embeddings=embeddings, progress=False)
    ids = chunk_ids(settings)
    assert first.added == first.chunks == len(ids) > 0
    again = run_ingest(settings, embeddings=embeddings, progress=False)
    assert (again.embedded, again.added, again.deleted, again.skipped) == (0, 0, 0, first.chunks)
    assert chunk_ids(settings) == ids


def test_edit_replaces_only_that_documents_chunks_and_prune_deletes(settings, embeddings, corpus_copy):
    run_ingest(settings, [corpus_copy], embeddings=embeddings, progress=False)
    gard_before, case_before = chunk_ids(settings, "gard-ivl"), chunk_ids(settings, "zhao-tian-2026")
    path = corpus_copy / "gard-ivl.md"
    path.write_text(path.read_text().replace("about 200 cases", "about 250 cases"))
    edited = run_ingest(settings, [corpus_copy], embeddings=embeddings, progress=False)
    assert chunk_ids(settings, "zhao-tian-2026") == case_before
    assert chunk_ids(settings, "gard-ivl") != gard_before
    assert edited.added == edited.deleted == 1
    path.unlink()
    kept = run_ingest(settings, [corpus_copy], embeddings=embeddings, progress=False)
    assert kept.deleted == 0 and chunk_ids(settings, "gard-ivl")  # adding is the default: a missing file stays
    removed = run_ingest(settings, [corpus_copy], embeddings=embeddings, progress=False, prune=True)
    assert chunk_ids(settings, "gard-ivl") == set() and removed.deleted == len(gard_before)
    assert removed.removed == {"gard-ivl": "Intravenous leiomyomatosis"}
    assert chunk_ids(settings) == case_before


def test_gard_summary_beside_the_page_adds_nothing(settings, embeddings, corpus_copy):
    summary = corpus_copy / "gard-ivl-summary.txt"
    seed = SEEDS / "gard-ivl-summary.txt"
    if seed.exists():
        shutil.copy(seed, summary)
    else:  # a clean clone without ../shared: the same repeated text, typo included
        text = (corpus_copy / "gard-ivl.md").read_text().split("## Summary", 1)[1].split("## Research")[0]
        summary.write_text(text.replace("## ", "").replace(", and venous", ", ad venous"))
    report = run_ingest(settings, [corpus_copy], embeddings=embeddings, progress=False)
    assert report.duplicates == {str(summary): "gard-ivl"}
    assert report.documents == 2
    assert {i.split(":")[0] for i in chunk_ids(settings)} == {"gard-ivl", "zhao-tian-2026"}


def test_corrupt_pdf_leaves_the_index_as_it_was(settings, embeddings, corpus_copy):
    run_ingest(settings, [corpus_copy], embeddings=embeddings, progress=False)
    before = chunk_ids(settings)
    make_pdf(corpus_copy / "good.pdf", ["A new case of IVL."])
    (corpus_copy / "broken.pdf").write_bytes(b"%PDF-1.7 truncated")
    with pytest.raises(IngestError, match="broken.pdf: unreadable PDF") as err:
        run_ingest(settings, [corpus_copy], embeddings=embeddings, progress=False)
    assert "index is unchanged" in str(err.value)
    assert chunk_ids(settings) == before


def test_index_refuses_another_model(settings, embeddings, tmp_path):
    from ivl_index.model_files import resolve_model

    run_ingest(settings, embeddings=embeddings, progress=False)
    other = load_settings(data_dir=settings.data_dir, embedding_model=resolve_model(settings.embedding_model))
    with pytest.raises(store.ModelMismatch, match="run `ivl ingest` to rebuild"):
        store.open_index(other, other.embedding_model)
    store.open_index(settings, settings.embedding_model)  # the right model opens it


def test_cli_json_is_one_object(tmp_path):
    env = {**os.environ, "IVL_DATA_DIR": str(tmp_path / "cli-data")}
    out = subprocess.run(
        [sys.executable, "-m", "ivl", "ingest", "--json"], capture_output=True, text=True, env=env, check=True
    )
    report = json.loads(out.stdout)
    assert {"documents", "chunks", "added", "updated", "deleted", "skipped", "seconds"} <= report.keys()
    assert report["documents"] == 2 and report["added"] == report["chunks"]


def test_cli_bad_file_is_one_clear_line(tmp_path):
    bad = tmp_path / "scan.pdf"
    bad.write_bytes(b"not a pdf")
    env = {**os.environ, "IVL_DATA_DIR": str(tmp_path / "cli-data")}
    out = subprocess.run([sys.executable, "-m", "ivl", "ingest", str(bad)], capture_output=True, text=True, env=env)
    assert out.returncode == 1
    assert "scan.pdf: unreadable PDF" in out.stderr and "Traceback" not in out.stderr


def test_answers_read_sentence_vectors_from_a_file_equal_to_chromas_and_ingest_repairs_it(settings, embeddings):
    """The vector file is a faster copy, never a second truth: it holds Chroma's vectors, a damaged or missing
    one stops answering with one line naming the file, and the next ingest writes it again without embedding."""
    from chatbot.answerer import Answerer
    from evals.labelled import load_items

    run_ingest(settings, embeddings=embeddings, progress=False)
    index = store.open_index(settings, embeddings.name)
    got = store.all_records(index.sentences, ["embeddings"])
    from_file = index.vectors.get(got["ids"] + ["no-such-sentence:0-1:00000000"])
    assert list(from_file) == got["ids"]  # every sentence, nothing invented
    assert all((from_file[i] == v).all() for i, v in zip(got["ids"], got["embeddings"]))

    questions = [i.question for i in load_items()[:12]]
    with_file = [Answerer(settings, embeddings).answer(q).answer for q in questions]
    for damage in (lambda p: p.write_bytes(b"not a numpy file"), lambda p: p.unlink()):
        root = versions.current(settings)
        damage(root / VECTORS)
        with pytest.raises(KnowledgeBaseUnavailable, match=rf"{VECTORS} is damaged or missing; run `ivl ingest`"):
            Answerer(settings, embeddings)
        repaired = run_ingest(settings, embeddings=embeddings, progress=False)
        assert repaired.embedded == 0 and versions.current(settings) != root and "written again" in repaired.rebuilt
        assert [Answerer(settings, embeddings).answer(q).answer for q in questions] == with_file


def test_every_listed_source_flaw_has_an_editors_note_on_an_indexed_sentence():
    from ivl_index.notes import notes_in

    notes = notes_in(CORPUS)
    quoted = " ".join(sentence for _, sentence in notes)
    for flaw in ("ovarian tumor", "~800 cases", "about 200 cases", "Birck-Hirschfeld", "76x54x49", "76x54x59"):
        assert flaw in quoted, flaw


def test_a_note_whose_sentence_is_gone_stops_ingest_and_keeps_the_index(built_index, tmp_path, embeddings):
    from ivl_index.errors import IngestError

    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    gard = corpus / "gard-ivl.md"
    gard.write_text(gard.read_text(encoding="utf-8").replace("about 200 cases", "about 300 cases"), encoding="utf-8")
    settings = built_index.model_copy(update={"data_dir": tmp_path / "data"})
    with pytest.raises(IngestError, match="notes.yaml.*no longer in it"):
        run_ingest(settings, [corpus], embeddings=embeddings, progress=False)
    assert not (tmp_path / "data" / "current").exists()  # nothing was built


def test_prune_with_nothing_to_remove_keeps_everything(settings, embeddings, corpus_copy):
    """Before: `ivl ingest --prune` with nothing to remove deleted every chunk it had just added (the record
    manager read an empty list of documents as all of them), and the next question was a traceback."""
    first = run_ingest(settings, [corpus_copy / "gard-ivl.md"], embeddings=embeddings, progress=False, prune=True)
    assert first.deleted == 0 and first.removed == {} and chunk_ids(settings, "gard-ivl")
    again = run_ingest(settings, [corpus_copy], embeddings=embeddings, progress=False, prune=True)
    assert again.deleted == 0 and chunk_ids(settings, "gard-ivl") and chunk_ids(settings, "zhao-tian-2026")


def test_an_index_with_no_document_left_is_one_clear_message(settings, embeddings, corpus_copy):
    from chatbot.answerer import Answerer
    from ingest.pipeline import remove_documents
    from ivl_index.errors import IndexEmpty

    run_ingest(settings, [corpus_copy / "gard-ivl.md"], embeddings=embeddings, progress=False)
    remove_documents(settings, ["gard-ivl"])
    with pytest.raises(IndexEmpty, match="ivl ingest PATH"):
        Answerer(settings, embeddings)


def test_a_file_with_an_indexed_documents_id_is_refused_unless_replace(settings, embeddings, corpus_copy, tmp_path):
    """Issue 24 item 6: `ivl ingest "GARD IVL.txt"` (its id is gard-ivl) replaced the GARD page, the only sign
    being "1 added, 4 deleted". Now it is refused, naming both files, unless the user asks to replace."""
    from ivl_index.errors import IngestError

    run_ingest(settings, [corpus_copy], embeddings=embeddings, progress=False)
    before = chunk_ids(settings, "gard-ivl")
    other = tmp_path / "GARD IVL.md"
    other.write_text("---\ntitle: Not the GARD page\n---\n\n## Text\n\nA different text about veins.\n")
    with pytest.raises(IngestError, match=r"GARD IVL\.md has the source id 'gard-ivl' .*gard-ivl\.md(.|\n)*--replace"):
        run_ingest(settings, [other], embeddings=embeddings, progress=False)
    assert chunk_ids(settings, "gard-ivl") == before
    replaced = run_ingest(settings, [other], embeddings=embeddings, progress=False, replace=True)
    assert replaced.added == 1 and chunk_ids(settings, "gard-ivl") != before
