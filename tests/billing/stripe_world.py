"""A fake Stripe for the inbound-event tests: it holds each object's *current* state and answers
the SDK's GETs through respx, and events are signed the way Stripe signs them.

Tests change the world (``world.subscriptions[SUB]["status"] = "past_due"``) and then deliver
events whose payloads may be stale: the handlers re-fetch, so what ends up stored must be the
world's state, whatever the payload said. Objects start as the fixtures in tests/fixtures/stripe/
(one customer, its subscription, invoice, PaymentIntent and refund), owned by ``org_id``.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import respx

API = "https://stripe.test"
SECRET_KEY = "sk_test_51Zz9ExampleOnlyNotARealKey0000"
WEBHOOK_SECRET = "whsec_test_events_0123456789abcdefABCDEF"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe"
CUS = "cus_TZk8mQ4bR2xNvE"
SUB = "sub_1SZkB7LkdIwHu7ixGq8Wm3Xe"
INV = "in_1SZkB8LkdIwHu7ixHn4pLr2T"
PI = "pi_3SZkB9LkdIwHu7ix0Ka1b2C3"
RE = "re_3SZkB9LkdIwHu7ix0Rf4g5H6"
CHARGE = "ch_3SZkB9LkdIwHu7ix0Dq7e8F9"
#: Stripe's envelope around a fixture's ``error`` object (what the SDK turns into an error).
_MISSING = {"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such object"}}
_BROKEN = {"error": {"type": "api_error", "message": "Something went wrong on Stripe's end."}}


def fixture(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text()))


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, *, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` value as Stripe computes it (stripe-python's
    tests/test_webhook.py ``generate_header``): ``t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<payload>">``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def event(event_id: str, type_: str, obj: dict[str, Any], *, created: int = 1795167007) -> bytes:
    """A snapshot event as Stripe sends it (pretty-printed, like the real thing)."""
    body = {
        "id": event_id, "object": "event", "api_version": "2026-10-28.endive", "context": None,
        "created": created, "data": {"object": obj}, "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None}, "type": type_,
    }  # fmt: skip
    return json.dumps(body, indent=2).encode()


def _page(items: list[dict[str, Any]], url: str) -> httpx.Response:
    return httpx.Response(200, json={"object": "list", "data": items, "has_more": False, "url": url})


class StripeWorld:
    """Stripe's current objects (dicts in Stripe's JSON shape), served by ``router``.

    ``gets``: how many times each object was fetched; ``failing``: IDs whose fetch answers 500
    (``Stripe-Should-Retry: false``, so the SDK does not wait to retry); ``delay``: seconds each
    answer takes (a slow Stripe)."""

    def __init__(self, router: respx.Router, org_id: str) -> None:
        self.router = router  # for a test's own routes (the writes it expects)
        self.lock = threading.Lock()
        self.gets: Counter[str] = Counter()
        self.failing: set[str] = set()
        self.delay = 0.0
        customer = fixture("customer")
        customer["metadata"] = {"zigznote_org": org_id}
        subscription = fixture("subscription")
        subscription["metadata"] = {"zigznote_org": org_id}
        payment = fixture("payment_intent")
        payment["metadata"] = {"zigznote_org": org_id}
        self.customers: dict[str, dict[str, Any]] = {CUS: customer}
        self.subscriptions: dict[str, dict[str, Any]] = {SUB: subscription}
        self.invoices: dict[str, dict[str, Any]] = {INV: fixture("invoice")}
        self.payment_intents: dict[str, dict[str, Any]] = {PI: payment}
        self.refunds: dict[str, dict[str, Any]] = {RE: fixture("refund")}
        for kind, store in (
            ("customers", self.customers),
            ("subscriptions", self.subscriptions),
            ("invoices", self.invoices),
            ("payment_intents", self.payment_intents),
        ):
            router.get(url__regex=rf"/v1/{kind}/[A-Za-z0-9_]+(\?.*)?$").mock(side_effect=self._getter(store))
        router.get("/v1/refunds").mock(side_effect=self._refunds)
        router.get("/v1/subscriptions").mock(side_effect=self._subscriptions)

    def _answer(self, object_id: str, found: dict[str, Any] | None) -> httpx.Response:
        with self.lock:
            self.gets[object_id] += 1
            failing = object_id in self.failing
            answer = copy.deepcopy(found) if found is not None else None
        if self.delay:
            time.sleep(self.delay)
        if failing:
            return httpx.Response(500, json=_BROKEN, headers={"Stripe-Should-Retry": "false", "Request-Id": "req_1"})
        if answer is None:
            return httpx.Response(404, json=_MISSING, headers={"Request-Id": "req_2"})
        return httpx.Response(200, json=answer)

    def _getter(self, store: dict[str, dict[str, Any]]) -> Any:
        def get(request: httpx.Request) -> httpx.Response:
            object_id = request.url.path.rsplit("/", 1)[1]
            with self.lock:
                found = store.get(object_id)
            return self._answer(object_id, found)

        return get

    def _refunds(self, request: httpx.Request) -> httpx.Response:
        pi = request.url.params.get("payment_intent")
        with self.lock:
            self.gets[f"refunds?{pi}"] += 1
            items = [copy.deepcopy(r) for r in self.refunds.values() if pi is None or r["payment_intent"] == pi]
        return _page(items, "/v1/refunds")

    def _subscriptions(self, request: httpx.Request) -> httpx.Response:
        customer = request.url.params.get("customer")
        with self.lock:
            self.gets[f"subscriptions?{customer}"] += 1
            items = [copy.deepcopy(s) for s in self.subscriptions.values() if customer in (None, s["customer"])]
        return _page(items, "/v1/subscriptions")

    def fetched(self, object_id: str) -> int:
        with self.lock:
            return self.gets[object_id]
