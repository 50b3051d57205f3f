"""An organization's subscription (``billing subscriptions …``).

An organization has at most one running subscription per provider (the newest one not
``canceled`` or ``incomplete_expired``); ``show``, ``change``, ``cancel`` and ``resume`` act on it.
Every change goes to the provider first and our row is then written from its answer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from zigznote.billing.providers.base import unsupported
from zigznote.billing.types import Proration, SubscriptionRequest, SubscriptionStatus
from zigznote.billing.types import Subscription as BillingSubscription
from zigznote.errors import Conflict, InvalidInput
from zigznote.services import orgs
from zigznote.services.billing import ops
from zigznote.services.billing._common import (
    ENDED,
    current_subscription,
    find_price,
    open_provider,
    org_of,
    parse_interval,
    provider_class,
    provider_name,
    require_customer,
    require_subscription,
)
from zigznote.services.billing.records import subscription_json, upsert_subscription
from zigznote.store.models import BillingCustomer, Subscription
from zigznote.timeutil import utcnow
from zigznote.wording import article

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.store.engine import Database

__all__ = [
    "cancel_subscription",
    "change_subscription",
    "create_subscription",
    "parse_proration",
    "resume_subscription",
    "show_subscription",
    "sync_subscriptions",
]

_MAX_TRIAL_DAYS = 730  # Stripe: trial_period_days at most 730


def show_subscription(db: Database, settings: Settings, *, org_ref: str, provider: str | None = None) -> dict[str, Any]:
    """The organization's current subscription as last synced (NotFound, exit 3, without one)."""
    name = provider_name(settings, provider)
    with db.session() as session:
        org = org_of(session, org_ref)
        return subscription_json(require_subscription(session, org, name, live=False))


def _quantity(value: int) -> int:
    if not 1 <= value <= 10_000:
        raise InvalidInput(f"quantity must be 1 to 10000, not {value}", code="invalid_quantity")
    return value


def create_subscription(
    db: Database,
    settings: Settings,
    *,
    org_ref: str,
    plan: str,
    interval: str = "month",
    currency: str | None = None,
    quantity: int = 1,
    trial_days: int | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """Subscribe the organization's customer to ``plan``'s price per ``interval`` (in ``currency``;
    needed when the plan has that interval in several). Charges the customer's default payment
    method; the result may be ``incomplete`` when the customer must confirm the first payment.

    One create at a time per organization (a pending operation scoped to it). Raises
    InvalidInput (2), NotFound (no customer or plan or price, 3), Conflict ``subscription_exists``
    (a running one, 4), ProviderError (5), ConfigError (6)."""
    name = provider_name(settings, provider)
    every = parse_interval(interval)
    _quantity(quantity)
    if trial_days is not None and not 1 <= trial_days <= _MAX_TRIAL_DAYS:
        raise InvalidInput(f"--trial-days must be 1 to {_MAX_TRIAL_DAYS}", code="invalid_trial")
    with db.session() as session:
        org = org_of(session, org_ref)
        customer = require_customer(session, org, name)
        running = current_subscription(session, org.id, name)
        if running is not None and running.status not in ENDED:
            change = orgs.command(session, org.id, "billing subscriptions change --plan PLAN")
            raise Conflict(
                f"organization {org.slug!r} already has {article(running.status)} {running.status} subscription "
                f"({running.provider_subscription_id})",
                hint=f"change its plan with `{change}`",
                code="subscription_exists",
            )
        _plan, price = find_price(session, name, plan, every, currency)
        request = SubscriptionRequest(
            customer_id=customer.provider_customer_id,
            price_id=price.provider_price_id,
            quantity=quantity,
            trial_days=trial_days,
            metadata={"zigznote_org": org.id, "zigznote_plan": plan},
        )
        org_id, customer_id = org.id, customer.id
    with open_provider(settings, name) as client:
        outcome = ops.run(
            db,
            provider=name,
            operation="subscription.create",
            scope=org_id,
            params=ops.freeze(request),
            call=lambda params, key: client.create_subscription(
                ops.thaw(SubscriptionRequest, params), idempotency_key=key
            ),
            result_id=lambda sub: sub.id,
            record=lambda session, sub: subscription_json(_upsert(session, name, sub, customer_id)),
            org_id=org_id,
        )
    return {**outcome.value, "notes": outcome.notes("subscription create")}


def _upsert(session: Any, provider: str, sub: Any, customer_id: str, *, as_of: datetime | None = None) -> Subscription:
    customer = session.get(BillingCustomer, customer_id)
    row = upsert_subscription(session, provider, sub, customer=customer, as_of=as_of)
    assert row is not None  # our own customer
    return row


def parse_proration(value: str) -> Proration:
    """``create_prorations`` / ``always_invoice`` / ``none`` (InvalidInput ``invalid_proration``)."""
    try:
        return Proration(value.strip().lower())
    except ValueError:
        choices = ", ".join(p.value for p in Proration)
        raise InvalidInput(
            f"invalid proration {value!r}", hint=f"use one of {choices}", code="invalid_proration"
        ) from None


def change_subscription(
    db: Database,
    settings: Settings,
    *,
    org_ref: str,
    plan: str,
    interval: str | None = None,
    currency: str | None = None,
    proration: str = Proration.CREATE_PRORATIONS.value,
    quantity: int | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """Move the running subscription to ``plan`` (interval and currency default to the current
    price's), prorating as ``proration`` says (Stripe's default ``create_prorations``: credit
    and charge on the next invoice). Nothing is sent when it is already on that price and
    quantity (``changed: false``). Raises InvalidInput (a proration the provider cannot do, 2),
    NotFound (3), Conflict (4), ProviderError (5)."""
    name = provider_name(settings, provider)
    how = parse_proration(proration)
    _check_proration(name, how)  # before anything is read or sent
    if quantity is not None:
        _quantity(quantity)
    with db.session() as session:
        org = org_of(session, org_ref)
        sub = require_subscription(session, org, name)
        every = parse_interval(interval or sub.interval or "month")
        _plan, price = find_price(session, name, plan, every, currency or sub.currency)
        if price.provider_price_id == sub.provider_price_id and quantity in (None, sub.quantity):
            return {**subscription_json(sub), "changed": False}
        provider_sub_id, customer_id = sub.provider_subscription_id, sub.customer_id
        target = price.provider_price_id
    with open_provider(settings, name) as client:
        result = client.change_subscription(provider_sub_id, price_id=target, proration=how, quantity=quantity)
    with db.session() as session:
        return {**subscription_json(_upsert(session, name, result, customer_id)), "changed": True}


def _check_proration(provider: str, how: Proration) -> None:
    caps = provider_class(provider).capabilities
    if how not in caps.prorations:
        raise unsupported(provider_class(provider).title, f"prorate a plan change as {how.value}")


def cancel_subscription(
    db: Database, settings: Settings, *, org_ref: str, now: bool = False, provider: str | None = None
) -> dict[str, Any]:
    """Cancel the running subscription at the end of its period (``now``: at once). Canceling at
    period end needs the provider's ``cancel_at_period_end`` capability (InvalidInput, 2)."""
    name = provider_name(settings, provider)
    cls = provider_class(name)
    if not now and not cls.capabilities.cancel_at_period_end:
        raise unsupported(cls.title, "cancel at the end of the period (use --now)")
    with db.session() as session:
        org = org_of(session, org_ref)
        sub = require_subscription(session, org, name)
        provider_sub_id, customer_id = sub.provider_subscription_id, sub.customer_id
    with open_provider(settings, name) as client:
        result = client.cancel_subscription(provider_sub_id, at_period_end=not now)
    with db.session() as session:
        return subscription_json(_upsert(session, name, result, customer_id))


def resume_subscription(
    db: Database, settings: Settings, *, org_ref: str, provider: str | None = None
) -> dict[str, Any]:
    """Undo a scheduled cancellation (Stripe ``cancel_at_period_end=false``) or resume a paused
    subscription, whichever the provider reports now. Conflict ``nothing_to_resume`` (4) when
    it is neither; a canceled subscription cannot be resumed (NotFound: none running)."""
    name = provider_name(settings, provider)
    with db.session() as session:
        org = org_of(session, org_ref)
        sub = require_subscription(session, org, name)
        provider_sub_id, customer_id, slug = sub.provider_subscription_id, sub.customer_id, org.slug
    with open_provider(settings, name) as client:
        fresh = client.get_subscription(provider_sub_id)
        if fresh.status is SubscriptionStatus.PAUSED:
            result = client.resume_subscription(provider_sub_id)
        elif fresh.cancel_at_period_end:
            result = client.undo_cancel_subscription(provider_sub_id)
        else:
            with db.session() as session:
                _upsert(session, name, fresh, customer_id)
            raise Conflict(
                f"the subscription of {slug!r} ({provider_sub_id}) is {fresh.status.value} and not scheduled "
                "to cancel: nothing to resume",
                code="nothing_to_resume",
            )
    with db.session() as session:
        return subscription_json(_upsert(session, name, result, customer_id))


def sync_subscriptions(
    db: Database,
    settings: Settings,
    *,
    org_ref: str | None = None,
    provider: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Fetch the subscriptions of the organization's customer (or of every customer we know at
    the provider) and write them as the provider has them: new ones added, drifted ones
    repaired (a row an inbound event wrote from a later fetch is left as it is). Returns
    ``{"provider", "checked", "created": [...], "changed": [...], "subscriptions": [...]}``
    (subscription JSON). ``progress(done, total)`` after each customer's fetch."""
    name = provider_name(settings, provider)
    with db.session() as session:
        query = select(BillingCustomer).where(BillingCustomer.provider == name)
        if org_ref is not None:
            org = org_of(session, org_ref)
            query = query.where(BillingCustomer.id == require_customer(session, org, name).id)
        customers = [(c.id, c.provider_customer_id) for c in session.exec(query.order_by(BillingCustomer.id)).all()]
    fetched: list[tuple[str, BillingSubscription, datetime]] = []
    with open_provider(settings, name) as client:
        for done, (customer_id, provider_customer_id) in enumerate(customers, 1):
            as_of = utcnow()
            fetched.extend((customer_id, s, as_of) for s in client.list_subscriptions(customer_id=provider_customer_id))
            if progress is not None:
                progress(done, len(customers))
    created, changed, result = [], [], []
    with db.session() as session:
        for customer_id, sub, as_of in fetched:
            before = session.exec(
                select(Subscription).where(
                    Subscription.provider == name, Subscription.provider_subscription_id == sub.id
                )
            ).first()
            old = _comparable(subscription_json(before)) if before is not None else None
            data = subscription_json(_upsert(session, name, sub, customer_id, as_of=as_of))
            result.append(data)
            if old is None:
                created.append(data)
            elif old != _comparable(data):
                changed.append(data)
    return {"provider": name, "checked": len(result), "created": created, "changed": changed, "subscriptions": result}


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "synced_at"}
