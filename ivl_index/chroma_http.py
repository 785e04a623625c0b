"""The Chroma server's client, with IVL_CHROMA_TIMEOUT as a deadline on each whole request, from the first.

Two gaps let a hostile or broken server hang `ivl ask` before (issue 24 item 10). chromadb (1.5) makes its httpx
sessions with timeout=None, and its client's constructor already asks the server who the user is and whether the
tenant and database exist: a server that answered only the heartbeat held the command past 60 s. And httpx's
timeouts bound each socket operation, not a request: a proxy dripping a reply at 1 byte per 2 s never trips a
3 s read timeout (still hanging at 90 s). So every session the client uses is replaced before its first request
by one whose sockets wait at most until the request's deadline: connect, TLS, each write and each read.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

import httpcore
import httpx
from chromadb.api.client import Client
from chromadb.config import DEFAULT_DATABASE, DEFAULT_TENANT

# When the request this thread is making must be over (monotonic seconds); the body is read after the transport
# returns, so it stays set until the thread's next request.
_DEADLINE: ContextVar[float | None] = ContextVar("chroma_deadline", default=None)


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """A socket operation's timeout, cut to what is left of the request's deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the Chroma server did not answer within IVL_CHROMA_TIMEOUT")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's own sockets, each wrapped so that it keeps to the deadline."""

    def __init__(self):
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        timeout = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _Stream(self._inner.connect_unix_socket(path, _left(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Transport(httpx.HTTPTransport):
    def __init__(self, seconds: float, limits: httpx.Limits):
        super().__init__(limits=limits)
        self.seconds = seconds
        # httpx takes no network backend, so its pool is made again with ours (same limits).
        self._pool = httpcore.ConnectionPool(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _DEADLINE.set(time.monotonic() + self.seconds)
        return super().handle_request(request)


class _Session(httpx.Client):
    """A session whose every request ends within its transport's deadline."""


def _bound(server, seconds: float) -> None:
    """Give chromadb's HTTP API object (its `_session`, made with timeout=None) a bounded session."""
    old = getattr(server, "_session", None)
    if isinstance(old, _Session):
        return
    if not isinstance(old, httpx.Client):  # chromadb moved its session: fail loudly rather than hang later
        raise RuntimeError("cannot bound the requests of this chromadb version's HTTP client")
    server._session = _Session(headers=old.headers, timeout=seconds, transport=_Transport(seconds, server.http_limits))
    old.close()


class _BoundedClient(Client):
    """chromadb's client, its sessions (its own and its admin client's) bounded before each is first used."""

    def __init__(self, seconds: float, **kwargs):
        self._seconds = seconds
        super().__init__(**kwargs)

    def get_user_identity(self):
        _bound(self._server, self._seconds)  # the constructor's first request
        return super().get_user_identity()

    def _validate_tenant_database(self, tenant: str, database: str) -> None:
        _bound(self._admin_client._server, self._seconds)  # the admin client's own session, used only here
        super()._validate_tenant_database(tenant, database)


def server_client(host: str, port: int, seconds: float, settings):
    """A client of the Chroma server at host:port whose every request (connect, auth, reading the reply) ends
    within `seconds`; `settings`: chromadb's Settings, as for chromadb.HttpClient (which this mirrors)."""
    settings.chroma_api_impl = "chromadb.api.fastapi.FastAPI"
    settings.chroma_server_host = host
    settings.chroma_server_http_port = port
    settings.chroma_server_ssl_enabled = False
    return _BoundedClient(seconds, tenant=DEFAULT_TENANT, database=DEFAULT_DATABASE, settings=settings)
