"""Inbound webhooks: both schemes accepted when right and refused when wrong, tampered or
missing; the event ID derived so a redelivery is the same event."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime

import pytest

from tests.billing.flutterwave.conftest import WEBHOOK_SECRET, raw
from zigznote.billing.providers.flutterwave.provider import FlutterwaveProvider
from zigznote.billing.providers.flutterwave.webhooks import construct_event, sign
from zigznote.errors import ConfigError, InvalidInput, SignatureInvalid

CHARGE = raw("webhook_charge_completed")


def hmac_header(payload: bytes, secret: str = WEBHOOK_SECRET) -> str:
    """Built independently of the module: base64(HMAC-SHA256(secret hash, raw body))."""
    return base64.b64encode(hmac.new(secret.encode(), payload, hashlib.sha256).digest()).decode()


def test_sign_matches_the_documented_scheme() -> None:
    assert sign(CHARGE, WEBHOOK_SECRET) == hmac_header(CHARGE)


def test_verif_hash_is_accepted_and_the_event_normalized(provider: FlutterwaveProvider) -> None:
    event = provider.construct_event(CHARGE, {"Verif-Hash": WEBHOOK_SECRET, "Content-Type": "application/json"})
    assert (event.id, event.provider, event.type, event.object_type, event.object_id) == (
        "charge.completed:288200108:successful",
        "flutterwave",
        "charge.completed",
        "payment",
        "288200108",
    )
    assert (event.created, event.livemode, event.raw) == (datetime(2026, 11, 20, 9, 30), False, CHARGE)
    assert event.data["event.type"] == "CARD_TRANSACTION"


def test_the_hmac_signature_is_accepted(provider: FlutterwaveProvider) -> None:
    event = provider.construct_event(CHARGE, {"flutterwave-signature": hmac_header(CHARGE)})
    assert event.id == "charge.completed:288200108:successful"


def test_subscription_events_are_about_the_subscription(provider: FlutterwaveProvider) -> None:
    body = raw("webhook_subscription_cancelled")
    event = provider.construct_event(body, {"verif-hash": WEBHOOK_SECRET})
    assert (event.id, event.object_type, event.object_id) == (
        "subscription.cancelled:15376:cancelled",
        "subscription",
        "15376",
    )


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "signature_missing"),
        ({"verif-hash": "not-the-secret"}, "signature_mismatch"),
        ({"verif-hash": WEBHOOK_SECRET[:-1]}, "signature_mismatch"),
        ({"flutterwave-signature": hmac_header(CHARGE, "another-secret")}, "signature_mismatch"),
        # A correct verif-hash does not save a body whose HMAC does not match: it was changed on the way.
        ({"verif-hash": WEBHOOK_SECRET, "flutterwave-signature": hmac_header(CHARGE + b" ")}, "signature_mismatch"),
        ({"verif-hash": "é" * 10}, "signature_malformed"),
    ],
)
def test_wrong_or_missing_signatures_are_refused(
    provider: FlutterwaveProvider, headers: dict[str, str], code: str
) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        provider.construct_event(CHARGE, headers)
    assert caught.value.code == code and caught.value.exit_code == 7
    assert WEBHOOK_SECRET not in caught.value.message


def test_a_tampered_body_fails_the_hmac(provider: FlutterwaveProvider) -> None:
    header = hmac_header(CHARGE)
    tampered = CHARGE.replace(b'"amount": 25000', b'"amount": 2500000')
    assert tampered != CHARGE
    with pytest.raises(SignatureInvalid):
        provider.construct_event(tampered, {"flutterwave-signature": header})


def test_any_configured_secret_works_during_a_change() -> None:
    event = construct_event(CHARGE, {"verif-hash": "old-hash"}, ["new-hash", "old-hash"])
    assert event.object_id == "288200108"
    assert construct_event(CHARGE, {"flutterwave-signature": hmac_header(CHARGE, "new-hash")}, ["old-hash", "new-hash"])


def test_without_a_configured_secret_nothing_is_accepted() -> None:
    with pytest.raises(ConfigError, match="FLUTTERWAVE_WEBHOOK_SECRET is not set"):
        construct_event(CHARGE, {"verif-hash": ""}, [])


def test_a_checked_body_that_is_not_an_event_is_invalid_input() -> None:
    for body in (b"[1, 2]", b'{"event": "charge.completed"}', b"not json", b'{"event": "Bad Type", "data": {}}'):
        with pytest.raises(InvalidInput):
            construct_event(body, {"flutterwave-signature": hmac_header(body)}, [WEBHOOK_SECRET])


def test_the_event_id_follows_the_object_and_its_status() -> None:
    event = json.loads(CHARGE)
    pending = json.dumps({**event, "data": {**event["data"], "status": "pending"}}).encode()
    first = construct_event(pending, {"verif-hash": WEBHOOK_SECRET}, [WEBHOOK_SECRET])
    again = construct_event(pending, {"verif-hash": WEBHOOK_SECRET}, [WEBHOOK_SECRET])
    done = construct_event(CHARGE, {"verif-hash": WEBHOOK_SECRET}, [WEBHOOK_SECRET])
    assert first.id == again.id == "charge.completed:288200108:pending" != done.id
    anonymous = b'{"event": "transfer.completed", "data": {"status": "SUCCESSFUL"}}'
    made = construct_event(anonymous, {"verif-hash": WEBHOOK_SECRET}, [WEBHOOK_SECRET])
    assert made.id == "transfer.completed:sha256:" + hashlib.sha256(anonymous).hexdigest()
    assert (made.object_type, made.object_id) == (None, None)


def test_livemode_follows_the_key() -> None:
    with FlutterwaveProvider("FLWSECK-live0000example-X", webhook_secrets=[WEBHOOK_SECRET]) as live:
        assert live.construct_event(CHARGE, {"verif-hash": WEBHOOK_SECRET}).livemode is True
