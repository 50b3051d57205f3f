"""PaymentIntents, invoices, refunds and Checkout Sessions: exact forms, money both ways."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
import respx

from tests.billing.stripe.conftest import error, form, load, ok, query
from zigznote.billing.money import Money
from zigznote.billing.providers.stripe.provider import StripeProvider
from zigznote.billing.types import (
    CheckoutMode,
    CheckoutRequest,
    CheckoutStatus,
    InvoiceStatus,
    PaymentRequest,
    PaymentStatus,
    RefundStatus,
)
from zigznote.errors import Conflict, InvalidInput

PI = "pi_3SZkB9LkdIwHu7ix0Ka1b2C3"
CUS = "cus_TZk8mQ4bR2xNvE"
PM = "pm_1SZk9aLkdIwHu7ixQ2pD5sVb"
INV = "in_1SZkB8LkdIwHu7ixHn4pLr2T"


def test_create_payment_confirms_with_a_method(provider: StripeProvider, stripe_api: respx.Router) -> None:
    route = stripe_api.post("/v1/payment_intents").mock(return_value=ok("payment_intent"))
    request = PaymentRequest(amount=Money(2900, "USD"), customer_id=CUS, description="Setup fee", payment_method_id=PM)
    payment = provider.create_payment(request, idempotency_key="zz:create_payment:bop_01JD7T")
    sent = route.calls.last.request
    assert form(sent) == [
        ("amount", "2900"),
        ("currency", "usd"),
        ("expand[0]", "latest_charge"),
        ("customer", CUS),
        ("description", "Setup fee"),
        ("payment_method", PM),
        ("confirm", "true"),
        ("automatic_payment_methods[enabled]", "true"),
        ("automatic_payment_methods[allow_redirects]", "never"),
    ]
    assert sent.headers["Idempotency-Key"] == "zz:create_payment:bop_01JD7T"
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.amount_refunded == Money(1000, "USD")  # from the expanded latest charge


def test_create_payment_with_a_return_url_allows_redirects(provider: StripeProvider, stripe_api: respx.Router) -> None:
    route = stripe_api.post("/v1/payment_intents").mock(return_value=ok("payment_intent"))
    request = PaymentRequest(amount=Money(2900, "USD"), payment_method_id=PM, return_url="https://zigznote.example/r")
    provider.create_payment(request, idempotency_key="zz:create_payment:bop_2")
    assert form(route.calls.last.request) == [
        ("amount", "2900"),
        ("currency", "usd"),
        ("expand[0]", "latest_charge"),
        ("payment_method", PM),
        ("confirm", "true"),
        ("return_url", "https://zigznote.example/r"),
    ]


def test_get_payment_reports_the_refundable_remainder_as_stripe_does(
    provider: StripeProvider, stripe_api: respx.Router
) -> None:
    route = stripe_api.get(f"/v1/payment_intents/{PI}").mock(return_value=ok("payment_intent"))
    payment = provider.get_payment(PI)
    assert query(route.calls.last.request) == [("expand[0]", "latest_charge")]
    assert (payment.amount, payment.amount_received, payment.amount_refunded) == (
        Money(2900, "USD"),
        Money(2900, "USD"),
        Money(1000, "USD"),
    )
    assert payment.refundable == Money(1900, "USD")
    assert (payment.customer_id, payment.payment_method_id) == (CUS, PM)
    assert payment.created == datetime(2026, 11, 20, 9, 30)


def test_an_unpaid_payment_has_nothing_to_refund(provider: StripeProvider, stripe_api: respx.Router) -> None:
    failed = load(
        "payment_intent",
        status="requires_payment_method",
        amount_received=0,
        latest_charge=None,
        last_payment_error={"type": "card_error", "code": "card_declined", "message": "Your card was declined."},
    )
    stripe_api.get(f"/v1/payment_intents/{PI}").mock(return_value=httpx.Response(200, json=failed))
    payment = provider.get_payment(PI)
    assert payment.status is PaymentStatus.FAILED
    assert payment.failure_message == "Your card was declined."
    assert payment.refundable == Money(0, "USD")


def test_list_payments_expands_each_charge(provider: StripeProvider, stripe_api: respx.Router) -> None:
    page = {"object": "list", "data": [load("payment_intent")], "has_more": False, "url": "/v1/payment_intents"}
    route = stripe_api.get("/v1/payment_intents").mock(return_value=httpx.Response(200, json=page))
    assert [p.refundable for p in provider.list_payments(customer_id=CUS)] == [Money(1900, "USD")]
    assert query(route.calls.last.request) == [("limit", "100"), ("expand[0]", "data.latest_charge"), ("customer", CUS)]


def test_invoices_reach_their_subscription_through_parent(provider: StripeProvider, stripe_api: respx.Router) -> None:
    listed = stripe_api.get("/v1/invoices").mock(
        return_value=httpx.Response(
            200,
            json={"object": "list", "data": [load("invoice", payments=None)], "has_more": False, "url": "/v1/invoices"},
        )
    )
    got = stripe_api.get(f"/v1/invoices/{INV}").mock(return_value=ok("invoice"))
    [first] = provider.list_invoices(customer_id=CUS, subscription_id="sub_1SZkB7LkdIwHu7ixGq8Wm3Xe")
    assert query(listed.calls.last.request) == [
        ("limit", "100"),
        ("customer", CUS),
        ("subscription", "sub_1SZkB7LkdIwHu7ixGq8Wm3Xe"),
    ]
    assert first.subscription_id == "sub_1SZkB7LkdIwHu7ixGq8Wm3Xe"
    assert first.payment_id is None  # payments not expanded in lists
    invoice = provider.get_invoice(INV)
    assert query(got.calls.last.request) == [("expand[0]", "payments")]
    assert invoice.payment_id == PI
    assert (invoice.status, invoice.number, invoice.total, invoice.amount_remaining) == (
        InvoiceStatus.PAID,
        "7D4E1C2A-0001",
        Money(2900, "USD"),
        Money(0, "USD"),
    )
    assert invoice.hosted_url is not None and invoice.hosted_url.startswith("https://invoice.stripe.com/i/")


def test_partial_and_full_refunds(provider: StripeProvider, stripe_api: respx.Router) -> None:
    route = stripe_api.post("/v1/refunds").mock(side_effect=[ok("refund"), ok("refund", amount=1900)])
    partial = provider.create_refund(
        PI, idempotency_key="zz:create_refund:bop_3", amount=Money(1000, "USD"), reason="requested_by_customer"
    )
    assert form(route.calls[0].request) == [
        ("payment_intent", PI),
        ("amount", "1000"),
        ("reason", "requested_by_customer"),
    ]
    assert route.calls[0].request.headers["Idempotency-Key"] == "zz:create_refund:bop_3"
    assert (partial.amount, partial.status, partial.payment_id) == (Money(1000, "USD"), RefundStatus.SUCCEEDED, PI)
    rest = provider.create_refund(PI, idempotency_key="zz:create_refund:bop_4")
    assert form(route.calls[1].request) == [("payment_intent", PI)]  # no amount: what is left
    assert rest.amount == Money(1900, "USD")


@pytest.mark.parametrize(
    ("fixture", "code"),
    [("error_refund_over_remainder", "conflict"), ("error_charge_already_refunded", "charge_already_refunded")],
)
def test_stripes_refusal_to_refund_is_a_conflict(
    provider: StripeProvider, stripe_api: respx.Router, fixture: str, code: str
) -> None:
    stripe_api.post("/v1/refunds").mock(return_value=error(400, fixture))
    with pytest.raises(Conflict) as caught:
        provider.create_refund(PI, idempotency_key="zz:create_refund:bop_5", amount=Money(2000, "USD"))
    assert (caught.value.exit_code, caught.value.code) == (4, code)
    assert caught.value.message.endswith("(request req_Q8x2LmN4pR6tV8)")


def test_a_refund_reason_stripe_does_not_take_is_refused(provider: StripeProvider, stripe_api: respx.Router) -> None:
    route = stripe_api.post("/v1/refunds").mock(return_value=ok("refund"))
    with pytest.raises(InvalidInput) as caught:
        provider.create_refund(PI, idempotency_key="zz:create_refund:bop_6", reason="customer was unhappy")
    assert caught.value.code == "invalid_refund_reason"
    assert route.call_count == 0


def test_list_refunds_of_a_payment(provider: StripeProvider, stripe_api: respx.Router) -> None:
    route = stripe_api.get("/v1/refunds").mock(return_value=ok("refunds_list"))
    assert [r.id for r in provider.list_refunds(payment_id=PI)] == ["re_3SZkB9LkdIwHu7ix0Rf4g5H6"]
    assert query(route.calls.last.request) == [("limit", "100"), ("payment_intent", PI)]


def test_checkout_for_a_subscription(provider: StripeProvider, stripe_api: respx.Router) -> None:
    route = stripe_api.post("/v1/checkout/sessions").mock(return_value=ok("checkout_session_subscription"))
    request = CheckoutRequest(
        mode=CheckoutMode.SUBSCRIPTION,
        success_url="https://zigznote.example/billing/done?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="https://zigznote.example/billing/cancel",
        customer_id=CUS,
        price_id="price_1SZkA2LkdIwHu7ixUsdMonth",
        client_reference_id="org_01JD7Q8Z4W6X2Y3V5T7R9P1N3M",
        trial_days=7,
    )
    session = provider.create_checkout_session(request, idempotency_key="zz:create_checkout:bop_7")
    assert form(route.calls.last.request) == [
        ("mode", "subscription"),
        ("success_url", "https://zigznote.example/billing/done?session_id={CHECKOUT_SESSION_ID}"),
        ("cancel_url", "https://zigznote.example/billing/cancel"),
        ("line_items[0][price]", "price_1SZkA2LkdIwHu7ixUsdMonth"),
        ("line_items[0][quantity]", "1"),
        ("customer", CUS),
        ("client_reference_id", "org_01JD7Q8Z4W6X2Y3V5T7R9P1N3M"),
        ("subscription_data[trial_period_days]", "7"),
    ]
    assert session.url == load("checkout_session_subscription")["url"]
    assert (session.url or "").startswith("https://checkout.stripe.com/c/pay/cs_test_a1SZkCsubscriptionQ7wE3rT5yU#")
    assert (session.mode, session.status, session.amount_total) == (
        CheckoutMode.SUBSCRIPTION,
        CheckoutStatus.OPEN,
        Money(2900, "USD"),
    )


@pytest.mark.parametrize(
    ("money", "unit_amount"),
    [(Money(150000, "KES"), "150000"), (Money(5000, "UGX"), "500000"), (Money(1235, "JPY"), "1235")],
)
def test_checkout_for_a_payment_sends_inline_price_data(
    provider: StripeProvider, stripe_api: respx.Router, money: Money, unit_amount: str
) -> None:
    answer = load("checkout_session_payment", currency=money.currency.lower(), amount_total=int(unit_amount))
    route = stripe_api.post("/v1/checkout/sessions").mock(return_value=httpx.Response(200, json=answer))
    request = CheckoutRequest(
        mode=CheckoutMode.PAYMENT,
        success_url="https://zigznote.example/ok",
        cancel_url="https://zigznote.example/no",
        amount=money,
        description="Onboarding workshop",
    )
    session = provider.create_checkout_session(request, idempotency_key="zz:create_checkout:bop_8")
    assert form(route.calls.last.request) == [
        ("mode", "payment"),
        ("success_url", "https://zigznote.example/ok"),
        ("cancel_url", "https://zigznote.example/no"),
        ("line_items[0][price_data][currency]", money.currency.lower()),
        ("line_items[0][price_data][unit_amount]", unit_amount),
        ("line_items[0][price_data][product_data][name]", "Onboarding workshop"),
        ("line_items[0][quantity]", "1"),
    ]
    assert session.amount_total == money


@pytest.mark.parametrize(
    "request_",
    [
        CheckoutRequest(
            mode=CheckoutMode.SUBSCRIPTION, success_url="https://a.example", cancel_url="https://b.example"
        ),
        CheckoutRequest(
            mode=CheckoutMode.PAYMENT,
            success_url="https://a.example",
            cancel_url="https://b.example",
            amount=Money(1, "USD"),
        ),
        CheckoutRequest(
            mode=CheckoutMode.PAYMENT,
            success_url="https://a.example",
            cancel_url="https://b.example",
            amount=Money(5125, "KWD"),
            description="x",
        ),
    ],
)
def test_an_incomplete_checkout_is_refused_before_sending(
    provider: StripeProvider, stripe_api: respx.Router, request_: CheckoutRequest
) -> None:
    route = stripe_api.post("/v1/checkout/sessions").mock(return_value=ok("checkout_session_payment"))
    with pytest.raises(InvalidInput):
        provider.create_checkout_session(request_, idempotency_key="zz:create_checkout:bop_9")
    assert route.call_count == 0
