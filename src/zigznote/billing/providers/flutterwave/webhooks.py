"""Inbound Flutterwave webhooks: check the request came from Flutterwave, then normalize it.

Two schemes, both keyed with the dashboard's *secret hash* (``FLUTTERWAVE_WEBHOOK_SECRET``;
Dashboard → Settings → Webhooks):

- ``verif-hash``: v3 sends the secret hash itself in this header ("If you specified a secret
  hash, check for the signature", https://developer.flutterwave.com/docs/webhooks). It proves
  the sender knows the secret, not that the body is unchanged: zigznote never trusts the body
  for state anyway (every handler re-reads the object from the API).
- ``flutterwave-signature``: base64 of HMAC-SHA256 over the exact raw body, keyed with the
  secret hash (the scheme of Flutterwave's newer deliveries; the v4 SDKs' ``WebhookValidator``).
  When this header is present it must match, whatever ``verif-hash`` says: a body that was
  changed on the way is refused.

Comparisons are constant-time (``hmac.compare_digest``); several secrets may be configured
while the hash is being changed (a comma list). There is no IP allow-list: "Flutterwave's IP
Addresses are Dynamic and May Change Over Time … avoid strict IP whitelisting"
(https://developer.flutterwave.com/v3.0/docs/webhooks).

v3 payloads are ``{"event": "charge.completed", "data": {…}, "event.type": "CARD_TRANSACTION"}``
with no event ID of their own, so :func:`event_id` derives a stable one from the event, the
object's ID and its status: a redelivery of the same event is the same ID (deduplicated), a
later change of the same object (``pending`` then ``successful``) is a new one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from zigznote.billing.providers._shared import EVENT_TYPE_RE, event_json, header, webhook_input
from zigznote.billing.providers.flutterwave.mapping import timestamp
from zigznote.billing.types import ProviderEvent
from zigznote.errors import InvalidInput, SignatureInvalid, ZigznoteError

__all__ = ["HASH_HEADER", "OBJECT_TYPES", "SIGNATURE_HEADER", "construct_event", "event_id", "sign"]

HASH_HEADER: Final = "verif-hash"
SIGNATURE_HEADER: Final = "flutterwave-signature"
#: An event's prefix → the neutral object it is about (``ProviderEvent.object_type``).
OBJECT_TYPES: Final = {"charge": "payment", "subscription": "subscription", "refund": "refund"}
_OBJECT_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STATUS_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")
_MAX_HEADER: Final = 1024


def sign(payload: bytes, secret: str) -> str:
    """The ``flutterwave-signature`` of ``payload``: base64 of HMAC-SHA256 keyed with ``secret``
    (tests and ``billing events ingest`` build the header with it)."""
    return base64.b64encode(hmac.new(secret.encode(), payload, hashlib.sha256).digest()).decode()


def _verify(payload: bytes, headers: Mapping[str, str], secrets: list[str]) -> None:
    signature, hashed = header(headers, SIGNATURE_HEADER), header(headers, HASH_HEADER)
    if signature is None and hashed is None:
        raise SignatureInvalid(
            "the request has neither a flutterwave-signature nor a verif-hash header", code="signature_missing"
        )
    for value in (signature, hashed):
        if value is not None and (len(value) > _MAX_HEADER or not value.isascii()):
            raise SignatureInvalid("a Flutterwave signature header is malformed", code="signature_malformed")
    if signature is not None:
        given = signature.strip().encode()
        # Every secret is tried (no early exit), so the time taken says nothing about which matched.
        matches = [hmac.compare_digest(sign(payload, s).encode(), given) for s in secrets]
        if not any(matches):
            raise SignatureInvalid(
                "the flutterwave-signature header does not match this body under FLUTTERWAVE_WEBHOOK_SECRET",
                hint="check the secret hash in the Flutterwave dashboard and that the body is passed on unchanged",
                code="signature_mismatch",
            )
        return
    assert hashed is not None
    given = hashed.strip().encode()
    if not any([hmac.compare_digest(s.encode(), given) for s in secrets]):
        raise SignatureInvalid(
            "the verif-hash header is not FLUTTERWAVE_WEBHOOK_SECRET",
            hint="set FLUTTERWAVE_WEBHOOK_SECRET to the secret hash in the Flutterwave dashboard (Settings → Webhooks)",
            code="signature_mismatch",
        )


def event_id(kind: str, object_id: str | None, status: str | None, raw: bytes) -> str:
    """``<event>:<object ID>:<status>`` (``charge.completed:285959875:successful``); without an
    object ID, ``<event>:sha256:<hex of the body>``."""
    if object_id is None:
        return f"{kind}:sha256:{hashlib.sha256(raw).hexdigest()}"
    return f"{kind}:{object_id}:{status or '-'}"


def construct_event(
    payload: bytes, headers: Mapping[str, str], secrets: Iterable[str], *, livemode: bool = False
) -> ProviderEvent:
    """Check ``payload`` (the exact raw body) and ``headers`` (names case-insensitive) against
    ``secrets`` (module docstring), then normalize it.

    Returns a ProviderEvent (``provider="flutterwave"``; ``id`` from :func:`event_id`;
    ``object_type`` ``payment`` for ``charge.*``, ``subscription`` for ``subscription.*``;
    ``object_id`` the transaction or subscription ID to re-read; ``livemode`` as given: v3
    payloads do not say, the key does). Raises ConfigError (6) when no secret is configured,
    SignatureInvalid (7) for a missing, malformed or non-matching header, InvalidInput (2) for
    a checked body that is not a Flutterwave event. Never calls Flutterwave."""
    raw, configured = webhook_input(
        payload,
        secrets,
        setting="FLUTTERWAVE_WEBHOOK_SECRET",
        hint="set it to the secret hash in the Flutterwave dashboard (Settings → Webhooks)",
    )
    _verify(raw, headers, configured)
    return _normalize(raw, livemode)


def _normalize(raw: bytes, livemode: bool) -> ProviderEvent:
    event = event_json(raw, where="Flutterwave webhook body")
    kind = event.get("event") if isinstance(event, dict) else None
    data = event.get("data") if isinstance(event, dict) else None
    if not isinstance(kind, str) or not EVENT_TYPE_RE.fullmatch(kind) or not isinstance(data, dict):
        raise InvalidInput("the signed body is not a Flutterwave event (event, data)", code="invalid_event")
    object_type = OBJECT_TYPES.get(kind.split(".", 1)[0])
    object_id = _object_id(data)
    status = data.get("status")
    created = data.get("created_at")
    try:
        when = timestamp(created) if isinstance(created, str) else None
    except ZigznoteError:
        when = None
    return ProviderEvent(
        id=event_id(kind, object_id, status if isinstance(status, str) and _STATUS_RE.fullmatch(status) else None, raw),
        provider="flutterwave",
        type=kind,
        object_type=object_type,
        object_id=object_id if object_type else None,
        created=when,
        livemode=livemode,
        data=event,
        raw=raw,
    )


def _object_id(data: Mapping[str, Any]) -> str | None:
    value = data.get("id")
    if type(value) is int and value >= 0:
        return str(value)
    return value if isinstance(value, str) and _OBJECT_ID_RE.fullmatch(value) else None
