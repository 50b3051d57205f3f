"""The HTTP edge of the delivery engine (aiohttp).

One shared ``ClientSession`` per process: keep-alive, explicit connect and total
timeouts, redirects never followed, and a resolver that applies the SSRF guard to
every address a hostname resolves to *at connect time* (a name that re-points to a
private address after the webhook was created is still refused). aiohttp errors are
translated here into an ``AttemptResult``; nothing above sees an aiohttp exception.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from zigznote.delivery.endpoints import check_literal_host
from zigznote.delivery.result import RESPONSE_EXCERPT_BYTES, AttemptResult
from zigznote.errors import InvalidInput
from zigznote.untrusted import storable_text
from zigznote.webhooks.ssrf import AllowNets, check_address

# How long to wait for the body excerpt once the status line has arrived: the status
# decides the outcome, the excerpt is only for `webhooks attempts`.
EXCERPT_SECONDS = 1.0

__all__ = ["GuardedResolver", "check_literal_host", "make_session", "post", "send_once"]


class GuardedResolver(AbstractResolver):
    """Resolve with the default resolver, then refuse any disallowed address."""

    def __init__(self, allow_nets: AllowNets) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allow_nets = allow_nets

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        infos = await self._inner.resolve(host, port, family)
        for info in infos:
            check_address(info["host"], self._allow_nets)  # raises InvalidInput → attempt error
        return infos

    async def close(self) -> None:
        await self._inner.close()


def make_session(
    *, allow_nets: AllowNets, limit: int = 100, limit_per_host: int = 0, timeout: float = 15.0
) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=limit,
        limit_per_host=limit_per_host,
        resolver=GuardedResolver(allow_nets),
        ttl_dns_cache=10,
        enable_cleanup_closed=True,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0)),
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
        # Receivers' cookies are never sent back (each delivery stands alone), and a cookie
        # jar costs a filter and an update on every request.
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def _excerpt(resp: aiohttp.ClientResponse) -> bytes:
    """Up to RESPONSE_EXCERPT_BYTES of the body, best-effort, within EXCERPT_SECONDS.

    What is already buffered is taken without waiting (the common case: a short body in
    the same packet as the headers, no timer needed); otherwise wait briefly for the
    first bytes. A stall or a broken body yields what arrived (possibly nothing).
    """
    content = resp.content
    try:
        raw = content.read_nowait(RESPONSE_EXCERPT_BYTES)
        if raw or content.at_eof():
            return raw
        async with asyncio.timeout(EXCERPT_SECONDS):
            return await content.read(RESPONSE_EXCERPT_BYTES)
    except (TimeoutError, aiohttp.ClientError, OSError, RuntimeError):
        # RuntimeError: read_nowait while another reader waits (cannot happen here, but
        # an excerpt is never worth failing an attempt whose status has arrived).
        return b""


async def post(
    session: aiohttp.ClientSession,
    url: str | URL,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow_nets: AllowNets = None,
    timeout: float | None = None,
    check_literal: bool = True,
) -> AttemptResult:
    """POST once. ``check_literal=False`` when the caller already checked an IP-literal
    host against the guard (the engine does it once per endpoint, not per request)."""
    started = time.perf_counter()

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        if check_literal:
            check_literal_host(str(url), allow_nets)
        kwargs: dict[str, Any] = {"data": body, "headers": headers, "allow_redirects": False}
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0))
        async with session.post(url, **kwargs) as resp:
            # The status line has arrived: from here on it decides the outcome, whatever
            # the body does (a receiver that answers 200 and then stalls got the event).
            status = resp.status
            error = None
            if 300 <= status < 400:
                location = storable_text(resp.headers.get("Location", "?"), max_chars=300)
                error = f"redirect to {location} not followed"
            elif not 200 <= status < 300:
                error = f"HTTP {status}"
            retry_after = storable_text(resp.headers.get("Retry-After"), max_chars=100)
            raw = await _excerpt(resp)
            excerpt = storable_text(raw, max_chars=RESPONSE_EXCERPT_BYTES) if raw else None
            return AttemptResult(status, error, elapsed(), excerpt, retry_after)
    except InvalidInput as exc:
        return AttemptResult(None, f"refused by SSRF guard: {exc.message}", elapsed())
    except TimeoutError:
        return AttemptResult(None, "timed out", elapsed())
    except aiohttp.ClientConnectorError as exc:
        inner = exc.os_error
        if isinstance(inner, InvalidInput):
            return AttemptResult(None, f"refused by SSRF guard: {inner.message}", elapsed())
        return AttemptResult(None, f"connection failed: {exc.os_error.strerror or exc}", elapsed())
    except aiohttp.ClientError as exc:
        return AttemptResult(None, f"{type(exc).__name__}: {exc}"[:500], elapsed())
    except OSError as exc:
        return AttemptResult(None, f"network error: {exc}"[:500], elapsed())


def send_once(
    url: str, body: bytes, headers: Mapping[str, str], *, allow_nets: AllowNets = None, timeout: float = 15.0
) -> AttemptResult:
    """One POST outside the engine (``webhooks test``), with the same guard and rules."""

    async def run() -> AttemptResult:
        async with make_session(allow_nets=allow_nets, limit=1, timeout=timeout) as session:
            return await post(session, url, body, headers, allow_nets=allow_nets)

    return asyncio.run(run())
