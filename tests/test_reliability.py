"""Nothing lost, nothing leaked: killed ingests, concurrent readers, faults, a Chroma server, privacy."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chatbot.answerer import Answerer
from ingest.pipeline import run_ingest
from ivl.settings import load_settings
from ivl.ui import Handlers
from ivl_index import store, versions
from ivl_index.errors import IndexMissing, IngestError, KnowledgeBaseUnavailable
from tests.conftest import free_port, wait_for_url

QUESTION = "How many cases of IVL have been reported?"
HERE = Path(__file__).parent


def ivl(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "ivl", *args], env={**os.environ, **(env or {})}, **kw)


def edit_gard(corpus: Path, figure: str) -> None:
    path = corpus / "gard-ivl.md"
    path.write_text(path.read_text().replace("about 200 cases", f"about {figure} cases"))


@pytest.mark.slow
def test_killed_ingest_leaves_the_previous_index_serving(settings, embeddings, corpus_copy):
    run_ingest(settings, [corpus_copy], embeddings=embeddings, progress=False)
    before = Answerer(settings, embeddings).answer(QUESTION).model_dump(exclude={"seconds"})
    serving = versions.version(settings)
    edit_gard(corpus_copy, "250")
    env = {"IVL_DATA_DIR": str(settings.data_dir)}
    kills = 0
    for delay in (0.5, 2.0, 4.0, 6.0, 8.0):
        proc = ivl("ingest", str(corpus_copy), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        after = Answerer(settings, embeddings).answer(QUESTION).model_dump(exclude={"seconds"})
        if versions.version(settings) != serving:
            # The kill came after the switch: the new index is complete and in service, which is also fine.
            assert "250" in after["answer"]
            break
        assert after == before, f"answer changed after a kill at {delay}s"
    assert kills >= 1
    rerun = run_ingest(settings, [corpus_copy], embeddings=embeddings, progress=False)
    assert rerun.documents == 2
    assert "250" in Answerer(settings, embeddings).answer(QUESTION).answer
    folders = list((settings.data_dir / "versions").iterdir())
    assert len(folders) <= 2  # killed builds were cleaned up


@pytest.mark.slow
def test_queries_keep_working_while_another_process_ingests(settings, embeddings, corpus_copy):
    run_ingest(settings, [corpus_copy], embeddings=embeddings, progress=False)
    answerer = Answerer(settings, embeddings)
    edit_gard(corpus_copy, "300")
    proc = ivl("ingest", str(corpus_copy), env={"IVL_DATA_DIR": str(settings.data_dir)}, stderr=subprocess.PIPE, text=True)
    answered = 0
    while proc.poll() is None:
        assert not answerer.answer(QUESTION).abstained  # never "database is locked", never a hang
        answered += 1
    assert proc.returncode == 0, proc.stderr.read()
    assert answered > 0
    assert "300" in answerer.answer(QUESTION).answer  # the running answerer switched to the new index


def test_full_disk_during_ingest_keeps_the_index(settings, embeddings, corpus_copy, monkeypatch):
    from langchain_chroma import Chroma

    run_ingest(settings, [corpus_copy], embeddings=embeddings, progress=False)
    serving = store.current(settings)
    edit_gard(corpus_copy, "400")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Chroma, "add_documents", full)  # the simulated fault: every write fails
    with pytest.raises(IngestError, match=r"disk full in .*; the previous index is unchanged"):
        run_ingest(settings, [corpus_copy], embeddings=embeddings, progress=False)
    assert store.current(settings) == serving
    assert [p.name for p in (settings.data_dir / "versions").iterdir()] == [serving.name]
    assert "200" in Answerer(settings, embeddings).answer(QUESTION).answer


def test_unusable_data_directory_is_one_clear_error(tmp_path, embeddings):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    settings = load_settings(data_dir=blocker / "data")
    with pytest.raises(IngestError, match="cannot use the data directory"):
        run_ingest(settings, embeddings=embeddings, progress=False)
    with pytest.raises(IndexMissing, match="run `ivl ingest` first"):
        Answerer(settings, embeddings)


@pytest.fixture
def chroma_server(tmp_path):
    """A real `chroma run` on loopback; yields a restart() so a test can take it down and bring it back."""
    exe = Path(sys.executable).with_name("chroma")
    port, path = free_port(), tmp_path / "server"
    procs = []

    def start():
        procs.append(subprocess.Popen([str(exe), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        wait_for_url(f"http://127.0.0.1:{port}/api/v2/heartbeat", 30)

    def stop():
        procs[-1].terminate()
        procs[-1].wait(timeout=20)

    start()
    yield port, start, stop
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.wait(timeout=20)


@pytest.mark.slow
def test_chroma_server_mode_ingests_answers_survives_an_outage(chroma_server, tmp_path, embeddings):
    port, start, stop = chroma_server
    settings = load_settings(data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=port)
    report = run_ingest(settings, embeddings=embeddings, progress=False)
    assert report.added == report.chunks > 0
    assert not (tmp_path / "data" / "versions").exists()  # vectors live on the server
    answerer = Answerer(settings, embeddings)
    handlers = Handlers(answerer, settings)
    assert "200" in answerer.answer(QUESTION).answer

    stop()
    *_, (history, box, _) = handlers.respond(QUESTION, [], "Clinician", Handlers.new_session())
    assert "Knowledge base unavailable" in history[-1]["content"] and box == QUESTION
    with pytest.raises(KnowledgeBaseUnavailable, match="knowledge base unavailable"):
        Answerer(settings, embeddings)  # down at start: a clear message

    start()
    *_, (history, _, _) = handlers.respond(QUESTION, [], "Clinician", Handlers.new_session())
    assert "200" in history[-1]["content"]  # recovered without a restart


def connections(log: Path) -> set[str]:
    """Destinations other than loopback and local (AF_UNIX) sockets."""
    out = set()
    for line in log.read_text().splitlines() if log.exists() else []:
        family, address = line.split("\t", 1)
        if int(family) == 1:  # AF_UNIX
            continue
        host = eval(address)[0]  # noqa: S307 -- our own log of repr((host, port)) tuples
        if host not in ("127.0.0.1", "::1", "localhost"):
            out.add(host)
    return out


@pytest.mark.slow
def test_ingest_ask_and_chat_connect_to_nothing_but_loopback(tmp_path):
    from gradio_client import Client

    log = tmp_path / "connections.log"
    env = {"IVL_DATA_DIR": str(tmp_path / "data"), "NETGUARD_LOG": str(log),
           "PYTHONPATH": os.pathsep.join([str(HERE / "netguard"), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    assert ivl("ingest", env=env, stdout=subprocess.DEVNULL).wait() == 0
    assert ivl("ask", "How is IVL treated?", env=env, stdout=subprocess.DEVNULL).wait() == 0
    port = free_port()
    chat = ivl("chat", env=env | {"IVL_CHAT_PORT": str(port)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_url(f"http://127.0.0.1:{port}/", 60)
        secret = "Patient Jane Roe, 52, asks: is IVL treated with surgery?"
        Client(f"http://127.0.0.1:{port}/", verbose=False).predict(secret, [], "Clinician", api_name="/ask")
    finally:
        chat.terminate()
        chat.wait(timeout=30)
    assert log.exists() and log.read_text()  # the hook did record the loopback traffic
    assert connections(log) == set()
    # Questions are not written to disk (feedback was not given).
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert b"Jane Roe" not in path.read_bytes(), path


def test_a_collection_past_sqlites_variable_limit_is_read_whole(tmp_path):
    """The 1000x bench corpus (50,490 chunks) could not be opened: one get() of a whole collection that
    size fails in Chroma's SQLite. Reading in pages returns every record, in order."""
    import chromadb

    from ivl_index.chroma import all_records, chroma_settings

    collection = chromadb.PersistentClient(path=str(tmp_path / "c"), settings=chroma_settings()).create_collection("big")
    n = 40_000
    for start in range(0, n, 5000):
        ids = [f"c{i:05d}" for i in range(start, min(start + 5000, n))]
        collection.add(ids=ids, embeddings=[[1.0, float(i)] for i in range(len(ids))], documents=ids,
                       metadatas=[{"k": i} for i in range(len(ids))])  # fmt: skip
    got = all_records(collection, ["documents", "metadatas"])
    assert len(got["ids"]) == n and len(set(got["ids"])) == n
    assert got["documents"] == got["ids"] and len(got["metadatas"]) == n
