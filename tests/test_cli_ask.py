"""`ivl ask` as a user runs it: a fresh data dir, readable and JSON output, stdin batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

KEYS = {"question", "answer", "abstained", "citations", "seconds"}
CITATION_KEYS = {"n", "source_id", "title", "section", "date", "url", "quote", "chunk_id"}


def ivl(*args, data, stdin=None):
    env = {**os.environ, "IVL_DATA_DIR": str(data)}
    return subprocess.run([sys.executable, "-m", "ivl", *args], input=stdin, capture_output=True, text=True, env=env)


@pytest.mark.slow
def test_ask_builds_the_missing_index_then_answers_in_json_and_in_batches(tmp_path):
    data = tmp_path / "data"
    first = ivl("ask", "--json", "How is IVL treated?", data=data)
    assert first.returncode == 0, first.stderr
    assert "No index yet: building it" in first.stderr
    assert "no ONNX copy" not in first.stderr  # the question encoder is chosen after the index exists
    answer = json.loads(first.stdout)
    assert KEYS <= answer.keys() and not answer["abstained"]
    assert all(CITATION_KEYS <= c.keys() for c in answer["citations"])
    assert any(c["url"] == "https://rarediseases.info.nih.gov/diseases/10802/intravenous-leiomyomatosis" for c in answer["citations"])

    batch = ivl("ask", "--json", "-", data=data, stdin="What is IVL?\n\nWhat is the capital of France?\n")
    lines = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [line["abstained"] for line in lines] == [False, True]
    assert "No index yet" not in batch.stderr

    readable = ivl("ask", "What is the recurrence rate after myomectomy?", data=data)
    assert "[1]" in readable.stdout and "Sources" in readable.stdout and "doi.org/10.3892/etm.2026.13183" in readable.stdout


def test_bad_setting_is_one_line_naming_the_variable(tmp_path):
    env = {**os.environ, "IVL_K_DENSE": "0", "IVL_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "ivl", "ask", "x"], capture_output=True, text=True, env=env)
    assert out.returncode == 1 and "IVL_K_DENSE" in out.stderr and "Traceback" not in out.stderr


def test_empty_question_is_a_clear_message(built_index):
    out = ivl("ask", "   ", data=built_index.data_dir)
    assert out.returncode == 1 and "Ask a question" in out.stderr and "Traceback" not in out.stderr


def test_command_line_conventions(tmp_path):
    version = ivl("--version", data=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("ivl ")
    for args in (["-h"], ["ask", "-h"], ["ingest", "-h"], ["chat", "--help"], ["eval", "-h"], ["bench", "-h"]):
        out = ivl(*args, data=tmp_path)
        assert out.returncode == 0 and "Usage: ivl" in out.stdout, args
        assert "<bool>" not in out.stdout and "<list" not in out.stdout and "<path>" not in out.stdout, args
    chat = ivl("chat", "-h", data=tmp_path).stdout
    assert "--host HOST" in chat and "--port PORT" in chat


def test_a_busy_port_is_one_line_naming_the_flag(tmp_path):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        out = ivl("chat", "--port", str(port), data=tmp_path)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "--port" in out.stderr and str(port) in out.stderr


def test_piped_answers_are_plain_text_each_quote_once_with_the_editors_notes(built_index):
    out = ivl("ask", "How many cases of IVL have been reported?", data=built_index.data_dir)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "\\~" not in text and "\\*" not in text and not any(line != line.rstrip() for line in text.splitlines())
    assert text.count("only about 200 cases reported in the medical literature") == 1  # not again under Sources
    assert "Editor's note (not the source's words)" in text
    as_json = json.loads(ivl("ask", "--json", "How many cases of IVL have been reported?", data=built_index.data_dir).stdout)
    notes = [c["note"] for c in as_json["citations"] if c["note"]]
    assert notes and all(c["quote"] not in c["note"] for c in as_json["citations"] if c["note"])


def test_ask_marks_the_sources_own_references_and_json_carries_the_search(built_index, monkeypatch):
    """Issue 25 items 2 and 3, in-process: `(8). [1]` read as two references of one kind; --json lacked the query."""
    from typer.testing import CliRunner

    from ivl.cli import app

    monkeypatch.setenv("IVL_DATA_DIR", str(built_index.data_dir))
    question = "What is the recurrence rate after myomectomy alone?"
    plain = CliRunner().invoke(app, ["ask", question])
    assert plain.exit_code == 0, plain.output
    assert "(7.6% recurrence rate) (ref. 8). [1]" in plain.stdout.split("\nSources")[0]
    as_json = json.loads(CliRunner().invoke(app, ["ask", "--json", question]).stdout)
    assert KEYS <= as_json.keys() and "myomectomy" in as_json["query"] and as_json["follows"] == ""
