"""Shared pieces of the Stripe provider tests: fixtures from tests/fixtures/stripe/, a
provider pointed at a respx-mocked ``STRIPE_API_BASE``, and readers for what Stripe received."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from zigznote.billing.providers.stripe.provider import StripeProvider

API = "https://stripe.test"
SECRET_KEY = "sk_test_51Zz9ExampleOnlyNotARealKey0000"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stripe"

#: stripe-python's HTTPXClient posts the encoded form as ``data=<str>``, which httpx 0.28 flags as
#: deprecated (stripe/_http_client.py, ``HTTPXClient._get_request_args_kwargs``); not ours to fix.
HTTPX_DATA_WARNING = "ignore:Use 'content=<...>':DeprecationWarning"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here:
            item.add_marker(pytest.mark.filterwarnings(HTTPX_DATA_WARNING))


def load(name: str, /, **changes: Any) -> dict[str, Any]:
    """A fixture (``customer`` → customer.json), deep-copied, with top-level ``changes``."""
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    data = copy.deepcopy(data)
    data.update(changes)
    return data


def ok(name: str, /, **changes: Any) -> httpx.Response:
    return httpx.Response(200, json=load(name, **changes))


def error(status: int, name: str, /, **headers: str) -> httpx.Response:
    """An error answer as Stripe sends it (``Request-Id`` header included)."""
    return httpx.Response(status, json=load(name), headers={"Request-Id": "req_Q8x2LmN4pR6tV8", **headers})


def form(request: httpx.Request) -> list[tuple[str, str]]:
    """The form-encoded body Stripe received, as ordered (name, value) pairs."""
    return parse_qsl(request.content.decode(), keep_blank_values=True, strict_parsing=bool(request.content))


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return list(request.url.params.multi_items())


@pytest.fixture
def stripe_api() -> Iterator[respx.Router]:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


@pytest.fixture
def provider(stripe_api: respx.Router) -> Iterator[StripeProvider]:
    with StripeProvider(SECRET_KEY, api_base=API, webhook_secrets=["whsec_test_secret"]) as made:
        yield made
