"""The chat's ASGI guard driven directly, without a server (issue 24, items 13, 14 and 18): login attempts counted
before they are checked, Host headers parsed strictly, and a request that fails mid-response logged in one line."""

from __future__ import annotations

import asyncio

import pytest

from ivl.guard import Guard, LoginThrottle, allowed_hosts

PASSWORD = b"username=ana&password=right-horse-battery"


async def call(guard: Guard, path="/", method="GET", headers=((b"host", b"localhost:7860"),), body=b""):
    """(status, body) of one request through `guard`."""
    scope = {"type": "http", "path": path, "method": method, "client": ("10.0.0.9", 5000), "headers": list(headers)}
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    await guard(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def login_app(scope, receive, send):
    """Gradio's login, as slow as a password hash: 200 for the right password, 400 otherwise."""
    body = (await receive())["body"]
    await asyncio.sleep(0.05)
    await send({"type": "http.response.start", "status": 200 if body == PASSWORD else 400, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def test_a_burst_of_concurrent_logins_gets_no_more_checks_than_allowed():
    checked = []

    async def counting(scope, receive, send):
        checked.append(1)
        await login_app(scope, receive, send)

    guard = Guard(counting, {"localhost"}, 1 << 20, LoginThrottle(attempts=5, window=60))

    async def burst():
        wrong = [call(guard, "/login", "POST", body=b"username=ana&password=guess%d" % i) for i in range(300)]
        return await asyncio.gather(*wrong[:150], call(guard, "/login", "POST", body=PASSWORD), *wrong[150:])

    results = asyncio.run(burst())
    assert len(checked) <= 5
    assert results[150][0] == 429  # the right password, guessed in a burst, is refused like the rest
    assert sum(status == 429 for status, _ in results) >= 296


def test_a_right_password_clears_the_count_and_a_wrong_one_keeps_it():
    throttle = LoginThrottle(attempts=2, window=10)
    assert throttle.attempt("10.0.0.1", now=100) == 0
    throttle.succeeded("10.0.0.1")
    assert throttle.attempt("10.0.0.1", now=101) == 0 and throttle.attempt("10.0.0.1", now=102) == 0
    assert throttle.attempt("10.0.0.1", now=103) == pytest.approx(9) and throttle.attempt("10.0.0.2", now=103) == 0
    assert throttle.attempt("10.0.0.1", now=113) == 0


async def ok_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize(
    ("hosts", "status"),
    [([b"localhost:7860"], 200), ([b"[::1]:7860"], 200), ([b"LOCALHOST"], 200), ([b"localhost:7871@evil.example"], 400),
     ([b"localhost:7860 evil.example"], 400), ([b"localhost:99999999"], 400), ([b"evil.example:7860"], 400),
     ([b"localhost:7860", b"evil.example"], 400), ([b"evil.example", b"localhost:7860"], 400), ([b""], 400)],
)  # fmt: skip
def test_host_is_one_header_naming_an_allowed_host_and_at_most_a_port(hosts, status):
    guard = Guard(ok_app, {"localhost", "127.0.0.1", "::1"}, 1 << 20, LoginThrottle(5, 60))
    assert asyncio.run(call(guard, headers=[(b"host", h) for h in hosts]))[0] == status


def test_a_response_that_fails_after_it_began_is_one_log_line_and_ends_cleanly(capfd):
    """Gradio's queue stream for an unknown session raises after its first event; uvicorn logged 78 lines."""

    async def failing(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: {}\n\n", "more_body": True})
        raise RuntimeError("Caught handled exception, but response already started.")

    guard = Guard(failing, {"localhost"}, 1 << 20, LoginThrottle(5, 60))
    status, body = asyncio.run(call(guard, "/gradio_api/queue/data"))
    assert status == 200 and body == b"data: {}\n\n"
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "/gradio_api/queue/data" in err and "RuntimeError" in err


def test_a_malformed_allowed_host_name_never_lets_a_malformed_host_through():
    allowed = allowed_hosts("::1", ["chat.example.org:7860", "bad host!", "my_service"])
    assert {"::1", "chat.example.org", "my_service"} <= allowed and "" not in allowed
