"""A Chroma server that freezes or dies, and an index large enough for near-ties (issue 18): a frozen server ends
in "knowledge base unavailable" within the timeout, a server killed mid-ingest is one line and the rerun completes
the index, and one index answers a question the same way every time, however it was built."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chatbot.answerer import Answerer
from evals.bench import synthetic_corpus
from evals.labelled import load_items
from ingest.pipeline import run_ingest
from ivl.settings import load_settings
from ivl.ui import Handlers
from ivl_index import chroma, store
from ivl_index.errors import KnowledgeBaseUnavailable, SettingsError
from tests.conftest import CORPUS, free_port, wait_for_url

QUESTION = "How many cases of IVL have been reported?"
TIMEOUT = 3.0  # IVL_CHROMA_TIMEOUT in these tests
START = 12.0  # seconds an `ivl ask` process may take to start and print, on top of the timeout


@dataclass
class Server:
    """A real `chroma run` on loopback, in a folder that outlives a restart."""

    port: int
    path: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def proc(self) -> subprocess.Popen:
        return self.procs[-1]

    def start(self) -> None:
        exe = Path(sys.executable).with_name("chroma")
        self.procs.append(subprocess.Popen(
            [str(exe), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
        wait_for_url(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", 30)


@pytest.fixture
def server(tmp_path):
    s = Server(free_port(), tmp_path / "server")
    s.start()
    yield s
    for p in s.procs:
        if p.poll() is None:
            p.kill()  # SIGKILL also ends a stopped process
            p.wait(timeout=20)


def on_server(tmp_path: Path, server: Server):
    settings = load_settings(data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=server.port,
                             chroma_timeout=TIMEOUT)  # fmt: skip
    env = {**os.environ, "IVL_DATA_DIR": str(settings.data_dir), "IVL_CHROMA_HOST": "127.0.0.1",
           "IVL_CHROMA_PORT": str(server.port), "IVL_CHROMA_TIMEOUT": str(TIMEOUT)}  # fmt: skip
    return settings, env


def ivl(env: dict, *args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ivl", *args], env=env, capture_output=True, text=True, timeout=timeout)


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "knowledge base unavailable" in lines[0], stderr
    return lines[0]


@pytest.mark.slow
def test_a_frozen_server_ends_in_knowledge_base_unavailable_within_the_timeout(server, tmp_path, embeddings):
    settings, env = on_server(tmp_path, server)
    run_ingest(settings, embeddings=embeddings, progress=False)
    answerer = Answerer(settings, embeddings)  # what the chat holds
    handlers = Handlers(answerer, settings)
    assert "200" in answerer.answer(QUESTION).answer

    server.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        try:
            ask = ivl(env, "ask", QUESTION, timeout=TIMEOUT + START)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`ivl ask` hung on a frozen server for {TIMEOUT + START:g} s")
        assert ask.returncode == 1 and not ask.stdout
        one_error_line(ask.stderr)
        assert time.monotonic() - started < TIMEOUT + START

        started = time.monotonic()
        with pytest.raises(KnowledgeBaseUnavailable, match="knowledge base unavailable"):
            answerer.answer("How is IVL treated?")
        assert time.monotonic() - started < TIMEOUT + 2

        started = time.monotonic()
        *_, (history, box, _) = handlers.respond(QUESTION, [], "Clinician", Handlers.new_session())
        assert "Knowledge base unavailable" in history[-1]["content"] and box == QUESTION
        assert time.monotonic() - started < TIMEOUT + 2
    finally:
        server.proc.send_signal(signal.SIGCONT)

    assert "200" in answerer.answer(QUESTION).answer  # the same answerer, without a restart
    again = ivl(env, "ask", QUESTION, timeout=120)
    assert again.returncode == 0 and "200" in again.stdout, again.stderr


@pytest.mark.slow
def test_a_server_killed_during_ingest_is_one_line_and_the_rerun_completes_the_index(server, tmp_path, embeddings):
    corpus = tmp_path / "corpus"
    synthetic_corpus(CORPUS, corpus, 4)  # about 200 chunks and 900 sentences: several write batches
    settings, env = on_server(tmp_path, server)
    chunks_name, sentences_name = store.collection_names(settings)
    ingest = subprocess.Popen([sys.executable, "-m", "ivl", "ingest", str(corpus)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    probe = chroma.http_client(settings)
    deadline = time.monotonic() + 300
    while True:  # kill the server once the sentences are being written (the chunks are written before them)
        assert ingest.poll() is None, "the ingest ended before the server could be killed"
        assert time.monotonic() < deadline, "the ingest never started writing"
        names = {c.name for c in probe.list_collections()}
        if sentences_name in names and probe.get_collection(sentences_name).count() > 0:
            break
        time.sleep(0.05)
    server.proc.kill()
    server.proc.wait(timeout=20)
    _, stderr = ingest.communicate(timeout=120)
    assert ingest.returncode == 1
    one_error_line(stderr)

    server.start()  # on the same folder
    report = run_ingest(settings, [corpus], embeddings=embeddings, progress=False)
    index = store.open_index(settings, embeddings.name)
    assert index.chunks.count() == report.chunks and index.sentences.count() == report.sentences
    client = chroma.http_client(settings)
    for kind, name in (("chunks", chunks_name), ("sentences", sentences_name)):
        held = set(store.all_records(client.get_collection(name), [])["ids"])
        assert set(store.record_manager(settings, kind).list_keys()) == held  # records say what the server holds
    answer = Answerer(settings, embeddings).answer(QUESTION)
    assert not answer.abstained and answer.citations

    rerun = run_ingest(settings, [corpus], embeddings=embeddings, progress=False)
    assert (rerun.added, rerun.updated, rerun.deleted, rerun.embedded) == (0, 0, 0, 0)  # complete: nothing to do

    # The server loses what the records still list (a folder restored from an old backup, a deleted collection):
    # the next ingest writes it again instead of trusting the records.
    client.delete_collection(sentences_name)
    restored = run_ingest(settings, [corpus], embeddings=embeddings, progress=False)
    assert 0 < restored.embedded <= report.sentences  # each distinct sentence text once (the corpus repeats some)
    assert store.open_index(settings, embeddings.name).sentences.count() == report.sentences


def build(data_dir: Path, corpus: Path, embeddings):
    settings = load_settings(data_dir=data_dir)
    report = run_ingest(settings, [corpus], embeddings=embeddings, progress=False)
    return settings, report


def answers(answerer: Answerer, questions: list[str]) -> list[dict]:
    return [answerer.answer(q).model_dump(include={"answer", "abstained", "citations"}) for q in questions]


@pytest.mark.slow
def test_one_index_gives_one_answer_to_each_question_however_it_was_built(tmp_path, embeddings):
    corpus = tmp_path / "corpus"
    synthetic_corpus(CORPUS, corpus, 6)  # the real sentences recombined: many near-ties
    questions = [item.question for item in load_items("tune") if not item.history][:50]
    first_settings, report = build(tmp_path / "a", corpus, embeddings)
    assert report.chunks >= 280
    answerer = Answerer(first_settings, embeddings)
    first = answers(answerer, questions)
    assert sum(not a["abstained"] for a in first) >= 10  # the questions do get answers to compare
    for _ in range(2):
        answerer.clear_cache()  # each round starts cold: question vectors and sentences read again
        assert answers(answerer, questions) == first

    second_settings, _ = build(tmp_path / "b", corpus, embeddings)
    assert answers(Answerer(second_settings, embeddings), questions) == first


def test_a_large_index_searched_by_hnsw_answers_like_the_exact_search(built_index, embeddings):
    """Above IVL_EXACT_SEARCH_MAX, Chroma's HNSW search (over-fetched, re-ranked exactly) takes over; on an index
    this small it finds the same passages, so the answers are the same."""
    questions = [item.question for item in load_items("tune") if not item.history][:20]
    exact = answers(Answerer(built_index, embeddings), questions)
    hnsw = load_settings(data_dir=built_index.data_dir, encoder_dir=built_index.encoder_dir, exact_search_max=0)
    assert answers(Answerer(hnsw, embeddings), questions) == exact


@pytest.mark.parametrize(("variable", "value"), [("IVL_CHROMA_TIMEOUT", "0"), ("IVL_EXACT_SEARCH_MAX", "-1")])
def test_a_bad_timeout_or_search_limit_names_its_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()
