"""What one client can make a running chat hold (issue 24, items 14, 15 and 18): a real server on loopback with
small limits, raw sockets for what a browser would never send."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from chatbot.answerer import Answerer
from ivl.ui import serve
from tests.conftest import free_port

pytestmark = pytest.mark.slow
CONNECTIONS, IDLE = 16, 2


@pytest.fixture(scope="module")
def port(built_index, embeddings):
    settings = built_index.model_copy(update={"chat_port": free_port(), "chat_max_connections": CONNECTIONS,
                                              "chat_idle_seconds": IDLE, "chat_max_header_kb": 8})  # fmt: skip
    demo = serve(Answerer(settings, embeddings), settings, prevent_thread_lock=True, quiet=True)
    yield settings.chat_port
    demo.close()


def answers(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
        return resp.status


def closed(sock: socket.socket) -> bool:
    """Whether the server has closed `sock` (whatever it wrote first)."""
    sock.settimeout(0.05)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_a_huge_header_is_refused_without_being_read(port):
    sock = socket.create_connection(("127.0.0.1", port))
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Filler: " + b"a" * 50_000_000 + b"\r\n\r\n")
        reply = b""
    except (BrokenPipeError, ConnectionResetError):  # refused while it was still being sent
        reply = b"HTTP/1.1 400"
    else:
        sock.settimeout(10)
        reply = sock.recv(100)
    finally:
        sock.close()
    assert reply.startswith(b"HTTP/1.1 400"), reply
    assert answers(port) == 200


def test_half_open_requests_are_capped_and_dropped_when_idle(port):
    """20,000 half-open requests took every file descriptor; now the ones beyond IVL_CHAT_MAX_CONNECTIONS are
    closed at once and the rest after IVL_CHAT_IDLE_SECONDS, and the chat answers again."""
    held = []
    try:
        for _ in range(3 * CONNECTIONS):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")  # the head never ends
            held.append(sock)
        time.sleep(0.5)
        assert sum(map(closed, held)) >= 2 * CONNECTIONS  # beyond the cap: closed at once
        time.sleep(IDLE + 1)
        assert all(map(closed, held))  # the rest: closed once idle
    finally:
        for sock in held:
            sock.close()
    assert answers(port) == 200


def test_streams_asked_for_unknown_sessions_log_one_short_line_each(port, capfd):
    for i in range(20):
        url = f"http://127.0.0.1:{port}/gradio_api/queue/data?session_hash=nosuch{i}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert b"session_not_found" in resp.read()
    time.sleep(0.5)
    err = capfd.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) <= 20 and all(len(line) < 200 for line in err.splitlines())


def test_an_unresolvable_host_name_is_one_line_saying_so(tmp_path):
    env = {**os.environ, "IVL_DATA_DIR": str(tmp_path), "IVL_CHAT_HOST": "no-such-host.invalid"}
    run = subprocess.run([sys.executable, "-m", "ivl", "chat"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "Unknown error" not in run.stderr
    assert run.stderr.strip() == run.stderr.strip().splitlines()[0]
    assert "cannot resolve the host name 'no-such-host.invalid'" in run.stderr and "IVL_CHAT_HOST" in run.stderr
