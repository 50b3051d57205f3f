"""Subscription lifecycle at Stripe: plan changes, cancel/undo, pause/resume.

Each change reads the subscription first (``GET /v1/subscriptions/:id``), so a state that
forbids it is refused before anything is written and a repeated command writes nothing:

- change plan: ``POST /v1/subscriptions/:id`` with ``items[0][id]`` (the existing item),
  ``items[0][price]``, ``items[0][quantity]`` and ``proration_behavior``
  (https://docs.stripe.com/billing/subscriptions/prorations);
- cancel at period end: ``cancel_at_period_end=true`` ("Indicate whether this subscription should
  cancel at the end of the current period", ``SubscriptionUpdateParams``); undo: ``false``;
  cancel now: ``DELETE /v1/subscriptions/:id`` (``SubscriptionService.cancel``);
- pause: ``pause_collection[behavior]=void`` (:data:`PAUSE_BEHAVIOR`; "temporarily offer services
  for free and never collect payment", https://docs.stripe.com/billing/subscriptions/pause-payment;
  the status stays ``active``, shown as ``paused`` by :mod:`.mapping`); resume: unset it with
  ``pause_collection=""``, or, for a subscription whose *status* is ``paused`` (a trial that
  ended without a payment method, Stripe's pause endpoint), ``POST /v1/subscriptions/:id/resume``
  (https://docs.stripe.com/api/subscriptions/resume), which is for paused subscriptions only.

Ended subscriptions (``canceled``, ``incomplete_expired``) are Conflict ``subscription_ended``
(exit 4) for every change but cancel, which returns them unchanged.
"""

from __future__ import annotations

from typing import Final

import stripe

from zigznote.billing.providers.stripe import mapping, params
from zigznote.billing.providers.stripe.errors import call
from zigznote.billing.types import Proration, Subscription
from zigznote.errors import Conflict

__all__ = ["PAUSE_BEHAVIOR", "cancel", "change", "pause", "resume", "undo_cancel"]

#: What Stripe does with invoices while collection is paused: void them (nothing is owed later).
PAUSE_BEHAVIOR: Final = "void"
_ENDED: Final = ("canceled", "incomplete_expired")


def _retrieve(client: stripe.StripeClient, subscription_id: str) -> stripe.Subscription:
    return call(lambda: client.v1.subscriptions.retrieve(subscription_id))


def _update(
    client: stripe.StripeClient, subscription_id: str, body: stripe.params.SubscriptionUpdateParams
) -> Subscription:
    return mapping.subscription(call(lambda: client.v1.subscriptions.update(subscription_id, body)))


def _ended(sub: stripe.Subscription, action: str) -> Conflict:
    return Conflict(
        f"subscription {sub.id} has ended ({sub.status}); it cannot {action}",
        hint="create a new subscription instead",
        code="subscription_ended",
    )


def change(
    client: stripe.StripeClient, subscription_id: str, *, price_id: str, proration: Proration, quantity: int | None
) -> Subscription:
    """Move the first item to ``price_id`` (``quantity`` kept when ``None``) with
    ``proration_behavior``. Conflict for an ended subscription; InvalidInput for a quantity < 1."""
    sub = _retrieve(client, subscription_id)
    if sub.status in _ENDED or not sub.items.data:
        raise _ended(sub, "change plan")
    item: stripe.params.SubscriptionUpdateParamsItem = {"id": sub.items.data[0].id, "price": price_id}
    if quantity is not None:
        item["quantity"] = params.positive(quantity, "quantity")
    return _update(client, subscription_id, {"items": [item], "proration_behavior": Proration(proration).value})


def cancel(client: stripe.StripeClient, subscription_id: str, *, at_period_end: bool) -> Subscription:
    """Schedule the end (``at_period_end``) or end it now. An ended subscription, or one already
    set to end at the period's end, comes back unchanged with nothing written."""
    sub = _retrieve(client, subscription_id)
    if sub.status in _ENDED or (at_period_end and sub.cancel_at_period_end):
        return mapping.subscription(sub)
    if at_period_end:
        return _update(client, subscription_id, {"cancel_at_period_end": True})
    return mapping.subscription(call(lambda: client.v1.subscriptions.cancel(subscription_id)))


def undo_cancel(client: stripe.StripeClient, subscription_id: str) -> Subscription:
    """Withdraw a scheduled end (``cancel_at_period_end=false``); unchanged when none is
    scheduled. Conflict when it has already ended."""
    sub = _retrieve(client, subscription_id)
    if sub.status in _ENDED:
        raise _ended(sub, "be kept")
    if not sub.cancel_at_period_end:
        return mapping.subscription(sub)
    return _update(client, subscription_id, {"cancel_at_period_end": False})


def pause(client: stripe.StripeClient, subscription_id: str) -> Subscription:
    """Pause collection; unchanged when already paused. Conflict when it has ended."""
    sub = _retrieve(client, subscription_id)
    if sub.status in _ENDED:
        raise _ended(sub, "be paused")
    if sub.pause_collection is not None or sub.status == "paused":
        return mapping.subscription(sub)
    return _update(client, subscription_id, {"pause_collection": {"behavior": PAUSE_BEHAVIOR}})


def resume(client: stripe.StripeClient, subscription_id: str) -> Subscription:
    """Status ``paused`` → Stripe's resume endpoint; collection paused → unset
    ``pause_collection``; anything else is Conflict ``not_paused``."""
    sub = _retrieve(client, subscription_id)
    if sub.status == "paused":
        return mapping.subscription(call(lambda: client.v1.subscriptions.resume(subscription_id)))
    if sub.pause_collection is not None:
        return _update(client, subscription_id, {"pause_collection": ""})
    raise Conflict(f"subscription {sub.id} is not paused ({sub.status})", code="not_paused")
