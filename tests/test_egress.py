"""No byte leaves the machine: every `ivl` verb runs under `strace -f -e trace=network`, which sees the
system calls of every thread of the process tree, native libraries included (tests/netguard only sees Python
sockets, and missed onnxruntime's telemetry thread resolving mobile.events.data.microsoft.com).

Counted as egress: connect() to an address that is not loopback (AF_INET outside 127/8, AF_INET6 other than
::1), and any connect/sendto/sendmsg/sendmmsg to port 53 (a DNS query, whichever resolver it goes to).
AF_UNIX and AF_NETLINK sockets are local. The browser is started by the test, outside the trace.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from ivl_index.settings import REPO_ROOT
from tests.conftest import CHROMIUM_ARGS, free_port, wait_for_url

SENDS = re.compile(r"\b(connect|sendto|sendmsg|sendmmsg)\(")
PORT = re.compile(r"sin6?_port=htons\((\d+)\)")
IPV4 = re.compile(r'sin_addr=inet_addr\("([^"]+)"\)')
IPV6 = re.compile(r'inet_pton\(AF_INET6, "([^"]+)"')


def egress(trace: str) -> list[str]:
    """The trace lines that reach past loopback or ask a DNS server."""
    out = []
    for line in trace.splitlines():
        if not SENDS.search(line) or not ("AF_INET" in line or "htons(" in line):
            continue
        port = PORT.search(line)
        if port and port.group(1) == "53":
            out.append(line)
            continue
        if not re.search(r"\bconnect\(", line):
            continue  # sendto on a connected socket: its connect() was judged already
        v4, v6 = IPV4.search(line), IPV6.search(line)
        if v4 and not v4.group(1).startswith("127."):
            out.append(line)
        elif v6 and v6.group(1) not in ("::1", "::") and not v6.group(1).startswith("::ffff:127."):
            out.append(line)
    return out




def traced(trace: Path, *args: str, env: dict, module: str = "ivl", calls: str = "network", **popen) -> subprocess.Popen:
    """`python -m MODULE ARGS` under strace, in its own session so the test can stop the whole tree. `calls`: the
    system calls traced; "connect" alone still sees every TCP connection and DNS lookup (glibc connects its UDP
    socket) and leaves a process that streams over its sockets at full speed."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is not installed: `apt-get install strace`")
    command = [strace, "-f", "--seccomp-bpf", "-e", f"trace={calls}", "-o", str(trace), sys.executable, "-m", module, *args]
    return subprocess.Popen(command, env={**os.environ, **env}, start_new_session=True, **popen)


def assert_no_egress(trace: Path) -> None:
    text = trace.read_text()
    assert "+++ exited" in text or "+++ killed" in text  # strace did follow the process
    lines = egress(text)
    assert lines == [], f"{len(lines)} outbound attempts ({sum('htons(53)' in line for line in lines)} to port 53, DNS):\n" + "\n".join(lines[:10])


def test_the_trace_parser_catches_onnxruntime_telemetry_and_passes_loopback():
    """Lines as strace printed them for onnxruntime 1.31 without ORT_DISABLE_TELEMETRY, and for the chat."""
    before = """\
13475 11:15:09.946726 socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP <unfinished ...>
13475 11:15:09.946874 connect(7, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0
13474 11:15:09.947007 sendto(8, "\\273\\237\\1\\0\\0\\1\\0\\0\\0\\0\\0\\0\\6mobile\\6events\\4data\\t"..., 50, MSG_NOSIGNAL, NULL, 0) = 50
13478 11:15:15.469773 sendto(7, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}, 16) = 50
13480 11:15:16.000001 connect(9, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2603:1030::1", &sin6_addr), sin6_scope_id=0}, 28 <unfinished ...>
13481 11:15:16.000002 connect(9, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("13.69.109.130")}, 16) = -1 EINPROGRESS
"""
    fine = """\
12441 11:13:42.981934 connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT
12441 11:13:25.912948 bind(3, {sa_family=AF_INET6, sin6_port=htons(0), inet_pton(AF_INET6, "::1", &sin6_addr)}, 28) = 0
12500 11:14:00.000001 connect(12, {sa_family=AF_INET, sin_port=htons(7860), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
12500 11:14:00.000002 connect(13, {sa_family=AF_INET6, sin6_port=htons(7860), inet_pton(AF_INET6, "::1", &sin6_addr)}, 28) = 0
12500 11:14:00.000003 sendto(12, "GET / HTTP/1.1\\r\\n", 16, 0, NULL, 0) = 16
12500 11:14:00.000004 sendto(5, [{nlmsg_len=20, nlmsg_type=RTM_GETADDR}], 20, 0, {sa_family=AF_NETLINK, nl_pid=0}, 12) = 20
"""
    assert len(egress(before)) == 4  # a sendto on a connected socket names no address: its connect() was counted
    assert egress(fine) == []


@pytest.fixture(scope="module")
def traced_data(tmp_path_factory):
    """`ivl ingest` into a fresh data folder, traced; the folder is then shared by the other verbs."""
    root = tmp_path_factory.mktemp("egress")
    env = {"IVL_DATA_DIR": str(root / "data"), "IVL_ENCODER_DIR": str(root / "encoders")}
    trace = root / "ingest.trace"
    assert traced(trace, "ingest", env=env, stdout=subprocess.DEVNULL).wait(timeout=600) == 0
    return root, env, trace


@pytest.mark.slow
def test_ingest_makes_no_outbound_connection(traced_data):
    assert_no_egress(traced_data[2])


@pytest.mark.slow
def test_ask_with_a_batch_of_200_questions_makes_no_outbound_connection(traced_data):
    """The questions arrive through the pipe over about 20 s, as from a program feeding them: onnxruntime's
    uploader first looked up its host about 8 s after import, so a batch answered faster would not show it."""
    root, env, _ = traced_data
    items = yaml.safe_load((REPO_ROOT / "evals" / "questions.yaml").read_text(encoding="utf-8"))
    questions = [" ".join(item["question"].split()) for item in items][:200]
    assert len(questions) == 200
    trace = root / "ask.trace"
    proc = traced(trace, "ask", "--json", "-", env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def feed():
        for question in questions:
            proc.stdin.write(question + "\n")
            proc.stdin.flush()
            time.sleep(0.1)
        proc.stdin.close()

    feeder = threading.Thread(target=feed)
    feeder.start()
    answers = [json.loads(line) for line in proc.stdout]
    feeder.join()
    assert proc.wait(timeout=600) == 0
    assert [a["question"] for a in answers] == questions
    assert_no_egress(trace)


@pytest.mark.slow
def test_eval_makes_no_outbound_connection(traced_data):
    root, env, _ = traced_data
    trace = root / "eval.trace"
    proc = traced(trace, "eval", "--out", str(root / "eval"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert proc.wait(timeout=900) in (0, 1)  # 1 only says a quality gate failed; test_eval_checks.py owns that
    assert (root / "eval" / "results.json").exists()
    assert_no_egress(trace)


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT to the traced chat (strace's child), as Ctrl+C would; strace then exits with it."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    for pid in children.read_text().split() if children.exists() else []:
        os.kill(int(pid), signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_chat_driven_by_a_browser_makes_no_outbound_connection(traced_data):
    from playwright.sync_api import sync_playwright

    root, env, _ = traced_data
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: `apt-get install chromium`")
    port = free_port()
    trace = root / "chat.trace"
    chat = traced(trace, "chat", env=env | {"IVL_CHAT_PORT": str(port)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_url(f"http://127.0.0.1:{port}/", 120)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"http://127.0.0.1:{port}/")
            for i, question in enumerate(["What is the recurrence rate after myomectomy alone?", "and after radical surgery?",
                                          "How is IVL treated?", "Why is bilateral oophorectomy suggested for IVL?"]):  # fmt: skip
                page.locator("#question textarea").fill(question)
                page.locator("#send").click()
                page.locator("#chat .bot-row").nth(i).get_by_text("Sources", exact=True).first.wait_for()
            page.get_by_role("tab", name="Sources").click()
            page.wait_for_timeout(10_000)  # past the first beat of any background uploader
            browser.close()
    finally:
        _stop(chat)
    assert_no_egress(trace)
