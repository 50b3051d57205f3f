"""The core of ``zigznote webhooks listen``: a development receiver for outbound webhooks.

A developer points a webhook at this server to watch deliveries arrive, check signatures the way
their own receiver would, and rehearse failure handling (``fail_rate``, ``fail_status``,
``delay``) without writing a server. The CLI wrapper parses options, calls :func:`serve` and
renders each :class:`ReceivedEvent`; everything that touches HTTP lives here, so the CLI never
imports aiohttp.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import math
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from aiohttp import web

from zigznote.errors import InvalidInput, SignatureInvalid
from zigznote.timeutil import utcnow
from zigznote.untrusted import load_json
from zigznote.webhooks import signing
from zigznote.webhooks.hosts import encode_host, parse_ipv4_literal

__all__ = ["ListenOptions", "ReceivedEvent", "SignatureState", "bind_host", "serve"]

log = logging.getLogger(__name__)

SignatureState = Literal["valid", "invalid", "unchecked"]

# Large enough for any event envelope we send; small enough that a stray upload cannot eat memory.
_MAX_BODY = 16 * 1024 * 1024
# Statuses that must not carry a body.
_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass
class ListenOptions:
    """What the development receiver listens on and how it answers."""

    host: str = "127.0.0.1"
    port: int = 8787
    #: Only this path is served (others get 404, still reported); ``None`` serves every path.
    path: str | None = None
    #: ``whsec_…`` secret; when set every request's signature is checked.
    secret: str | None = None
    #: Status for a request that is not chosen to fail.
    status: int = 200
    #: Probability in [0, 1] that a request is answered with ``fail_status`` instead.
    fail_rate: float = 0.0
    fail_status: int = 500
    #: Answer ``fail_status`` to the first N requests served, whatever ``fail_rate`` says: a
    #: retry rehearsed deterministically (``zigznote demo`` uses 1).
    fail_first: int = 0
    #: Seconds to wait before replying (exercise the sender's timeout).
    delay: float = 0.0
    #: Signature timestamp tolerance in seconds (Standard Webhooks default: 5 minutes).
    tolerance: int = 300
    #: Answer 401 to a request whose signature is invalid, as a real receiver would, instead of
    #: the configured status. Off by default so the listener only observes.
    reject_invalid: bool = False

    def validate(self) -> None:
        """Raise :class:`InvalidInput` for options that cannot work."""
        if not isinstance(self.port, int) or not (0 <= self.port <= 65535):
            raise InvalidInput(f"invalid port {self.port!r}: must be between 0 and 65535")
        if self.path is not None and not self.path.startswith("/"):
            raise InvalidInput(f"invalid path {self.path!r}: must start with '/'", hint="for example --path /hook")
        for name in ("status", "fail_status"):
            value = getattr(self, name)
            if not isinstance(value, int) or not (200 <= value <= 599):
                raise InvalidInput(
                    f"invalid {name.replace('_', '-')} {value!r}: must be an HTTP status between 200 and 599"
                )
        if not isinstance(self.fail_first, int) or self.fail_first < 0:
            raise InvalidInput(f"invalid fail-first {self.fail_first!r}: must be zero or more requests")
        if not (0.0 <= self.fail_rate <= 1.0):
            raise InvalidInput(f"invalid fail rate {self.fail_rate!r}: must be between 0 and 1")
        if not math.isfinite(self.delay) or self.delay < 0:
            raise InvalidInput(f"invalid delay {self.delay!r}: must be zero or more seconds")
        if self.tolerance < 0:
            raise InvalidInput(f"invalid tolerance {self.tolerance!r}: must not be negative")
        if self.secret is not None:
            # Fail at start-up on a mistyped secret rather than marking every request invalid;
            # the same rules as `webhooks verify` (base64, 24-64 bytes of key material).
            signing.decode_secret(self.secret)
        bind_host(self.host)


@dataclass
class ReceivedEvent:
    """One request the listener received and how it answered."""

    #: Arrival time, naive UTC.
    time: datetime
    method: str
    path: str
    #: ``webhook-id`` header (stable across retries of one message), if present.
    webhook_id: str | None
    #: ``type`` from the JSON body, if the body is a JSON object with a string ``type``.
    event_type: str | None
    #: Body size in bytes.
    size: int
    signature: SignatureState
    #: Why the signature is invalid, or why the request was not served; ``None`` otherwise.
    reason: str | None
    status_returned: int


def _event_type(body: bytes) -> str | None:
    # Best effort: the listener must report any request, including non-JSON ones.
    if not body.lstrip().startswith(b"{"):
        return None
    try:
        # The one input parser: 40 KB of nesting is "not an event", not a RecursionError.
        document = load_json(body, where="request body")
    except InvalidInput:
        return None
    if isinstance(document, dict):
        value = document.get("type")
        if isinstance(value, str):
            return value
    return None


_BIND_HINT = "use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or an address of this machine"


def bind_host(host: str) -> str:
    """The address or ASCII host name to bind for ``--host``; InvalidInput if it cannot be one.

    IP literals pass as they are; a numeric host that is no valid IPv4 address (``999.1.1.1``)
    is refused here rather than by the resolver; a name is encoded like webhook hosts are
    (IDNA 2008, never Python's IDNA 2003 codec, which could bind a different name).
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    try:
        if parse_ipv4_literal(text) is not None:
            return text
        return encode_host(text[:-1] if text.endswith(".") else text)
    except InvalidInput as exc:
        raise InvalidInput(f"invalid --host {host!r}: {exc.message}", hint=_BIND_HINT) from None


def _bind_error(options: ListenOptions, exc: OSError) -> InvalidInput:
    """Why the socket could not be bound, with advice that fits that reason."""
    where = f"{options.host}:{options.port}"
    reason = exc.strerror or str(exc)
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return InvalidInput(
            f"cannot listen on {where}: {options.host} is not an address of this machine ({reason})",
            hint=_BIND_HINT,
        )
    if exc.errno == errno.EADDRINUSE:
        return InvalidInput(
            f"cannot listen on {where}: {reason}",
            hint="pick another --port (0 picks a free one) or stop the process using it",
        )
    if exc.errno == errno.EACCES:
        return InvalidInput(
            f"cannot listen on {where}: {reason}",
            hint="ports below 1024 need privileges: pick a higher --port such as 8787 (0 picks a free one)",
        )
    return InvalidInput(f"cannot listen on {where}: {reason}")


def _make_handler(
    options: ListenOptions, on_event: Callable[[ReceivedEvent], None]
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    served = [0]  # requests on the served path so far (one event loop: no lock needed)

    async def handle(request: web.Request) -> web.StreamResponse:
        arrived = utcnow()
        body = await request.read()
        signature: SignatureState = "unchecked"
        reason: str | None = None

        if options.path is not None and request.path != options.path:
            status = 404
            reason = f"path {request.path} is not served (listening on {options.path})"
        else:
            if options.secret is not None:
                try:
                    signing.verify(options.secret, request.headers, body, tolerance=options.tolerance)
                    signature = "valid"
                except SignatureInvalid as exc:
                    signature = "invalid"
                    reason = exc.message
            served[0] += 1
            if signature == "invalid" and options.reject_invalid:
                status = 401
            elif served[0] <= options.fail_first or (options.fail_rate > 0 and random.random() < options.fail_rate):
                status = options.fail_status
            else:
                status = options.status

        if options.delay > 0:
            await asyncio.sleep(options.delay)

        if status in _NO_BODY_STATUSES:
            response = web.Response(status=status)
        else:
            text = "ok" if 200 <= status <= 299 else (reason or "simulated failure")
            response = web.Response(status=status, text=text + "\n")
        try:
            # Send the reply before reporting, so a slow on_event (a terminal) never delays the
            # sender and the report reflects what was actually sent.
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:
            # The sender gave up (timeout) during the delay; the request still happened.
            log.debug("client disconnected before the reply to %s", request.path)

        on_event(
            ReceivedEvent(
                time=arrived,
                method=request.method,
                path=request.path,
                webhook_id=request.headers.get(signing.HEADER_ID),
                event_type=_event_type(body),
                size=len(body),
                signature=signature,
                reason=reason,
                status_returned=status,
            )
        )
        return response

    return handle


async def serve(
    options: ListenOptions,
    on_event: Callable[[ReceivedEvent], None],
    *,
    stop: asyncio.Event,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve until ``stop`` is set, calling ``on_event`` for every request received.

    ``on_event`` runs on the event loop after the reply has been sent, so it should be quick
    (print a line). ``ready(port)`` is called once, after the socket is bound, with the real port
    (useful with ``port=0``). Raises :class:`InvalidInput` for bad options or an address that
    cannot be bound.
    """
    options.validate()
    app = web.Application(client_max_size=_MAX_BODY)
    app.router.add_route("*", "/{tail:.*}", _make_handler(options, on_event))
    # No access log (the CLI renders events itself); a short shutdown so Ctrl-C is prompt even
    # while delayed replies are pending.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, bind_host(options.host), options.port)
        try:
            await site.start()
        except OSError as exc:
            raise _bind_error(options, exc) from None
        if ready is not None:
            addresses = runner.addresses
            port = int(addresses[0][1]) if addresses else options.port
            ready(port)
        await stop.wait()
    finally:
        await runner.cleanup()
        # Closing a transport only schedules the socket close on the loop; give it one turn so
        # serve() leaves no open socket behind even if the caller closes its loop right away.
        await asyncio.sleep(0)
