"""The HTTP edge of the delivery engine: one POST → one ``AttemptResult``.

Requests go through :class:`~zigznote.delivery.http1.Http1Client` (keep-alive
connections, explicit connect and total timeouts, redirects never followed, the SSRF
guard applied to every address a host name resolves to *at connect time*). Its errors
are translated here into an ``AttemptResult``; nothing above sees a transport error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from yarl import URL

from zigznote.delivery.endpoints import check_literal_host
from zigznote.delivery.http1 import ConnectFailed, Http1Client, ProtocolFailed
from zigznote.delivery.result import RESPONSE_EXCERPT_BYTES, AttemptResult
from zigznote.errors import InvalidInput
from zigznote.untrusted import storable_text
from zigznote.webhooks.ssrf import AllowNets

# How long to wait for the body excerpt once the status line has arrived: the status
# decides the outcome, the excerpt is only for `webhooks attempts`.
EXCERPT_SECONDS = 1.0

__all__ = ["EXCERPT_SECONDS", "check_literal_host", "make_session", "post", "send_once"]


def make_session(*, allow_nets: AllowNets, timeout: float = 15.0) -> Http1Client:
    """The process's HTTP client (the engine bounds concurrency, the client does not)."""
    return Http1Client(
        allow_nets=allow_nets, timeout=timeout, connect_timeout=min(timeout, 10.0), excerpt_seconds=EXCERPT_SECONDS
    )


async def post(
    session: Http1Client,
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
        resp = await session.post(url if isinstance(url, URL) else URL(url), body, headers, timeout=timeout)
    except InvalidInput as exc:
        return AttemptResult(None, f"refused by SSRF guard: {exc.message}", elapsed())
    except TimeoutError:
        return AttemptResult(None, "timed out", elapsed())
    except ConnectFailed as exc:
        return AttemptResult(None, f"connection failed: {storable_text(exc.reason, max_chars=300)}", elapsed())
    except ProtocolFailed as exc:
        return AttemptResult(None, storable_text(str(exc), max_chars=500), elapsed())
    except OSError as exc:
        return AttemptResult(None, f"network error: {exc}"[:500], elapsed())
    # The status line decides the outcome, whatever the body did (a receiver that answers
    # 200 and then stalls got the event).
    status = resp.status
    error = None
    if 300 <= status < 400:
        error = f"redirect to {storable_text(resp.location or '?', max_chars=300)} not followed"
    elif not 200 <= status < 300:
        error = f"HTTP {status}"
    retry_after = storable_text(resp.retry_after, max_chars=100)
    excerpt = storable_text(resp.excerpt, max_chars=RESPONSE_EXCERPT_BYTES) if resp.excerpt else None
    return AttemptResult(status, error, elapsed(), excerpt, retry_after)


def send_once(
    url: str, body: bytes, headers: Mapping[str, str], *, allow_nets: AllowNets = None, timeout: float = 15.0
) -> AttemptResult:
    """One POST outside the engine (``webhooks test``), with the same guard and rules."""

    async def run() -> AttemptResult:
        async with make_session(allow_nets=allow_nets, timeout=timeout) as session:
            return await post(session, url, body, headers, allow_nets=allow_nets)

    return asyncio.run(run())
