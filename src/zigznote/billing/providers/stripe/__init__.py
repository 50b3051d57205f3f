"""The Stripe payment provider (``billing/providers/stripe/``).

``StripeProvider`` (:mod:`.provider`) implements the billing interface with the official SDK;
:mod:`.client` builds the ``StripeClient`` (pinned API version, ``HTTPXClient``, retries),
:mod:`.params` and :mod:`.mapping` translate requests and answers, :mod:`.errors` translates
exceptions, :mod:`.events` verifies inbound webhooks; idempotency keys and frozen requests are
the provider-neutral :mod:`zigznote.billing.idempotency`. Sources: tests/fixtures/stripe/README.md.

Importing this package does not import the SDK: ``StripeProvider`` is loaded on first access
(the registry names it as ``"zigznote.billing.providers.stripe:StripeProvider"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zigznote.billing.providers.stripe.provider import StripeProvider

__all__ = ["StripeProvider"]


def __getattr__(name: str) -> Any:
    if name == "StripeProvider":
        from zigznote.billing.providers.stripe.provider import StripeProvider

        return StripeProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
