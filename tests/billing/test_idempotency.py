"""The provider-neutral idempotency helpers: keys from our IDs, requests frozen as JSON and rebuilt
exactly (``zigznote.billing.idempotency``, used by pending operations and the providers)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from zigznote.billing import money
from zigznote.billing.idempotency import MAX_KEY_LENGTH, check_key, freeze, idempotency_key, thaw
from zigznote.billing.money import Money
from zigznote.billing.types import (
    BillingInterval,
    CheckoutMode,
    CheckoutRequest,
    CustomerInput,
    PaymentRequest,
    PriceSpec,
    ProductSpec,
    SubscriptionRequest,
)
from zigznote.errors import InvalidInput, ZigznoteError

ORG = "org_01JD7Q8Z4W6X2Y3V5T7R9P1N3M"


def test_keys_name_our_ids_and_the_operation() -> None:
    assert (
        idempotency_key("customer.create", "org_01ABC", "bop_01XYZ") == "zigznote/customer.create/org_01ABC/bop_01XYZ"
    )
    assert idempotency_key("customer.create", "org_01ABC", "bop_01XYZ") == idempotency_key(
        "customer.create", "org_01ABC", "bop_01XYZ"
    )
    assert idempotency_key("customer.create", "org_1", "bop_1") != idempotency_key("payment.create", "org_1", "bop_1")


@pytest.mark.parametrize("scope", ["x" * 300, "pay clé", "a\tb"])
def test_a_long_or_unsendable_scope_becomes_its_digest(scope: str) -> None:
    key = idempotency_key("refund.create", scope, "bop_01XYZ")
    digest = hashlib.sha256(scope.encode()).hexdigest()[:32]
    assert key == f"zigznote/refund.create/{digest}/bop_01XYZ"
    assert len(key) <= MAX_KEY_LENGTH and check_key(key) == key


@pytest.mark.parametrize("key", ["", "x" * 256, "bad key", "clé"])
def test_keys_a_provider_cannot_take_are_refused(key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_key(key)
    assert (caught.value.code, caught.value.message) == (
        "invalid_idempotency_key",
        "an idempotency key is 1-255 printable ASCII characters",
    )


@pytest.mark.parametrize(
    "request_",
    [
        CustomerInput(email="billing@acme.example", name="Acme", metadata={"zigznote_org": ORG}),
        ProductSpec("Pro", "For teams", ("Unlimited meetings", "Slack"), {"zigznote_plan": "pro"}),
        PriceSpec("prod_1", Money(5120, "KWD"), BillingInterval.YEAR, 3, {"zigznote_plan": "pro"}),
        SubscriptionRequest("cus_1", "price_1", quantity=4, trial_days=14, metadata={"zigznote_org": ORG}),
        PaymentRequest(amount=Money(1235, "JPY"), customer_id="cus_1"),
        CheckoutRequest(
            CheckoutMode.SUBSCRIPTION, "https://a.example/ok", "https://a.example/no", price_id="price_1", quantity=2
        ),
        CheckoutRequest(
            CheckoutMode.PAYMENT,
            "https://a.example/ok",
            "https://a.example/no",
            amount=Money(5000, "UGX"),
            description="x",
        ),
    ],
)
def test_a_frozen_request_is_plain_json_and_thaws_exactly(request_: Any) -> None:
    frozen = freeze(request_)
    stored = json.loads(json.dumps(frozen))  # what a JSON column gives back
    assert stored == frozen
    assert thaw(type(request_), stored) == request_


def test_the_frozen_shape() -> None:
    assert freeze(PriceSpec("prod_1", Money(2900, "USD"), BillingInterval.MONTH)) == {
        "product_id": "prod_1",
        "amount": {"amount": 2900, "currency": "USD"},
        "interval": "month",
        "interval_count": 1,
        "metadata": {},
    }
    assert freeze(ProductSpec("Pro", features=("A", "B"))) == {
        "name": "Pro",
        "description": None,
        "features": ["A", "B"],
        "metadata": {},
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (29.0, "cannot freeze a float in request parameters"),
        ({"amount": 29.5}, "cannot freeze a float in request parameters"),
        ({1: "a"}, "request parameters need string keys"),
        (object(), "cannot freeze a object in request parameters"),
    ],
)
def test_what_json_cannot_carry_exactly_is_a_bug(value: object, message: str) -> None:
    with pytest.raises(ZigznoteError) as caught:
        freeze(value)
    assert type(caught.value) is ZigznoteError  # exit 1: requests are built by our code
    assert (caught.value.code, caught.value.message) == ("invalid_request_params", message)


def test_stored_parameters_that_do_not_fit_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        thaw(CustomerInput, {"email": "a@b.c", "phone": "1"})
    assert (caught.value.code, caught.value.message) == (
        "invalid_request_params",
        "CustomerInput has no field(s) phone",
    )
    with pytest.raises(InvalidInput) as caught:
        thaw(PriceSpec, {"product_id": "p", "amount": {"amount": 1}, "interval": "month"})
    assert caught.value.message == 'money data must be {"amount": <minor units>, "currency": <code>}'
    with pytest.raises(InvalidInput) as caught:
        thaw(PriceSpec, {"product_id": "p", "amount": {"amount": 100, "currency": "USD"}, "interval": "fortnight"})
    assert caught.value.message.startswith("stored parameters do not make a PriceSpec: ")


def test_fields_the_data_lacks_keep_their_defaults() -> None:
    assert thaw(SubscriptionRequest, {"customer_id": "cus_1", "price_id": "price_1"}) == SubscriptionRequest(
        "cus_1", "price_1"
    )


def test_money_data_round_trips_and_reads_json_output() -> None:
    kwd = Money(5120, "KWD")
    assert money.to_data(kwd) == {"amount": 5120, "currency": "KWD"}
    assert money.from_data(money.to_data(kwd)) == kwd
    assert money.from_data(money.as_json(kwd)) == kwd  # "display" is ignored
    with pytest.raises(InvalidInput) as caught:
        money.from_data({"amount": 29.0, "currency": "USD"})
    assert caught.value.code == "invalid_amount"
