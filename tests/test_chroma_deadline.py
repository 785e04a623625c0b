"""IVL_CHROMA_TIMEOUT bounds each whole request to a Chroma server, from the first (issue 24 item 10). Before: a
server answering only the heartbeat held the client's constructor on /auth/identity for good, and a proxy dripping
a query's reply at 1 byte per 2 s never tripped the 3 s read timeout (still hanging at 90 s)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import chromadb  # noqa: F401 -- imported before the clock starts: its import is not the server's time
import httpx
import pytest

from ivl.settings import load_settings
from ivl_index import store
from ivl_index.errors import KnowledgeBaseUnavailable
from tests.conftest import free_port, wait_for_url

TIMEOUT = 3.0  # IVL_CHROMA_TIMEOUT in these tests
DRIP = 1.0  # seconds between the bytes of a dripped reply: each read is well inside the timeout
GRACE = 2.0  # seconds past the timeout a bounded call may take to give up


class Hostile(BaseHTTPRequestHandler):
    """Answers the heartbeat; then either never answers (no upstream) or passes every request to the real server
    at `upstream`, dripping the replies to /query a byte at a time."""

    upstream: str | None = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _any(self) -> None:
        if self.path.endswith("/heartbeat") and self.upstream is None:
            self._reply(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 29\r\n\r\n"
                        b'{"nanosecond heartbeat": 1}\r\n', drip=False)  # fmt: skip
            return
        if self.upstream is None:
            time.sleep(60)  # a server that stopped answering after the heartbeat
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        request = urllib.request.Request(self.upstream + self.path, data=body, method=self.command,
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as got:
                status, data = got.status, got.read()
        except urllib.error.HTTPError as err:
            status, data = err.code, err.read()
        head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        self._reply(head.encode() + data, drip=self.path.endswith("/query"))

    do_GET = do_POST = do_PUT = do_DELETE = _any

    def _reply(self, raw: bytes, drip: bool) -> None:
        try:
            for i in range(len(raw)) if drip else [None]:
                self.wfile.write(raw[i : i + 1] if drip else raw)
                self.wfile.flush()
                if drip:
                    time.sleep(DRIP)
        except OSError:
            pass  # the client gave up: what these tests want


def hostile(upstream: str | None) -> tuple[ThreadingHTTPServer, int]:
    handler = type("Handler", (Hostile,), {"upstream": upstream})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def within(seconds: float, call):
    """call()'s result or exception, or a test failure when it is still running after `seconds` (the old code
    hung; the thread is left behind, blocked on a server the test then closes)."""
    out: dict = {}

    def run():
        try:
            out["value"] = call()
        except Exception as err:  # noqa: BLE001 -- handed back to the test
            out["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still waiting on the Chroma server after {seconds:g} s (IVL_CHROMA_TIMEOUT={TIMEOUT:g})")
    return out, time.monotonic() - started


def test_a_server_that_answers_only_the_heartbeat_is_knowledge_base_unavailable_within_the_timeout(tmp_path):
    server, port = hostile(None)
    try:
        settings = load_settings(data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=port,
                                 chroma_timeout=TIMEOUT)  # fmt: skip
        out, seconds = within(TIMEOUT + 10, lambda: store.client(settings))
        assert isinstance(out.get("error"), KnowledgeBaseUnavailable), out
        assert "knowledge base unavailable" in str(out["error"]) and "\n" not in str(out["error"])
        assert seconds < TIMEOUT + GRACE
    finally:
        server.shutdown()


@pytest.fixture
def chroma(tmp_path):
    """A real `chroma run` on loopback."""
    port = free_port()
    exe = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen([str(exe), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for_url(f"http://127.0.0.1:{port}/api/v2/heartbeat", 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=20)


def test_a_query_reply_dripped_a_byte_a_second_ends_within_the_timeout(chroma, tmp_path):
    server, port = hostile(chroma)
    try:
        settings = load_settings(data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=port,
                                 chroma_timeout=TIMEOUT)  # fmt: skip
        client = store.client(settings)  # through the proxy: only /query is dripped
        collection = client.create_collection("drip")
        collection.add(ids=["a"], embeddings=[[1.0, 0.0, 0.0]], documents=["IVL grows in veins."])
        assert collection.count() == 1
        out, seconds = within(TIMEOUT + 20, lambda: collection.query(query_embeddings=[[1.0, 0.0, 0.0]], n_results=1))
        assert isinstance(out.get("error"), httpx.TimeoutException), out  # each byte came in time; the reply did not
        assert seconds < TIMEOUT + GRACE
        assert collection.count() == 1  # the next request gets its own deadline
    finally:
        server.shutdown()
