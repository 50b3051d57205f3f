"""Idempotency: keys from our IDs, requests frozen as JSON, and a lost response retried safely."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
import respx

from tests.billing.stripe.conftest import API, SECRET_KEY, form, ok
from zigznote.billing.money import Money
from zigznote.billing.providers.stripe.idempotency import (
    IdempotentRequest,
    idempotency_key,
    request_from_params,
    request_to_params,
)
from zigznote.billing.providers.stripe.provider import StripeProvider
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
from zigznote.errors import InvalidInput

ORG = "org_01JD7Q8Z4W6X2Y3V5T7R9P1N3M"


def test_keys_are_derived_from_our_ids_and_the_operation() -> None:
    assert idempotency_key("create_customer", "bop_01JD7R") == "zz:create_customer:bop_01JD7R"
    assert idempotency_key("create_price", "pro", "USD-month-1", "3f9a") == "zz:create_price:pro:USD-month-1:3f9a"
    assert idempotency_key("create_customer", "bop_01JD7R") == idempotency_key("create_customer", "bop_01JD7R")
    assert idempotency_key("create_customer", "bop_1") != idempotency_key("create_payment", "bop_1")
    long = idempotency_key("create_price", *(["x" * 100] * 3))
    assert long == "zz:create_price:sha256:" + hashlib.sha256("\x00".join(["x" * 100] * 3).encode()).hexdigest()
    assert len(long) <= 255


@pytest.mark.parametrize(
    ("operation", "ids"),
    [("Create", ("bop_1",)), ("create_customer", ()), ("create_customer", ("",)), ("create_customer", ("a:b",))],
)
def test_malformed_key_parts_are_refused(operation: str, ids: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput) as caught:
        idempotency_key(operation, *ids)
    assert caught.value.code == "invalid_idempotency_key"


@pytest.mark.parametrize(
    ("cls", "request_"),
    [
        (CustomerInput, CustomerInput(email="billing@acme.example", name="Acme", metadata={"zigznote_org": ORG})),
        (ProductSpec, ProductSpec(name="Pro", features=("A", "B"), metadata={"zigznote_plan": "pro"})),
        (PriceSpec, PriceSpec("prod_1", Money(5120, "KWD"), BillingInterval.MONTH, interval_count=3)),
        (SubscriptionRequest, SubscriptionRequest(customer_id="cus_1", price_id="price_1", quantity=2, trial_days=14)),
        (PaymentRequest, PaymentRequest(amount=Money(1235, "JPY"), customer_id="cus_1")),
        (
            CheckoutRequest,
            CheckoutRequest(
                mode=CheckoutMode.PAYMENT,
                success_url="https://a.example",
                cancel_url="https://b.example",
                amount=Money(5000, "UGX"),
                description="x",
            ),
        ),
    ],
)
def test_a_frozen_request_round_trips_through_json_exactly(cls: type, request_: object) -> None:
    frozen = IdempotentRequest.of("zz:create:bop_1", request_)
    text = frozen.to_json()
    again = IdempotentRequest.from_json(text)
    assert again == frozen
    assert again.to_json() == text  # canonical: the same request always stores as the same text
    assert again.fingerprint == frozen.fingerprint
    assert again.rebuild(cls) == request_


def test_the_stored_form_is_plain_json() -> None:
    frozen = IdempotentRequest.of(
        "zz:create_price:pro:1", PriceSpec("prod_1", Money(2900, "USD"), BillingInterval.YEAR)
    )
    assert json.loads(frozen.to_json()) == {
        "key": "zz:create_price:pro:1",
        "params": {
            "product_id": "prod_1",
            "amount": {"amount": 2900, "currency": "USD"},
            "interval": "year",
            "interval_count": 1,
            "metadata": {},
        },
    }


def test_a_frozen_request_cannot_be_changed() -> None:
    frozen = IdempotentRequest("zz:k:1", {"items": [{"price": "p"}], "metadata": {"a": "b"}})
    with pytest.raises(TypeError):
        frozen.params["metadata"]["a"] = "c"
    with pytest.raises(AttributeError):
        frozen.key = "other"  # type: ignore[misc]
    copy = frozen.as_params()
    copy["metadata"]["a"] = "c"
    assert frozen.params["metadata"]["a"] == "b"
    assert copy["items"] == [{"price": "p"}]


@pytest.mark.parametrize(
    "bad",
    [
        '{"key": "k", "params": {"amount": 29.0}}',
        '{"key": "k", "params": {"amount": NaN}}',
        '{"key": "", "params": {}}',
        '{"key": "k"}',
        "not json",
    ],
)
def test_bad_stored_requests_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        IdempotentRequest.from_json(bad)


def test_parameters_that_do_not_fit_the_request_type_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        request_from_params(CustomerInput, {"email": "a@b.c", "phone": "1"})
    assert caught.value.message == "CustomerInput has no field(s) phone"
    with pytest.raises(InvalidInput):
        request_to_params({"amount": 29.0})


def test_a_create_whose_response_is_lost_is_retried_with_the_same_key_and_body(stripe_api: respx.Router) -> None:
    route = stripe_api.post("/v1/customers").mock(side_effect=[httpx.ConnectError("connection reset"), ok("customer")])
    stored = IdempotentRequest.of(
        idempotency_key("create_customer", "bop_01JD7R"),
        CustomerInput(email="billing@acme.example", name="Acme Corp", metadata={"zigznote_org": ORG}),
    ).to_json()
    frozen = IdempotentRequest.from_json(stored)  # what a retry loads from the store
    with StripeProvider(SECRET_KEY, api_base=API, max_network_retries=1) as made:
        customer = made.create_customer(frozen.rebuild(CustomerInput), idempotency_key=frozen.key)
    assert customer.id == "cus_TZk8mQ4bR2xNvE"
    assert route.call_count == 2  # the SDK retried once, and one customer came back
    first, second = (call.request for call in route.calls)
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == "zz:create_customer:bop_01JD7R"
    assert first.content == second.content
    assert form(second) == [("email", "billing@acme.example"), ("name", "Acme Corp"), ("metadata[zigznote_org]", ORG)]


def test_a_read_timeout_on_a_create_is_retried_the_same_way(stripe_api: respx.Router) -> None:
    route = stripe_api.post("/v1/payment_intents").mock(
        side_effect=[httpx.ReadTimeout("no answer"), ok("payment_intent")]
    )
    request = PaymentRequest(amount=Money(2900, "USD"), customer_id="cus_TZk8mQ4bR2xNvE")
    with StripeProvider(SECRET_KEY, api_base=API, max_network_retries=2) as made:
        payment = made.create_payment(request, idempotency_key="zz:create_payment:bop_01JD7T")
    assert payment.id == "pi_3SZkB9LkdIwHu7ix0Ka1b2C3"
    assert route.call_count == 2
    keys = {call.request.headers["Idempotency-Key"] for call in route.calls}
    bodies = {call.request.content for call in route.calls}
    assert keys == {"zz:create_payment:bop_01JD7T"} and len(bodies) == 1


def test_equal_requests_send_byte_identical_bodies_from_separate_providers(stripe_api: respx.Router) -> None:
    route = stripe_api.post("/v1/prices").mock(return_value=ok("price"))
    spec = PriceSpec("prod_TZk8pro0Mq2Lx", Money(2900, "USD"), BillingInterval.MONTH, metadata={"zigznote_plan": "pro"})
    rebuilt = IdempotentRequest.from_json(IdempotentRequest.of("zz:create_price:pro:1", spec).to_json())
    for request in (spec, rebuilt.rebuild(PriceSpec)):
        with StripeProvider(SECRET_KEY, api_base=API) as made:
            made.create_price(request, idempotency_key="zz:create_price:pro:1")
    assert route.calls[0].request.content == route.calls[1].request.content


@pytest.mark.parametrize("key", ["", "x" * 256, "bad key", "clé"])
def test_an_unusable_key_is_refused_before_sending(
    provider: StripeProvider, stripe_api: respx.Router, key: str
) -> None:
    route = stripe_api.post("/v1/customers").mock(return_value=ok("customer"))
    with pytest.raises(InvalidInput):
        provider.create_customer(CustomerInput(email="a@b.example"), idempotency_key=key)
    assert route.call_count == 0
