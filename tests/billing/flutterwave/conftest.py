"""Shared pieces of the Flutterwave provider tests: fixtures from tests/fixtures/flutterwave/ (see
its README), a provider pointed at a respx-mocked ``FLUTTERWAVE_API_BASE``, a clock and a sleep
recorder, and readers for what Flutterwave received."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from zigznote.billing.providers.flutterwave.provider import FlutterwaveProvider

API = "https://flutterwave.test/v3"
SECRET_KEY = "FLWSECK_TEST-0000000000examplenotarealkey00000-X"
WEBHOOK_SECRET = "zz-webhook-hash-2026"
NOW = datetime(2026, 11, 25, 12, 0, 0)
EMAIL = "billing@acme.example"
TX_ID = "288200108"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "flutterwave"


def load(name: str, /, **changes: Any) -> dict[str, Any]:
    """A fixture (``transaction`` → transaction.json), deep-copied; ``changes`` update its
    ``data`` when it has an object there, else the top level."""
    data = copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text(), parse_float=Decimal))
    target = data["data"] if isinstance(data.get("data"), dict) and changes else data
    target.update(changes)
    return data


def raw(name: str) -> bytes:
    """A fixture's exact bytes (webhook bodies are signed as they are)."""
    return (FIXTURES / f"{name}.json").read_bytes()


def _encode(data: Any) -> bytes:
    return json.dumps(data, default=lambda d: float(d) if d % 1 else int(d)).encode()


def ok(name: str, /, **changes: Any) -> httpx.Response:
    return httpx.Response(200, content=_encode(load(name, **changes)), headers={"Content-Type": "application/json"})


def error(status: int, name: str, /, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=_encode(load(name)), headers={"Content-Type": "application/json", **headers})


def body(request: httpx.Request) -> dict[str, Any]:
    """The JSON body Flutterwave received, numbers as Decimal (so ``25000`` and ``29.5`` are exact)."""
    parsed: dict[str, Any] = json.loads(request.content, parse_float=Decimal)
    return parsed


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return list(request.url.params.multi_items())


class Sleeps(list[float]):
    """Records the waits between retries instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def fw_api() -> Iterator[respx.Router]:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


@pytest.fixture
def provider(fw_api: respx.Router, sleeps: Sleeps) -> Iterator[FlutterwaveProvider]:
    made = FlutterwaveProvider(
        SECRET_KEY, api_base=API, webhook_secrets=[WEBHOOK_SECRET], sleep=sleeps, clock=lambda: NOW
    )
    with made:
        yield made
