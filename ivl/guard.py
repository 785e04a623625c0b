"""What stands between the network and the chat, as one ASGI middleware around Gradio's FastAPI app.

Written by hand because Gradio has no setting for any of it: it serves any Host header (DNS rebinding lets a
web page reach a local chat), sends no CSP or framing headers, accepts uploads the app never uses (any page can
POST one cross-site), takes request bodies of any size, and lets a client try passwords as fast as it likes.
Below the app, `BoundedH11` and `LimitedUvicorn` cap what uvicorn holds per connection (see their docstrings).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
     b"style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
     b"media-src 'self' blob:; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
     b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]  # fmt: skip
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# RFC 9110 Host: a bracketed IPv6 address or a plain name, then an optional numeric port, and nothing else
# ('localhost:7871@evil.example' is not a host name with a port).
HOST = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._-]+))(?::[0-9]{1,5})?")  # '_': container names


@dataclass
class LoginThrottle:
    """Failed logins per client address: after `attempts` failures within `window` seconds, every login from
    that address (the right password too) is refused until the window has passed since the last failure."""

    attempts: int
    window: float
    failures: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attempt(self, client: str, now: float | None = None) -> float:
        """Count a login from `client` as failed before its password is checked (`succeeded` takes it back), so
        a burst of concurrent logins gets no more checks than `attempts`. Returns 0 when it may be checked, else
        the seconds `client` must wait (and the login is not counted)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            recent = self.failures[client]
            while recent and now - recent[0] > self.window:
                recent.popleft()
            if len(recent) >= self.attempts:
                return self.window - (now - recent[-1])
            recent.append(now)
            return 0.0

    def succeeded(self, client: str) -> None:
        with self.lock:
            self.failures.pop(client, None)


class Guard:
    """ASGI middleware: allowed Host names only, a bounded request body, no upload route, throttled logins,
    and security headers on every response."""

    def __init__(self, app, allowed_hosts: set[str], max_body: int, throttle: LoginThrottle):
        self.app = app
        self.allowed_hosts = {h.lower() for h in allowed_hosts}
        self.max_body = max_body
        self.throttle = throttle

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        raw = scope.get("headers") or []
        headers = dict(raw)
        if sum(name == b"host" for name, _ in raw) > 1:  # Gradio reads the first, a check of the last is no check
            return await _refuse(scope, send, 400, "A request names one Host; this one named several.")
        host = _hostname(headers.get(b"host", b"").decode("latin-1"))
        if host not in self.allowed_hosts:
            return await _refuse(scope, send, 400, f"Host {host or '(none)'!r} is not served here; see IVL_CHAT_ALLOWED_HOSTS.")
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if method == "POST" and path.rstrip("/").endswith("/upload"):
            return await _refuse(scope, send, 404, "This app accepts no uploads.")
        too_large = f"Request larger than IVL_CHAT_MAX_REQUEST_KB ({self.max_body // 1024} KB)."
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0
        if declared > self.max_body:
            return await _refuse(scope, send, 413, too_large)
        client = (scope.get("client") or ("?", 0))[0]
        login = method == "POST" and path.rstrip("/").endswith("/login")
        if login and (wait := self.throttle.attempt(client)) > 0:
            return await _refuse(scope, send, 429, f"Too many failed logins; try again in {wait:.0f} s.", retry_after=wait)

        received, refused, started, finished = 0, False, False, False

        async def bounded_receive():
            """A body without a (truthful) Content-Length is cut off as it grows: refused, and the app is told
            the client went away."""
            nonlocal received, refused
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body and not refused:
                refused = True
                await _refuse(scope, send, 413, too_large)
            return {"type": "http.disconnect"} if refused else message

        async def guarded_send(message):
            nonlocal started, finished
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
                message = dict(message, headers=[*message.get("headers", []), *HEADERS])
                if login and message["status"] < 400:
                    self.throttle.succeeded(client)
            finished = message["type"] == "http.response.body" and not message.get("more_body", False)
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception as err:
            if not started:
                raise
            # Too late for an error page; uvicorn would log the whole traceback (78 lines for a stream asked for
            # an unknown session, which any client can do). One line, the response ended cleanly.
            print(f"ivl chat: {method} {path} failed after its response began ({type(err).__name__})", file=sys.stderr)
            if not finished:
                await send({"type": "http.response.body", "body": b"", "more_body": False})


def _hostname(host: str) -> str:
    """'[::1]:7860' -> '::1', 'Example.org:80' -> 'example.org', 'localhost:7871@evil.example' -> ''."""
    match = HOST.fullmatch(host.strip().lower())
    return (match["v6"] or match["name"]) if match else ""


async def _refuse(scope, send, status: int, text: str, retry_after: float = 0) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    headers = [(b"content-type", b"application/json"), *HEADERS]
    if retry_after:
        headers.append((b"retry-after", str(int(retry_after + 0.999)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps({"detail": text}).encode()})


def allowed_hosts(chat_host: str, extra: list[str]) -> set[str]:
    """The loopback names, the address the chat listens on (unless it is a wildcard), and the configured names."""
    own = set() if chat_host in ("0.0.0.0", "::", "") else {_hostname(chat_host) or chat_host.lower()}  # or bare IPv6
    return LOOPBACK | own | {name for name in map(_hostname, extra) if name}  # never '', what a malformed Host gives


class BoundedH11(H11Protocol):
    """uvicorn's h11 protocol (h11 honours `h11_max_incomplete_event_size`, httptools takes any header size) with
    the two limits uvicorn lacks: a connection beyond `limit_concurrency` is answered 503 and closed at once
    (uvicorn refuses only a complete request, so each half-open one held a file descriptor), and a connection
    whose request head has not arrived `timeout_keep_alive` seconds after it opened (or after its last response)
    is closed (uvicorn's own timer starts only after a response, and any byte resets it)."""

    def connection_made(self, transport) -> None:
        full = len(self.connections) >= self.config.limit_concurrency
        super().connection_made(transport)
        if full:
            transport.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            transport.close()
            return
        self._await_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._await_head()

    def _await_head(self) -> None:
        self.loop.call_later(self.config.timeout_keep_alive, self._head_overdue, self.cycle)

    def _head_overdue(self, waiting_after) -> None:
        idle = self.cycle is waiting_after and self.transport.get_protocol() is self  # not since upgraded to a websocket
        if idle and not self.transport.is_closing():
            self.transport.close()


class LimitedUvicorn:
    """Stands in for the `uvicorn` module inside gradio.http_server, whose `start_server` builds uvicorn's Config
    with no way to pass limits (Gradio 6): the same Config with the limits added."""

    def __init__(self, **limits):
        self.limits = limits

    def Config(self, **kwargs) -> uvicorn.Config:  # noqa: N802 -- the name gradio calls
        return uvicorn.Config(**kwargs, **self.limits)

    def __getattr__(self, name):
        return getattr(uvicorn, name)


def limit_connections(max_header: int, max_connections: int, idle: int) -> None:
    """The next Gradio launch serves with bounded headers, connections and idle time (see BoundedH11)."""
    import gradio.http_server

    gradio.http_server.uvicorn = LimitedUvicorn(
        http=BoundedH11, h11_max_incomplete_event_size=max_header, limit_concurrency=max_connections,
        timeout_keep_alive=idle,
    )  # fmt: skip


class OneLineTracebacks:
    """Stands in for the `traceback` module inside Gradio's queue, which prints the whole traceback of a failed
    request, with the submitted values in it (a clinician's words), to stderr. One line, no values."""

    @staticmethod
    def print_exc(*_args, **_kwargs) -> None:
        err = sys.exc_info()[1]
        print(f"ivl chat: a request failed ({type(err).__name__}); what it carried is not logged", file=sys.stderr)

    def __getattr__(self, name):
        import traceback

        return getattr(traceback, name)


def quiet_request_errors() -> None:
    """Gradio's queue logs a failed request in one line, without what was submitted."""
    import gradio.queueing
    import gradio.route_utils

    gradio.queueing.traceback = OneLineTracebacks()
    gradio.route_utils.traceback = OneLineTracebacks()
