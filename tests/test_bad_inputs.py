"""Bad inputs a user can give, each one clear line (issue 24 item 18). Before, each was a traceback or a wrong
message: an impossible front matter date, `unindexed_sections: [[a]]`, a title nested 2,000 deep, a notes entry
whose sentence is a list, IVL_CORPUS_DIR set to /proc, /sys or nothing, `ivl eval --baseline` given a file of
another shape (a KeyError after the whole 48 s run), a FIFO given to ingest ("no such file"), and a question in
Arabic or Chinese (a refusal asking for a question about IVL, or unrelated passages)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chatbot.answerer import ENGLISH_ONLY, Answerer
from ingest.loaders import discover, load
from ingest.pipeline import run_ingest
from ivl.settings import load_settings
from ivl_index.errors import IngestError, SettingsError, UserError
from ivl_index.notes import notes_in

BODY = "# A case\n\n## Case report\n\nIVL grew into the heart. It was removed.\n"


def markdown(tmp_path: Path, front: str) -> Path:
    path = tmp_path / "case.md"
    path.write_text(f"---\n{front}\n---\n{BODY}", encoding="utf-8")
    return path


def one_line(err: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(err.value), str(err.value)
    return str(err.value)


@pytest.mark.parametrize(
    ("front", "says"),
    [
        ("date: 2024-02-30", "day is out of range for month"),
        ("unindexed_sections: [[a]]", "'unindexed_sections' must be a list of names"),
        ("title: " + "[" * 2_000 + "]" * 2_000, "nested more than 20 levels deep"),
        ("title: [[a]]", "'title' must be one line of text"),
        ("authors: {a: b}", "'authors' must be a list of names"),
    ],
)
def test_bad_front_matter_is_one_line_naming_the_file(tmp_path, front, says):
    path = markdown(tmp_path, front)
    with pytest.raises(IngestError) as err:
        load(path)
    assert one_line(err).startswith(str(path)) and says in str(err.value)


def test_good_front_matter_still_loads(tmp_path):
    path = markdown(tmp_path, "title: A case\ndate: 2024-02-29\nauthors: [A. B]\nunindexed_sections: [References]")
    path.write_text(path.read_text(encoding="utf-8") + "\n## References\n\n1. A. B. 2020.\n", encoding="utf-8")
    doc = load(path)
    assert doc.title == "A case" and doc.citation_meta()["date"] == "2024-02-29"
    assert [(s.name, s.indexed) for s in doc.sections] == [("Case report", True), ("References", False)]


def test_a_fifo_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    with pytest.raises(IngestError, match="not a regular file") as err:
        discover([fifo])
    assert "no such file" not in one_line(err)


@pytest.mark.parametrize("value", ["", "  ", "/proc", "/sys", "/sys/kernel", "/proc/self/"])
def test_a_corpus_dir_that_is_empty_or_a_kernel_pseudo_filesystem_fails_at_start(monkeypatch, value):
    monkeypatch.setenv("IVL_CORPUS_DIR", value)
    with pytest.raises(SettingsError, match="IVL_CORPUS_DIR"):
        load_settings()


def test_a_kernel_folder_given_to_ingest_is_one_line(settings):
    with pytest.raises(IngestError, match="kernel pseudo-filesystem"):
        run_ingest(settings, [Path("/proc")], progress=False)


def test_a_note_whose_sentence_is_a_list_is_one_line(tmp_path):
    (tmp_path / "notes.yaml").write_text("- source_id: gard-ivl\n  sentence: [a, b]\n  note: x\n", encoding="utf-8")
    with pytest.raises(IngestError, match="cannot read the editor's notes") as err:
        notes_in(tmp_path)
    assert str(tmp_path / "notes.yaml") in one_line(err)


def test_a_baseline_of_another_shape_fails_before_the_eval_runs(tmp_path):
    """The CLI, as a user runs it: the check comes first, so no index is built and nothing is scored."""
    baseline = tmp_path / "old.json"
    baseline.write_text('{"variants": {}}', encoding="utf-8")
    env = {**os.environ, "IVL_DATA_DIR": str(tmp_path / "data")}
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "ivl", "eval", "--baseline", str(baseline)], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "not a results.json written by `ivl eval`" in out.stderr
    assert not (tmp_path / "data").exists() and time.monotonic() - started < 30


@pytest.mark.parametrize("text", ["[1]", '{"variants": {"hybrid": {"splits": {}}}}', "{", '{"variants": []}'])
def test_every_baseline_shape_the_gate_cannot_read_is_one_line(tmp_path, text):
    from evals.suite import read_baseline

    path = tmp_path / "old.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match="baseline") as err:
        read_baseline(path)
    assert str(path) in one_line(err)


def test_a_real_baseline_is_read(tmp_path):
    from evals.suite import GATED, PRODUCT, read_baseline

    results = {"variants": {PRODUCT: {"splits": {GATED: {"summary": {"a": 1}, "retrieval": {}}},
                                      "questions": [{"id": "q1", "passed": True}]}}}  # fmt: skip
    path = tmp_path / "results.json"
    path.write_text(__import__("json").dumps(results), encoding="utf-8")
    assert read_baseline(path) == results


@pytest.mark.parametrize(
    "question", ["ما هو الورم العضلي الأملس الوريدي؟", "静脉内平滑肌瘤病如何治疗？", "IVL是什么", "ما هو IVL؟"]
)
def test_a_question_in_another_script_is_told_the_sources_are_english(built_index, embeddings, question):
    answer = Answerer(built_index, embeddings).answer(question)
    assert answer.abstained and answer.answer == ENGLISH_ONLY and not answer.citations
    assert "English" in answer.answer and "only search English text" in answer.answer


def test_english_questions_with_a_greek_letter_are_still_answered(built_index, embeddings):
    answer = Answerer(built_index, embeddings).answer("Is β-hCG raised in IVL, and how is IVL treated?")
    assert answer.answer != ENGLISH_ONLY


def test_bad_front_matter_through_the_cli_is_one_line_without_a_traceback(tmp_path):
    path = markdown(tmp_path, "date: 2024-02-30")
    env = {**os.environ, "IVL_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run([sys.executable, "-m", "ivl", "ingest", str(path)], env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 1 and "Traceback" not in out.stderr and "day is out of range" in out.stderr
