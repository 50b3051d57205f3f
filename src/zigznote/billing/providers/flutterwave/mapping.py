"""Flutterwave v3 objects (parsed JSON) as zigznote's neutral billing types.

Shapes: the v3 SDK documentation (flutterwave-node-v3 ``documentation/*.md``) and
tests/fixtures/flutterwave/README.md. What v3 lacks is built here, and said so:

- **Products.** v3 has payment plans only (one amount, currency and interval each); zigznote's
  plans are the payment plans whose name ends in the tag ``[zz:<slug>:<digest>]``
  (:mod:`.params`). The *product* of a slug is virtual: ID ``zigznote:<slug>``, its name the
  plans' name without the tag, active while one of its plans is.
- **Subscriptions** (``{id, amount, customer{id, customer_email}, plan, status, created_at}``)
  have no period. The period is derived: from the customer's newest successful charge on the
  plan when one is known (``paid_at``: the period it paid runs one interval from it), else from
  the subscription's anniversaries. A ``cancelled`` subscription whose paid period has not run out
  is shown ``active`` with ``cancel_at_period_end`` (Flutterwave will not charge again and has
  refunded nothing), and ``canceled`` once it has; so Flutterwave's own cancellation after three
  failed renewals (no paid period left) reads ``canceled``.
- **Payments** are transactions. ``amount`` is what was asked (``amount``), never the
  fee-inclusive ``charged_amount``.

Amounts go through ``money.from_provider_amount(…, "flutterwave")`` only (``Decimal``, ``int``
or a decimal string: ``Decimal(str(x))``); text through ``untrusted.storable_text``. A value
zigznote cannot read is a ProviderError (exit 5), never a KeyError.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from zigznote.billing.money import Money
from zigznote.billing.providers._shared import answer_money, answer_text, shown
from zigznote.billing.providers.flutterwave.errors import unexpected
from zigznote.billing.providers.flutterwave.params import INTERVALS
from zigznote.billing.types import (
    ZIGZNOTE_PLAN_KEY,
    BillingInterval,
    Customer,
    Payment,
    PaymentStatus,
    Plan,
    Price,
    Refund,
    RefundStatus,
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
)
from zigznote.errors import InvalidInput
from zigznote.untrusted import storable_text

__all__ = [
    "PRODUCT_PREFIX",
    "customer",
    "field",
    "flw_id",
    "money",
    "payment",
    "period",
    "price",
    "product",
    "product_id",
    "refund",
    "slug_of",
    "split_name",
    "subscription",
    "timestamp",
]

#: Virtual product IDs: ``zigznote:<slug>``.
PRODUCT_PREFIX: Final = "zigznote:"
_TAG_RE: Final = re.compile(r"^(?P<name>.*) \[zz:(?P<slug>[a-z][a-z0-9_-]{0,39}):(?P<digest>[0-9a-f]{8})\]$", re.DOTALL)
_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_INTERVAL_OF: Final = {name: key for key, name in INTERVALS.items()}
_PAYMENT_STATUS: Final = {
    "successful": PaymentStatus.SUCCEEDED,
    "succeeded": PaymentStatus.SUCCEEDED,
    "failed": PaymentStatus.FAILED,
    "error": PaymentStatus.FAILED,
    "pending": PaymentStatus.PENDING,
    "cancelled": PaymentStatus.CANCELED,
}
_REFUND_STATUS: Final = {
    "completed": RefundStatus.SUCCEEDED,
    "successful": RefundStatus.SUCCEEDED,
    "succeeded": RefundStatus.SUCCEEDED,
    "pending": RefundStatus.PENDING,
    "processing": RefundStatus.PENDING,
    "failed": RefundStatus.FAILED,
}


def field(obj: object, name: str, what: str) -> Any:
    """``obj[name]``, or a ProviderError naming what lacks it."""
    if not isinstance(obj, Mapping) or name not in obj:
        raise unexpected(f"{what} without {name}")
    return obj[name]


def flw_id(value: object, what: str = "ID") -> str:
    """A Flutterwave ID (an integer, or text of ``A-Z a-z 0-9 _ -``) as text."""
    if type(value) is int and value >= 0:
        return str(value)
    if isinstance(value, str) and _ID_RE.fullmatch(value):
        return value
    raise unexpected(f"an unreadable {what} {shown(value, 40)!r}")


def money(value: object, currency: object, what: str = "amount") -> Money:
    """An amount Flutterwave reported, in major units, as Money; ProviderError when it is not a
    number the currency can hold (``1000.5`` UGX)."""
    if isinstance(value, float):  # never from our reader (parse_float=Decimal); tolerated exactly
        value = Decimal(str(value))
    return answer_money(value, currency, "flutterwave", "Flutterwave", what)


def timestamp(value: object) -> datetime | None:
    """``"2023-07-04T09:16:42.000Z"`` as naive UTC; ``None`` stays ``None``."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise unexpected(f"an unreadable time {shown(value, 40)!r}")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


# -- plans as products and prices ---------------------------------------------------------


def split_name(name: object) -> tuple[str, str | None, str | None]:
    """A plan name as (name without the tag, slug, key digest); untagged: (name, None, None)."""
    text = name if isinstance(name, str) else ""
    found = _TAG_RE.match(text)
    if found is None:
        return text, None, None
    return found["name"], found["slug"], found["digest"]


def product_id(slug: str) -> str:
    """The virtual product ID of a plan slug: ``zigznote:pro``."""
    return PRODUCT_PREFIX + slug


def slug_of(product: str) -> str:
    """The slug of a virtual product ID; InvalidInput for anything else."""
    slug = product.removeprefix(PRODUCT_PREFIX)
    if not product.startswith(PRODUCT_PREFIX) or not re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", slug):
        raise InvalidInput(
            f"{product!r} is not a Flutterwave product of zigznote's (zigznote:<plan slug>)", code="invalid_id"
        )
    return slug


def price(plan: Mapping[str, Any]) -> Price:
    """A payment plan as a Price. ``product_id``: ``zigznote:<slug>`` for a tagged plan, else
    ``plan:<id>``; ``interval`` ``None`` for an interval zigznote cannot name."""
    plan_id = flw_id(field(plan, "id", "a payment plan"), "plan ID")
    _name, slug, _digest = split_name(plan.get("name"))
    interval, count = _INTERVAL_OF.get(plan.get("interval"), (None, 1))  # type: ignore[arg-type]
    return Price(
        id=plan_id,
        product_id=product_id(slug) if slug else f"plan:{plan_id}",
        amount=money(field(plan, "amount", "a payment plan"), plan.get("currency"), "plan amount"),
        interval=interval,
        interval_count=count,
        active=plan.get("status") == "active",
        created=timestamp(plan.get("created_at")),
        metadata={ZIGZNOTE_PLAN_KEY: slug} if slug else {},
    )


def product(slug: str, plans: Iterable[Mapping[str, Any]], *, name: str | None = None) -> Plan:
    """The virtual product of ``slug`` from its payment plans: the name of the newest active one
    (else the newest), active while one is, created with the first. ``name`` overrides."""
    found = sorted(plans, key=lambda p: (str(p.get("created_at") or ""), str(p.get("id"))))
    active = [p for p in found if p.get("status") == "active"]
    newest = (active or found)[-1] if found else None
    title = name or (split_name(newest.get("name"))[0] if newest else slug)
    return Plan(
        id=product_id(slug),
        name=storable_text(title, max_chars=200) or slug,
        active=bool(active) or (not found and name is not None),
        description=None,
        features=(),
        created=timestamp(found[0].get("created_at")) if found else None,
        metadata={ZIGZNOTE_PLAN_KEY: slug},
    )


# -- subscriptions -------------------------------------------------------------------------


def _add(moment: datetime, interval: BillingInterval, count: int) -> datetime:
    if interval is BillingInterval.DAY:
        return moment + timedelta(days=count)
    if interval is BillingInterval.WEEK:
        return moment + timedelta(weeks=count)
    months = count * (12 if interval is BillingInterval.YEAR else 1)
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def period(start: datetime, interval: BillingInterval, count: int, now: datetime) -> tuple[datetime, datetime]:
    """The billing period around ``now`` of a schedule that began at ``start``: whole
    intervals from it (month ends clamp: 31 January + 1 month is 28/29 February)."""
    steps, begin = 0, start
    end = _add(start, interval, count)
    while end <= now and steps < 100_000:
        steps += 1
        begin, end = end, _add(start, interval, count * (steps + 1))
    return begin, end


def subscription(
    sub: Mapping[str, Any], plan_price: Price | None, *, now: datetime, paid_at: datetime | None = None
) -> Subscription:
    """A v3 subscription with its plan's price and derived period (module docstring).
    ``paid_at``: the customer's newest successful charge on this plan, if known."""
    sub_id = flw_id(field(sub, "id", "a subscription"), "subscription ID")
    email = field(field(sub, "customer", "a subscription"), "customer_email", "a subscription's customer")
    if not isinstance(email, str) or not email:
        raise unexpected("a subscription without the customer's email")
    created = timestamp(sub.get("created_at"))
    state = sub.get("status")
    start = end = None
    if plan_price is not None and plan_price.interval is not None and (paid_at or created) is not None:
        anchor = paid_at or created
        assert anchor is not None
        start, end = period(anchor, plan_price.interval, plan_price.interval_count, now)
        if state != "active" and paid_at is not None:
            start, end = paid_at, _add(paid_at, plan_price.interval, plan_price.interval_count)
    cancel_at_period_end, cancel_at = False, None
    if state == "active":
        status = SubscriptionStatus.ACTIVE
    elif state in ("cancelled", "canceled", "completed"):
        if state != "completed" and paid_at is not None and end is not None and now < end:
            status, cancel_at_period_end, cancel_at = SubscriptionStatus.ACTIVE, True, end
        else:
            status = SubscriptionStatus.CANCELED
    else:
        raise unexpected(f"an unknown subscription status {shown(state, 30)!r}")
    items = (SubscriptionItem(sub_id, plan_price, 1, start, end),) if plan_price is not None else ()
    return Subscription(
        id=sub_id,
        customer_id=storable_text(email, max_chars=320) or email,
        status=status,
        items=items,
        current_period_start=start,
        current_period_end=end,
        cancel_at_period_end=cancel_at_period_end,
        cancel_at=cancel_at,
        created=created,
    )


# -- customers, payments, refunds -----------------------------------------------------------


def customer(email: str, name: str | None = None, metadata: Mapping[str, str] | None = None) -> Customer:
    """A customer as zigznote keeps it for Flutterwave: keyed by email (v3 has no customer object)."""
    return Customer(id=email, email=email, name=answer_text(name, 200), metadata=dict(metadata or {}))


def payment(tx: Mapping[str, Any], refunded: Money | None = None) -> Payment:
    """A transaction (verify or list answer) as a Payment; ``refunded``: what its refunds add up
    to (v3 reports refunds separately)."""
    tx_id = flw_id(field(tx, "id", "a transaction"), "transaction ID")
    currency = tx.get("currency")
    amount = money(field(tx, "amount", "a transaction"), currency)
    status = _PAYMENT_STATUS.get(tx.get("status"))  # type: ignore[arg-type]
    if status is None:
        raise unexpected(f"an unknown transaction status {shown(tx.get('status'), 30)!r}")
    who = tx.get("customer")
    email = who.get("email") if isinstance(who, Mapping) else tx.get("customer_email")
    details = {key: text for key in ("tx_ref", "flw_ref", "payment_type") if (text := answer_text(tx.get(key), 200))}
    if tx.get("charged_amount") is not None:
        details["charged_amount"] = str(money(tx["charged_amount"], currency, "charged amount").to_decimal())
    return Payment(
        id=tx_id,
        amount=amount,
        status=status,
        amount_refunded=refunded or Money.zero(amount.currency),
        amount_received=amount if status is PaymentStatus.SUCCEEDED else Money.zero(amount.currency),
        customer_id=answer_text(email if isinstance(email, str) else None, 320),
        description=answer_text(tx.get("narration"), 1000),
        failure_message=answer_text(tx.get("processor_response"), 500) if status is PaymentStatus.FAILED else None,
        created=timestamp(tx.get("created_at")),
        metadata=details,
    )


def refund(item: Mapping[str, Any], currency: str) -> Refund:
    """A refund (``POST …/refund`` or ``GET /refunds`` item) in its transaction's ``currency``."""
    status = _REFUND_STATUS.get(str(item.get("status")).lower())
    if status is None:
        raise unexpected(f"an unknown refund status {shown(item.get('status'), 30)!r}")
    return Refund(
        id=flw_id(field(item, "id", "a refund"), "refund ID"),
        payment_id=flw_id(field(item, "tx_id", "a refund"), "transaction ID"),
        amount=money(field(item, "amount_refunded", "a refund"), currency, "refund amount"),
        status=status,
        reason=answer_text(item.get("comments"), 200),
        created=timestamp(item.get("created_at")),
    )
