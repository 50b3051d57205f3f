"""Hosted checkout (``billing checkout``): a provider page where the customer subscribes to a plan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from zigznote.billing import money
from zigznote.billing.idempotency import freeze, thaw
from zigznote.billing.types import CheckoutMode, CheckoutRequest, CheckoutSession
from zigznote.errors import InvalidInput
from zigznote.services.billing import ops
from zigznote.services.billing._common import (
    check_quantity,
    customer_of,
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
    unsupported_by,
)
from zigznote.timeutil import iso

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.store.engine import Database

__all__ = ["create_checkout", "page_url", "page_urls"]


def page_url(value: str | None, *, option: str, setting: str) -> str:
    """An absolute http(s) URL the provider sends the customer back to (``option`` or the
    ``setting``'s environment variable). InvalidInput (exit 2) when missing or not a URL."""
    if not value:
        raise InvalidInput(
            f"no {option} given",
            hint=f"pass {option} https://… or set {setting}",
            code="url_required",
        )
    text = value.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in text):
        raise InvalidInput(f"{option} must be an absolute http(s) URL, not {value!r}", code="invalid_url")
    if len(text) > 2000:
        raise InvalidInput(f"{option} is longer than 2000 characters", code="invalid_url")
    return text


def page_urls(
    success_url: str | None, cancel_url: str | None, *, needs_cancel: bool, settings: Settings
) -> tuple[str, str | None]:
    """The success and cancel URLs of a checkout (the options, else ``ZIGZNOTE_BILLING_SUCCESS_URL``
    / ``ZIGZNOTE_BILLING_CANCEL_URL``), checked together: both missing is one InvalidInput
    ``url_required`` naming both. ``needs_cancel``: the provider's page has a cancel URL
    (``Capabilities.checkout_cancel_url``); without one, the cancel URL is neither needed nor sent."""
    success = success_url or settings.billing_success_url
    cancel = (cancel_url or settings.billing_cancel_url) if needs_cancel else None
    missing = [
        (option, setting)
        for option, setting, value, wanted in (
            ("--success-url", "ZIGZNOTE_BILLING_SUCCESS_URL", success, True),
            ("--cancel-url", "ZIGZNOTE_BILLING_CANCEL_URL", cancel, needs_cancel),
        )
        if wanted and not value
    ]
    if len(missing) > 1:
        raise InvalidInput(
            "no --success-url or --cancel-url given: the checkout page needs both",
            hint="pass --success-url https://… --cancel-url https://…, or set ZIGZNOTE_BILLING_SUCCESS_URL and "
            "ZIGZNOTE_BILLING_CANCEL_URL",
            code="url_required",
        )
    checked = page_url(success, option="--success-url", setting="ZIGZNOTE_BILLING_SUCCESS_URL")
    if not needs_cancel:
        return checked, None
    return checked, page_url(cancel, option="--cancel-url", setting="ZIGZNOTE_BILLING_CANCEL_URL")


def create_checkout(
    db: Database,
    settings: Settings,
    *,
    org_ref: str,
    plan: str,
    interval: str = "month",
    currency: str | None = None,
    quantity: int = 1,
    success_url: str | None = None,
    cancel_url: str | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """Open a hosted checkout page subscribing the organization to ``plan``'s price.

    The organization's customer is used when it has one (else the provider makes one);
    ``client_reference_id`` is the organization ID, so the completion event finds it. URLs:
    :func:`page_urls`. Refused before anything is sent: a second subscription (Conflict
    ``subscription_exists``, exit 4, as ``subscriptions create``: the organization already has a
    running one), and, where a customer is its email (Flutterwave), an organization without a
    customer (NotFound ``customer_not_found``, 3). Returns ``{"id", "url", "mode", "status",
    "plan", "interval", "amount", "customer", "expires_at" (None when the provider gives none),
    "notes"}``. Raises InvalidInput (2; ``unsupported_by_provider`` without the ``checkout``
    capability), NotFound (plan, price; 3), ProviderError (5), ConfigError (6).
    """
    name = provider_name(settings, provider)
    caps = provider_class(name).capabilities
    if not caps.checkout:
        raise unsupported_by(name, "create hosted checkout pages")
    flag = provider_flag(settings, name)
    every = parse_interval(interval)
    check_quantity(quantity)
    success, cancel = page_urls(success_url, cancel_url, needs_cancel=caps.checkout_cancel_url, settings=settings)
    with db.session() as session:
        org = org_of(session, org_ref)
        refuse_second_subscription(session, org, name, flag=flag, start="check out")
        _plan, price = find_price(session, name, plan, every, currency)
        customer = (
            require_customer(session, org, name, flag=flag)
            if caps.customer_email_required
            else customer_of(session, org.id, name)
        )
        request = CheckoutRequest(
            mode=CheckoutMode.SUBSCRIPTION,
            success_url=success,
            cancel_url=cancel,
            customer_id=customer.provider_customer_id if customer is not None else None,
            price_id=price.provider_price_id,
            quantity=quantity,
            client_reference_id=org.id,
            metadata=ours(org.id, plan),
        )
        org_id, amount = org.id, money.Money(price.amount, price.currency)
        price_key = price.provider_price_id
    with open_provider(settings, name) as client:
        outcome = ops.run(
            db,
            provider=name,
            operation="checkout.create",
            scope=f"{org_id}:{price_key}:{quantity}",
            params=freeze(request),
            call=lambda params, key: client.create_checkout_session(thaw(CheckoutRequest, params), idempotency_key=key),
            result_id=lambda session: session.id,
            record=lambda _session, result: result,
            org_id=org_id,
        )
    result: CheckoutSession = outcome.value
    return {
        "id": result.id,
        "url": result.url,
        "mode": result.mode.value,
        "status": result.status.value,
        "plan": plan,
        "interval": every.value,
        "amount": money.as_json(result.amount_total or amount * quantity),
        "customer": result.customer_id,
        "expires_at": iso(result.expires_at),
        "notes": outcome.notes("checkout"),
    }
