"""What every billing service shares: choosing and opening the provider, the organization's
customer and subscription, plan prices from the store, and money in JSON."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from zigznote.billing import money, providers
from zigznote.billing.money import Money
from zigznote.billing.providers.base import PaymentProvider
from zigznote.billing.types import BillingInterval, SubscriptionStatus
from zigznote.errors import InvalidInput, NotFound
from zigznote.services import orgs
from zigznote.store.models import BillingCustomer, BillingPlan, BillingPrice, Organization, Subscription

if TYPE_CHECKING:
    from zigznote.config import Settings

#: Subscription states that no longer bill and cannot change: a new subscription may be created.
ENDED = frozenset({SubscriptionStatus.CANCELED.value, SubscriptionStatus.INCOMPLETE_EXPIRED.value})


def provider_name(settings: Settings, explicit: str | None = None) -> str:
    """The provider a command acts on: ``--provider`` or ``ZIGZNOTE_BILLING_PROVIDER`` (default
    ``stripe``). Raises InvalidInput ``unknown_provider`` (exit 2) naming the registered ones."""
    name = (explicit or str(settings.billing_provider)).strip().lower()
    providers.get(name)  # unknown → InvalidInput naming the known providers
    return name


def provider_class(name: str) -> type[PaymentProvider]:
    """The registered class of ``name`` (capabilities need no keys)."""
    return providers.get(name)


@contextmanager
def open_provider(settings: Settings, name: str) -> Iterator[PaymentProvider]:
    """A provider instance for one service call, closed afterwards. Raises ConfigError (exit 6)
    naming the missing key (``STRIPE_SECRET_KEY``) without its value."""
    with providers.create(name, settings) as provider:
        yield provider


def money_json(amount: int | None, currency: str | None) -> dict[str, Any] | None:
    """``{"amount": 2900, "currency": "USD", "display": "$29.00"}``, or None without an amount."""
    if amount is None or currency is None:
        return None
    return money.as_json(Money(amount, currency))


def org_of(session: Session, ref: str) -> Organization:
    """The organization by slug or ID (NotFound ``org_not_found``, exit 3)."""
    return orgs.resolve(session, ref)


def customer_of(session: Session, org_id: str, provider: str) -> BillingCustomer | None:
    """The organization's customer at ``provider``, if it has one."""
    return session.exec(
        select(BillingCustomer).where(BillingCustomer.org_id == org_id, BillingCustomer.provider == provider)
    ).first()


def require_customer(session: Session, org: Organization, provider: str) -> BillingCustomer:
    """The organization's customer at ``provider``; NotFound ``customer_not_found`` (exit 3)
    with the command that creates it."""
    customer = customer_of(session, org.id, provider)
    if customer is None:
        raise NotFound(
            f"organization {org.slug!r} has no {provider} customer",
            hint=f"create it with `{orgs.command(session, org.id, 'billing customers create')}`",
            code="customer_not_found",
        )
    return customer


def current_subscription(session: Session, org_id: str, provider: str) -> Subscription | None:
    """The organization's subscription at ``provider`` that still runs (the newest one not
    canceled or expired), else its newest one, else None."""
    rows = session.exec(
        select(Subscription)
        .where(Subscription.org_id == org_id, Subscription.provider == provider)
        .order_by(col(Subscription.created_at).desc(), col(Subscription.id).desc())
    ).all()
    return next((r for r in rows if r.status not in ENDED), rows[0] if rows else None)


def require_subscription(session: Session, org: Organization, provider: str, *, live: bool = True) -> Subscription:
    """The organization's current subscription; NotFound ``subscription_not_found`` (exit 3)
    when it has none, or (``live``) when the newest one has ended."""
    sub = current_subscription(session, org.id, provider)
    if sub is None or (live and sub.status in ENDED):
        ended = f" (its last one is {sub.status})" if sub is not None else ""
        raise NotFound(
            f"organization {org.slug!r} has no running {provider} subscription{ended}",
            hint=f"start one with `{orgs.command(session, org.id, 'billing subscriptions create --plan PLAN')}` "
            "or `billing checkout`",
            code="subscription_not_found",
        )
    return sub


def parse_interval(value: str) -> BillingInterval:
    """``day``/``week``/``month``/``year`` (InvalidInput ``invalid_interval``, exit 2)."""
    try:
        return BillingInterval(value.strip().lower())
    except ValueError:
        choices = ", ".join(i.value for i in BillingInterval)
        raise InvalidInput(
            f"invalid interval {value!r}", hint=f"use one of {choices}", code="invalid_interval"
        ) from None


def plan_row(session: Session, slug: str) -> BillingPlan:
    """A synced plan by slug; NotFound ``plan_not_found`` naming the known ones."""
    plan = session.exec(select(BillingPlan).where(BillingPlan.slug == slug)).first()
    if plan is None:
        known = ", ".join(session.exec(select(BillingPlan.slug).order_by(BillingPlan.slug)).all()) or "none yet"
        raise NotFound(
            f"no plan {slug!r}",
            hint=f"plans: {known} (`zigznote billing plans sync --file plans.toml` adds the file's plans)",
            code="plan_not_found",
        )
    return plan


def find_price(
    session: Session,
    provider: str,
    slug: str,
    interval: BillingInterval,
    currency: str | None,
    interval_count: int = 1,
) -> tuple[BillingPlan, BillingPrice]:
    """The active price of plan ``slug`` at ``provider`` per ``interval`` in ``currency``.

    Without ``currency`` the plan must have exactly one such price. Raises NotFound
    (``plan_not_found``; ``price_not_found`` naming the prices there are), InvalidInput
    (``invalid_currency``; ``currency_required`` when several currencies fit)."""
    plan = plan_row(session, slug)
    if not plan.active:
        raise NotFound(f"plan {slug!r} is no longer offered", hint="it is not in plans.toml", code="plan_not_found")
    wanted = money.normalize_currency(currency) if currency is not None else None
    prices = session.exec(
        select(BillingPrice)
        .where(
            BillingPrice.plan_id == plan.id,
            BillingPrice.provider == provider,
            col(BillingPrice.active).is_(True),
        )
        .order_by(col(BillingPrice.currency), col(BillingPrice.interval), col(BillingPrice.interval_count))
    ).all()
    fits = [
        p
        for p in prices
        if p.interval == interval.value
        and p.interval_count == interval_count
        and (wanted is None or p.currency == wanted)
    ]
    if len(fits) == 1:
        return plan, fits[0]
    offered = ", ".join(f"{p.currency}/{_every(p.interval, p.interval_count)}" for p in prices) or "none"
    if not fits:
        what = f"{wanted} " if wanted else ""
        raise NotFound(
            f"plan {slug!r} has no {what}{_every(interval.value, interval_count)} price at {provider}",
            hint=f"its {provider} prices: {offered}",
            code="price_not_found",
        )
    raise InvalidInput(
        f"plan {slug!r} has a {_every(interval.value, interval_count)} price in several currencies",
        hint=f"pick one with --currency ({', '.join(p.currency for p in fits)})",
        code="currency_required",
    )


def _every(interval: str, count: int) -> str:
    return interval if count == 1 else f"{count} {interval}s"
