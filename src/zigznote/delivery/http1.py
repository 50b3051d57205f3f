"""The delivery engine's HTTP/1.1 client: keep-alive POSTs, llhttp parsing, SSRF guard at connect.

The engine sends one kind of request, a POST of a small JSON body whose answer matters
only by its status line (plus ``Location``, ``Retry-After`` and a bounded excerpt for the
attempt log). A general-purpose client pays for everything else on every request:
measured on the benchmark machine (docs/benchmarks.md, ``python bench/engine.py http``),
aiohttp's client costs 87 to 89 µs of CPU per request in a bare loop where this one costs
32 to 35 µs, and the engine's whole-process CPU per delivery fell from about 500 µs to about
185 µs when it switched. This module does only what a webhook POST needs, on asyncio's
transports, with response parsing by llhttp (``httptools``, the parser of uvicorn and
Node.js), so the bytes are never parsed by our own code.

What it does:

* one pool of idle keep-alive connections per origin (scheme, host, port), most recently
  used first, dropped after :data:`IDLE_SECONDS`; a request that finds its reused
  connection closed by the server before any byte of an answer is sent once more on a new
  connection (the server closed an idle connection; it never saw the request);
* the SSRF guard on every address a host name resolves to, *at connect time* (a name that
  re-points to a private address after the webhook was created is refused), with a short
  DNS cache (:data:`DNS_TTL`);
* a total timeout for connecting, sending and the status line, then at most
  ``excerpt_seconds`` for the rest of the body (the status decides the outcome; a
  receiver that answers 200 and stalls got the event). A connection whose answer did not
  complete is closed, never reused;
* informational (1xx) answers skipped; redirects never followed (the caller sees 3xx).

Errors: :class:`ConnectFailed` (DNS, refused, unreachable, TLS handshake), ``TimeoutError``,
:class:`ProtocolFailed` (invalid HTTP, connection closed before an answer), and the
guard's ``InvalidInput``. Nothing else escapes except ``CancelledError`` (the connection
in use is then closed).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import httptools
from yarl import URL

from zigznote.delivery.result import RESPONSE_EXCERPT_BYTES
from zigznote.webhooks.ssrf import AllowNets, check_address

__all__ = ["DNS_TTL", "IDLE_SECONDS", "ConnectFailed", "Http1Client", "ProtocolFailed", "Response"]

#: How long a resolved host's addresses are reused (seconds).
DNS_TTL = 10.0
#: How long an idle keep-alive connection is kept (seconds); servers commonly close after 5 to 75 s.
IDLE_SECONDS = 30.0
#: Idle connections kept per origin (the engine's concurrency bounds the active ones).
MAX_IDLE_PER_ORIGIN = 256


class ConnectFailed(Exception):
    """No connection: DNS failure, refused, unreachable, or TLS handshake failure."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProtocolFailed(Exception):
    """The connection broke or the server spoke invalid HTTP before a status line."""


class _Lost(Exception):
    """The connection closed before any byte of an answer (may be a stale keep-alive)."""


@dataclass(frozen=True, slots=True)
class Response:
    """What the engine keeps of an answer: status, two headers and a bounded excerpt."""

    status: int
    location: str | None
    retry_after: str | None
    excerpt: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.body = bytearray()
        self.received = False
        self.complete = False
        self.informational = False
        self.head_ready: asyncio.Future[None] | None = None
        self.done: asyncio.Future[None] | None = None

    def begin(self, loop: asyncio.AbstractEventLoop) -> None:
        self.status = 0
        self.headers = {}
        self.body = bytearray()
        self.received = self.complete = self.informational = False
        self.head_ready = loop.create_future()
        self.done = loop.create_future()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol ----------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.done is None or self.done.done():
            self.close()  # bytes nobody asked for: a confused server; never reuse
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ProtocolFailed(f"invalid HTTP response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.head_ready is not None and not self.head_ready.done():
            error = ProtocolFailed("connection closed before an answer") if self.received else _Lost()
            self.head_ready.set_exception(error)
        if self.done is not None and not self.done.done():
            self.done.set_result(None)  # an answer without length ends with the connection

    def _fail(self, error: Exception) -> None:
        if self.head_ready is not None and not self.head_ready.done():
            self.head_ready.set_exception(error)
        if self.done is not None and not self.done.done():
            self.done.set_result(None)

    # -- llhttp callbacks ----------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            self.informational = True  # 100 Continue, 103 Early Hints: the answer follows
            self.headers = {}
            return
        self.status = status
        if self.head_ready is not None and not self.head_ready.done():
            self.head_ready.set_result(None)

    def on_body(self, chunk: bytes) -> None:
        room = RESPONSE_EXCERPT_BYTES - len(self.body)
        if room > 0:
            self.body += chunk[:room]

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
            return
        self.complete = True
        if not self.parser.should_keep_alive():
            self.close()
        if self.done is not None and not self.done.done():
            self.done.set_result(None)


def _host_header(url: URL) -> str:
    host = url.raw_host or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{url.explicit_port}" if url.explicit_port is not None else host


def _head(url: URL, headers: Mapping[str, str], length: int) -> bytes:
    lines = [f"POST {url.raw_path_qs or '/'} HTTP/1.1\r\nhost: {_host_header(url)}\r\ncontent-length: {length}\r\n"]
    for name, value in headers.items():
        lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    text = "".join(lines)
    # Header names and values come from our code and from validated webhook settings; a CR,
    # LF or NUL would still split the request, so the count of line breaks must match.
    if text.count("\n") != len(headers) + 4 or "\x00" in text:
        raise ProtocolFailed("a request header contains a line break or NUL; not sent")
    return text.encode("utf-8")


def _excerpt(conn: _Connection) -> bytes:
    raw = bytes(conn.body)
    encoding = conn.headers.get(b"content-encoding", b"").strip().lower()
    if raw and encoding in (b"gzip", b"deflate"):
        try:  # wbits 47: gzip or zlib header, detected
            return zlib.decompressobj(47).decompress(raw, RESPONSE_EXCERPT_BYTES)
        except zlib.error:
            return raw
    return raw


def _latin1(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


class Http1Client:
    """Keep-alive HTTP/1.1 POSTs with the SSRF guard; use as an async context manager.

    ``timeout`` (seconds) bounds connect + send + status line; ``connect_timeout`` the
    TCP/TLS connect alone; ``excerpt_seconds`` the wait for the body once the status has
    arrived. ``allow_nets`` opens the guard for development and tests.
    """

    def __init__(
        self,
        *,
        allow_nets: AllowNets = None,
        timeout: float = 15.0,
        connect_timeout: float = 10.0,
        excerpt_seconds: float = 1.0,
    ) -> None:
        self.allow_nets = allow_nets
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self.excerpt_seconds = excerpt_seconds
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._ssl: ssl.SSLContext | None = None

    async def __aenter__(self) -> Http1Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every idle connection (in-flight ones close when their request ends)."""
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    async def post(
        self, url: URL, body: bytes, headers: Mapping[str, str], *, timeout: float | None = None
    ) -> Response:
        """POST ``body`` to ``url`` and return the answer's :class:`Response`.

        Raises ConnectFailed, TimeoutError, ProtocolFailed or InvalidInput (the guard).
        """
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise ConnectFailed(f"unsupported URL {str(url)[:200]!r}")
        head = _head(url, headers, len(body))
        total = self.timeout if timeout is None else timeout
        origin = (url.scheme, url.raw_host, url.port or (443 if url.scheme == "https" else 80))
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(total):
            conn, reused = await self._acquire(origin, loop)
            try:
                await self._exchange(conn, head, body, loop)
            except _Lost:
                if not reused:
                    raise ProtocolFailed("connection closed before an answer") from None
                conn = await self._connect(origin)  # the server dropped an idle connection
                await self._exchange(conn, head, body, loop)
        try:
            if not conn.complete:
                assert conn.done is not None
                await asyncio.wait_for(asyncio.shield(conn.done), self.excerpt_seconds)
        except TimeoutError:
            pass  # the status decides; the excerpt is what arrived
        except BaseException:
            conn.close()
            raise
        if conn.complete and not conn.closed:
            self._release(origin, conn)
        else:
            conn.close()
        return Response(
            conn.status,
            _latin1(conn.headers.get(b"location")),
            _latin1(conn.headers.get(b"retry-after")),
            _excerpt(conn),
        )

    async def _exchange(self, conn: _Connection, head: bytes, body: bytes, loop: asyncio.AbstractEventLoop) -> None:
        conn.begin(loop)
        assert conn.transport is not None and conn.head_ready is not None
        try:
            conn.transport.write(head + body)
            await conn.head_ready
        except BaseException:
            conn.close()
            raise

    # -- connections ---------------------------------------------------------
    async def _acquire(self, origin: tuple[str, str, int], loop: asyncio.AbstractEventLoop) -> tuple[_Connection, bool]:
        idle = self._idle.get(origin)
        now = loop.time()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE_SECONDS:
                return conn, True
            conn.close()
        return await self._connect(origin), False

    def _release(self, origin: tuple[str, str, int], conn: _Connection) -> None:
        conn.idle_since = asyncio.get_running_loop().time()
        idle = self._idle.setdefault(origin, [])
        idle.append(conn)
        if len(idle) > MAX_IDLE_PER_ORIGIN:
            idle.pop(0).close()

    async def _connect(self, origin: tuple[str, str, int]) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls = self._tls() if scheme == "https" else None
        reason = "no address"
        for address in await self._resolve(host, port):
            try:
                async with asyncio.timeout(self.connect_timeout):
                    _, conn = await loop.create_connection(
                        _Connection, address, port, ssl=tls, server_hostname=host if tls else None
                    )
                return conn
            except ssl.SSLError as exc:
                raise ConnectFailed(f"TLS handshake with {host} failed: {exc.reason or exc}") from None
            except OSError as exc:
                # asyncio's message ("Connect call failed ('1.2.3.4', 443)") hides the errno's name.
                reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc) or type(exc).__name__)
        raise ConnectFailed(reason)

    async def _resolve(self, host: str, port: int) -> list[str]:
        """The addresses to try, every one allowed by the guard (else InvalidInput)."""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            check_address(literal, self.allow_nets)
            return [host]
        now = time.monotonic()
        cached = self._dns.get((host, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ConnectFailed(f"cannot resolve {host}: {exc.strerror or exc}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            check_address(address, self.allow_nets)  # any disallowed address refuses the host
        self._dns[(host, port)] = (now + DNS_TTL, addresses)
        return addresses

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:  # created on first https use: building one costs ~20 ms
            self._ssl = ssl.create_default_context()
        return self._ssl
