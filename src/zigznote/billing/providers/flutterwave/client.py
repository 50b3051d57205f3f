"""The one HTTP client of the Flutterwave provider: v3 REST over httpx, envelope, retries, paging.

- **Requests.** ``Authorization: Bearer <FLUTTERWAVE_SECRET_KEY>`` on every call ("Server-side
  requests send your secret key in the Authorization header as a bearer token",
  https://developer.flutterwave.com/docs/definitions), JSON bodies built by :mod:`.params`
  (amounts as JSON numbers written from ``Decimal``, never floats), a timeout on every call.
- **Answers.** ``{"status", "message", "data"}``, plus ``meta.page_info`` on lists. Bodies pass
  ``untrusted.load_json`` (UTF-8, depth) and are then read with ``parse_float=Decimal``: an
  amount such as ``100.5`` is ``Decimal("100.5")`` from the first byte, and amounts that come as
  strings (``"amount": "100"`` in a created plan) are read with ``Decimal(str(x))`` by
  :mod:`.mapping`.
- **Retries.** 429 is retried for every request with growing waits (``Retry-After`` when sent):
  "When you receive 429, wait and try the request again. Increase the wait after each retry"
  (https://developer.flutterwave.com/docs/rate-limit). Timeouts, dropped connections and 5xx are
  retried only where sending twice is harmless (reads, and the ``PUT`` status changes that end
  in the same state); a ``POST`` that may have created something is never re-sent blindly: it
  raises :class:`~.errors.Unanswered` and the provider queries what happened first ("If the
  initial request was to create a payment … query the status of the transaction to confirm if
  the payment is being processed before retrying the request. For other requests, retry the
  request after a short interval", https://developer.flutterwave.com/docs/handling-error-timeouts).
- **Base URL.** ``FLUTTERWAVE_API_BASE`` (default ``https://api.flutterwave.com/v3``, the version
  path included), so a sandbox, a proxy or a local fake can answer instead.

httpx exceptions stop here (:mod:`.errors`); the key never appears in a message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import httpx

from zigznote.billing.providers import _shared
from zigznote.billing.providers.flutterwave.errors import Unanswered, translate, unexpected
from zigznote.errors import ConfigError, ZigznoteError
from zigznote.untrusted import load_json

__all__ = [
    "DEFAULT_API_BASE",
    "MAX_RETRIES",
    "TIMEOUT",
    "Answer",
    "FlutterwaveClient",
    "check_api_base",
    "check_secret_key",
]

DEFAULT_API_BASE: Final = "https://api.flutterwave.com/v3"
#: Flutterwave answers a stuck request with 503 after about 28 s ("Our system typically waits
#: for 28 seconds before returning a timeout error response"): read for 35 s, connect in 10 s.
TIMEOUT: Final = httpx.Timeout(35.0, connect=10.0)
#: Retries after the first attempt (429 always; network errors and 5xx on safe requests).
MAX_RETRIES: Final = 2
_BACKOFF: Final = 0.5
_MAX_WAIT: Final = 30.0
_MAX_PAGES: Final = 10_000
_USER_AGENT: Final = "zigznote-billing (+flutterwave v3)"


def check_secret_key(secret_key: str | None) -> str:
    """``secret_key`` unless it is missing or a public key (``FLWPUBK…``, which the server API
    refuses). Raises ConfigError naming ``FLUTTERWAVE_SECRET_KEY``, never its value."""
    if not secret_key:
        raise _shared.missing_key(
            "FLUTTERWAVE_SECRET_KEY",
            hint="set FLUTTERWAVE_SECRET_KEY to the v3 secret key (FLWSECK-… or FLWSECK_TEST-…) "
            "from the Flutterwave dashboard",
            code="flutterwave_key_missing",
        )
    if secret_key.startswith("FLWPUBK"):
        raise ConfigError(
            "FLUTTERWAVE_SECRET_KEY holds a public key (FLWPUBK…)",
            hint="the secret key starts with FLWSECK; the public key belongs in FLUTTERWAVE_PUBLIC_KEY",
            code="flutterwave_key_invalid",
        )
    return secret_key


def check_api_base(api_base: str) -> str:
    """``api_base`` (the version path included) without a trailing slash; ConfigError for
    anything but an http(s) URL with a host and no query or fragment."""
    return _shared.check_api_base(
        api_base,
        setting="FLUTTERWAVE_API_BASE",
        example=DEFAULT_API_BASE,
        code="flutterwave_api_base_invalid",
        path=True,
    )


@dataclass(frozen=True)
class Answer:
    """A successful answer: ``data`` (an object, a list, or ``None``), ``meta`` (``page_info``
    on lists) and Flutterwave's ``message`` (``"Hosted Link"``)."""

    data: Any
    meta: Mapping[str, Any] = field(default_factory=dict)
    message: str | None = None


def _decode(response: httpx.Response, what: str) -> Any:
    """The JSON body with decimals as ``Decimal``; ``None`` when it is not JSON."""
    try:
        load_json(response.content, where=f"Flutterwave's answer to {what}")  # encoding, depth, syntax
    except ZigznoteError:
        return None
    return json.loads(response.content, parse_float=Decimal)


class FlutterwaveClient:
    """Synchronous v3 client: :meth:`get`, :meth:`post`, :meth:`put`, :meth:`pages`.

    ``sleep`` waits between retries (tests pass a recorder); ``transport``: an httpx transport
    (tests use respx instead). Raises ConfigError for a missing or public key or a bad base."""

    def __init__(
        self,
        secret_key: str | None,
        *,
        api_base: str = DEFAULT_API_BASE,
        timeout: httpx.Timeout | float = TIMEOUT,
        max_retries: int = MAX_RETRIES,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._key = check_secret_key(secret_key)
        self.api_base = check_api_base(api_base)
        if max_retries < 0:
            raise ConfigError("max_retries must be 0 or more", code="flutterwave_config_invalid")
        self._retries = max_retries
        self._sleep = sleep
        self._http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    def __repr__(self) -> str:
        return f"FlutterwaveClient(api_base={self.api_base!r})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    # -- requests ------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, str | int] | None = None, *, what: str) -> Answer:
        """A read; retried on 429, 5xx and network errors."""
        return self.request("GET", path, params=params, what=what)

    def put(self, path: str, body: bytes | None = None, *, what: str, conflict: bool = False) -> Answer:
        """A status change (cancel, activate, rename) that ends in the same state when repeated:
        retried like a read."""
        return self.request("PUT", path, body=body, what=what, conflict=conflict)

    def post(self, path: str, body: bytes, *, what: str, conflict: bool = False) -> Answer:
        """A create: retried on 429 only (refused before processing); a timeout, dropped
        connection or 5xx raises :class:`~.errors.Unanswered`."""
        return self.request("POST", path, body=body, what=what, retry=False, conflict=conflict)

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str | int] | None = None,
        body: bytes | None = None,
        retry: bool = True,
        conflict: bool = False,
    ) -> Answer:
        """Send one request (``path`` below the API base, ``/payment-plans``) and read the
        envelope. ``retry``: whether a timeout or 5xx may be sent again. Raises the errors of
        :func:`~.errors.translate`."""
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json", "User-Agent": _USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = self.api_base + path
        attempt = 0
        while True:
            try:
                response = self._http.request(method, url, params=dict(params or {}), content=body, headers=headers)
            except httpx.TimeoutException:
                failure = "no answer in time"
            except httpx.TransportError as exc:
                failure = f"connection failed ({type(exc).__name__})"
            except httpx.HTTPError as exc:  # e.g. a body that cannot be decoded: no usable answer
                failure = f"the answer could not be read ({type(exc).__name__})"
            else:
                status = response.status_code
                if status == 429 and attempt < self._retries:
                    self._sleep(self._wait(attempt, response))
                    attempt += 1
                    continue
                if status >= 500 and retry and attempt < self._retries:
                    self._sleep(self._wait(attempt))
                    attempt += 1
                    continue
                return self._answer(response, what, conflict)
            if retry and attempt < self._retries:
                self._sleep(self._wait(attempt))
                attempt += 1
                continue
            raise Unanswered(
                f"Flutterwave did not answer: {failure} ({what})",
                hint="check the network and FLUTTERWAVE_API_BASE; running the same command again is safe",
            )

    def _wait(self, attempt: int, response: httpx.Response | None = None) -> float:
        if response is not None:
            after = response.headers.get("Retry-After", "")
            if after.isascii() and after.isdigit():  # "²".isdigit() is True, float("²") fails
                return min(float(after), _MAX_WAIT)
        return min(_BACKOFF * 2**attempt, _MAX_WAIT)

    def _answer(self, response: httpx.Response, what: str, conflict: bool) -> Answer:
        status = response.status_code
        body = _decode(response, what)
        envelope = body if isinstance(body, dict) else {}
        message = envelope.get("message")
        if 200 <= status < 300 and envelope.get("status") == "success":
            meta = envelope.get("meta")
            return Answer(envelope.get("data"), meta if isinstance(meta, dict) else {}, message)
        if 200 <= status < 300:
            if body is None or envelope.get("status") != "error":
                raise unexpected(f"{what} with something that is not a v3 answer (HTTP {status})")
            status = 400  # an error envelope with a 2xx status: a refusal all the same
        raise translate(status, message, what=what, conflict=conflict)

    # -- lists -----------------------------------------------------------------------------

    def pages(self, path: str, params: Mapping[str, str | int] | None = None, *, what: str) -> Iterator[Any]:
        """Every item of a paged list (``?page=1, 2, …`` until ``meta.page_info.total_pages``),
        fetched lazily: a failure on page 3 raises when page 3 is reached."""
        page = 1
        while page <= _MAX_PAGES:
            answer = self.get(path, {**(params or {}), "page": page}, what=f"{what} (page {page})")
            items = answer.data
            if not isinstance(items, list):
                raise unexpected(f"{what} with no list of items")
            yield from items
            info = answer.meta.get("page_info")
            total = info.get("total_pages") if isinstance(info, dict) else None
            if not items or type(total) is not int or page >= total:
                return
            page += 1
