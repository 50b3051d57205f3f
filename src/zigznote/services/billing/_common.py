"""What every billing service shares: choosing and opening the provider and refusing what it
cannot do, the organization's customer and subscription, plan prices from the store, the
metadata on what we create, the quantity rule, and money in JSON."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from zigznote.billing import money, providers
from zigznote.billing.money import Money
from zigznote.billing.providers.base import PaymentProvider, unsupported
from zigznote.billing.types import ZIGZNOTE_ORG_KEY, ZIGZNOTE_PLAN_KEY, BillingInterval, SubscriptionStatus
from zigznote.errors import ConfigError, Conflict, InvalidInput, NotFound
from zigznote.services import orgs
from zigznote.store.models import BillingCustomer, BillingPlan, BillingPrice, Organization, Subscription
from zigznote.wording import article

if TYPE_CHECKING:
    from zigznote.config import Settings

#: Subscription states that no longer bill and cannot change: a new subscription may be created.
ENDED = frozenset({SubscriptionStatus.CANCELED.value, SubscriptionStatus.INCOMPLETE_EXPIRED.value})
#: The most seats or units of a plan one subscription or checkout may carry (the CLI's --quantity).
MAX_QUANTITY = 10_000


def default_provider(settings: Settings) -> str:
    """The provider configured as the default (``ZIGZNOTE_BILLING_PROVIDER``, else ``stripe``), as written."""
    return str(settings.billing_provider).strip().lower()


def provider_name(settings: Settings, explicit: str | None = None) -> str:
    """The provider a command acts on: ``--provider`` or ``ZIGZNOTE_BILLING_PROVIDER`` (default
    ``stripe``). An unknown ``--provider`` is InvalidInput ``unknown_provider`` (exit 2); an
    unknown configured one is ConfigError ``unknown_provider`` (exit 6: a bad setting, like
    every other), both naming the registered ones."""
    if explicit:
        name = explicit.strip().lower()
        providers.get(name)  # unknown → InvalidInput naming the known providers
        return name
    name = default_provider(settings)
    try:
        providers.get(name)
    except InvalidInput as exc:
        raise ConfigError(
            f"ZIGZNOTE_BILLING_PROVIDER (the default payment provider) is {name!r}, which is not a provider",
            hint=f"set it to one of the {exc.hint or 'registered providers'}, or pass --provider",
            code="unknown_provider",
        ) from None
    return name


def provider_flag(settings: Settings, name: str) -> str:
    """``" --provider NAME"`` for a hint's command line when ``name`` is not the default
    provider (the command was run with ``--provider``), else ``""``: copied, the hint acts on
    the same provider as the command that printed it."""
    return "" if name == default_provider(settings) else f" --provider {name}"


def provider_class(name: str) -> type[PaymentProvider]:
    """The registered class of ``name`` (capabilities need no keys)."""
    return providers.get(name)


def unsupported_by(name: str, operation: str) -> InvalidInput:
    """InvalidInput ``unsupported_by_provider`` (exit 2): provider ``name`` cannot do
    ``operation`` (``"create hosted checkout pages"``); checked before anything is read or sent."""
    return unsupported(provider_class(name).title, operation)


def check_quantity(value: int) -> int:
    """``value`` when it is 1 to 10,000 (seats or units of a plan); InvalidInput
    ``invalid_quantity`` (exit 2) otherwise."""
    if not 1 <= value <= MAX_QUANTITY:
        raise InvalidInput(f"quantity must be 1 to 10000, not {value}", code="invalid_quantity")
    return value


def ours(org_id: str, plan: str | None = None) -> dict[str, str]:
    """The metadata zigznote puts on what it creates at a provider: ``zigznote_org`` (the
    organization ID, how inbound events find it) and, for a plan's subscription, ``zigznote_plan``."""
    found = {ZIGZNOTE_ORG_KEY: org_id}
    if plan is not None:
        found[ZIGZNOTE_PLAN_KEY] = plan
    return found


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


def require_customer(session: Session, org: Organization, provider: str, *, flag: str = "") -> BillingCustomer:
    """The organization's customer at ``provider``; NotFound ``customer_not_found`` (exit 3)
    with the command that creates it (``flag``: :func:`provider_flag`)."""
    customer = customer_of(session, org.id, provider)
    if customer is None:
        needs_email = provider_class(provider).capabilities.customer_email_required
        args = "billing customers create" + (" --email ADDRESS" if needs_email else "") + flag
        raise NotFound(
            f"organization {org.slug!r} has no {provider} customer",
            hint=f"create it with `{orgs.command(session, org.id, args)}`",
            code="customer_not_found",
        )
    return customer


def customers_at(session: Session, provider: str, org_ref: str | None) -> list[BillingCustomer]:
    """The customers a sync refreshes: every one we know at ``provider`` (``org_ref`` None), or
    the organization's (NotFound ``customer_not_found``, exit 3, when it has none); by ID."""
    query = select(BillingCustomer).where(BillingCustomer.provider == provider)
    if org_ref is not None:
        query = query.where(BillingCustomer.id == require_customer(session, org_of(session, org_ref), provider).id)
    return list(session.exec(query.order_by(BillingCustomer.id)).all())


def _subscriptions(session: Session, org_id: str, provider: str) -> list[Subscription]:
    """The organization's subscriptions at ``provider``, newest first."""
    return list(
        session.exec(
            select(Subscription)
            .where(Subscription.org_id == org_id, Subscription.provider == provider)
            .order_by(col(Subscription.created_at).desc(), col(Subscription.id).desc())
        ).all()
    )


def running_subscriptions(session: Session, org_id: str, provider: str) -> list[Subscription]:
    """The organization's subscriptions at ``provider`` that still run (any status but
    ``canceled`` and ``incomplete_expired``: trialing, past_due, paused… bill or may bill
    again), newest first. Normally one; two when a second was made anyway (a checkout
    completed in another tab, a subscription made in the provider's dashboard)."""
    return [r for r in _subscriptions(session, org_id, provider) if r.status not in ENDED]


def current_subscription(session: Session, org_id: str, provider: str) -> Subscription | None:
    """The organization's subscription at ``provider`` that still runs (the newest one not
    canceled or expired), else its newest one, else None."""
    rows = _subscriptions(session, org_id, provider)
    return next((r for r in rows if r.status not in ENDED), rows[0] if rows else None)


def refuse_second_subscription(
    session: Session, org: Organization, provider: str, *, flag: str = "", start: str = "create"
) -> None:
    """Conflict ``subscription_exists`` (exit 4) when the organization already has a running
    subscription at ``provider``: a checkout or create would make a second one, and the commands
    act on one. The hint: ``subscriptions change`` where the provider can change plans, else
    cancel first. ``start``: what was refused (``create``, ``checkout``), for the hint."""
    running = running_subscriptions(session, org.id, provider)
    if not running:
        return
    sub = running[0]
    if provider_class(provider).capabilities.change_plan:
        hint = (
            f"change its plan with `{orgs.command(session, org.id, 'billing subscriptions change --plan PLAN' + flag)}`"
        )
    else:
        cancel = orgs.command(session, org.id, "billing subscriptions cancel" + flag)
        hint = (
            f"{provider_class(provider).title} cannot change a subscription's plan: cancel it with `{cancel}` "
            f"and {start} again once it has ended"
        )
    raise Conflict(
        f"organization {org.slug!r} already has {article(sub.status)} {sub.status} subscription "
        f"({sub.provider_subscription_id})",
        hint=hint,
        code="subscription_exists",
    )


def require_subscription(
    session: Session,
    org: Organization,
    provider: str,
    *,
    live: bool = True,
    pick: str | None = None,
    flag: str = "",
    action: str | None = None,
) -> Subscription:
    """The organization's current subscription; NotFound ``subscription_not_found`` (exit 3)
    when it has none, or (``live``) when the newest one has ended.

    ``pick``: the one to act on, by our ID (``bsub_…``) or the provider's (NotFound
    ``subscription_not_found`` when it is not the organization's). ``action`` (``cancel``,
    ``change --plan PLAN``): the command needs a single running subscription, so with several
    running and no ``pick`` it is Conflict ``several_subscriptions`` (exit 4) naming them all,
    never a silent choice of the newest."""
    if pick is not None:
        wanted = pick.strip()
        chosen = next(
            (r for r in _subscriptions(session, org.id, provider) if wanted in (r.id, r.provider_subscription_id)),
            None,
        )
        if chosen is None:
            listed = ", ".join(r.provider_subscription_id for r in running_subscriptions(session, org.id, provider))
            raise NotFound(
                f"organization {org.slug!r} has no {provider} subscription {wanted!r}",
                hint=f"its running ones: {listed}" if listed else "it has no running one",
                code="subscription_not_found",
            )
        if live and chosen.status in ENDED:
            raise NotFound(
                f"subscription {chosen.provider_subscription_id} of {org.slug!r} is {chosen.status}",
                code="subscription_not_found",
            )
        return chosen
    running = running_subscriptions(session, org.id, provider)
    if action is not None and len(running) > 1:
        first = running[-1].provider_subscription_id
        listed = ", ".join(f"{r.provider_subscription_id} ({r.plan_slug or 'no plan'}, {r.status})" for r in running)
        command = orgs.command(session, org.id, f"billing subscriptions {action} --subscription {first}{flag}")
        raise Conflict(
            f"organization {org.slug!r} has {len(running)} running {provider} subscriptions: {listed}",
            hint=f"name the one to act on, e.g. `{command}`",
            code="several_subscriptions",
        )
    sub = current_subscription(session, org.id, provider)
    if sub is None or (live and sub.status in ENDED):
        ended = f" (its last one is {sub.status})" if sub is not None else ""
        if provider_class(provider).capabilities.create_subscriptions:
            start = f"`{orgs.command(session, org.id, 'billing subscriptions create --plan PLAN' + flag)}` or "
        else:
            start = ""
        checkout = orgs.command(session, org.id, "billing checkout --plan PLAN" + flag)
        raise NotFound(
            f"organization {org.slug!r} has no running {provider} subscription{ended}",
            hint=f"start one with {start}`{checkout}`",
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
    """A synced plan by slug; NotFound ``plan_not_found`` naming the plans offered (archived
    ones, no longer in plans.toml, are not suggested)."""
    plan = session.exec(select(BillingPlan).where(BillingPlan.slug == slug)).first()
    if plan is None:
        offered = select(BillingPlan.slug).where(col(BillingPlan.active).is_(True)).order_by(BillingPlan.slug)
        known = ", ".join(session.exec(offered).all()) or "none yet"
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
