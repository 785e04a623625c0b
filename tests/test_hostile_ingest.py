"""Issue 18, ingest side: what a hostile review found, one test per failure. Each failed before the fix.

- a 1 MB line with no full stop did not finish chunking in 150 s (now linear: a forced split when no boundary
  comes), and every chunk still fits the model's 256 word pieces;
- NUL and other control characters after the first 8 KB reached chunks and quotes;
- `ivl ingest new-case.txt` deleted every other document, and the abstention went on claiming them;
- removing a document is explicit (`--prune`, `ivl remove`) and says what it removed;
- `ivl ingest --json` was silent on stderr;
- an unchanged re-ingest loaded torch and the model (~10 s) before finding nothing to do.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
import time

import pytest

from ingest.chunking import chunk_document
from ingest.loaders import load
from ingest.pipeline import run_ingest
from ingest.tokens import WordPieces
from ivl_index import store, versions
from tests.conftest import CORPUS

NEW_CASE = (
    "A new case of intravenous leiomyomatosis. A 52-year-old woman had a pelvic mass that extended through the "
    "left ovarian vein into the inferior vena cava. It was removed in one stage.\n"
)
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")


def ivl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real command in its own process (IVL_DATA_DIR and IVL_ENCODER_DIR come from the test's environment)."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout)


def held(settings) -> dict[str, set[str]]:
    """source id -> chunk ids in the index in service."""
    got = store.client(settings).get_collection(settings.collection).get(include=["metadatas"])
    out: dict[str, set[str]] = {}
    for key, meta in zip(got["ids"], got["metadatas"]):
        out.setdefault(meta["source_id"], set()).add(key)
    return out


@pytest.fixture
def index_copy(built_index, tmp_path):
    """A private copy of the shared index of the corpus, for a command to run against."""
    data = tmp_path / "data"
    shutil.copytree(built_index.data_dir, data, symlinks=True)
    return built_index.model_copy(update={"data_dir": data})


@pytest.mark.slow
def test_a_megabyte_line_without_a_full_stop_chunks_in_linear_time_and_every_chunk_fits(embeddings, tmp_path):
    """Before: ~32 s for this line on a quiet machine (45-52 s/MB under load), and a run of text with no space
    at all ("a,a,a,...") raised ValueError. Now ~3 s/MB, with a forced split where no boundary comes."""
    words = re.findall(r"[a-z]+", (CORPUS / "zhao-tian-2026.md").read_text(encoding="utf-8").lower())
    rng = random.Random(18)
    line = " ".join(rng.choice(words) for _ in range(150_000))[:1_000_000]
    path = tmp_path / "pathological.txt"
    path.write_text(line + "\n\n" + "a," * 20_000 + "\n\n" + "x. " * 50_000, encoding="utf-8")
    doc = load(path)
    pieces = WordPieces.of_model_files("all-MiniLM-L6-v2")
    started = time.perf_counter()
    chunks = chunk_document(doc, pieces, 256, 200, 1)
    seconds = time.perf_counter() - started
    assert seconds < 15, f"chunking took {seconds:.1f} s"
    assert max(embeddings.count_tokens(c.page_content) for c in chunks) <= 256  # the model's own tokenizer
    assert {w for c in chunks for w in c.page_content.split()} >= set(line.split())  # nothing dropped
    assert "a,a,a" in " ".join(c.page_content for c in chunks if c.metadata["split_sentence"])


def test_control_characters_anywhere_never_reach_chunks_or_sentences(settings, embeddings, tmp_path):
    """NUL after the first 8 KB (a NUL within them means a binary file, refused) and other C0/C1 controls in text,
    Markdown (front matter too) and HTML: none is left in the index, so none can reach a quote; the words either
    side of a line-breaking control stay apart."""
    docs = tmp_path / "docs"
    docs.mkdir()
    prose = (CORPUS / "zhao-tian-2026.md").read_text(encoding="utf-8")[:9000]  # past the 8 KB binary check
    (docs / "late-nul.txt").write_text(
        prose + "\n\nThe tumour\x00 grew\x01 into\x1b[31m the\x7f vena\x85cava\x9b and\x0cthe heart.\n", encoding="utf-8"
    )
    (docs / "notes.md").write_text(
        "---\ntitle: Controls\x07 in Markdown\n---\n\n## Case\n\nSurgery\x06 removed\x02 the\x1f whole\x85mass in one stage.\n",
        encoding="utf-8",
    )
    (docs / "page.html").write_text(
        "<html><title>Page\x08</title><body><p>Follow-up\x03 showed\x1e no\x0brecurrence after two years.</p></body></html>",
        encoding="utf-8",
    )
    run_ingest(settings, [docs], embeddings=embeddings, progress=False)
    index = store.open_index(settings, embeddings.name)
    for collection in (index.chunks, index.sentences):
        got = store.all_records(collection, ["documents", "metadatas"])
        texts = got["documents"] + [str(v) for m in got["metadatas"] for v in m.values()]
        assert len(got["ids"]) > 3 and not [t for t in texts if CONTROLS.search(t)]
    chunks = " ".join(store.all_records(index.chunks, ["documents"])["documents"])
    assert all(apart in chunks for apart in ("vena\ncava", "and\nthe heart", "whole\nmass", "no\nrecurrence"))


def test_adding_one_file_keeps_every_other_document_and_the_abstention_names_what_the_index_holds(
    settings, embeddings, tmp_path
):
    from chatbot.answerer import Answerer

    run_ingest(settings, embeddings=embeddings, progress=False)
    before = held(settings)
    # One document of the corpus alone: its editor's notes are checked, the other document's are not missed.
    again = run_ingest(settings, [CORPUS / "zhao-tian-2026.md"], embeddings=embeddings, progress=False)
    assert (again.embedded, again.deleted) == (0, 0) and held(settings) == before
    case = tmp_path / "new-case.txt"
    case.write_text(NEW_CASE, encoding="utf-8")
    added = run_ingest(settings, [case], embeddings=embeddings, progress=False)
    assert (added.added, added.deleted, added.removed) == (1, 0, {})
    after = held(settings)
    assert {k: v for k, v in after.items() if k != "new-case"} == before and after["new-case"]

    summary = tmp_path / "gard-ivl-summary.txt"  # GARD's Q&A summary repeats the GARD page, given alone
    text = (CORPUS / "gard-ivl.md").read_text(encoding="utf-8").split("## Summary", 1)[1].split("## Research")[0]
    summary.write_text(text.replace("## ", "").replace(", and venous", ", ad venous"), encoding="utf-8")
    repeated = run_ingest(settings, [summary], embeddings=embeddings, progress=False)
    assert repeated.duplicates == {str(summary): "gard-ivl"} and repeated.added == 0 and held(settings) == after

    off_topic = "What is the price of a train ticket to Paris?"
    answer = Answerer(settings, embeddings).answer(off_topic)
    assert answer.abstained
    for title in ("“new-case”", "“Intravenous leiomyomatosis” (2013-11-01)", "A case report and literature review"):
        assert title in answer.answer

    from ingest.pipeline import remove_documents

    assert remove_documents(settings, ["gard-ivl"]) == {"gard-ivl": "Intravenous leiomyomatosis"}
    answer = Answerer(settings, embeddings).answer(off_topic)
    assert answer.abstained and "“Intravenous leiomyomatosis” (2013-11-01)" not in answer.answer
    assert "“new-case”" in answer.answer and set(held(settings)) == {"zhao-tian-2026", "new-case"}


def test_prune_and_remove_say_what_they_remove_and_an_unknown_id_is_one_line(index_copy, embeddings, tmp_path, monkeypatch):
    monkeypatch.setenv("IVL_DATA_DIR", str(index_copy.data_dir))
    case = tmp_path / "new-case.txt"
    case.write_text(NEW_CASE, encoding="utf-8")
    run_ingest(index_copy, [case], embeddings=embeddings, progress=False)

    unknown = ivl("-m", "ivl", "remove", "no-such-doc")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert unknown.stderr.strip().splitlines() == [
        "error: no document 'no-such-doc' in the index; it holds: gard-ivl, new-case, zhao-tian-2026"
    ]
    removed = ivl("-m", "ivl", "remove", "new-case")
    assert removed.returncode == 0 and removed.stdout.strip() == "Removed new-case (new-case)"
    assert set(held(index_copy)) == {"gard-ivl", "zhao-tian-2026"}

    run_ingest(index_copy, [case], embeddings=embeddings, progress=False)
    kept = ivl("-m", "ivl", "ingest", str(CORPUS))  # adding is the default: nothing goes
    assert kept.returncode == 0 and "Removed" not in kept.stdout and "new-case" in held(index_copy)
    pruned = ivl("-m", "ivl", "ingest", "--prune", str(CORPUS))
    assert pruned.returncode == 0, pruned.stderr
    assert "Removed new-case (new-case): not among the documents given (--prune)" in pruned.stdout
    assert set(held(index_copy)) == {"gard-ivl", "zhao-tian-2026"}
    report = json.loads(ivl("-m", "ivl", "ingest", "--json", "--prune", str(CORPUS)).stdout)
    assert report["removed"] == {} and report["deleted"] == 0


def test_json_ingest_names_its_steps_on_stderr_and_prints_one_document_on_stdout(index_copy, monkeypatch):
    monkeypatch.setenv("IVL_DATA_DIR", str(index_copy.data_dir))
    out = ivl("-m", "ivl", "ingest", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["documents"] == 2 and report["skipped"] == report["chunks"] > 0
    assert "Reading documents..." in out.stderr and "Chunking 2 documents..." in out.stderr


def test_an_unchanged_reingest_never_imports_torch_or_loads_the_model(index_copy, monkeypatch):
    """Deciding what changed comes first; the model loads only to embed. Timing is the bench's job
    (`ivl bench --parts ingest`: unchanged re-ingest, whole process)."""
    monkeypatch.setenv("IVL_DATA_DIR", str(index_copy.data_dir))
    version = versions.version(index_copy)
    out = ivl("-X", "importtime", "-m", "ivl", "ingest", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"torch", "transformers", "sentence_transformers", "chromadb"}
    report = json.loads(out.stdout)
    assert (report["embedded"], report["added"], report["deleted"]) == (0, 0, 0)
    assert report["query_encoder"] == "onnx" and versions.version(index_copy) == version  # the same index serves


def test_a_link_out_of_the_corpus_folder_is_refused_and_named(settings, corpus_copy, tmp_path):
    """Issue 24 item 7: a link in a corpus folder to a file outside it (the system's password file) was indexed
    and served by the Sources tab. Now the run stops, naming the link and its target, before the index is touched."""
    from ivl_index.errors import IngestError

    outside = tmp_path / "elsewhere" / "secret.md"
    outside.parent.mkdir()
    outside.write_text("---\ntitle: Secret\n---\n\n## Text\n\nroot:x:0:0:root:/root:/bin/bash is private.\n")
    (corpus_copy / "notes-link.md").symlink_to(outside)
    with pytest.raises(IngestError, match=r"notes-link\.md -> .*elsewhere/secret\.md"):
        run_ingest(settings, [corpus_copy], progress=False)
    assert store.current(settings) is None  # nothing was built


def test_a_yaml_alias_bomb_in_front_matter_is_refused_at_once(tmp_path):
    """Issue 24 item 11: a 492-byte alias bomb as `title:` grew to 5.9 GB. Aliases are refused while parsing."""
    from ivl_index.errors import IngestError

    levels = "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(6))
    path = tmp_path / "bomb.md"
    path.write_text(f"---\na: &a [x, x, x, x, x, x, x, x, x]\n{levels}title: *g\n---\n\n## Text\n\nIVL is rare.\n")
    started = time.perf_counter()
    with pytest.raises(IngestError, match="aliases"):
        load(path)
    assert time.perf_counter() - started < 2
