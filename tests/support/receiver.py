"""A real HTTP receiver on loopback for delivery tests.

Delivery tests exercise the real aiohttp client, the SSRF resolver hook, timeouts and redirects, so
they need a real server rather than a mocked transport. ``Receiver`` runs ``aiohttp.web`` on
127.0.0.1 with an ephemeral port in a background thread with its own event loop, so synchronous
tests (and code under test running its own loop) can use it without sharing a loop.

    with Receiver() as r:
        r.script([Reply(status=500), Reply(status=503, headers={"Retry-After": "1"})])
        ...  # point a webhook at r.url and run the engine
        assert r.wait_for(3)
        statuses = [req.status for req in r.requests]

The hot path is kept minimal (no access log, one lock, no JSON parsing) because load tests send
thousands of requests per second through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web

__all__ = ["ReceivedRequest", "Receiver", "Reply"]

# Statuses that must not carry a body; aiohttp would otherwise send a body the client cannot frame.
_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(frozen=True)
class Reply:
    """How the receiver answers one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    #: Seconds to wait before answering: longer than the client's timeout simulates a hang.
    delay: float = 0.0


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the receiver saw it, recorded on arrival (before any reply delay)."""

    path: str
    #: Lower-cased names; a repeated header keeps its values joined by ", " (RFC 9110 §5.3).
    headers: dict[str, str]
    body: bytes
    #: ``time.monotonic()`` on arrival: use it to measure retry spacing.
    received_at: float
    #: ``time.time()`` on arrival: use it to compare with signature timestamps.
    wall: float
    method: str = "POST"
    #: The status the receiver chose for this request.
    status: int = 200
    query: str = ""


def _as_reply(item: Reply | int) -> Reply:
    # Allow ``r.script([500, 500, 200])`` as shorthand for plain status replies.
    if isinstance(item, Reply):
        return item
    if isinstance(item, int) and not isinstance(item, bool):
        return Reply(status=item)
    raise TypeError(f"expected Reply or int status, got {item!r}")


class Receiver:
    """A loopback HTTP server that records requests and answers as scripted.

    Every method is safe to call from any thread. ``start``/``stop`` are idempotent; the context
    manager calls them.
    """

    def __init__(
        self,
        *,
        path: str = "/hook",
        default: Reply | int = 200,
        script: Iterable[Reply | int] = (),
        host: str = "127.0.0.1",
    ) -> None:
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        self.path = path
        self.host = host
        self.port = 0
        self._default = _as_reply(default)
        self._script: deque[Reply] = deque(_as_reply(item) for item in script)
        self._requests: list[ReceivedRequest] = []
        # One condition guards both the script and the record, and wakes ``wait_for``.
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Receiver:
        """Start serving; returns once the port is bound."""
        if self._thread is not None:
            return self
        started = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_server())
            except BaseException as exc:  # surfaced to the starting thread below
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        thread = threading.Thread(target=run, name=f"receiver-{id(self):x}", daemon=True)
        self._loop = loop
        self._thread = thread
        thread.start()
        if not started.wait(timeout=10.0):
            raise RuntimeError("receiver did not start within 10 s")
        if failure:
            self._thread = None
            self._loop = None
            thread.join(timeout=5.0)
            raise failure[0]
        return self

    async def _start_server(self) -> None:
        # Tests post bodies up to a few MB; aiohttp's default limit is 1 MiB.
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # access_log=None: formatting a log line per request would dominate the hot path.
        # A short shutdown_timeout: stop() must not wait for scripted hangs to finish.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        # A large backlog: load tests open many connections at once.
        site = web.TCPSite(runner, self.host, 0, backlog=4096)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    def stop(self) -> None:
        """Stop serving and free the port. Recorded requests stay readable."""
        thread, loop, runner = self._thread, self._loop, self._runner
        if thread is None or loop is None:
            return
        if runner is not None and not loop.is_closed():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(runner), loop)
            # Best effort: whatever happens, the loop is stopped just below and the socket closed.
            with contextlib.suppress(Exception):
                future.result(timeout=10.0)
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10.0)
        self._thread = None
        self._loop = None
        self._runner = None

    @staticmethod
    async def _shutdown(runner: web.AppRunner) -> None:
        await runner.cleanup()
        # Handlers still sleeping through a scripted delay outlive the runner's graceful period;
        # cancel and reap them so closing the loop does not warn about destroyed pending tasks.
        current = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    # ------------------------------------------------------------------ addresses

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` without a path."""
        if not self.port:
            raise RuntimeError("receiver is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The hook URL, ``http://127.0.0.1:PORT/hook`` by default."""
        return self.base_url + self.path

    def url_for(self, path: str) -> str:
        """A URL on this receiver for another path (every path is served and recorded)."""
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    @staticmethod
    def refuse_url(path: str = "/hook") -> str:
        """A loopback URL on a port nothing listens on, for connection-refused tests.

        Binds an ephemeral port and closes it: the kernel will not hand it out again for a while,
        so the port stays unused for the length of a test in practice.
        """
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return f"http://127.0.0.1:{port}{path}"

    # ------------------------------------------------------------------ behaviour

    @property
    def default(self) -> Reply:
        """The reply used once the script is exhausted."""
        with self._cond:
            return self._default

    @default.setter
    def default(self, reply: Reply | int) -> None:
        self.set_default(reply)

    def set_default(self, reply: Reply | int) -> None:
        """Set the reply used once the script is exhausted."""
        value = _as_reply(reply)
        with self._cond:
            self._default = value

    def script(self, responses: Iterable[Reply | int]) -> None:
        """Replace the script: replies consumed one per request, in arrival order."""
        replies = [_as_reply(item) for item in responses]
        with self._cond:
            self._script = deque(replies)

    @property
    def pending_script(self) -> int:
        """How many scripted replies have not been used yet."""
        with self._cond:
            return len(self._script)

    # ------------------------------------------------------------------ record

    @property
    def requests(self) -> list[ReceivedRequest]:
        """A snapshot of the requests recorded so far, in arrival order."""
        with self._cond:
            return list(self._requests)

    @property
    def count(self) -> int:
        """How many requests have been recorded."""
        with self._cond:
            return len(self._requests)

    def requests_for(self, path: str) -> list[ReceivedRequest]:
        """The recorded requests for one path."""
        return [req for req in self.requests if req.path == path]

    def clear(self) -> None:
        """Forget recorded requests (the script and default are kept)."""
        with self._cond:
            self._requests.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` requests are recorded; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._requests) >= count, timeout=timeout)

    # ------------------------------------------------------------------ server side

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        received_at = time.monotonic()
        wall = time.time()
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        with self._cond:
            reply = self._script.popleft() if self._script else self._default
            self._requests.append(
                ReceivedRequest(
                    path=request.path,
                    headers=headers,
                    body=body,
                    received_at=received_at,
                    wall=wall,
                    method=request.method,
                    status=reply.status,
                    query=request.query_string,
                )
            )
            self._cond.notify_all()
        if reply.delay > 0:
            await asyncio.sleep(reply.delay)
        if reply.status in _NO_BODY_STATUSES:
            return web.Response(status=reply.status, headers=reply.headers)
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)
