"""An organization's subscription (``billing subscriptions …``).

An organization has at most one running subscription per provider (any not ``canceled`` or
``incomplete_expired``): ``create`` and ``billing checkout`` refuse a second. One can still
appear (a checkout completed in another tab, a subscription made in the provider's dashboard,
both reported by inbound events): ``show`` then lists the others beside the newest, and
``change``, ``cancel`` and ``resume`` refuse to guess (Conflict ``several_subscriptions``)
until ``--subscription`` names one. Every change goes to the provider first and our row is
then written from its answer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from zigznote.billing.idempotency import freeze, thaw
from zigznote.billing.types import Proration, SubscriptionRequest, SubscriptionStatus
from zigznote.billing.types import Subscription as BillingSubscription
from zigznote.errors import Conflict, InvalidInput
from zigznote.services.billing import ops
from zigznote.services.billing._common import (
    check_quantity,
    customers_at,
    find_price,
    open_provider,
    org_of,
    ours,
    parse_interval,
    provider_class,
    provider_flag,
    provider_name,
    refuse_second_subscription,
    require_customer,
    require_subscription,
    running_subscriptions,
    unsupported_by,
)
from zigznote.services.billing.records import subscription_json, upsert_subscription
from zigznote.store.models import BillingCustomer, Subscription
from zigznote.timeutil import iso, utcnow

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


def show_subscription(
    db: Database, settings: Settings, *, org_ref: str, provider: str | None = None, pick: str | None = None
) -> dict[str, Any]:
    """The organization's current subscription as last synced (NotFound, exit 3, without one),
    or the one ``pick`` names (our ``bsub_…`` or the provider's ID). ``others``: every other
    running subscription of the organization at the provider (subscription JSON each, newest
    first), normally ``[]``: the commands that change a subscription refuse to choose among them."""
    name = provider_name(settings, provider)
    with db.session() as session:
        org = org_of(session, org_ref)
        sub = require_subscription(session, org, name, live=False, pick=pick, flag=provider_flag(settings, name))
        others = [subscription_json(r) for r in running_subscriptions(session, org.id, name) if r.id != sub.id]
        return {**subscription_json(sub), "others": others}


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
    flag = provider_flag(settings, name)
    if not provider_class(name).capabilities.create_subscriptions:
        raise unsupported_by(
            name,
            "create a subscription outside checkout (a subscription starts with the customer's first payment: "
            f"`zigznote --org {org_ref} billing checkout --plan {plan}{flag}`)",
        )
    every = parse_interval(interval)
    check_quantity(quantity)
    if trial_days is not None and not 1 <= trial_days <= _MAX_TRIAL_DAYS:
        raise InvalidInput(f"--trial-days must be 1 to {_MAX_TRIAL_DAYS}", code="invalid_trial")
    with db.session() as session:
        org = org_of(session, org_ref)
        customer = require_customer(session, org, name, flag=flag)
        refuse_second_subscription(session, org, name, flag=flag)
        _plan, price = find_price(session, name, plan, every, currency)
        request = SubscriptionRequest(
            customer_id=customer.provider_customer_id,
            price_id=price.provider_price_id,
            quantity=quantity,
            trial_days=trial_days,
            metadata=ours(org.id, plan),
        )
        org_id, customer_id = org.id, customer.id
    with open_provider(settings, name) as client:
        outcome = ops.run(
            db,
            provider=name,
            operation="subscription.create",
            scope=org_id,
            params=freeze(request),
            call=lambda params, key: client.create_subscription(thaw(SubscriptionRequest, params), idempotency_key=key),
            result_id=lambda sub: sub.id,
            record=lambda session, sub: subscription_json(_upsert(session, name, sub, customer_id)),
            org_id=org_id,
        )
    made = outcome.value
    if outcome.started.differs:  # an earlier create got its answer now; this one was not sent
        raise Conflict(
            f"finished an earlier subscription create that got no answer (started {iso(outcome.started.started_at)}): "
            f"{made['provider_id']} on {made['plan']}, {made['status']}; this command's request (plan {plan}) "
            "was not sent",
            hint=f"`zigznote --org {org_ref} billing subscriptions show{flag}` shows it; "
            f"`billing subscriptions change --plan {plan}` moves it to the plan asked for now",
            code="earlier_operation_finished",
        )
    return {**made, "notes": outcome.notes("subscription create")}


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
    pick: str | None = None,
) -> dict[str, Any]:
    """Move the running subscription (``pick``: the one it names, when several run) to ``plan``
    (interval and currency default to the current price's), prorating as ``proration`` says
    (Stripe's default ``create_prorations``: credit and charge on the next invoice). Nothing is
    sent when it is already on that price and quantity (``changed: false``). Raises InvalidInput
    (a provider that cannot change plans, a proration it cannot do; 2), NotFound (3), Conflict
    (several running and no ``pick``; 4), ProviderError (5)."""
    name = provider_name(settings, provider)
    flag = provider_flag(settings, name)
    how = parse_proration(proration)
    _check_proration(name, how, f"`zigznote --org {org_ref} billing checkout --plan {plan}{flag}`")
    if quantity is not None:
        check_quantity(quantity)
    with db.session() as session:
        org = org_of(session, org_ref)
        sub = require_subscription(session, org, name, pick=pick, flag=flag, action=f"change --plan {plan}")
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


def _check_proration(provider: str, how: Proration, checkout: str) -> None:
    """Before anything is read or sent: a provider that cannot change plans at all says so (not
    that it cannot prorate), then the proration must be one it can do."""
    caps = provider_class(provider).capabilities
    if not caps.change_plan:
        raise unsupported_by(
            provider, f"change a subscription's plan: cancel it and subscribe again through {checkout}"
        )
    if how not in caps.prorations:
        raise unsupported_by(provider, f"prorate a plan change as {how.value}")


def cancel_subscription(
    db: Database,
    settings: Settings,
    *,
    org_ref: str,
    now: bool = False,
    provider: str | None = None,
    pick: str | None = None,
) -> dict[str, Any]:
    """Cancel the running subscription (``pick``: the one it names, when several run) at the end
    of its period (``now``: at once). Each way needs its capability (``cancel_at_period_end``,
    ``cancel_now``; InvalidInput, 2, before anything is sent); Conflict ``several_subscriptions``
    (4) when several run and none is named."""
    name = provider_name(settings, provider)
    flag = provider_flag(settings, name)
    caps = provider_class(name).capabilities
    if not now and not caps.cancel_at_period_end:
        raise unsupported_by(name, "cancel at the end of the period (use --now)")
    if now and not caps.cancel_now:
        raise unsupported_by(
            name,
            "end a subscription before the period already paid for (cancel without --now stops the next charge; "
            "`billing payments refund` returns money)",
        )
    with db.session() as session:
        org = org_of(session, org_ref)
        sub = require_subscription(
            session, org, name, pick=pick, flag=flag, action="cancel" + (" --now" if now else "")
        )
        provider_sub_id, customer_id = sub.provider_subscription_id, sub.customer_id
    with open_provider(settings, name) as client:
        result = client.cancel_subscription(provider_sub_id, at_period_end=not now)
    with db.session() as session:
        return subscription_json(_upsert(session, name, result, customer_id))


def resume_subscription(
    db: Database, settings: Settings, *, org_ref: str, provider: str | None = None, pick: str | None = None
) -> dict[str, Any]:
    """Undo a scheduled cancellation (Stripe ``cancel_at_period_end=false``) or resume a paused
    subscription, whichever the provider reports now. Conflict ``nothing_to_resume`` (4) when
    it is neither (the hint says what the command is for); a canceled subscription cannot be
    resumed (NotFound: none running); Conflict ``several_subscriptions`` as for cancel."""
    name = provider_name(settings, provider)
    flag = provider_flag(settings, name)
    with db.session() as session:
        org = org_of(session, org_ref)
        sub = require_subscription(session, org, name, pick=pick, flag=flag, action="resume")
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
                hint="resume withdraws a cancellation scheduled with `billing subscriptions cancel` (or resumes a "
                f"paused subscription); `zigznote --org {slug} billing subscriptions show{flag}` shows its state",
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
        customers = [(c.id, c.provider_customer_id) for c in customers_at(session, name, org_ref)]
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
