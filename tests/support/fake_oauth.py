"""The base of the loopback provider fakes (:mod:`tests.support.fake_slack`,
:mod:`tests.support.fake_hubspot`): a real HTTP server (``http.server``, one thread per request)
on ``127.0.0.1`` and an ephemeral port in a daemon thread, the OAuth app's knobs, the token
books, scripted failures, and the writing of a :class:`Reply`.

A provider fake subclasses :class:`FakeOAuthServer` with its request type and implements
:meth:`~FakeOAuthServer.parse` (an ``http.server`` request → its request record),
:meth:`~FakeOAuthServer.answer` (a recorded request → a :class:`Reply`, lock held) and
:meth:`~FakeOAuthServer.settings_env` (the ``<PROVIDER>_*`` settings pointing at it).
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

__all__ = ["FakeOAuthServer", "Reply", "TokenInfo", "json_body", "read_body"]

RequestT = TypeVar("RequestT")


@dataclass
class TokenInfo:
    """What a fake knows about one access token (or static key: ``expires_at`` None)."""

    scopes: tuple[str, ...]
    expires_at: float | None  # clock() seconds; None = never expires
    revoked: bool = False


class Reply(Exception):
    """An answer: a JSON body, or ``{"_location": url}`` (a 302's target), ``{"_html": page}``,
    ``{"_empty": True}`` (no body). Raised by endpoint code to answer at once."""

    def __init__(self, body: dict[str, Any], status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(str(body.get("message", body.get("error", "reply"))))
        self.body, self.status, self.headers = body, status, dict(headers or {})


class FakeOAuthServer(ABC, Generic[RequestT]):
    """A provider fake's server, app knobs and token books. Thread-safe: every request is
    recorded and answered under :attr:`lock` (after :meth:`before_lock`).

    Knobs (constructor arguments, also attributes a test may change while it runs):
    ``client_id``, ``client_secret``, ``redirect_uris`` (allowed list; None = any),
    ``rotation``, ``expires_in`` (seconds), ``grant_scopes`` (None = those asked), ``clock``
    (``time.time``-like). Records: :attr:`requests`. Books (lock held to change):
    :attr:`access_tokens`, :attr:`refresh_tokens` (→ scopes; None once spent or revoked).
    """

    #: The provider's settings prefix (``SLACK``) and the fake's thread name.
    env_prefix: ClassVar[str]
    thread_name: ClassVar[str]
    #: Content-Type of JSON answers (the providers differ in spacing).
    json_type: ClassVar[str] = "application/json; charset=utf-8"

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uris: Sequence[str] | None,
        rotation: bool,
        expires_in: int,
        grant_scopes: Sequence[str] | None,
        clock: Callable[[], float],
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uris = list(redirect_uris) if redirect_uris is not None else None
        self.rotation, self.expires_in = rotation, expires_in
        self.grant_scopes = list(grant_scopes) if grant_scopes is not None else None
        self.clock = clock
        self.lock = threading.RLock()
        self.requests: list[RequestT] = []
        self.access_tokens: dict[str, TokenInfo] = {}
        self.refresh_tokens: dict[str, tuple[str, ...] | None] = {}
        self._fails: dict[str, deque[Reply]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> Self:
        """Binds 127.0.0.1 on a free port and serves in a daemon thread; returns self."""
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
            self._server.daemon_threads = True
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and closes the listening socket (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    @property
    def port(self) -> int:
        assert self._server is not None, f"{type(self).__name__} is not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``"""
        return f"http://127.0.0.1:{self.port}"

    def env(self, *, redirect_uri: str | None = None) -> dict[str, str]:
        """The settings that point zigznote at this fake (:meth:`settings_env`, and
        ``<PROVIDER>_REDIRECT_URI`` when given)."""
        values = {
            f"{self.env_prefix}_CLIENT_ID": self.client_id,
            f"{self.env_prefix}_CLIENT_SECRET": self.client_secret,
            **self.settings_env(),
        }
        if redirect_uri is not None:
            values[f"{self.env_prefix}_REDIRECT_URI"] = redirect_uri
        return values

    # ------------------------------------------------------------------ knobs and books

    def script(self, name: str, reply: Reply, *, times: int = 1) -> None:
        """Answer the next ``times`` calls of endpoint ``name`` with ``reply``, before any check."""
        with self.lock:
            self._fails.setdefault(name, deque()).extend(
                Reply(dict(reply.body), reply.status, reply.headers) for _ in range(times)
            )

    def revoke_all(self) -> None:
        """Revokes every access and refresh token (what an uninstall does)."""
        with self.lock:
            for info in self.access_tokens.values():
                info.revoked = True
            self.refresh_tokens = dict.fromkeys(self.refresh_tokens)

    def valid_refresh_tokens(self) -> list[str]:
        """Refresh tokens not yet spent or revoked."""
        with self.lock:
            return [t for t, scopes in self.refresh_tokens.items() if scopes is not None]

    # ------------------------------------------------------------------ dispatch

    def before_lock(self, req: RequestT) -> None:
        """What happens to a request before the lock is taken (default: nothing; Slack's
        ``delays`` sleep here so concurrent callers really overlap)."""

    def handle(self, req: RequestT) -> Reply:
        """Records ``req`` and computes the answer: a scripted reply first, else :meth:`answer`
        (a :class:`Reply` it raises is the answer too)."""
        self.before_lock(req)
        with self.lock:
            self.requests.append(req)
            queued = self._fails.get(self.endpoint_of(req))
            if queued:
                return queued.popleft()
            try:
                return self.answer(req)
            except Reply as reply:
                return reply

    @abstractmethod
    def endpoint_of(self, req: RequestT) -> str:
        """The endpoint name scripted failures are keyed by."""

    @abstractmethod
    def answer(self, req: RequestT) -> Reply:
        """The answer to ``req`` (lock held)."""

    @abstractmethod
    def parse(self, handler: BaseHTTPRequestHandler) -> RequestT:
        """The record of the request ``handler`` is serving (its body read)."""

    @abstractmethod
    def settings_env(self) -> dict[str, str]:
        """The endpoint settings (API base, authorize URL …) pointing at this fake."""


def read_body(handler: BaseHTTPRequestHandler) -> tuple[bytes, str]:
    """``(raw body, lower-case Content-Type without parameters)`` of the request being served."""
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    return raw, (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()


def json_body(raw: bytes) -> Any:
    """The JSON value of ``raw``, or None when it is not JSON."""
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _handler_for(fake: FakeOAuthServer[Any]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # fake.requests is the record; the default writes every request to stderr

        def _serve(self) -> None:
            reply = fake.handle(fake.parse(self))
            self.send_response(reply.status)
            if "_location" in reply.body:
                data, ctype = b"", "text/plain"
                self.send_header("Location", reply.body["_location"])
            elif "_html" in reply.body:
                data, ctype = reply.body["_html"].encode(), "text/html; charset=utf-8"
            elif reply.body.get("_empty"):
                data, ctype = b"", "text/plain"
            else:
                data, ctype = json.dumps(reply.body).encode(), fake.json_type
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

    return Handler
