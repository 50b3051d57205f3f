"""The bytes and headers of one webhook request.

The body is built from the stored event alone, so every retry of a delivery sends
identical bytes; only ``webhook-timestamp`` and the signature change per attempt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from zigznote.timeutil import iso
from zigznote.webhooks.signing import HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, sign_with_key, signed_headers

USER_AGENT = "zigznote-webhooks/1"

# Headers a customer may not override: they carry the contract.
RESERVED_HEADERS = frozenset(
    {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length", "host", "user-agent"}
)


def envelope(event_id: str, type_: str, created_at: datetime, org_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "type": type_, "created_at": iso(created_at), "org": org_id, "data": dict(data)}


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def body_bytes(event_id: str, type_: str, created_at: datetime, org_id: str, data: Any) -> bytes:
    """The request body (compact UTF-8 JSON). Raises ``ValueError`` for data JSON cannot
    carry (NaN/Infinity: ``allow_nan=False``; a lone surrogate fails to encode) and for
    data that is not a JSON object (a row written around the API, or unreadable text)."""
    if not isinstance(data, Mapping):
        kind = "null" if data is None else _JSON_KINDS.get(type(data))
        if kind is None:  # queue.claims.UnreadableData: stored text that does not parse
            raise ValueError(f"the event's data is not valid JSON ({getattr(data, 'reason', type(data).__name__)})")
        raise ValueError(f"the event's data is {kind}, not a JSON object")
    doc = envelope(event_id, type_, created_at, org_id, data)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def request_headers(
    msg_id: str,
    timestamp: int,
    body: bytes,
    secrets: Sequence[str],
    custom: Mapping[str, str] | None = None,
) -> dict[str, str]:
    headers = {k: v for k, v in (custom or {}).items() if k.lower() not in RESERVED_HEADERS}
    headers["content-type"] = "application/json"
    headers["user-agent"] = USER_AGENT
    headers.update(signed_headers(secrets, msg_id, timestamp, body))
    return headers


def base_headers(custom: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers every request to one endpoint shares (computed once per endpoint)."""
    headers = {k: v for k, v in (custom or {}).items() if k.lower() not in RESERVED_HEADERS}
    headers["content-type"] = "application/json"
    headers["user-agent"] = USER_AGENT
    return headers


def attempt_headers(
    base: Mapping[str, str], keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """``request_headers`` for the hot path: shared headers plus this attempt's signature,
    with each signing key already decoded."""
    headers = dict(base)
    headers[HEADER_ID] = msg_id
    headers[HEADER_TIMESTAMP] = str(timestamp)
    headers[HEADER_SIGNATURE] = " ".join(sign_with_key(k, msg_id, timestamp, body) for k in keys)
    return headers
