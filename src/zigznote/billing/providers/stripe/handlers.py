"""Stripe's inbound events → handlers (the table ``billing/events.py`` looks up by name).

Every handler re-fetches the object the event is about from Stripe (``GET /v1/subscriptions/:id``
…) and writes what Stripe has now, as dj-stripe's ``_handle_crud_like_event`` and the pay gem's
``Pay::Stripe::Subscription.sync`` do: event payloads are snapshots that may be stale, and
"Stripe doesn't guarantee delivery of events in the order in which they're generated"
(https://docs.stripe.com/webhooks, "Event ordering"). Parents unknown locally are fetched
and written first (:mod:`zigznote.billing.event_actions`). Types not listed here are stored and
ignored.

Which object: ``ProviderEvent.object_id`` (``events.py`` reads ``data.object.id``; a charge is
reported as its PaymentIntent). Refund events name their PaymentIntent in
``data.object.payment_intent``; checkout sessions name the organization in
``client_reference_id`` (zigznote sets it to the org ID, ``services/billing/checkout.py``) and the
customer, subscription and PaymentIntent they made. These IDs never change, so reading them from
the verified payload is safe; state always comes from a fetch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from zigznote.billing import event_actions as act
from zigznote.billing.events import IGNORED, PROCESSED, EventContext, HandlerTable

__all__ = ["HANDLERS", "SIGNATURE_HEADER"]

#: The header ``billing events ingest --signature`` fills.
SIGNATURE_HEADER: Final = "Stripe-Signature"


def _object(ctx: EventContext) -> Mapping[str, Any]:
    data = ctx.event.data.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    return obj if isinstance(obj, Mapping) else {}


def _pointer(value: object) -> str | None:
    """An ID field of the payload, expanded (``{"id": …}``) or not."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and 0 < len(value) <= 255 else None


def customer_changed(ctx: EventContext) -> str:
    """``customer.created|updated|deleted``: the customer as Stripe has it (a deleted stub)."""
    return act.sync_customer(ctx, ctx.event.object_id)


def subscription_changed(ctx: EventContext) -> str:
    """``customer.subscription.*``: the subscription as Stripe has it now (``deleted`` is a
    subscription that ended: Stripe keeps it with status ``canceled``)."""
    return act.sync_subscription(ctx, ctx.event.object_id)


def invoice_changed(ctx: EventContext) -> str:
    """``invoice.*``: the invoice, and its subscription when it was never seen here."""
    return act.sync_invoice(ctx, ctx.event.object_id)


def payment_changed(ctx: EventContext) -> str:
    """``payment_intent.*``: the PaymentIntent with its latest charge (refunded amount)."""
    return act.sync_payment(ctx, ctx.event.object_id)


def refunds_changed(ctx: EventContext) -> str:
    """``charge.refunded``, ``charge.refund.updated``, ``refund.*``: the PaymentIntent and all
    its refunds."""
    if ctx.event.object_type == "payment":
        return act.sync_refunds(ctx, ctx.event.object_id)
    return act.sync_refunds(ctx, _pointer(_object(ctx).get("payment_intent")))


def checkout_completed(ctx: EventContext) -> str:
    """``checkout.session.completed`` and its async outcomes: the organization is the
    session's ``client_reference_id`` (or ``metadata.zigznote_org``); its customer, then the
    subscription or payment the session made, as Stripe has them now."""
    session = _object(ctx)
    metadata = session.get("metadata")
    hints = [session.get("client_reference_id"), metadata.get(act.ORG_KEY) if isinstance(metadata, Mapping) else None]
    org_hint = next((h for h in hints if act.is_org_id(h)), None)
    customer_id = _pointer(session.get("customer"))
    if act.owner(ctx, customer_id, org_hint=org_hint) is None:
        return ctx.ignore(f"checkout session {ctx.event.object_id}: {ctx.note}")
    subscription_id = _pointer(session.get("subscription"))
    payment_id = _pointer(session.get("payment_intent"))
    results = []
    if subscription_id:
        results.append(act.sync_subscription(ctx, subscription_id, org_hint=org_hint))
    if payment_id:
        results.append(act.sync_payment(ctx, payment_id, org_hint=org_hint))
    return IGNORED if results and all(r == IGNORED for r in results) else PROCESSED


def _each(types: tuple[str, ...], handler: Any) -> dict[str, Any]:
    return dict.fromkeys(types, handler)


HANDLERS: HandlerTable = {
    **_each(("customer.created", "customer.updated", "customer.deleted"), customer_changed),
    **_each(
        (
            "customer.subscription.created",
            "customer.subscription.updated",
            "customer.subscription.deleted",
            "customer.subscription.paused",
            "customer.subscription.resumed",
            "customer.subscription.pending_update_applied",
            "customer.subscription.pending_update_expired",
            "customer.subscription.trial_will_end",
        ),
        subscription_changed,
    ),
    **_each(
        (
            "invoice.created",
            "invoice.finalized",
            "invoice.updated",
            "invoice.paid",
            "invoice.payment_failed",
            "invoice.payment_succeeded",
            "invoice.payment_action_required",
            "invoice.voided",
            "invoice.marked_uncollectible",
        ),
        invoice_changed,
    ),
    **_each(
        (
            "payment_intent.succeeded",
            "payment_intent.payment_failed",
            "payment_intent.canceled",
            "payment_intent.processing",
            "payment_intent.requires_action",
        ),
        payment_changed,
    ),
    **_each(
        ("charge.refunded", "charge.refund.updated", "refund.created", "refund.updated", "refund.failed"),
        refunds_changed,
    ),
    **_each(
        (
            "checkout.session.completed",
            "checkout.session.async_payment_succeeded",
            "checkout.session.async_payment_failed",
        ),
        checkout_completed,
    ),
}
