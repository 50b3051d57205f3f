"""The one place a :class:`stripe.StripeClient` is built: pinned API version, HTTP client, retries.

- **API version.** :data:`STRIPE_API_VERSION` is sent as ``Stripe-Version`` on every request.
  It is the version stripe-python 16.1.0 pins (``stripe.api_version``, "2026-10-28.endive");
  a test keeps the two equal, so an SDK upgrade that moves the pin is noticed and reviewed
  (sent as ``Stripe-Version``; the objects read in :mod:`.mapping` follow it:
  current periods on subscription items and ``invoice.parent`` since 2025-03-31.basil).
- **HTTP.** ``stripe.HTTPXClient(allow_sync_methods=True)``: the SDK's httpx client, used
  synchronously (``StripeClient``'s services are sync), with :data:`TIMEOUT` on every call.
  respx intercepts it in tests, so the SDK's real requests are what the tests assert on.
- **Retries.** ``max_network_retries`` is explicit (``StripeClient`` defaults to 0): the SDK
  retries connection errors, 409 and 5xx answers (and what ``Stripe-Should-Retry`` says) with
  backoff from 0.5 s, resending the *same* ``Idempotency-Key`` header (built once per call in
  ``_api_requestor``), so a create whose response was lost is not made twice.
- **Telemetry off.** ``stripe.enable_telemetry = False``: otherwise the SDK sends request
  timings and platform details with each request and writes an ID file to
  ``~/.config/stripe/telemetry_id`` (``stripe/_telemetry_id.py``), a side effect an operator's
  command-line tool should not have.
- **Base URL.** ``STRIPE_API_BASE`` (default ``https://api.stripe.com``) is the client's ``api``
  base address, so stripe-mock, a proxy or a local fake answer instead.

Secrets: the key goes into the client only; it never appears in a message this package raises.
"""

from __future__ import annotations

from typing import Final

import httpx
import stripe

from zigznote.billing.providers import _shared
from zigznote.errors import ConfigError

__all__ = [
    "DEFAULT_API_BASE",
    "MAX_NETWORK_RETRIES",
    "STRIPE_API_VERSION",
    "TIMEOUT",
    "check_api_base",
    "check_secret_key",
    "close_client",
    "make_client",
]

#: The Stripe API version every request is pinned to (one constant; see the module docstring).
STRIPE_API_VERSION: Final = "2026-10-28.endive"
DEFAULT_API_BASE: Final = "https://api.stripe.com"
#: Stripe's SDKs recommend retrying; 2 retries wait about 0.5-1 s and 1-2 s.
MAX_NETWORK_RETRIES: Final = 2
#: Connect within 10 s, then 30 s per read/write: Stripe answers most calls in well under a
#: second, and a command should not hang for the SDK's default 80 s.
TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)

# Secret keys are sk_…, restricted keys rk_…, publishable keys pk_… (Stripe's API keys page, as
# summarised in https://apidog.com/blog/stripe-api-key/; the SDK sends whichever it is given).
_SECRET_PREFIXES: Final = ("sk_", "rk_")


def check_secret_key(secret_key: str | None) -> str:
    """``secret_key`` when it looks like a Stripe secret or restricted key.

    Raises ConfigError naming ``STRIPE_SECRET_KEY`` (never its value) when it is missing or
    is a publishable key (``pk_…``, which Stripe's server API refuses)."""
    if not secret_key:
        raise _shared.missing_key(
            "STRIPE_SECRET_KEY",
            hint="set STRIPE_SECRET_KEY to a secret key (sk_…) or restricted key (rk_…) from the Stripe Dashboard",
            code="stripe_key_missing",
        )
    if not secret_key.startswith(_SECRET_PREFIXES):
        raise ConfigError(
            "STRIPE_SECRET_KEY is not a Stripe secret key (it should start with sk_ or rk_)",
            hint="publishable keys (pk_…) belong in STRIPE_PUBLISHABLE_KEY",
            code="stripe_key_invalid",
        )
    return secret_key


def check_api_base(api_base: str) -> str:
    """``api_base`` without a trailing slash (the SDK appends ``/v1/…``). Raises ConfigError for
    anything but an http(s) URL with a host and no path beyond ``/``, query or fragment."""
    return _shared.check_api_base(
        api_base, setting="STRIPE_API_BASE", example=DEFAULT_API_BASE, code="stripe_api_base_invalid", path=False
    )


def make_client(
    secret_key: str,
    *,
    api_base: str = DEFAULT_API_BASE,
    max_network_retries: int = MAX_NETWORK_RETRIES,
    timeout: httpx.Timeout | float = TIMEOUT,
) -> stripe.StripeClient:
    """A ``StripeClient`` on the pinned API version, sending through ``HTTPXClient`` (sync
    allowed, ``timeout``) to ``api_base`` with ``max_network_retries`` retries.

    Raises ConfigError for a missing or publishable key, or a malformed ``api_base``."""
    key = check_secret_key(secret_key)
    base = check_api_base(api_base)
    if max_network_retries < 0:
        raise ConfigError("max_network_retries must be 0 or more", code="stripe_config_invalid")
    stripe.enable_telemetry = False  # see the module docstring; a process-wide SDK setting
    http_client = stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True)
    return stripe.StripeClient(
        key,
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": base},
        max_network_retries=max_network_retries,
        http_client=http_client,
    )


def close_client(client: stripe.StripeClient) -> None:
    """Close the client's connections (the sync httpx client ``make_client`` gave it)."""
    # The SDK keeps its HTTP client on the requestor; StripeClient has no close() of its own.
    http_client = getattr(getattr(client, "_requestor", None), "_client", None)
    if http_client is not None:
        http_client.close()
