"""The Flutterwave v3 payment provider (``billing/providers/flutterwave/``).

``FlutterwaveProvider`` (:mod:`.provider`) implements the billing interface over Flutterwave's v3
REST API with httpx: :mod:`.client` (requests, envelope, retries, paging), :mod:`.errors`
(answers as zigznote errors), :mod:`.params` and :mod:`.mapping` (requests and answers),
:mod:`.catalog` (payment plans as products and prices), :mod:`.subscriptions`,
:mod:`.payments` (hosted links, refunds, never a second charge), :mod:`.verify` (is a
transaction the payment expected?), :mod:`.webhooks` (inbound events) and :mod:`.handlers`
(what each inbound event does). Sources: tests/fixtures/flutterwave/README.md.

v4 (OAuth2, customer / payment-method / charge objects) is another API: it would be a folder of
its own beside this one, registered under another name.

Importing this package imports no HTTP client: ``FlutterwaveProvider`` is loaded on first
access (the registry names it ``"zigznote.billing.providers.flutterwave:FlutterwaveProvider"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zigznote.billing.providers.flutterwave.provider import FlutterwaveProvider

__all__ = ["FlutterwaveProvider"]


def __getattr__(name: str) -> Any:
    if name == "FlutterwaveProvider":
        from zigznote.billing.providers.flutterwave.provider import FlutterwaveProvider

        return FlutterwaveProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
