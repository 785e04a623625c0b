"""What a hostile client can do to a running chat (issue 18, items 5-8 and the malformed payload): a real server
on loopback, real HTTP requests, a real `ivl chat` process for what it writes to stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from chatbot.answerer import Answerer
from ivl.ui import serve
from tests.conftest import free_port, wait_for_url

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(built_index, embeddings):
    settings = built_index.model_copy(
        update={"chat_port": free_port(), "chat_auth": None, "chat_max_request_kb": 64}
    )
    demo = serve(Answerer(settings, embeddings), settings, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{settings.chat_port}"
    demo.close()


def request(url: str, data: bytes | None = None, headers: dict | None = None, method: str | None = None):
    """(status, headers, body) of one request; HTTP errors are answers too."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode(errors="replace")


def test_every_page_carries_security_headers(server):
    status, headers, body = request(server + "/")
    assert status == 200 and "<html" in body
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_a_foreign_host_name_is_refused(server):
    port = server.rsplit(":", 1)[1]
    status, _, body = request(server + "/", headers={"Host": f"rebind.attacker.example:{port}"})
    assert status == 400 and "IVL_CHAT_ALLOWED_HOSTS" in body
    assert request(server + "/", headers={"Host": f"localhost:{port}"})[0] == 200


def test_uploads_are_refused_whatever_their_size(server):
    boundary = "xyz"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\r\n" + "x" * 100
            + f"\r\n--{boundary}--\r\n").encode()  # fmt: skip
    for path in ("/gradio_api/upload", "/gradio_api/upload/", "/upload"):
        status, _, text = request(server + path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert status in (404, 413), (path, status)


def test_an_oversized_request_is_refused_before_it_is_read(server):
    payload = json.dumps({"data": ["x" * 200_000, [], "Clinician"], "fn_index": 0, "session_hash": "big"}).encode()
    status, _, body = request(server + "/gradio_api/queue/join", payload, {"Content-Type": "application/json"})
    assert status == 413 and "IVL_CHAT_MAX_REQUEST_KB" in body
    # The same body sent without a Content-Length (chunked) is cut off as it grows.
    import http.client

    conn = http.client.HTTPConnection(server.split("//")[1], timeout=30)
    conn.request("POST", "/gradio_api/queue/join", body=iter([payload[:40_000], payload[40_000:]]),
                 headers={"Content-Type": "application/json"}, encode_chunked=True)  # fmt: skip
    assert conn.getresponse().status == 413
    conn.close()


def test_failed_logins_are_throttled_per_client(built_index, embeddings):
    settings = built_index.model_copy(
        update={"chat_port": free_port(), "chat_auth": "ana:right-horse-battery", "chat_login_attempts": 5, "chat_login_window": 3}
    )  # fmt: skip
    from pydantic import SecretStr

    settings = settings.model_copy(update={"chat_auth": SecretStr("ana:right-horse-battery")})
    demo = serve(Answerer(settings, embeddings), settings, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{settings.chat_port}/login"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        statuses = [request(url, b"username=ana&password=guess%d" % i, form)[0] for i in range(50)]
        assert statuses[:5] == [400] * 5 and set(statuses[5:]) == {429}
        status, headers, body = request(url, b"username=ana&password=right-horse-battery", form)
        assert status == 429 and "Too many failed logins" in body and int(headers["retry-after"]) >= 1
        time.sleep(3.2)
        assert request(url, b"username=ana&password=right-horse-battery", form)[0] == 200
    finally:
        demo.close()


def test_a_malformed_api_payload_logs_one_line_without_what_was_sent(built_index, tmp_path):
    port = free_port()
    env = {**os.environ, "IVL_DATA_DIR": str(built_index.data_dir), "IVL_CHAT_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "ivl", "chat"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_url(f"http://127.0.0.1:{port}/", 120)
        for data in ([{"note": "PATIENT-NAME-1234"}, 5, 7], ["PATIENT-NAME-1234", "not a list", "Clinician"]):
            payload = json.dumps({"data": data, "fn_index": 0, "session_hash": "mal"}).encode()
            request(f"http://127.0.0.1:{port}/gradio_api/queue/join", payload, {"Content-Type": "application/json"})
        time.sleep(3)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "PATIENT-NAME" not in err and "Traceback" not in err
    assert "a request failed" in err
