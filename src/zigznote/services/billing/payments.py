"""Payments and refunds (``billing payments list | show | refund``).

Payments are read from the provider (and written to our rows on the way), since the provider
knows what was paid and refunded. A refund is checked against the refundable remainder **as the
provider reports it now** (a fresh fetch of the payment, never our rows added up): more than
that is Conflict (exit 4) and nothing is sent or stored.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, select

from zigznote.billing import money
from zigznote.billing.idempotency import freeze
from zigznote.billing.money import Money
from zigznote.billing.providers.base import PaymentProvider
from zigznote.billing.types import Payment, PaymentStatus, Refund
from zigznote.errors import Conflict, InvalidInput, NotFound, ProviderError
from zigznote.ids import looks_like
from zigznote.services.billing import ops
from zigznote.services.billing._common import (
    open_provider,
    org_of,
    provider_class,
    provider_flag,
    provider_name,
    require_customer,
    unsupported_by,
)
from zigznote.services.billing.records import payment_json, refund_json, upsert_payment, upsert_refund
from zigznote.store.models import BillingCustomer, Organization
from zigznote.store.models import Payment as PaymentRow
from zigznote.store.models import Refund as RefundRow
from zigznote.timeutil import iso

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.store.engine import Database

__all__ = ["REFUND_REASONS", "list_payments", "refund_payment", "show_payment"]

#: Why a refund is made, as Stripe names it (``reason`` on POST /v1/refunds:
#: https://docs.stripe.com/api/refunds/create); checked here so a typo is refused before the
#: pending operation is written.
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def _owner(session: Session, org_ref: str, provider: str, flag: str) -> tuple[Organization, BillingCustomer]:
    org = org_of(session, org_ref)
    return org, require_customer(session, org, provider, flag=flag)


def _provider_id(session: Session, org: Organization, provider: str, ref: str) -> str:
    """The provider's payment ID for ``ref``: our ``pay_…`` (of this organization) or the
    provider's own ID as given."""
    if not looks_like(ref, "pay"):
        if not ref or len(ref) > 255 or any(c.isspace() or ord(c) < 32 for c in ref):
            raise InvalidInput(f"invalid payment ID {ref!r}", code="invalid_id")
        return ref
    row = session.get(PaymentRow, ref)
    if row is None or row.org_id != org.id or row.provider != provider:
        raise _not_found(ref, org)
    return row.provider_payment_id


def _not_found(ref: str, org: Organization) -> NotFound:
    return NotFound(
        f"payment {ref!r} not found for organization {org.slug!r}",
        hint="`billing payments list` shows its payments",
        code="payment_not_found",
    )


def _fetch_owned(client: PaymentProvider, payment_id: str, org: Organization, customer_id: str) -> Payment:
    """The payment as the provider has it now, if it is this organization's customer's (another
    organization's payment is reported as not found, never shown)."""
    payment = client.get_payment(payment_id)
    if payment.customer_id != customer_id:
        raise _not_found(payment_id, org)
    return payment


def list_payments(
    db: Database, settings: Settings, *, org_ref: str, limit: int = 20, provider: str | None = None
) -> list[dict[str, Any]]:
    """The organization's newest ``limit`` payments from the provider (our rows updated)."""
    name = provider_name(settings, provider)
    with db.session() as session:
        _org, customer = _owner(session, org_ref, name, provider_flag(settings, name))
        customer_id, provider_customer_id = customer.id, customer.provider_customer_id
    found: list[Payment] = []
    with open_provider(settings, name) as client:
        for payment in client.list_payments(customer_id=provider_customer_id):
            found.append(payment)
            if len(found) >= limit:
                break
    with db.session() as session:
        customer_row = session.get(BillingCustomer, customer_id)
        return [payment_json(_stored(upsert_payment(session, name, p, customer=customer_row))) for p in found]


def _stored(row: PaymentRow | None) -> PaymentRow:
    assert row is not None  # written with our own customer
    return row


def show_payment(
    db: Database, settings: Settings, *, org_ref: str, payment: str, provider: str | None = None
) -> dict[str, Any]:
    """One payment of the organization as the provider has it now, with its refunds."""
    name = provider_name(settings, provider)
    with db.session() as session:
        org, customer = _owner(session, org_ref, name, provider_flag(settings, name))
        payment_id = _provider_id(session, org, name, payment)
        customer_id, provider_customer_id = customer.id, customer.provider_customer_id
    with open_provider(settings, name) as client:
        fresh = _fetch_owned(client, payment_id, org, provider_customer_id)
        refunds = list(client.list_refunds(payment_id=payment_id))
    with db.session() as session:
        row = _stored(upsert_payment(session, name, fresh, customer=session.get(BillingCustomer, customer_id)))
        refund_rows = [upsert_refund(session, name, r, org_id=row.org_id) for r in refunds]
        return {**payment_json(row), "refunds": [refund_json(r) for r in refund_rows if r is not None]}


def refund_payment(
    db: Database,
    settings: Settings,
    *,
    org_ref: str,
    payment: str,
    amount: str | Decimal | None = None,
    reason: str | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """Refund ``amount`` (major units, in the payment's currency; ``None``: all that is still
    refundable) of one of the organization's payments.

    The payment is fetched first; the refund must fit in what the provider reports refundable
    (amount received minus amount refunded), else Conflict ``refund_exceeds_remainder`` (exit 4) with nothing
    sent or stored. A pending refund of this payment (its answer was lost) is finished first,
    with its key and original amount, instead of starting another. Raises InvalidInput (an
    amount the currency or provider cannot hold, an unknown reason, a partial refund the
    provider cannot do; 2), NotFound (3), Conflict (payment not succeeded, nothing left; 4),
    ProviderError (5), ConfigError (6). Returns ``{"refund", "payment", "notes"}``.
    """
    name = provider_name(settings, provider)
    if reason is not None and reason not in REFUND_REASONS:
        raise InvalidInput(
            f"invalid refund reason {reason!r}", hint=f"use one of {', '.join(REFUND_REASONS)}", code="invalid_reason"
        )
    with db.session() as session:
        org, customer = _owner(session, org_ref, name, provider_flag(settings, name))
        payment_id = _provider_id(session, org, name, payment)
        customer_id, provider_customer_id, org_id = customer.id, customer.provider_customer_id, org.id
    with open_provider(settings, name) as client:
        fresh = _fetch_owned(client, payment_id, org, provider_customer_id)
        wanted = (
            money.parse(amount, fresh.amount.currency, provider=name, allow_zero=False, what="refund amount")
            if amount is not None
            else None
        )
        if ops.find_pending(db, provider=name, operation="refund.create", scope=payment_id) is None:
            _check_refund(name, fresh, wanted)
        params = {"payment_id": payment_id, "amount": freeze(wanted), "reason": reason}

        def record(session: Session, refund: Refund) -> Refund:
            # The payment as fetched before the refund, then the refund: both in the transaction
            # that completes the operation, so a crash cannot lose the refund's row.
            upsert_payment(session, name, fresh, customer=session.get(BillingCustomer, customer_id))
            upsert_refund(session, name, refund, org_id=org_id)
            return refund

        outcome = ops.run(
            db,
            provider=name,
            operation="refund.create",
            scope=payment_id,
            params=params,
            call=lambda p, key: client.create_refund(
                p["payment_id"],
                idempotency_key=key,
                amount=money.from_data(p["amount"]) if p["amount"] else None,
                reason=p["reason"],
            ),
            result_id=lambda refund: refund.id,
            record=record,
            org_id=org_id,
        )
        notes = outcome.notes("refund")
        try:
            after: Payment | None = client.get_payment(payment_id)
        except ProviderError as exc:  # the refund is made and stored; only the new totals are missing
            after = None
            notes.append(f"could not read the payment again after the refund ({exc.message})")
    with db.session() as session:
        if after is not None:
            upsert_payment(session, name, after, customer=session.get(BillingCustomer, customer_id))
        refund_row = session.exec(
            select(RefundRow).where(RefundRow.provider == name, RefundRow.provider_refund_id == outcome.value.id)
        ).one()
        payment_row = session.exec(
            select(PaymentRow).where(PaymentRow.provider == name, PaymentRow.provider_payment_id == payment_id)
        ).one()
        data = {"refund": refund_json(refund_row), "payment": payment_json(payment_row), "notes": notes}
    if outcome.started.differs:
        command = f"zigznote --org {org_ref} billing payments refund {payment}{provider_flag(settings, name)}"
        raise _earlier_refund(data, outcome.started.started_at, wanted, reason, command)
    return data


def _earlier_refund(
    data: dict[str, Any], started: datetime, wanted: Money | None, reason: str | None, command: str
) -> Conflict:
    """The command finished an earlier refund of this payment that got no answer, with *its*
    amount and reason, not this command's: say so (exit 4), never ✓ for a request not sent."""
    refund, paid = data["refund"], data["payment"]
    asked = money.display(wanted) if wanted is not None else "all that was left"
    again = (
        command
        + (f" --amount {wanted.to_decimal()}" if wanted is not None else "")
        + (f" --reason {reason}" if reason else "")
    )
    return Conflict(
        f"finished an earlier refund of this payment that got no answer (started {iso(started)}): "
        f"{refund['amount']['display']} ({refund['provider_id']}, {refund['status']}); this command's refund "
        f"({asked}) was not sent",
        hint=f"{paid['refundable']['display']} is left refundable; to refund {asked} too, run the command "
        f"again: `{again}`",
        code="earlier_operation_finished",
    )


def _check_refund(provider: str, payment: Payment, wanted: Money | None) -> None:
    """Refuse, before anything is sent, a refund the provider's own figures do not allow."""
    if payment.status is not PaymentStatus.SUCCEEDED:
        raise Conflict(
            f"payment {payment.id} is {payment.status.value}: only a succeeded payment can be refunded",
            code="payment_not_refundable",
        )
    left = payment.refundable
    paid, refunded = money.display(payment.received), money.display(payment.amount_refunded)
    figures = f"as {provider} reports it: {paid} paid, {refunded} refunded"
    if left <= Money.zero(left.currency):
        raise Conflict(f"payment {payment.id} has nothing left to refund ({figures})", code="nothing_to_refund")
    if wanted is not None and wanted > left:
        raise Conflict(
            f"a refund of {money.display(wanted)} is more than the {money.display(left)} still refundable "
            f"on payment {payment.id} ({figures})",
            hint=f"refund at most {left.to_decimal()} {left.currency}, or leave out --amount to refund all of it",
            code="refund_exceeds_remainder",
        )
    if wanted is not None and wanted != left and not provider_class(provider).capabilities.partial_refunds:
        raise unsupported_by(provider, "refund part of a payment (leave out --amount to refund all of it)")
