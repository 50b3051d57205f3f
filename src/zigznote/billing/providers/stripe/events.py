"""Inbound Stripe webhooks: verify the exact bytes, then normalize into a ``ProviderEvent``.

Stripe signs each delivery (https://docs.stripe.com/webhooks; stripe-python 16.1.0
``_webhook.py``; tests/fixtures/stripe/README.md): the ``Stripe-Signature`` header is
``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" under the endpoint's whsec_ secret>``
(more ``v1`` entries while a secret rolls). The check is
stripe-python's own (``stripe.WebhookSignature.verify_header``: HMAC, constant-time compare,
and a timestamp no older than the tolerance, 300 s by default, against replays). zigznote runs it
twice: without tolerance to find the secret that signed (``STRIPE_WEBHOOK_SECRET`` may list
two during a rotation), then with it, so "wrong signature" and "too old" read differently.

Only snapshot events (``"object": "event"``) are accepted; thin event notifications (API v2,
``"object": "v2.core.event"``) need another destination type and are refused. The body is then
parsed by ``untrusted.load_json`` (UTF-8, depth-limited; the webhook plumbing both providers share
is ``providers/_shared.py``), and nothing else from it is trusted:
``object_id`` is what the receiver re-fetches: the payload is a snapshot that may be stale.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import stripe

from zigznote.billing.providers._shared import EVENT_TYPE_RE, event_json, header, webhook_input
from zigznote.billing.providers.stripe.mapping import timestamp
from zigznote.billing.types import ProviderEvent
from zigznote.errors import InvalidInput, SignatureInvalid

__all__ = ["OBJECT_TYPES", "SIGNATURE_HEADER", "TOLERANCE_SECONDS", "construct_event", "signature_header"]

SIGNATURE_HEADER: Final = "Stripe-Signature"
#: Oldest signed timestamp accepted, in seconds (stripe-python's ``Webhook.DEFAULT_TOLERANCE``).
TOLERANCE_SECONDS: Final = 300
#: Stripe's ``data.object.object`` → the neutral object type (``ProviderEvent.object_type``).
#: Charges are reported as the PaymentIntent they belong to: zigznote's payments are PaymentIntents.
OBJECT_TYPES: Final = {
    "customer": "customer",
    "subscription": "subscription",
    "invoice": "invoice",
    "payment_intent": "payment",
    "charge": "payment",
    "refund": "refund",
    "checkout.session": "checkout_session",
    "price": "price",
    "product": "product",
}
_EVENT_ID_RE: Final = re.compile(r"evt_[A-Za-z0-9_]{1,250}")
_OBJECT_ID_RE: Final = re.compile(r"[A-Za-z0-9_]{1,255}")
_MAX_HEADER: Final = 8192


def signature_header(headers: Mapping[str, str]) -> str | None:
    """The ``Stripe-Signature`` value, names compared case-insensitively (HTTP header names)."""
    return header(headers, SIGNATURE_HEADER.lower())


def _verify(payload: bytes, header: str, secrets: Iterable[str], tolerance: int) -> None:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureInvalid(
            "the webhook body is not UTF-8, so Stripe cannot have signed it", code="signature_mismatch"
        ) from None
    signer = None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, header, secret, tolerance=None)
        except stripe.SignatureVerificationError:
            continue
        signer = secret
        break
    if signer is None:
        raise SignatureInvalid(
            "the Stripe-Signature header does not match this body under STRIPE_WEBHOOK_SECRET",
            hint="check the endpoint's signing secret (whsec_…) and that the body is passed on unchanged",
            code="signature_mismatch",
        )
    try:
        stripe.WebhookSignature.verify_header(text, header, signer, tolerance=tolerance)
    except stripe.SignatureVerificationError:
        raise SignatureInvalid(
            f"the Stripe-Signature timestamp is more than {tolerance} s old (a replay, or a slow clock)",
            hint="check this machine's clock; Stripe retries undelivered events with a fresh timestamp",
            code="signature_expired",
        ) from None


def _object_id(kind: str | None, obj: Mapping[str, Any]) -> str | None:
    if kind == "charge":
        value = obj.get("payment_intent")
        value = value.get("id") if isinstance(value, dict) else value
    else:
        value = obj.get("id")
    return value if isinstance(value, str) and _OBJECT_ID_RE.fullmatch(value) else None


def construct_event(
    payload: bytes,
    headers: Mapping[str, str],
    secrets: Iterable[str],
    *,
    tolerance: int = TOLERANCE_SECONDS,
) -> ProviderEvent:
    """Verify ``payload`` (the exact raw body) against the ``Stripe-Signature`` header with any
    of ``secrets``, then normalize it.

    Returns a ``ProviderEvent`` (``provider="stripe"``; ``object_type``/``object_id`` from
    ``data.object``, a charge as its PaymentIntent; ``data`` the parsed event; ``raw`` the
    verified bytes). Raises ConfigError (6) when no secret is configured, SignatureInvalid (7)
    for a missing, malformed or non-matching signature or a timestamp older than ``tolerance``
    seconds, InvalidInput (2) for a verified body that is not a Stripe snapshot event."""
    raw, configured = webhook_input(
        payload,
        secrets,
        setting="STRIPE_WEBHOOK_SECRET",
        hint="set it to the endpoint's signing secret (whsec_…) from the Stripe Dashboard or `stripe listen`",
    )
    signature = signature_header(headers)
    if not signature:
        raise SignatureInvalid("the request has no Stripe-Signature header", code="signature_missing")
    if len(signature) > _MAX_HEADER:
        raise SignatureInvalid("the Stripe-Signature header is too long", code="signature_malformed")
    _verify(raw, signature, configured, tolerance)
    return _normalize(raw)


def _normalize(raw: bytes) -> ProviderEvent:
    event = event_json(raw, where="Stripe webhook body")
    if not isinstance(event, dict):
        raise InvalidInput("the signed body is not a JSON object", code="invalid_event")
    if event.get("object") == "v2.core.event":
        raise InvalidInput(
            "a thin event notification (API v2) arrived where snapshot events are expected",
            hint="send this endpoint snapshot events (payload style: snapshot)",
            code="unsupported_event",
        )
    event_id, kind, created = event.get("id"), event.get("type"), event.get("created")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if (
        event.get("object") != "event"
        or not isinstance(event_id, str)
        or not _EVENT_ID_RE.fullmatch(event_id)
        or not isinstance(kind, str)
        or not EVENT_TYPE_RE.fullmatch(kind)
        or type(created) is not int
        or not isinstance(obj, dict)
    ):
        raise InvalidInput(
            "the signed body is not a Stripe event (id evt_…, type, created, data.object)", code="invalid_event"
        )
    stripe_kind = obj.get("object")
    object_type = OBJECT_TYPES.get(stripe_kind) if isinstance(stripe_kind, str) else None
    return ProviderEvent(
        id=event_id,
        provider="stripe",
        type=kind,
        object_type=object_type,
        object_id=_object_id(stripe_kind, obj) if object_type else None,
        created=timestamp(created),
        livemode=event.get("livemode") is True,
        data=event,
        raw=raw,
    )
