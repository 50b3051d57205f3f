"""``zigznote billing serve``: the HTTP receiver of payment providers' webhooks (aiohttp.web).

Routes: ``POST /billing/webhooks/<provider>`` (``stripe``, ``flutterwave`` once registered, any
registered provider: one path for all) and ``GET /healthz`` (200 while the database answers,
else 503). Everything else is 404 (405 for another method on a known path).

What each answer says, and nothing more (no stack trace, secret, provider error or internal
detail ever reaches a body; the reason goes to the access record and the event's row):

======  ==========================================================================================
200     ``{"received": true}``: stored and applied, ignored (no handler, not ours) or a duplicate
400     ``{"error": "invalid signature"}`` / ``{"error": "invalid event"}``: nothing stored
404     ``{"error": "not found"}`` (also ``/billing/webhooks/<a provider not registered>``);
        ``{"error": "provider not configured"}``: its keys or webhook secret are not set
413     ``{"error": "request body too large"}``: over :data:`MAX_BODY` (1 MiB)
500     ``{"error": "event not applied"}``: stored, a handler failed (the provider retries;
        ``billing events replay``); ``{"error": "internal error"}``: a bug
503     ``{"error": "temporarily unavailable"}``: the database cannot be reached
======  ==========================================================================================

The work of one request (verify, store, apply: blocking database and provider calls) runs in a
thread pool of ``workers`` threads, so the event loop keeps accepting. Each request produces one
access record (a dict, :data:`AccessRecord`) for the caller to print. :func:`serve` returns when
``stop`` is set: the listening socket closes, requests in flight finish (up to ``grace``
seconds), then the pool drains.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from zigznote.errors import (
    ConfigError,
    DatabaseUnavailable,
    InvalidInput,
    ProviderError,
    SignatureInvalid,
    ZigznoteError,
)
from zigznote.timeutil import iso, utcnow
from zigznote.webhooks.listen import bind_host

__all__ = ["MAX_BODY", "WEBHOOK_PATH", "AccessRecord", "Ingest", "ServeOptions", "make_app", "serve"]

log = logging.getLogger(__name__)

#: Largest body accepted, in bytes: provider events are a few KB (Stripe's largest a few 100 KB).
MAX_BODY: Final = 1024 * 1024
WEBHOOK_PATH: Final = "/billing/webhooks/{provider}"
_PROVIDER_PATTERN: Final = "[a-z][a-z0-9_]{0,31}"
_SERVER: Final = "zigznote"
# The access record of the request being handled: the middleware and the handler run in one task.
_RECORD: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("billing_serve_record")

#: ``ingest(provider, raw body, headers) -> outcome`` (``services.billing.events`` JSON, with
#: ``outcome``); raises ZigznoteError: SignatureInvalid, InvalidInput, ConfigError, …
Ingest = Callable[[str, bytes, Mapping[str, str]], Mapping[str, Any]]
#: ``{"time", "remote", "method", "path", "status", "ms", "bytes", "provider", "event", "outcome",
#: "reason"}``: one per request; ``reason`` says why it was refused or failed (never a secret).
AccessRecord = dict[str, Any]

_MESSAGES: Final = {
    400: "bad request",
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
    500: "internal error",
    503: "temporarily unavailable",
}


@dataclass
class ServeOptions:
    """Where to listen and how: ``grace`` seconds for requests in flight at a stop; ``workers``
    threads doing the blocking work."""

    host: str = "127.0.0.1"
    port: int = 8790
    grace: float = 30.0
    workers: int = 8

    def validate(self) -> None:
        """Raise InvalidInput for a port, host, grace or pool size that cannot work."""
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise InvalidInput(f"invalid port {self.port!r}: must be between 0 and 65535")
        if not 0 <= self.grace <= 3600:
            raise InvalidInput(f"invalid grace {self.grace!r}: 0 to 3600 seconds")
        if not 1 <= self.workers <= 256:
            raise InvalidInput(f"invalid workers {self.workers!r}: 1 to 256")
        bind_host(self.host)


def _answer(status: int, error: str | None = None, **headers: str) -> web.Response:
    body: dict[str, Any] = {"received": True} if error is None else {"error": error}
    response = web.json_response(body, status=status, headers=headers or None)
    response.headers["Server"] = _SERVER  # not aiohttp's name and version
    return response


def _refusal(exc: ZigznoteError) -> tuple[int, str]:
    """The status and body message for an error ``ingest`` raised."""
    if isinstance(exc, SignatureInvalid):
        return 400, "invalid signature"
    if isinstance(exc, InvalidInput):  # no such provider: a path like any other unknown one
        return (404, _MESSAGES[404]) if exc.code == "unknown_provider" else (400, "invalid event")
    if isinstance(exc, ConfigError):
        return 404, "provider not configured"
    if isinstance(exc, DatabaseUnavailable | ProviderError):
        return 503, _MESSAGES[503]
    return 500, _MESSAGES[500]


def make_app(
    ingest: Ingest,
    *,
    healthy: Callable[[], bool],
    on_request: Callable[[AccessRecord], None],
    executor: ThreadPoolExecutor,
) -> web.Application:
    """The aiohttp application (routes and answers: module docstring)."""

    async def in_pool(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    async def webhook(request: web.Request) -> web.StreamResponse:
        name = request.match_info["provider"]
        note: AccessRecord = _RECORD.get()
        note["provider"] = name
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
        body = await request.read()  # over client_max_size: HTTPRequestEntityTooLarge
        note["bytes"] = len(body)
        try:
            outcome = await in_pool(ingest, name, body, dict(request.headers))
        except ZigznoteError as exc:
            status, message = _refusal(exc)
            note["reason"] = exc.message
            return _answer(status, message)
        note.update(event=outcome.get("provider_event_id"), outcome=outcome.get("outcome"))
        if outcome.get("outcome") == "failed":
            note["reason"] = outcome.get("error")
            return _answer(500, "event not applied")
        return _answer(200)

    async def health(_request: web.Request) -> web.StreamResponse:
        ok = await in_pool(healthy)
        response = web.json_response({"status": "ok" if ok else "unavailable"}, status=200 if ok else 503)
        response.headers["Server"] = _SERVER
        return response

    @web.middleware
    async def guard(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.monotonic()
        record: AccessRecord = {
            "time": iso(utcnow()), "remote": request.remote, "method": request.method,
            "path": request.path[:300], "status": None, "ms": None, "bytes": None, "provider": None,
            "event": None, "outcome": None, "reason": None,
        }  # fmt: skip
        _RECORD.set(record)
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # no route (404), wrong method (405), too large (413)
            extra = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
            response = _answer(exc.status, _MESSAGES.get(exc.status, _MESSAGES[400]), **extra)
        except Exception as exc:
            log.exception("billing serve: %s %s failed", request.method, request.path)
            record["reason"] = f"internal error ({type(exc).__name__})"
            response = _answer(500, _MESSAGES[500])
        record["status"] = response.status
        record["ms"] = round((time.monotonic() - started) * 1000, 1)
        try:
            on_request(record)
        except Exception:  # printing the record must never change the answer
            log.exception("billing serve: the access record could not be written")
        return response

    app = web.Application(client_max_size=MAX_BODY, middlewares=[guard])
    app.router.add_post(WEBHOOK_PATH.replace("{provider}", "{provider:" + _PROVIDER_PATTERN + "}"), webhook)
    app.router.add_get("/healthz", health)
    return app


def _bind_error(host: str, port: int, exc: OSError) -> InvalidInput:
    where, reason = f"{host}:{port}", exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        return InvalidInput(
            f"cannot listen on {where}: {reason}", hint="pick another --port (0 picks a free one) or stop the process"
        )
    if exc.errno == errno.EACCES:
        return InvalidInput(f"cannot listen on {where}: {reason}", hint="ports below 1024 need privileges")
    return InvalidInput(f"cannot listen on {where}: {reason}", hint="use 127.0.0.1, 0.0.0.0 or an address of this host")


async def serve(
    options: ServeOptions,
    ingest: Ingest,
    *,
    healthy: Callable[[], bool],
    on_request: Callable[[AccessRecord], None],
    stop: asyncio.Event,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve until ``stop`` is set; ``ready(port)`` once listening (the real port for ``port=0``).

    On stop: no new connections, requests in flight finish within ``grace`` seconds, then the
    thread pool drains (a request cut off by the grace still completes its database work).
    Raises InvalidInput for bad options or an address that cannot be bound."""
    options.validate()
    executor = ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="zigznote-serve")
    app = make_app(ingest, healthy=healthy, on_request=on_request, executor=executor)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=options.grace)
    await runner.setup()
    try:
        # A deep backlog: a burst of connections queues in the kernel instead of being retried.
        site = web.TCPSite(runner, bind_host(options.host), options.port, backlog=1024)
        try:
            await site.start()
        except OSError as exc:
            raise _bind_error(options.host, options.port, exc) from None
        if ready is not None:
            addresses = runner.addresses
            ready(int(addresses[0][1]) if addresses else options.port)
        await stop.wait()
    finally:
        await runner.cleanup()
        executor.shutdown(wait=True)
        await asyncio.sleep(0)  # let the closed transports release their sockets
