"""Hosted checkout and payments (exact bodies, payload_hash, payment options per currency, a
timeout never becoming a second charge), reading payments with their refunds, and refunds
bounded by what Flutterwave reports left."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal

import httpx
import pytest
import respx

from tests.billing.flutterwave.conftest import API, EMAIL, SECRET_KEY, TX_ID, body, error, load, ok, query
from tests.billing.flutterwave.fakes import FlutterwaveFake
from zigznote.billing.money import Money
from zigznote.billing.providers.base import ProviderRefused
from zigznote.billing.providers.flutterwave.params import tx_ref
from zigznote.billing.providers.flutterwave.provider import FlutterwaveProvider
from zigznote.billing.types import (
    CheckoutMode,
    CheckoutRequest,
    CheckoutStatus,
    PaymentRequest,
    PaymentStatus,
    RefundStatus,
)
from zigznote.errors import Conflict, InvalidInput, ProviderError

ORG = "org_01JD3Q7Y2K8M4N6P8R0T2V4X6Z"
KEY = f"zigznote/checkout.create/{ORG}:52045:1/bop_01JD7T0S6B8Q2W4E6R8T0Y2U4I"
REF = "zigznote-checkout.create-org_01JD3Q7Y2K8M4N6P8R0T2V4X6Z-52045-1-bop_01JD7T0S6B8Q2W4E6R8T0Y2U4I"
SUCCESS = "https://app.example.com/billing/done"
LINK = "https://checkout.flutterwave.com/v3/hosted/pay/f524c1196ffda5556341"


def checkout(**changes: object) -> CheckoutRequest:
    fields: dict[str, object] = {
        "mode": CheckoutMode.SUBSCRIPTION, "success_url": SUCCESS, "cancel_url": "https://app.example.com/billing",
        "customer_id": EMAIL, "price_id": "52045", "client_reference_id": ORG,
        "metadata": {"zigznote_org": ORG, "zigznote_plan": "pro"},
    }  # fmt: skip
    fields.update(changes)
    return CheckoutRequest(**fields)  # type: ignore[arg-type]


def expected_hash(amount: str, currency: str, email: str, reference: str) -> str:
    """The checksum computed the way https://developer.flutterwave.com/docs/checksum describes it."""
    hashed_key = hashlib.sha256(SECRET_KEY.encode()).hexdigest()
    return hashlib.sha256(f"{amount}{currency}{email}{reference}{hashed_key}".encode()).hexdigest()


@pytest.fixture
def link_api(fw_api: respx.Router) -> respx.Router:
    fw_api.get("/payment-plans/52045").mock(return_value=ok("plan_created"))
    fw_api.get("/transactions/verify_by_reference").mock(return_value=error(400, "error_not_found"))
    return fw_api


def test_tx_ref_comes_from_our_ids() -> None:
    assert tx_ref(KEY) == REF and len(REF) <= 100
    long_key = "zigznote/checkout.create/" + "x" * 120 + "/bop_01JD7T0S6B8Q2W4E6R8T0Y2U4I"
    derived = tx_ref(long_key)
    assert len(derived) <= 100 and derived.endswith("-bop_01JD7T0S6B8Q2W4E6R8T0Y2U4I") and derived == tx_ref(long_key)


def test_subscription_checkout_sends_the_exact_standard_body(
    provider: FlutterwaveProvider, link_api: respx.Router
) -> None:
    route = link_api.post("/payments").mock(return_value=ok("payment_link"))
    session = provider.create_checkout_session(checkout(), idempotency_key=KEY)
    sent = route.calls.last.request
    assert sent.headers["Content-Type"] == "application/json"
    assert body(sent) == {
        "tx_ref": REF,
        "amount": 25000,
        "currency": "NGN",
        "redirect_url": SUCCESS,
        "payment_options": "card, banktransfer, ussd",
        "customer": {"email": EMAIL},
        "payment_plan": 52045,
        "customizations": {"title": "Pro"},
        "meta": {"zigznote_org": ORG, "zigznote_plan": "pro", "zigznote_expected": "25000 NGN"},
        "payload_hash": expected_hash("25000", "NGN", EMAIL, REF),
    }
    assert (session.id, session.url, session.status, session.customer_id) == (REF, LINK, CheckoutStatus.OPEN, EMAIL)
    assert session.amount_total == Money(2500000, "NGN") and session.payment_id is None
    assert query(link_api.calls[1].request) == [("tx_ref", REF)]  # the status query came before the create


@pytest.mark.parametrize(
    ("currency", "amount", "sent", "options"),
    [
        ("KES", Money(350050, "KES"), Decimal("3500.5"), "card, mpesa"),
        ("GHS", Money(12000, "GHS"), 120, "card, mobilemoneyghana"),
        ("UGX", Money(50000, "UGX"), 50000, "mobilemoneyuganda"),
        ("RWF", Money(20000, "RWF"), 20000, "mobilemoneyrwanda"),
        ("ZMW", Money(9900, "ZMW"), 99, "mobilemoneyzambia"),
        ("XOF", Money(15000, "XOF"), 15000, "mobilemoneyfranco"),
        ("XAF", Money(15000, "XAF"), 15000, "mobilemoneyfranco"),
        ("ZAR", Money(29999, "ZAR"), Decimal("299.99"), "card, banktransfer"),
        ("USD", Money(2900, "USD"), 29, "card"),
    ],
)
def test_one_time_payments_offer_the_currency_s_methods(
    provider: FlutterwaveProvider, link_api: respx.Router, currency: str, amount: Money, sent: object, options: str
) -> None:
    route = link_api.post("/payments").mock(return_value=ok("payment_link"))
    request = PaymentRequest(amount, customer_id=EMAIL, description="Setup", return_url=SUCCESS)
    payment = provider.create_payment(request, idempotency_key="zigznote/payment.create/org_1/bop_2")
    got = body(route.calls.last.request)
    assert (got["amount"], got["currency"], got["payment_options"]) == (sent, currency, options)
    assert got["customizations"] == {"description": "Setup"} and "payment_plan" not in got
    text = str(sent)
    assert got["payload_hash"] == expected_hash(text, currency, EMAIL, "zigznote-payment.create-org_1-bop_2")
    assert (payment.id, payment.status, payment.amount, payment.metadata["link"]) == (
        "zigznote-payment.create-org_1-bop_2",
        PaymentStatus.PENDING,
        amount,
        LINK,
    )


def test_payment_options_can_be_overridden(fw_api: respx.Router) -> None:
    fw_api.get("/transactions/verify_by_reference").mock(return_value=error(400, "error_not_found"))
    route = fw_api.post("/payments").mock(return_value=ok("payment_link"))
    with FlutterwaveProvider(SECRET_KEY, api_base=API, payment_options={"NGN": "card,ussd"}) as custom:
        custom.create_payment(
            PaymentRequest(Money(100000, "NGN"), customer_id=EMAIL, return_url=SUCCESS), idempotency_key="k1"
        )
    assert body(route.calls.last.request)["payment_options"] == "card, ussd"


def test_a_timeout_then_a_retry_makes_one_link_under_one_tx_ref(
    provider: FlutterwaveProvider, link_api: respx.Router
) -> None:
    posts = link_api.post("/payments").mock(side_effect=[httpx.ReadTimeout("no answer"), ok("payment_link")])
    with pytest.raises(ProviderError) as caught:
        provider.create_checkout_session(checkout(), idempotency_key=KEY)
    assert caught.value.code == "flutterwave_unanswered"
    assert f"Flutterwave has no transaction under tx_ref {REF}, so nothing was charged" in caught.value.message
    paths = [(c.request.method, c.request.url.path) for c in link_api.calls]
    assert paths == [
        ("GET", "/v3/payment-plans/52045"),
        ("GET", "/v3/transactions/verify_by_reference"),
        ("POST", "/v3/payments"),
        ("GET", "/v3/transactions/verify_by_reference"),  # status query before anything is sent again
    ]
    session = provider.create_checkout_session(checkout(), idempotency_key=KEY)  # the command run again
    assert session.url == LINK and posts.call_count == 2
    first, second = (c.request.content for c in posts.calls)
    assert first == second  # same tx_ref, same body: at most one payment can be made under it


def test_a_timeout_after_the_customer_paid_is_never_a_second_charge(
    provider: FlutterwaveProvider, fw_api: respx.Router
) -> None:
    fake = FlutterwaveFake(fw_api)
    fake.plans.append(load("plan_created")["data"])

    def paid_meanwhile(request: httpx.Request) -> httpx.Response:
        fake._link(request)
        fake.pay(REF, 25000, "NGN", EMAIL)  # the link was made and used; our answer was lost
        raise httpx.ReadTimeout("no answer")

    fw_api.post("/payments").mock(side_effect=paid_meanwhile)
    session = provider.create_checkout_session(checkout(), idempotency_key=KEY)
    assert (session.status, session.payment_id, session.url) == (CheckoutStatus.COMPLETE, TX_ID, None)
    again = provider.create_checkout_session(checkout(), idempotency_key=KEY)
    assert again == session and len(fake.links) == 1 and len(fake.transactions) == 1


def test_checkout_refuses_what_v3_cannot_do_before_sending(provider: FlutterwaveProvider, fw_api: respx.Router) -> None:
    for request, code in [
        (checkout(quantity=2), "invalid_quantity"),
        (checkout(trial_days=14), "unsupported_by_provider"),
        (checkout(customer_id=None), "email_required"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            provider.create_checkout_session(request, idempotency_key=KEY)
        assert caught.value.code == code
    assert not fw_api.calls


def test_get_payment_reports_amount_not_charged_amount_and_its_refunds(
    provider: FlutterwaveProvider, fw_api: respx.Router
) -> None:
    fw_api.get(f"/transactions/{TX_ID}/verify").mock(return_value=ok("transaction"))
    refunds = fw_api.get("/refunds").mock(return_value=ok("refunds_page"))
    payment = provider.get_payment(TX_ID)
    assert query(refunds.calls.last.request) == [("from", "2026-11-20"), ("page", "1")]
    assert (payment.amount, payment.amount_received, payment.amount_refunded, payment.refundable) == (
        Money(2500000, "NGN"),
        Money(2500000, "NGN"),
        Money(500000, "NGN"),
        Money(2000000, "NGN"),
    )
    assert (payment.status, payment.customer_id, payment.created) == (
        PaymentStatus.SUCCEEDED,
        EMAIL,
        datetime(2026, 11, 20, 9, 30),
    )
    assert payment.metadata["charged_amount"] == "25350.00" and payment.metadata["tx_ref"] == REF
    assert payment.metadata["verdict"] == "paid"  # checked against meta.zigznote_expected


@pytest.mark.parametrize(
    ("changes", "verdict", "reason"),
    [
        ({"amount": 24000}, "underpaid", "transaction 288200108 paid ₦24,000.00 of ₦25,000.00 (₦1,000.00 short)"),
        ({"currency": "GHS"}, "wrong_currency", "transaction 288200108 was paid in GHS, not NGN"),
    ],
)
def test_a_payment_read_later_is_checked_against_what_was_asked(
    provider: FlutterwaveProvider, fw_api: respx.Router, changes: dict[str, object], verdict: str, reason: str
) -> None:
    fw_api.get(f"/transactions/{TX_ID}/verify").mock(return_value=ok("transaction", **changes))
    fw_api.get("/refunds").mock(return_value=ok("refunds_page", data=[]))
    payment = provider.get_payment(TX_ID)
    assert (payment.status, payment.failure_message, payment.metadata["verdict"]) == (
        PaymentStatus.REQUIRES_ACTION,
        reason,
        verdict,
    )


def test_list_payments_of_a_customer(provider: FlutterwaveProvider, fw_api: respx.Router) -> None:
    route = fw_api.get("/transactions").mock(return_value=ok("transactions_page"))
    fw_api.get("/refunds").mock(return_value=ok("refunds_page"))
    paid, failed = provider.list_payments(customer_id=EMAIL)
    assert query(route.calls.last.request) == [("customer_email", EMAIL), ("page", "1")]
    assert (paid.id, paid.refundable) == (TX_ID, Money(2000000, "NGN"))
    assert (failed.status, failed.amount, failed.amount_received, failed.failure_message) == (
        PaymentStatus.FAILED,
        Money(150050, "NGN"),
        Money(0, "NGN"),
        "Insufficient funds",
    )


@pytest.fixture
def paid(fw_api: respx.Router) -> FlutterwaveFake:
    fake = FlutterwaveFake(fw_api)
    fake.pay(REF, 25000, "NGN", EMAIL)
    return fake


def test_a_full_refund_sends_no_amount(provider: FlutterwaveProvider, paid: FlutterwaveFake) -> None:
    refund = provider.create_refund(TX_ID, idempotency_key="zigznote/refund.create/288200108/bop_9")
    assert body(paid.posts[-1]) == {"comments": "zigznote zigznote-refund.create-288200108-bop_9"}
    assert (refund.amount, refund.status, refund.payment_id) == (Money(2500000, "NGN"), RefundStatus.SUCCEEDED, TX_ID)


def test_partial_refunds_then_the_remainder(provider: FlutterwaveProvider, paid: FlutterwaveFake) -> None:
    first = provider.create_refund(
        TX_ID,
        idempotency_key="zigznote/refund.create/288200108/bop_1",
        amount=Money(1000050, "NGN"),
        reason="duplicate",
    )
    assert body(paid.posts[-1]) == {
        "amount": Decimal("10000.5"),
        "comments": "zigznote zigznote-refund.create-288200108-bop_1: duplicate",
    }
    assert first.amount == Money(1000050, "NGN")
    assert provider.get_payment(TX_ID).refundable == Money(1499950, "NGN")
    rest = provider.create_refund(TX_ID, idempotency_key="zigznote/refund.create/288200108/bop_2")
    assert body(paid.posts[-1])["amount"] == Decimal("14999.5")  # the remainder, explicitly
    assert rest.amount == Money(1499950, "NGN")
    with pytest.raises(Conflict) as caught:
        provider.create_refund(TX_ID, idempotency_key="zigznote/refund.create/288200108/bop_3")
    assert caught.value.code == "nothing_to_refund" and len(paid.posts) == 2


def test_a_refund_over_the_remainder_is_refused_before_sending(
    provider: FlutterwaveProvider, paid: FlutterwaveFake
) -> None:
    with pytest.raises(Conflict) as caught:
        provider.create_refund(TX_ID, idempotency_key="k", amount=Money(2500001, "NGN"))
    assert caught.value.code == "refund_exceeds_remainder"
    assert (
        caught.value.message == "a refund of 25000.01 NGN is more than the 25000.00 NGN left on transaction 288200108"
    )
    assert paid.posts == []


def test_insufficient_balance_is_a_clear_provider_error(provider: FlutterwaveProvider, paid: FlutterwaveFake) -> None:
    paid.balance = Decimal("100")
    with pytest.raises(ProviderError) as caught:
        provider.create_refund(TX_ID, idempotency_key="k", amount=Money(50000, "NGN"))
    assert caught.value.code == "flutterwave_insufficient_balance"
    assert caught.value.message == (
        "Flutterwave refused refund transaction 288200108: Insufficient balance in wallet to process this refund"
    )
    assert caught.value.hint == "refunds are paid from your Flutterwave balance: top it up, then run the command again"
    assert isinstance(caught.value, ProviderRefused)  # answered: nothing was done, nothing to resend


def test_flutterwave_s_own_refusal_of_the_amount_is_conflict(
    provider: FlutterwaveProvider, fw_api: respx.Router
) -> None:
    fw_api.get(f"/transactions/{TX_ID}/verify").mock(return_value=ok("transaction"))
    fw_api.get("/refunds").mock(return_value=ok("refunds_page", data=[]))
    fw_api.post(f"/transactions/{TX_ID}/refund").mock(return_value=error(400, "error_refund_over_amount"))
    with pytest.raises(Conflict, match="cannot be greater than the transaction amount") as caught:
        provider.create_refund(TX_ID, idempotency_key="k", amount=Money(100, "NGN"))
    assert caught.value.code == "flutterwave_refused"


def test_a_refund_whose_answer_was_lost_is_found_not_sent_twice(
    provider: FlutterwaveProvider, fw_api: respx.Router, paid: FlutterwaveFake
) -> None:
    def lost(request: httpx.Request) -> httpx.Response:
        paid._refund(request)
        raise httpx.ReadTimeout("no answer")

    fw_api.post(f"/transactions/{TX_ID}/refund").mock(side_effect=lost)
    key = "zigznote/refund.create/288200108/bop_7"
    refund = provider.create_refund(TX_ID, idempotency_key=key, amount=Money(300000, "NGN"))
    assert refund.amount == Money(300000, "NGN") and len(paid.refunds) == 1
    again = provider.create_refund(TX_ID, idempotency_key=key, amount=Money(300000, "NGN"))  # a resumed operation
    assert again == refund and len(paid.refunds) == 1 and len(paid.posts) == 1


def test_only_a_successful_payment_is_refunded(provider: FlutterwaveProvider, fw_api: respx.Router) -> None:
    fw_api.get(f"/transactions/{TX_ID}/verify").mock(return_value=ok("transaction", status="pending"))
    with pytest.raises(Conflict) as caught:
        provider.create_refund(TX_ID, idempotency_key="k")
    assert caught.value.code == "payment_not_refundable"


def test_list_refunds_of_one_payment(provider: FlutterwaveProvider, fw_api: respx.Router) -> None:
    fw_api.get(f"/transactions/{TX_ID}/verify").mock(return_value=ok("transaction"))
    fw_api.get("/refunds").mock(return_value=ok("refunds_page"))
    (refund,) = provider.list_refunds(payment_id=TX_ID)
    assert (refund.id, refund.amount, refund.reason) == (
        "75901",
        Money(500000, "NGN"),
        "zigznote zigznote-refund.create-288200108-bop_01JD8A: requested_by_customer",
    )
