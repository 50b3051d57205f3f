"""construct_event: Stripe-signed bodies (t=…,v1=HMAC, as stripe-python's own tests build them),
tolerance, rotation, bad signatures (exit 7) and the normalized ProviderEvent."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime

import pytest
import respx

from tests.billing.stripe.conftest import FIXTURES, SECRET_KEY
from zigznote.billing.providers.stripe import events
from zigznote.billing.providers.stripe.provider import StripeProvider
from zigznote.errors import ConfigError, InvalidInput, SignatureInvalid

SECRET = "whsec_test_secret"
INVOICE_PAID = (FIXTURES / "event_invoice_paid.json").read_bytes()


def sign(payload: bytes, secret: str = SECRET, *, timestamp: int | None = None, scheme: str = "v1") -> str:
    """The ``Stripe-Signature`` value, computed like stripe-python's tests/test_webhook.py
    ``generate_header``: HMAC-SHA256 of "<t>.<payload>" under the secret, hex."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},{scheme}={digest}"


@pytest.fixture
def provider() -> StripeProvider:
    return StripeProvider(SECRET_KEY, api_base="https://stripe.test", webhook_secrets=[SECRET])


def test_a_signed_event_is_verified_and_normalized(provider: StripeProvider) -> None:
    with respx.mock(assert_all_mocked=True):  # construct_event never calls Stripe
        event = provider.construct_event(INVOICE_PAID, {"Stripe-Signature": sign(INVOICE_PAID)})
    assert (event.id, event.provider, event.type) == ("evt_1SZkBDLkdIwHu7ixInvPaid01", "stripe", "invoice.paid")
    assert (event.object_type, event.object_id) == ("invoice", "in_1SZkB8LkdIwHu7ixHn4pLr2T")
    assert event.created == datetime(2026, 11, 20, 9, 30, 7)
    assert event.livemode is False
    assert event.raw == INVOICE_PAID
    assert event.data == json.loads(INVOICE_PAID)


def test_header_names_are_case_insensitive(provider: StripeProvider) -> None:
    event = provider.construct_event(INVOICE_PAID, {"stripe-signature": sign(INVOICE_PAID)})
    assert event.id == "evt_1SZkBDLkdIwHu7ixInvPaid01"


def test_a_charge_event_points_at_its_payment_intent(provider: StripeProvider) -> None:
    body = (FIXTURES / "event_charge_refunded.json").read_bytes()
    event = provider.construct_event(body, {"Stripe-Signature": sign(body)})
    assert (event.type, event.object_type, event.object_id) == (
        "charge.refunded",
        "payment",
        "pi_3SZkB9LkdIwHu7ix0Ka1b2C3",
    )


def test_a_subscription_event(provider: StripeProvider) -> None:
    body = (FIXTURES / "event_subscription_updated.json").read_bytes()
    event = provider.construct_event(body, {"Stripe-Signature": sign(body)})
    assert (event.type, event.object_type, event.object_id) == (
        "customer.subscription.updated",
        "subscription",
        "sub_1SZkB7LkdIwHu7ixGq8Wm3Xe",
    )


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (lambda: sign(INVOICE_PAID, "whsec_other_secret"), "signature_mismatch"),
        (lambda: sign(INVOICE_PAID + b" "), "signature_mismatch"),
        (lambda: sign(INVOICE_PAID, scheme="v0"), "signature_mismatch"),
        (lambda: "t=notanumber,v1=abc", "signature_mismatch"),
        (lambda: "garbage", "signature_mismatch"),
        (lambda: sign(INVOICE_PAID).replace("v1=", "v1=0"), "signature_mismatch"),
        (lambda: "", "signature_missing"),
    ],
)
def test_bad_signatures_exit_7(provider: StripeProvider, header: object, code: str) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        provider.construct_event(INVOICE_PAID, {"Stripe-Signature": header()})  # type: ignore[operator]
    assert (caught.value.exit_code, caught.value.code) == (7, code)


def test_a_missing_header_is_refused(provider: StripeProvider) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        provider.construct_event(INVOICE_PAID, {"Content-Type": "application/json"})
    assert caught.value.code == "signature_missing"


def test_the_tolerance_is_enforced_on_a_correct_signature(provider: StripeProvider) -> None:
    now = int(time.time())
    fresh = provider.construct_event(INVOICE_PAID, {"Stripe-Signature": sign(INVOICE_PAID, timestamp=now - 240)})
    assert fresh.id == "evt_1SZkBDLkdIwHu7ixInvPaid01"
    with pytest.raises(SignatureInvalid) as caught:
        provider.construct_event(INVOICE_PAID, {"Stripe-Signature": sign(INVOICE_PAID, timestamp=now - 360)})
    assert caught.value.code == "signature_expired"
    assert caught.value.message == ("the Stripe-Signature timestamp is more than 300 s old (a replay, or a slow clock)")
    strict = StripeProvider(SECRET_KEY, webhook_secrets=[SECRET], webhook_tolerance=60)
    with pytest.raises(SignatureInvalid):
        strict.construct_event(INVOICE_PAID, {"Stripe-Signature": sign(INVOICE_PAID, timestamp=now - 120)})


def test_during_a_rotation_either_secret_verifies() -> None:
    rotating = StripeProvider(SECRET_KEY, webhook_secrets=["whsec_new_secret", "whsec_old_secret"])
    for secret in ("whsec_new_secret", "whsec_old_secret"):
        assert rotating.construct_event(INVOICE_PAID, {"Stripe-Signature": sign(INVOICE_PAID, secret)}).type == (
            "invoice.paid"
        )
    # Stripe sends one v1 per active secret while a secret rolls; any match is enough.
    t = int(time.time())
    both = (
        sign(INVOICE_PAID, "whsec_unknown", timestamp=t) + "," + sign(INVOICE_PAID, SECRET, timestamp=t).split(",")[1]
    )
    only_old = StripeProvider(SECRET_KEY, webhook_secrets=[SECRET])
    assert only_old.construct_event(INVOICE_PAID, {"Stripe-Signature": both}).id == "evt_1SZkBDLkdIwHu7ixInvPaid01"


def test_no_webhook_secret_is_a_config_error() -> None:
    unconfigured = StripeProvider(SECRET_KEY)
    with pytest.raises(ConfigError) as caught:
        unconfigured.construct_event(INVOICE_PAID, {"Stripe-Signature": sign(INVOICE_PAID)})
    assert (caught.value.exit_code, caught.value.code) == (6, "stripe_webhook_secret_missing")
    assert "STRIPE_WEBHOOK_SECRET" in caught.value.message


def test_a_body_that_is_not_utf8_cannot_verify(provider: StripeProvider) -> None:
    body = b'{"id": "evt_1", "x": "\xff"}'
    with pytest.raises(SignatureInvalid) as caught:
        provider.construct_event(body, {"Stripe-Signature": sign(body)})
    assert caught.value.code == "signature_mismatch"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[1, 2]", "invalid_event"),
        (b"not json", "invalid_event"),
        (b'{"id": "evt_1", "object": "event", "type": "invoice.paid", "created": 1795167007}', "invalid_event"),
        (
            b'{"id": "cus_1", "object": "customer", "type": "x.y", "created": 1, "data": {"object": {}}}',
            "invalid_event",
        ),
        (
            b'{"id": "evt_234", "object": "v2.core.event", "type": "v1.billing.meter.error_report_triggered", '
            b'"livemode": true, "created": "2022-02-15T00:27:45.330Z"}',
            "unsupported_event",
        ),
        (b'{"a": ' * 70 + b"1" + b"}" * 70, "invalid_event"),
    ],
)
def test_a_verified_body_that_is_not_a_snapshot_event_is_invalid_input(
    provider: StripeProvider, body: bytes, code: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        provider.construct_event(body, {"Stripe-Signature": sign(body)})
    assert (caught.value.exit_code, caught.value.code) == (2, code)


def test_an_event_about_an_object_zigznote_does_not_track(provider: StripeProvider) -> None:
    body = json.dumps(
        {
            "id": "evt_1SZkBFLkdIwHu7ixPayout001",
            "object": "event",
            "type": "payout.paid",
            "created": 1795167007,
            "livemode": True,
            "data": {"object": {"id": "po_1SZkBFLkdIwHu7ix", "object": "payout"}},
        }
    ).encode()
    event = provider.construct_event(body, {"Stripe-Signature": sign(body)})
    assert (event.object_type, event.object_id, event.livemode) == (None, None, True)


def test_the_module_function_takes_the_secrets_directly() -> None:
    event = events.construct_event(INVOICE_PAID, {"Stripe-Signature": sign(INVOICE_PAID)}, [SECRET])
    assert event.type == "invoice.paid"
    assert events.signature_header({"STRIPE-SIGNATURE": "t=1,v1=x"}) == "t=1,v1=x"
