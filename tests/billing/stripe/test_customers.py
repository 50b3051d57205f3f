"""Customers and payment methods: the exact requests Stripe receives, and what comes back."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import respx

from tests.billing.stripe.conftest import form, load, ok, query
from zigznote.billing.providers.stripe.provider import StripeProvider
from zigznote.billing.types import Customer, CustomerInput, CustomerUpdate, PaymentMethod

CUS = "cus_TZk8mQ4bR2xNvE"
PM = "pm_1SZk9aLkdIwHu7ixQ2pD5sVb"
ORG = "org_01JD7Q8Z4W6X2Y3V5T7R9P1N3M"


def test_create_customer_sends_the_form_and_the_idempotency_key(
    provider: StripeProvider, stripe_api: respx.Router
) -> None:
    route = stripe_api.post("/v1/customers").mock(return_value=ok("customer"))
    made = provider.create_customer(
        CustomerInput(email="billing@acme.example", name="Acme Corp", metadata={"zigznote_org": ORG}),
        idempotency_key="zz:create_customer:bop_01JD7R",
    )
    request = route.calls.last.request
    assert form(request) == [
        ("email", "billing@acme.example"),
        ("name", "Acme Corp"),
        ("metadata[zigznote_org]", ORG),
    ]
    assert request.headers["Idempotency-Key"] == "zz:create_customer:bop_01JD7R"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert made == Customer(
        id=CUS,
        email="billing@acme.example",
        name="Acme Corp",
        default_payment_method_id=None,
        created=datetime(2026, 11, 20, 9, 30),
        metadata={"zigznote_org": ORG},
    )


def test_get_update_and_delete_customer(provider: StripeProvider, stripe_api: respx.Router) -> None:
    get = stripe_api.get(f"/v1/customers/{CUS}").mock(return_value=ok("customer"))
    update = stripe_api.post(f"/v1/customers/{CUS}").mock(return_value=ok("customer", name="Acme Inc"))
    delete = stripe_api.delete(f"/v1/customers/{CUS}").mock(return_value=ok("customer_deleted"))

    assert provider.get_customer(CUS).name == "Acme Corp"
    assert get.calls.last.request.content == b""

    changed = provider.update_customer(CUS, CustomerUpdate(name="Acme Inc", metadata={"plan_note": ""}))
    assert changed.name == "Acme Inc"
    # None fields are not sent; metadata keys merge at Stripe ("" deletes a key).
    assert form(update.calls.last.request) == [("name", "Acme Inc"), ("metadata[plan_note]", "")]

    provider.delete_customer(CUS)
    assert delete.call_count == 1


def test_a_deleted_customer_comes_back_marked_deleted(provider: StripeProvider, stripe_api: respx.Router) -> None:
    stripe_api.get(f"/v1/customers/{CUS}").mock(return_value=ok("customer_deleted"))
    assert provider.get_customer(CUS) == Customer(id=CUS, deleted=True)


def test_list_payment_methods_marks_the_default(provider: StripeProvider, stripe_api: respx.Router) -> None:
    customer = load("customer")
    customer["invoice_settings"]["default_payment_method"] = PM
    stripe_api.get(f"/v1/customers/{CUS}").mock(return_value=httpx.Response(200, json=customer))
    listed = stripe_api.get(f"/v1/customers/{CUS}/payment_methods").mock(return_value=ok("payment_methods_list"))
    methods = provider.list_payment_methods(CUS)
    assert query(listed.calls.last.request) == [("limit", "100")]
    assert methods == [
        PaymentMethod(
            id=PM, type="card", customer_id=CUS, brand="visa", last4="4242", exp_month=8, exp_year=2029, is_default=True
        ),
        PaymentMethod(id="pm_1SZk9bLkdIwHu7ixSepaDebit", type="sepa_debit", customer_id=CUS, is_default=False),
    ]


def test_attach_detach_and_set_default(provider: StripeProvider, stripe_api: respx.Router) -> None:
    attach = stripe_api.post(f"/v1/payment_methods/{PM}/attach").mock(return_value=ok("payment_method_card"))
    detach = stripe_api.post(f"/v1/payment_methods/{PM}/detach").mock(
        return_value=ok("payment_method_card", customer=None)
    )
    customer = load("customer")
    customer["invoice_settings"]["default_payment_method"] = PM
    default = stripe_api.post(f"/v1/customers/{CUS}").mock(return_value=httpx.Response(200, json=customer))

    attached = provider.attach_payment_method(CUS, PM)
    assert form(attach.calls.last.request) == [("customer", CUS)]
    assert (attached.id, attached.customer_id, attached.last4) == (PM, CUS, "4242")

    provider.detach_payment_method(PM)
    assert form(detach.calls.last.request) == []

    updated = provider.set_default_payment_method(CUS, PM)
    assert form(default.calls.last.request) == [("invoice_settings[default_payment_method]", PM)]
    assert updated.default_payment_method_id == PM


def test_text_from_stripe_is_made_storable(provider: StripeProvider, stripe_api: respx.Router) -> None:
    body = load("customer", name="Acme\x00 \ud800Corp" + "x" * 400, metadata={"k": "v\x00"})
    # ASCII JSON: the lone surrogate travels as the escape "\ud800", as a hostile answer could send it.
    stripe_api.get(f"/v1/customers/{CUS}").mock(return_value=httpx.Response(200, content=json.dumps(body).encode()))
    got = provider.get_customer(CUS)
    assert got.name == "Acme\ufffd \ufffdCorp" + "x" * 245  # bounded to 256
    assert got.metadata == {"k": "v\ufffd"}
