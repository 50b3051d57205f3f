"""The one-shot OAuth callback server on the redirect URI's loopback address.

:func:`wait_for_code` binds the host and fixed port of the configured redirect URI (http, or https
with :mod:`zigznote.integrations.tls`), lets the caller open the browser, and returns the code of
the one GET on the exact callback path with the expected ``state`` (RFC 6749 section 10.12: the
redirect is bound to this attempt through ``state``). Everything else a browser sends meanwhile
(favicon, HEAD, prefetches, other paths, a wrong or missing ``state`` with or without
``code``/``error``) is answered with a small page and ignored; a wrong state is also told to the
caller (``on_stray``), so the terminal does not stay silent while a browser says "Not this sign-in".

Shape after ``google_auth_oauthlib``'s ``run_local_server`` (bind first so a taken port fails
fast; a small page after the redirect), but each connection is served in its own thread with a
socket timeout (TLS handshake included), so an idle preconnect or a client that sends nothing
never blocks the real callback. Every socket is closed on every exit path.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import os
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from zigznote.errors import ConfigError, Conflict, ProviderError, ZigznoteError
from zigznote.integrations.callback_page import CONNECTION_TIMEOUT, CallbackHandler, access_denied
from zigznote.integrations.tls import TlsFiles, server_context

__all__ = ["CONNECTION_TIMEOUT", "CallbackTarget", "access_denied", "callback_target", "wait_for_code"]

log = logging.getLogger(__name__)

#: Seconds between two ``on_stray`` calls: a tab reloading a stale redirect says it once, not per request.
STRAY_NOTICE_INTERVAL = 5.0
# Connections served at once; more are closed at once (a browser opens a handful).
_MAX_CONNECTIONS = 32
_BACKLOG = 16


@dataclass(frozen=True)
class CallbackTarget:
    """Where the callback server listens: from the redirect URI, addresses to bind."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @property
    def display(self) -> str:
        """``host:port`` as in a URL (``[::1]:8765``)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def callback_target(redirect_uri: str) -> CallbackTarget:
    """Parse a redirect URI into the loopback addresses and port to listen on.

    ``localhost`` means 127.0.0.1 and ::1 (browsers may resolve it to either); an IP literal
    must be a loopback address and is bound alone. Raises :class:`ConfigError`:
    ``redirect_uri_invalid`` (not an http/https URL with a valid port) or
    ``redirect_not_loopback`` (any other host).
    """
    parts = urlsplit(redirect_uri)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        port = -1
    if scheme not in ("http", "https") or not parts.hostname or port <= 0:
        raise ConfigError(
            f"the redirect URI {redirect_uri!r} is not an http(s) URL with a valid port",
            hint="a redirect URI looks like https://localhost:8765/callback",
            code="redirect_uri_invalid",
        )
    host = parts.hostname.lower()
    addresses: tuple[str, ...] = ("127.0.0.1", "::1") if host == "localhost" else ()
    with contextlib.suppress(ValueError):
        if host != "localhost" and ipaddress.ip_address(host).is_loopback:
            addresses = (str(ipaddress.ip_address(host)),)
    if not addresses:
        raise ConfigError(
            f"the redirect URI's host {host!r} is not a loopback address: the callback server only "
            "listens on this machine",
            hint="use http(s)://localhost:PORT/... (register it with the provider), or --no-browser to paste "
            "the redirect URL instead",
            code="redirect_not_loopback",
        )
    return CallbackTarget(scheme=scheme, host=host, port=port, path=parts.path or "/", addresses=addresses)


def wait_for_code(
    redirect_uri: str,
    *,
    state: str,
    timeout: float,
    tls: TlsFiles | None,
    ready: Callable[[], None] | None = None,
    on_stray: Callable[[], None] | None = None,
) -> str:
    """Serve the redirect URI until the authorization code for ``state`` arrives; return it.

    The sockets are bound before ``ready`` runs; ``ready`` (which opens the browser) runs once in
    its own thread, so a browser command that waits for the page to load cannot block the server;
    an exception it raises is logged and ignored. ``timeout`` is in seconds. https needs ``tls``.
    ``on_stray`` runs (in a connection's thread, before the browser gets its "Not this sign-in"
    page) when a GET on the callback path carries a missing or different ``state``: another
    sign-in's redirect, a stale tab. At most once per :data:`STRAY_NOTICE_INTERVAL` seconds and
    never once the wait is over; an exception it raises is logged and ignored.

    Raises: :class:`ConfigError` (``redirect_uri_invalid``, ``redirect_not_loopback``,
    ``tls_required``, ``tls_invalid``, ``tls_unreadable``, ``bind_failed``, and ``access_denied``
    when the provider redirected with ``error=`` and the right state), :class:`Conflict`
    (``port_in_use``), :class:`InvalidInput` (``missing_code``), :class:`ProviderError`
    (``authorization_timeout``). ``KeyboardInterrupt`` propagates; the port is free again after
    any of these.
    """
    target = callback_target(redirect_uri)
    if target.scheme == "https" and tls is None:
        raise ConfigError("an https redirect URI needs a TLS certificate (TlsFiles)", code="tls_required")
    context = server_context(tls) if target.scheme == "https" and tls is not None else None
    callback = _Callback(path=target.path, state=state, context=context, on_stray=on_stray)
    with contextlib.ExitStack() as cleanup:
        # Closed in reverse order: connections, listeners, selector, wake-up pair.
        wake_r, wake_w = socket.socketpair()
        cleanup.callback(wake_r.close)
        cleanup.callback(wake_w.close)
        callback.wake = wake_w
        selector = cleanup.enter_context(selectors.DefaultSelector())
        selector.register(wake_r, selectors.EVENT_READ)
        for sock in _bind(target, cleanup):
            selector.register(sock, selectors.EVENT_READ)
        cleanup.callback(callback.close_connections)
        if ready is not None:
            threading.Thread(target=_run_ready, args=(ready,), name="oauth-ready", daemon=True).start()
        deadline = time.monotonic() + timeout
        while not callback.done.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderError(
                    f"no authorization reached {redirect_uri} within {timeout:g} s",
                    hint="run the connect command again and approve the request in the browser; "
                    "without a local browser use --no-browser",
                    code="authorization_timeout",
                )
            for key, _events in selector.select(remaining):
                if key.fileobj is not wake_r:
                    with contextlib.suppress(OSError):  # the peer gave up before accept, or no fds left
                        callback.serve(key.fileobj.accept()[0])  # type: ignore[union-attr]
    if isinstance(callback.outcome, ZigznoteError):
        raise callback.outcome
    assert isinstance(callback.outcome, str)
    return callback.outcome


def _run_ready(ready: Callable[[], None]) -> None:
    try:
        ready()
    except Exception:  # the user can still open the printed URL by hand
        log.warning("opening the browser failed", exc_info=True)


def _bind(target: CallbackTarget, cleanup: contextlib.ExitStack) -> list[socket.socket]:
    """Listening, non-blocking sockets on every address of ``target``, each closed by ``cleanup``.

    For ``localhost``, ::1 is skipped when this machine has no IPv6 loopback.
    """
    listeners: list[socket.socket] = []
    for address in target.addresses:
        ipv6 = ":" in address
        optional = ipv6 and target.host == "localhost"
        try:
            sock = cleanup.enter_context(socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET))
            if os.name != "nt":
                # Lets a rerun bind while old connections sit in TIME_WAIT; on Linux and the BSDs
                # a socket still listening on the port keeps refusing us (port_in_use). On Windows
                # the option would allow taking over a live port, so it stays off there.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if ipv6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address, target.port))
            sock.listen(_BACKLOG)
            sock.setblocking(False)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Conflict(
                    f"cannot listen on {target.display} for the OAuth callback: the port is in use",
                    hint="stop the other process using it, or change the port in the redirect URI "
                    "(and register that URI with the provider)",
                    code="port_in_use",
                ) from None
            if optional and exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                continue
            privileged = exc.errno == errno.EACCES
            raise ConfigError(
                f"cannot listen on {target.display} for the OAuth callback ({exc.strerror or exc})",
                hint="ports below 1024 need privileges: use a higher port in the redirect URI" if privileged else None,
                code="bind_failed",
            ) from None
        listeners.append(sock)
    return listeners


class _Callback:
    """The state shared by the accepting loop and the connection threads."""

    def __init__(
        self, *, path: str, state: str, context: ssl.SSLContext | None, on_stray: Callable[[], None] | None = None
    ) -> None:
        self.path = path
        self.state = state
        self.context = context
        self.on_stray = on_stray
        self._stray_at: float | None = None  # monotonic time of the last on_stray call
        self.done = threading.Event()
        self.outcome: str | ZigznoteError | None = None
        self.wake: socket.socket | None = None
        self._claimed = False
        self._closing = False
        self._lock = threading.Lock()
        # File descriptors of open connections. A thread removes its fd under the lock *before*
        # closing it, so close_connections() never shuts down a reused descriptor.
        self._fds: set[int] = set()
        self._threads: list[threading.Thread] = []

    def serve(self, conn: socket.socket) -> None:
        """Hand an accepted connection to a thread (or close it when too many are open)."""
        with self._lock:
            if self._closing or len(self._fds) >= _MAX_CONNECTIONS:
                conn.close()
                return
            self._fds.add(conn.fileno())
            self._threads = [t for t in self._threads if t.is_alive()]
            thread = threading.Thread(target=self._connection, args=(conn,), name="oauth-callback", daemon=True)
            self._threads.append(thread)
        thread.start()

    def _connection(self, conn: socket.socket) -> None:
        fd = conn.fileno()
        sock: socket.socket = conn
        try:
            conn.setblocking(True)
            conn.settimeout(CONNECTION_TIMEOUT)
            if self.context is not None:
                # The same descriptor moves into the SSLSocket; the handshake uses the timeout.
                sock = self.context.wrap_socket(conn, server_side=True)
            CallbackHandler(sock, ("", 0), self)  # type: ignore[arg-type]  # BaseRequestHandler wants a server
        except (OSError, ValueError):
            # Timeouts, resets, a browser refusing the certificate (TLS alert), or a socket shut
            # down by close_connections(): nothing to answer.
            pass
        finally:
            with self._lock:
                self._fds.discard(fd)
            sock.close()
            conn.close()

    def claim(self) -> bool:
        """True exactly once: the first request that ends the wait."""
        with self._lock:
            first, self._claimed = not self._claimed, True
            return first

    def stray(self) -> None:
        """Tell ``on_stray`` of a redirect with another state, unless it was told less than
        :data:`STRAY_NOTICE_INTERVAL` seconds ago or the wait is over."""
        if self.on_stray is None:
            return
        now = time.monotonic()
        with self._lock:
            if self._claimed or (self._stray_at is not None and now - self._stray_at < STRAY_NOTICE_INTERVAL):
                return
            self._stray_at = now
        try:
            self.on_stray()
        except Exception:  # saying so is a courtesy: the wait goes on regardless
            log.warning("reporting an ignored redirect failed", exc_info=True)

    def finish(self, outcome: str | ZigznoteError) -> None:
        self.outcome = outcome
        self.done.set()
        if self.wake is not None:
            with contextlib.suppress(OSError):
                self.wake.send(b"x")

    def close_connections(self) -> None:
        """Shut down every open connection (waking threads blocked in recv), wait for them briefly."""
        with self._lock:
            self._closing = True
            for fd in self._fds:
                sock = socket.socket(fileno=fd)
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.detach()  # the thread owning the descriptor closes it
            threads = list(self._threads)
        deadline = time.monotonic() + 2.0
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
