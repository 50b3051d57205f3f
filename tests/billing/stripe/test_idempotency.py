"""Idempotency at Stripe: a create whose response is lost is retried with the same key and body
(keys and frozen requests come from ``zigznote.billing.idempotency``)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from tests.billing.stripe.conftest import API, SECRET_KEY, form, ok
from zigznote.billing.idempotency import freeze, idempotency_key, thaw
from zigznote.billing.money import Money
from zigznote.billing.providers.stripe.provider import StripeProvider
from zigznote.billing.types import (
    BillingInterval,
    CustomerInput,
    PaymentRequest,
    PriceSpec,
)
from zigznote.errors import InvalidInput

ORG = "org_01JD7Q8Z4W6X2Y3V5T7R9P1N3M"


def test_a_create_whose_response_is_lost_is_retried_with_the_same_key_and_body(stripe_api: respx.Router) -> None:
    route = stripe_api.post("/v1/customers").mock(side_effect=[httpx.ConnectError("connection reset"), ok("customer")])
    key = idempotency_key("customer.create", ORG, "bop_01JD7R")
    request = CustomerInput(email="billing@acme.example", name="Acme Corp", metadata={"zigznote_org": ORG})
    stored = json.loads(json.dumps(freeze(request)))  # what a retry loads from the store
    with StripeProvider(SECRET_KEY, api_base=API, max_network_retries=1) as made:
        customer = made.create_customer(thaw(CustomerInput, stored), idempotency_key=key)
    assert customer.id == "cus_TZk8mQ4bR2xNvE"
    assert route.call_count == 2  # the SDK retried once, and one customer came back
    first, second = (call.request for call in route.calls)
    assert (
        first.headers["Idempotency-Key"]
        == second.headers["Idempotency-Key"]
        == f"zigznote/customer.create/{ORG}/bop_01JD7R"
    )
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
    rebuilt = thaw(PriceSpec, json.loads(json.dumps(freeze(spec))))
    for request in (spec, rebuilt):
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
