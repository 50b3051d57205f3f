"""The HTTP edge of the provider adapters (httpx, synchronous).

Every provider call (Slack today, HubSpot next) goes through :func:`make_client` and
:func:`send`:

- explicit connect/read/write/pool timeouts, redirects never followed (a provider API
  that redirects is misconfigured or hostile; following would resend credentials), a
  ``User-Agent: zigznote/<version>``;
- bodies read as a stream with a size cap and a wall-clock cap, so a hostile or broken
  server cannot make us buffer gigabytes or drip bytes forever;
- httpx exceptions (timeouts, refused connections, TLS failures, protocol errors) are
  translated here into :class:`~zigznote.errors.ProviderError` with code
  ``provider_unreachable``, naming the host and never a token or secret; nothing above
  this module sees an httpx exception.

:func:`retry_after_seconds` reads a ``Retry-After`` header (delta-seconds or HTTP-date,
RFC 9110 section 10.2.3) for the rate-limit loops of the adapters.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from zigznote import __version__
from zigznote.errors import ProviderError
from zigznote.untrusted import storable_text

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "USER_AGENT",
    "Reply",
    "make_client",
    "retry_after_seconds",
    "send",
]

USER_AGENT = f"zigznote/{__version__}"

#: Largest response body read from a provider (decoded bytes). A `conversations.list`
#: page of 1000 channels is well under 2 MB; anything near this cap is not an API answer.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, headers and the (bounded) body bytes."""

    status: int
    headers: httpx.Headers
    body: bytes


def make_client(*, timeout: float = 15.0, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An ``httpx.Client`` for provider APIs.

    ``timeout`` (seconds) bounds each read, write and pool wait; connecting gets at most
    10 s of it. Redirects are not followed. ``transport`` exists for tests and proxies
    (respx patches the default transport, so tests usually leave it ``None``).
    """
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        transport=transport,
    )


def retry_after_seconds(value: str | None, *, default: float, cap: float, now: datetime | None = None) -> float:
    """Seconds to wait according to a ``Retry-After`` header value, clamped to ``[0, cap]``.

    Accepts delta-seconds (``"30"``; a decimal such as ``"1.5"`` is tolerated) or an
    HTTP-date (``"Wed, 21 Oct 2026 07:28:00 GMT"``, measured from ``now``, default the
    current time). A missing, empty, negative or unreadable value yields ``default``
    (also clamped). Never raises.
    """
    seconds = default
    text = (value or "").strip()
    if text:
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None:
            if math.isfinite(number) and number >= 0:
                seconds = number
        else:
            try:
                when = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                when = None
            if when is not None:
                if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive result means "no zone given"
                    when = when.replace(tzinfo=UTC)
                reference = now if now is not None else datetime.now(UTC)
                if reference.tzinfo is None:
                    reference = reference.replace(tzinfo=UTC)
                seconds = (when - reference).total_seconds()
    if not math.isfinite(seconds):
        seconds = default
    return min(max(seconds, 0.0), cap)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _unreachable(exc: Exception, *, host: str, what: str, secrets: Iterable[str]) -> ProviderError:
    """A ProviderError for a transport failure: the host and the kind of failure, never a secret."""
    if isinstance(exc, httpx.TimeoutException):
        reason = "timed out"
    else:
        # The OS reason ("[Errno 111] Connection refused") helps; the exception text never holds
        # a header or a body, and secrets are scrubbed anyway in case a URL ever carried one.
        detail = storable_text(_scrub(str(exc), secrets), max_chars=200) or ""
        reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return ProviderError(
        f"cannot reach {host} for {what}: {reason}",
        hint="check the network and the API base URL setting, then try again",
        code="provider_unreachable",
    )


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    content: bytes | None = None,
    auth: tuple[str, str] | None = None,
    secrets: Iterable[str] = (),
    max_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_seconds: float | None = None,
) -> Reply:
    """Send one request and read its body, translating every transport failure.

    ``what`` names the call in messages ("Slack chat.postMessage"). ``data`` is sent as a form,
    ``content`` as raw bytes (the caller sets ``Content-Type``); ``auth`` is HTTP Basic.
    ``secrets`` (tokens, client secrets) are scrubbed from any error text. The body is read up
    to ``max_bytes`` decoded bytes and within ``max_seconds`` (default: three times the client's
    read timeout); beyond either the answer is refused.

    Raises ProviderError: code ``provider_unreachable`` (DNS, refused, TLS, timeout, broken
    connection) or ``provider_bad_response`` (body over the cap, or too slow).
    """
    secrets = tuple(secrets)
    try:
        host = httpx.URL(url).host or url
    except httpx.InvalidURL:
        host = url
    if max_seconds is None:
        read_timeout = client.timeout.read
        max_seconds = 3 * (read_timeout if read_timeout is not None else 15.0)
    try:
        request = client.build_request(method, url, headers=headers, params=params, data=data, content=content)
        # HTTP Basic (RFC 7617) through httpx's own encoder, for this request only.
        response = client.send(request, stream=True, auth=auth)
    except httpx.HTTPError as exc:
        raise _unreachable(exc, host=host, what=what, secrets=secrets) from None
    except (httpx.InvalidURL, OSError, ValueError) as exc:  # a malformed API base URL, a refused header
        raise _unreachable(exc, host=host, what=what, secrets=secrets) from None
    try:
        started = time.monotonic()
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise ProviderError(
                    f"{what}: the answer from {host} is larger than {max_bytes} bytes; refused",
                    code="provider_bad_response",
                )
            if time.monotonic() - started > max_seconds:
                raise ProviderError(
                    f"{what}: the answer from {host} took longer than {max_seconds:g} s to arrive; refused",
                    code="provider_bad_response",
                )
            chunks.append(chunk)
        return Reply(status=response.status_code, headers=response.headers, body=b"".join(chunks))
    except httpx.HTTPError as exc:
        raise _unreachable(exc, host=host, what=what, secrets=secrets) from None
    finally:
        response.close()
