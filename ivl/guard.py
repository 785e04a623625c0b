"""What stands between the network and the chat, as one ASGI middleware around Gradio's FastAPI app.

Written by hand because Gradio has no setting for any of it: it serves any Host header (DNS rebinding lets a
web page reach a local chat), sends no CSP or framing headers, accepts uploads the app never uses (any page can
POST one cross-site), takes request bodies of any size, and lets a client try passwords as fast as it likes.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

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


@dataclass
class LoginThrottle:
    """Failed logins per client address: after `attempts` failures within `window` seconds, every login from
    that address (the right password too) is refused until the window has passed since the last failure."""

    attempts: int
    window: float
    failures: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, client: str, now: float | None = None) -> float:
        """Seconds `client` must wait before trying again; 0 when it may try now."""
        now = time.monotonic() if now is None else now
        with self.lock:
            recent = self.failures[client]
            while recent and now - recent[0] > self.window:
                recent.popleft()
            return self.window - (now - recent[-1]) if len(recent) >= self.attempts else 0.0

    def failed(self, client: str, now: float | None = None) -> None:
        with self.lock:
            self.failures[client].append(time.monotonic() if now is None else now)

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
        headers = dict(scope.get("headers") or [])
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
        if login and (wait := self.throttle.wait(client)) > 0:
            return await _refuse(scope, send, 429, f"Too many failed logins; try again in {wait:.0f} s.", retry_after=wait)

        received, refused = 0, False

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
            if refused:
                return
            if message["type"] == "http.response.start":
                message = dict(message, headers=[*message.get("headers", []), *HEADERS])
                if login:
                    (self.throttle.succeeded if message["status"] < 400 else self.throttle.failed)(client)
            await send(message)

        await self.app(scope, bounded_receive, guarded_send)


def _hostname(host: str) -> str:
    """'[::1]:7860' -> '::1', 'Example.org:80' -> 'example.org'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


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
    own = set() if chat_host in ("0.0.0.0", "::", "") else {_hostname(chat_host)}
    return LOOPBACK | own | {_hostname(h) for h in extra}


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
