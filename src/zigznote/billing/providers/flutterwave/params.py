"""zigznote's neutral requests as Flutterwave v3 JSON bodies; pure functions.

The same request always gives the same bytes, so a retry resends exactly what was sent first.
Sources: tests/fixtures/flutterwave/README.md.

- **Amounts** are ``Decimal`` major units from ``money.to_provider_amount(…, "flutterwave")``,
  written as JSON numbers in their shortest exact form (``29.5``, ``25000``; :func:`amount_text`):
  never a float, never rounded. Zero-decimal currencies (UGX, RWF, XAF, XOF, GNF, BIF) are whole
  numbers because their ISO exponent is 0.
- **tx_ref** (:func:`tx_ref`) is Flutterwave's idempotency handle: "A reference code you'll
  generate to identify this transaction. This must be unique for every transaction"
  (https://developer.flutterwave.com/docs/collecting-payments/standard). It is derived from the
  caller's idempotency key (our own IDs), at most 100 characters (the SDK's limit).
- **Payment plans** carry no metadata, so zigznote marks its own by a tag at the end of the
  name: ``"Pro [zz:pro:1a2b3c4d]"`` = plan slug and the first 8 hex digits of SHA-256 of the
  create's idempotency key (:func:`plan_name`). The slug groups plans into a product; the digest
  finds a plan a lost answer left behind. ``name`` is at most 150 characters (the SDK's limit).
- **Intervals**: ``daily``, ``weekly``, ``monthly``, ``quarterly``, ``yearly``
  (:data:`INTERVALS`); anything else is refused before sending.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from zigznote.billing.money import Money, to_provider_amount
from zigznote.billing.types import BillingInterval
from zigznote.errors import InvalidInput

__all__ = [
    "INTERVALS",
    "MAX_PLAN_NAME",
    "MAX_TX_REF",
    "PAYMENT_OPTIONS",
    "amount",
    "amount_text",
    "check_email",
    "dumps",
    "key_digest",
    "meta",
    "payload_hash",
    "payment_create",
    "payment_options",
    "plan_create",
    "plan_interval",
    "plan_name",
    "plan_update",
    "refund_create",
    "tx_ref",
]

MAX_TX_REF: Final = 100
MAX_PLAN_NAME: Final = 150
#: (interval, count) → Flutterwave's plan ``interval`` (the v3 SDK's list: daily, weekly,
#: monthly, quarterly, yearly).
INTERVALS: Final[dict[tuple[BillingInterval, int], str]] = {
    (BillingInterval.DAY, 1): "daily",
    (BillingInterval.WEEK, 1): "weekly",
    (BillingInterval.MONTH, 1): "monthly",
    (BillingInterval.MONTH, 3): "quarterly",
    (BillingInterval.YEAR, 1): "yearly",
}
#: The payment methods offered per currency unless overridden (issue 13; method names from
#: https://developer.flutterwave.com/v3.0/docs/payment-methods). Other currencies: card only.
PAYMENT_OPTIONS: Final[dict[str, str]] = {
    "NGN": "card, banktransfer, ussd",
    "KES": "card, mpesa",
    "GHS": "card, mobilemoneyghana",
    "UGX": "mobilemoneyuganda",
    "RWF": "mobilemoneyrwanda",
    "ZMW": "mobilemoneyzambia",
    "XAF": "mobilemoneyfranco",
    "XOF": "mobilemoneyfranco",
    "ZAR": "card, banktransfer",
}
_DEFAULT_OPTIONS: Final = "card"
_OPTION_RE: Final = re.compile(r"[a-z0-9_]{2,40}")
_REF_UNSAFE_RE: Final = re.compile(r"[^A-Za-z0-9_.-]")
_SLUG_RE: Final = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_META_KEY_RE: Final = re.compile(r"[A-Za-z0-9_]{1,64}")
_EMAIL_RE: Final = re.compile(r"[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,255}")
_MAX_META_VALUE: Final = 500


def tx_ref(idempotency_key: str) -> str:
    """The ``tx_ref`` for a create sent with ``idempotency_key``: the key with every character
    but ``A-Z a-z 0-9 _ . -`` as ``-`` (``zigznote/checkout.create/org_01…/bop_01…`` →
    ``zigznote-checkout.create-org_01…-bop_01…``); over 100 characters, ``zz-`` + 40 hex of
    its SHA-256 + ``-`` + its last 50 characters (the pending operation's ``bop_…``). Same key,
    same tx_ref. Raises InvalidInput for an empty key."""
    if not idempotency_key:
        raise InvalidInput("an idempotency key is needed to derive tx_ref", code="invalid_idempotency_key")
    safe = _REF_UNSAFE_RE.sub("-", idempotency_key)
    if len(safe) <= MAX_TX_REF:
        return safe
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    return f"zz-{digest}-{safe[-50:]}"


def key_digest(idempotency_key: str) -> str:
    """8 hex digits of SHA-256 of the key: the part of a plan's name tag that names the create."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:8]


def plan_name(name: str, slug: str, digest: str) -> str:
    """``"<name> [zz:<slug>:<digest>]"``; InvalidInput (``plan_name_too_long``) when it would
    pass Flutterwave's 150 characters, naming how long the plan's name may be."""
    if not _SLUG_RE.fullmatch(slug):
        raise InvalidInput(f"invalid plan slug {slug!r}", code="invalid_catalog")
    tag = f" [zz:{slug}:{digest}]"
    clean = " ".join(name.split())
    if not clean or len(clean) + len(tag) > MAX_PLAN_NAME:
        room = MAX_PLAN_NAME - len(tag)
        raise InvalidInput(
            f"plan {slug!r}: Flutterwave payment-plan names are at most {MAX_PLAN_NAME} characters, so its name "
            f"may have 1 to {room} characters here (zigznote adds the {len(tag)}-character tag ' [zz:{slug}:…]')",
            hint="shorten the plan's name in plans.toml",
            code="plan_name_too_long",
        )
    return clean + tag


def plan_interval(interval: BillingInterval, count: int) -> str:
    """Flutterwave's ``interval`` for every ``count`` ``interval``; InvalidInput
    (``interval_not_supported``) for what its plans cannot express (every 2 months, 6 weeks)."""
    found = INTERVALS.get((BillingInterval(interval), count))
    if found is None:
        every = interval.value if count == 1 else f"{count} {interval.value}s"
        raise InvalidInput(
            f"Flutterwave payment plans cannot bill every {every}",
            hint="Flutterwave bills daily, weekly, monthly, quarterly (every 3 months) or yearly; "
            'restrict this price to other providers with providers = ["stripe"]',
            code="interval_not_supported",
        )
    return found


def amount(money: Money) -> Decimal:
    """``money`` in Flutterwave's major units (``Decimal("29.00")``); InvalidInput as
    ``money.to_provider_amount``."""
    value = to_provider_amount(money, "flutterwave")
    assert isinstance(value, Decimal)  # Flutterwave's edge is major units
    return value


def amount_text(value: Decimal) -> str:
    """The shortest exact decimal text of ``value``, no exponent: ``29.00`` → ``29``, ``29.50`` →
    ``29.5``, ``1234567.89`` stays. The form a JSON number reader gives back, so a
    ``payload_hash`` over it matches what Flutterwave recomputes (inferred: see the README)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def dumps(body: Mapping[str, Any]) -> bytes:
    """``body`` as compact JSON; ``Decimal`` values become JSON numbers (:func:`amount_text`),
    never floats. Keys keep their order, so equal requests are equal bytes."""
    nonce = secrets.token_hex(8)
    numbers: list[str] = []

    def swap(value: Any) -> Any:
        if isinstance(value, Decimal):
            numbers.append(amount_text(value))
            return f"@@zz-{nonce}-{len(numbers) - 1}@@"
        if isinstance(value, float):
            raise TypeError("floats never carry money")
        if isinstance(value, Mapping):
            return {str(k): swap(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(body), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for index, number in enumerate(numbers):
        text = text.replace(f'"@@zz-{nonce}-{index}@@"', number, 1)
    return text.encode()


def check_email(value: str | None) -> str:
    """The customer's email (Flutterwave keys customers and subscriptions by it); InvalidInput
    (``email_required``) when missing or not an address."""
    text = (value or "").strip()
    if not _EMAIL_RE.fullmatch(text):
        raise InvalidInput(
            "Flutterwave needs the customer's email address" if not text else f"invalid email address {text!r}",
            hint="create the customer with `billing customers create --email ADDRESS`",
            code="email_required",
        )
    return text


def meta(metadata: Mapping[str, str]) -> dict[str, str]:
    """``meta`` sent with a payment (our IDs): keys of ``A-Z a-z 0-9 _`` (the SDK's pattern),
    values text of at most 500 characters. InvalidInput otherwise."""
    out = {}
    for key, value in metadata.items():
        if not _META_KEY_RE.fullmatch(key) or not isinstance(value, str) or len(value) > _MAX_META_VALUE:
            raise InvalidInput(
                f"meta {key[:64]!r}: keys are A-Z a-z 0-9 _, values ≤ 500 characters", code="invalid_metadata"
            )
        out[key] = value
    return out


def payment_options(currency: str, overrides: Mapping[str, str] | None = None) -> str:
    """The ``payment_options`` for ``currency``: ``overrides[currency]`` (an operator's choice),
    else :data:`PAYMENT_OPTIONS`, else ``card``. Refuses an override that is not a comma list of
    method names."""
    chosen = (overrides or {}).get(currency)
    if chosen is None:
        return PAYMENT_OPTIONS.get(currency, _DEFAULT_OPTIONS)
    names = [n.strip() for n in chosen.split(",") if n.strip()]
    if not names or not all(_OPTION_RE.fullmatch(n) for n in names):
        raise InvalidInput(f"invalid payment_options for {currency}: {chosen!r}", code="invalid_payment_options")
    return ", ".join(names)


def payload_hash(value: Decimal, currency: str, email: str, reference: str, secret_key: str) -> str:
    """The checkout checksum: SHA-256 (hex) of amount, currency, customer email and tx_ref
    concatenated with SHA-256 (hex) of the secret key, no separators
    (https://developer.flutterwave.com/docs/checksum; the PHP v3 SDK's ``CheckoutHelper::generateHash``)."""
    hashed_key = hashlib.sha256(secret_key.encode()).hexdigest()
    return hashlib.sha256((amount_text(value) + currency + email + reference + hashed_key).encode()).hexdigest()


def plan_create(money: Money, interval: BillingInterval, count: int, *, name: str) -> bytes:
    """``POST /payment-plans``: ``amount`` (major units), ``name`` (tagged), ``interval``,
    ``currency``; no ``duration``, so it bills until cancelled."""
    value = amount(money)
    if value <= 0:
        raise InvalidInput(f"a plan must cost more than 0 {money.currency}", code="invalid_amount")
    return dumps(
        {"amount": value, "name": name, "interval": plan_interval(interval, count), "currency": money.currency}
    )


def plan_update(name: str, status: str) -> bytes:
    """``PUT /payment-plans/{id}``: name and status together (the SDK requires both)."""
    return dumps({"name": name, "status": status})


def payment_create(
    *,
    reference: str,
    money: Money,
    email: str,
    redirect_url: str,
    options: str,
    secret_key: str,
    name: str | None = None,
    plan_id: str | None = None,
    title: str | None = None,
    description: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """``POST /payments`` (Flutterwave Standard: a hosted payment link in ``data.link``).

    ``plan_id`` subscribes the customer to that payment plan with this first payment. The body
    carries ``payload_hash`` (:func:`payload_hash`). InvalidInput for an amount ≤ 0, a bad email
    or metadata."""
    value = amount(money)
    if value <= 0:
        raise InvalidInput(f"a payment must be more than 0 {money.currency}", code="invalid_amount")
    customer = {"email": check_email(email)}
    if name:
        customer["name"] = name
    body: dict[str, Any] = {
        "tx_ref": reference,
        "amount": value,
        "currency": money.currency,
        "redirect_url": redirect_url,
        "payment_options": options,
        "customer": customer,
    }
    if plan_id is not None:
        body["payment_plan"] = int(plan_id) if plan_id.isdigit() else plan_id
    customizations = {k: v for k, v in (("title", title), ("description", description)) if v}
    if customizations:
        body["customizations"] = customizations
    if metadata:
        body["meta"] = meta(metadata)
    body["payload_hash"] = payload_hash(value, money.currency, customer["email"], reference, secret_key)
    return dumps(body)


def refund_create(refund_amount: Decimal | None, comments: str) -> bytes:
    """``POST /transactions/{id}/refund``: no ``amount`` refunds it all; ``comments`` carries our
    reference so a refund whose answer was lost can be recognised."""
    body: dict[str, Any] = {}
    if refund_amount is not None:
        body["amount"] = refund_amount
    body["comments"] = comments
    return dumps(body)
