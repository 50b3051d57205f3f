"""Subscriptions on Flutterwave v3: read, cancel, activate; the rest emulated or refused, in words.

v3 subscriptions are made by Flutterwave when a customer first pays with a ``payment_plan``
(https://developer.flutterwave.com/docs/recurring-payments/payment-plans: "subscribe a customer to
the plan by specifying the plan ID the first time you charge the customer"), are tied to the
customer's email ("cannot be changed afterwards … cancel any existing subscription and create a
new one with the new email"), and can be listed (``GET /subscriptions?email=``), cancelled
(``PUT /subscriptions/{id}/cancel``) and activated again (``PUT /subscriptions/{id}/activate``).
"If we attempt to charge a customer and it fails three consecutive times, we'll cancel the
user's subscription": that cancellation reaches zigznote through ``subscription.cancelled`` or
the next ``subscriptions sync``.

So, for the neutral interface:

- **create**: refused (``unsupported_by_provider``): a subscription starts with the customer's
  first payment; ``billing checkout`` is the way.
- **cancel at period end** (emulated): ``PUT …/cancel`` stops every further charge at once and
  refunds nothing, so the customer keeps the period already paid; zigznote shows it ``active``
  with ``cancel_at_period_end`` until that period ends (:mod:`.mapping`), ``canceled`` after.
- **cancel now**: refused: Flutterwave cannot end a paid period early; ``cancel`` (above) and a
  refund (``billing payments refund``) together are the honest equivalent.
- **resume** (undo a scheduled end): ``PUT …/activate`` while the paid period runs; refused
  (Conflict) once it has ended.
- **change plan**: refused: v3 has no plan swap and no proration; cancel, then check out on the
  new plan.

The paid period comes from the customer's newest successful transaction on the plan
(``GET /transactions?customer_email=&status=successful``, first page, newest first); v3 does not
link a transaction to a subscription, so the match is by currency, amount (at least the plan's)
and ``payment_plan`` when the transaction names one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from zigznote.billing.providers.flutterwave import mapping
from zigznote.billing.providers.flutterwave.catalog import PlanCatalog
from zigznote.billing.providers.flutterwave.client import FlutterwaveClient
from zigznote.billing.providers.flutterwave.errors import unexpected
from zigznote.billing.types import Price, Subscription, SubscriptionStatus
from zigznote.errors import Conflict, NotFound, ZigznoteError

__all__ = ["SubscriptionBook"]

#: A subscription is created by the payment that starts it, a moment after the transaction.
_SLACK = timedelta(days=1)


class SubscriptionBook:
    """Subscriptions over one client, with plans from ``catalog`` and ``now`` from ``clock``."""

    def __init__(self, client: FlutterwaveClient, catalog: PlanCatalog, clock: Callable[[], datetime]) -> None:
        self._client = client
        self._catalog = catalog
        self._clock = clock

    # -- reading -------------------------------------------------------------------------

    def get(self, subscription_id: str) -> Subscription:
        """One subscription: ``GET /subscriptions?id=`` (pages read until it is found)."""
        return self._map(self._find(subscription_id), {})

    def subscriptions(self, *, customer_id: str | None = None) -> Iterator[Subscription]:
        """Subscriptions of one customer (their email) or all, every status."""
        query = {"email": customer_id} if customer_id is not None else {}
        paid: dict[str, list[dict[str, Any]]] = {}
        for sub in self._client.pages("/subscriptions", query, what="list subscriptions"):
            if not isinstance(sub, dict):
                raise unexpected("a subscription that is not an object")
            yield self._map(sub, paid)

    def _find(self, subscription_id: str) -> dict[str, Any]:
        wanted = mapping.flw_id(subscription_id, "subscription ID")
        for sub in self._client.pages("/subscriptions", {"id": wanted}, what=f"find subscription {wanted}"):
            if isinstance(sub, dict) and str(sub.get("id")) == wanted:
                return sub
        raise NotFound(f"Flutterwave has no subscription {wanted}", code="flutterwave_not_found")

    def _price(self, sub: Mapping[str, Any]) -> Price | None:
        plan = sub.get("plan")
        plan_id = plan.get("id") if isinstance(plan, dict) else plan
        if plan_id is None:
            return None
        try:
            return mapping.price(self._catalog.plan(mapping.flw_id(plan_id, "plan ID")))
        except NotFound:
            return None

    def _map(self, sub: dict[str, Any], paid: dict[str, list[dict[str, Any]]]) -> Subscription:
        price = self._price(sub)
        customer = sub.get("customer")
        email = customer.get("customer_email") if isinstance(customer, dict) else None
        paid_at = None
        if price is not None and isinstance(email, str) and email:
            if email not in paid:
                paid[email] = self._charges(email)
            paid_at = _newest_charge(paid[email], price, mapping.timestamp(sub.get("created_at")))
        return mapping.subscription(sub, price, now=self._clock(), paid_at=paid_at)

    def _charges(self, email: str) -> list[dict[str, Any]]:
        answer = self._client.get(
            "/transactions",
            {"customer_email": email, "status": "successful"},
            what="list the customer's successful transactions",
        )
        return [t for t in answer.data if isinstance(t, dict)] if isinstance(answer.data, list) else []

    # -- changes -------------------------------------------------------------------------

    def cancel(self, subscription_id: str) -> Subscription:
        """Stop further charges (``PUT …/cancel``); nothing sent when already cancelled."""
        sub = self._find(subscription_id)
        if sub.get("status") == "active":
            sub = self._put(subscription_id, "cancel")
        return self._map(sub, {})

    def activate(self, subscription_id: str) -> Subscription:
        """Undo a cancellation while the paid period runs (``PUT …/activate``); unchanged when it
        is active; Conflict ``subscription_ended`` once the paid period is over."""
        sub = self._find(subscription_id)
        current = self._map(sub, {})
        if current.status is SubscriptionStatus.CANCELED:
            raise Conflict(
                f"subscription {current.id} has ended (no paid period left); it cannot be kept",
                hint="the customer subscribes again with `billing checkout`",
                code="subscription_ended",
            )
        if not current.cancel_at_period_end:
            return current
        return self._map(self._put(subscription_id, "activate"), {})

    def _put(self, subscription_id: str, action: str) -> dict[str, Any]:
        sub_id = mapping.flw_id(subscription_id, "subscription ID")
        answer = self._client.put(f"/subscriptions/{quote(sub_id)}/{action}", what=f"{action} subscription {sub_id}")
        if not isinstance(answer.data, dict):
            raise unexpected(f"{action} of subscription {sub_id} with no subscription")
        return answer.data


def _newest_charge(charges: list[dict[str, Any]], price: Price, created: datetime | None) -> datetime | None:
    """When the customer last paid this plan: their newest successful transaction in its
    currency, of at least its amount, not older than the subscription, naming this plan (or none)."""
    newest: datetime | None = None
    for tx in charges:
        try:
            when = mapping.timestamp(tx.get("created_at"))
            if when is None or (created is not None and when < created - _SLACK):
                continue
            plan = tx.get("payment_plan")
            if plan is not None and str(plan) != price.id:
                continue
            if tx.get("currency") != price.amount.currency:
                continue
            if mapping.money(tx.get("amount"), tx.get("currency")) < price.amount:
                continue
        except ZigznoteError:  # an unreadable transaction is no evidence of payment
            continue
        if newest is None or when > newest:
            newest = when
    return newest
