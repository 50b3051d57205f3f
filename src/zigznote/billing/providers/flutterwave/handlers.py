"""Flutterwave's inbound events → handlers (the table ``billing/events.py`` finds by name).

The pipeline (``billing/events.py``) has already checked the signature, stored the event and
deduplicated it (a redelivery of the same event is answered 2xx and not applied again); a
handler re-reads the object from Flutterwave and defers its writes to the event's one
transaction. Nothing about money is taken from the payload: "verify that the payment was
successful with Flutterwave before giving value"
(https://developer.flutterwave.com/docs/transaction-verification).

- ``charge.completed``: the transaction is read again (``GET /transactions/{id}/verify`` with its
  refunds) and checked against what zigznote expected, taken from zigznote's own records: the
  checkout that made its ``tx_ref`` (the price's amount times the quantity), else, for a renewal
  Flutterwave charged on a plan, the customer's one running subscription (its ``tx_ref`` is
  Flutterwave's, so only status, currency and amount are checked). Paid (``amount`` at least the
  expected one, never ``charged_amount``) is ``succeeded`` (an overpayment noted); short, in
  another currency or under another reference is ``requires_action`` with the reason; a charge
  nothing of zigznote's expects is ``requires_action`` too (never assumed paid). A timeout or 5xx
  while verifying fails the event (answered 5xx: Flutterwave retries, ``events replay`` applies
  it later): the payment is queried again, never guessed. The customer's subscriptions are
  re-read too: the first payment on a plan is what makes a v3 subscription.
- ``subscription.cancelled``: the subscription as Flutterwave has it now (cancelled by the
  customer, by us, or after three failed renewals), through :mod:`.subscriptions`' mapping.

Types not listed are stored and ignored. The organization comes from our customer row (keyed by
email), or from the checkout's organization for a customer seen for the first time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from sqlmodel import Session, col, select

from zigznote.billing import event_actions as act
from zigznote.billing import money
from zigznote.billing.events import IGNORED, PROCESSED, EventContext, HandlerTable
from zigznote.billing.money import Money
from zigznote.billing.providers.flutterwave import params
from zigznote.billing.providers.flutterwave.provider import FlutterwaveProvider
from zigznote.billing.providers.flutterwave.verify import Expected, Verdict
from zigznote.billing.types import Payment, PaymentStatus
from zigznote.errors import ProviderError
from zigznote.store.models import BillingCustomer, BillingPrice, PendingOperation, Subscription
from zigznote.timeutil import utcnow

__all__ = ["HANDLERS", "SIGNATURE_HEADER", "charge_completed", "subscription_changed"]

#: The header ``billing events ingest --signature`` fills (v3's secret hash).
SIGNATURE_HEADER: Final = "verif-hash"
_CHECKOUT: Final = "checkout.create"
_ENDED: Final = ("canceled", "incomplete_expired")
_UNEXPECTED: Final = "no zigznote checkout or subscription expects this payment: check it at Flutterwave"


def _expected_from_checkout(session: Session, provider: str, reference: str) -> tuple[Money, str | None] | None:
    """The amount of the checkout whose ``tx_ref`` is ``reference`` and its organization."""
    ours = (PendingOperation.provider == provider, PendingOperation.operation == _CHECKOUT)
    query = select(PendingOperation).where(*ours)
    made = session.exec(query.where(PendingOperation.result_id == reference)).first()
    if made is None:  # the checkout's answer was lost: its tx_ref is still derived from its key
        unanswered = session.exec(query.where(col(PendingOperation.result_id).is_(None))).all()
        made = next((op for op in unanswered if params.tx_ref(op.idempotency_key) == reference), None)
    if made is None:
        return None
    sent: Mapping[str, Any] = made.params
    given = sent.get("quantity")
    quantity = given if isinstance(given, int) and given >= 1 else 1
    if sent.get("mode") == "payment" and isinstance(sent.get("amount"), Mapping):
        return money.from_data(sent["amount"]), made.org_id
    price_id = sent.get("price_id")
    price = session.exec(
        select(BillingPrice).where(BillingPrice.provider == provider, BillingPrice.provider_price_id == price_id)
    ).first()
    if price is None:
        return None
    return Money(price.amount, price.currency) * quantity, made.org_id


def _expected_from_subscription(session: Session, provider: str, email: str) -> tuple[Money, str | None] | None:
    """A renewal: the price of the customer's one running subscription."""
    running = session.exec(
        select(Subscription)
        .join(BillingCustomer, col(BillingCustomer.id) == col(Subscription.customer_id))
        .where(
            Subscription.provider == provider,
            BillingCustomer.provider_customer_id == email,
            col(Subscription.status).not_in(_ENDED),
        )
    ).all()
    if len(running) != 1 or running[0].amount is None or running[0].currency is None:
        return None
    return Money(running[0].amount, running[0].currency), running[0].org_id


def _verified(ctx: EventContext, payment: Payment, tx_id: str) -> tuple[Payment, str | None, bool]:
    """``payment`` with the status verification against our records gives, the organization
    those records name, and whether it concerns a plan."""
    reference = payment.metadata.get("tx_ref", "")
    name = ctx.provider_name
    from_checkout = ctx.read(lambda s: _expected_from_checkout(s, name, reference))
    email = payment.customer_id or ""
    found = from_checkout or ctx.read(lambda s: _expected_from_subscription(s, name, email))
    if found is None:
        if payment.status is PaymentStatus.SUCCEEDED and "verdict" not in payment.metadata:
            return replace(payment, status=PaymentStatus.REQUIRES_ACTION, failure_message=_UNEXPECTED), None, False
        return payment, None, False
    expected, org_hint = found
    provider = ctx.provider
    if not isinstance(provider, FlutterwaveProvider):
        raise ProviderError(f"{name} events need the Flutterwave provider", code="wrong_provider")
    result = provider.verify_payment(Expected(reference, expected), transaction_id=tx_id)
    if result.verdict is Verdict.UNKNOWN:
        raise ProviderError(
            f"payment {tx_id} could not be verified with Flutterwave ({result.reason}); it will be asked again",
            code="flutterwave_unverified",
        )
    extra = {"verdict": result.verdict.value}
    if result.overpaid is not None:
        extra["overpaid"] = str(result.overpaid.to_decimal())
    checked = replace(
        payment,
        status=result.payment_status(),
        failure_message=None if result.paid else (result.reason if result.flagged else payment.failure_message),
        metadata={**payment.metadata, **extra},
    )
    return checked, org_hint, True


def charge_completed(ctx: EventContext) -> str:
    """A transaction finished (successfully or not): re-read, verify, write (module docstring)."""
    tx_id = ctx.event.object_id
    if not tx_id:
        return ctx.ignore("the event names no transaction")
    as_of = utcnow()
    payment = ctx.provider.get_payment(tx_id)
    payment, org_hint, on_plan = _verified(ctx, payment, tx_id)
    if act.store_payment(ctx, payment, as_of=as_of, org_hint=org_hint) == IGNORED:
        return IGNORED
    if on_plan and payment.customer_id:
        act.sync_customer_subscriptions(ctx, payment.customer_id)
    return PROCESSED


def subscription_changed(ctx: EventContext) -> str:
    """``subscription.cancelled``: the subscription as Flutterwave has it now."""
    return act.sync_subscription(ctx, ctx.event.object_id)


HANDLERS: HandlerTable = {
    "charge.completed": charge_completed,
    "subscription.cancelled": subscription_changed,
}
