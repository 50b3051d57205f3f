"""What the Slack and HubSpot tests share: fixture files, recorded sleeps of a rate-limited
client, the bodies and credentials of respx requests, an environment pointed at a loopback
fake, the store behind the CLI, and integration jobs driven through the CLI.

Fixtures defined here (``sleeps``, ``store``) are used by importing them into the test module
or support module that needs them, like the other support fixtures.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.conftest import Cli
from tests.support.fake_oauth import FakeOAuthServer
from zigznote.store.engine import Database
from zigznote.vault import MasterKey, Vault

__all__ = [
    "BROWSER_ENV",
    "Sleeps",
    "attempts",
    "basic_of",
    "bearer_of",
    "fixture_reader",
    "form_of",
    "import_and_emit",
    "jobs",
    "point_at",
    "sleeps",
    "store",
    "sweep_until",
    "without_provider_env",
]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
#: The variables that decide how a URL is opened (``integrations.browser``): never the machine's.
BROWSER_ENV = ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY", "SSH_CONNECTION", "SSH_TTY")


def fixture_reader(provider: str) -> Callable[[str], dict[str, Any]]:
    """``fixture(name)``: the JSON object in ``tests/fixtures/<provider>/<name>`` (a new dict each call)."""

    def fixture(name: str) -> dict[str, Any]:
        return dict(json.loads((FIXTURES / provider / name).read_text()))

    return fixture


class Sleeps(list[float]):
    """A client's ``sleep``: records each wait (seconds) instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    """A fresh :class:`Sleeps`."""
    return Sleeps()


def form_of(request: httpx.Request) -> dict[str, str]:
    """The form body of a recorded request (the last value of each field)."""
    return {k: v[0] for k, v in parse_qs(request.content.decode(), keep_blank_values=True).items()}


def basic_of(request: httpx.Request) -> tuple[str, str]:
    """``(user, password)`` of the request's HTTP Basic ``Authorization``."""
    scheme, _, value = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    user, _, password = base64.b64decode(value).decode().partition(":")
    return user, password


def bearer_of(request: httpx.Request) -> str:
    """The bearer token of the request's ``Authorization``."""
    scheme, _, value = request.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    return value


def without_provider_env(monkeypatch: pytest.MonkeyPatch, prefix: str, *, browser: bool = True) -> None:
    """Remove the machine's ``<prefix>_*`` settings (and, with ``browser``, :data:`BROWSER_ENV`)."""
    for name in list(os.environ):
        if name.startswith(f"{prefix}_") or (browser and name in BROWSER_ENV):
            monkeypatch.delenv(name)


def point_at(
    monkeypatch: pytest.MonkeyPatch, fake: FakeOAuthServer[Any], *, redirect_uri: str | None = None
) -> dict[str, str]:
    """Only ``fake.env(redirect_uri=…)`` as the provider's settings (the machine's removed, and
    its browser variables); returns those settings."""
    without_provider_env(monkeypatch, fake.env_prefix)
    values = fake.env(redirect_uri=redirect_uri)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def store(cli: Cli, env: dict[str, str]) -> Iterator[tuple[Database, Vault]]:
    """(database, vault) of the CLI's store, under the CLI's master key."""
    db = Database(cli.db_url)
    yield db, Vault([MasterKey(base64.b64decode(env["ZIGZNOTE_MASTER_KEY"]), "env")])
    db.dispose()


# -- integration jobs through the CLI (org `acme`) -----------------------------------------------


def import_and_emit(cli: Cli, meeting: dict[str, Any], event: str = "summary.ready") -> dict[str, Any]:
    """Import ``meeting`` into org ``acme`` and emit ``event`` for it; the emitted event."""
    cli.ok("--org", "acme", "meetings", "import", "-", input=json.dumps(meeting))
    data = json.dumps({"meeting_id": meeting["external_id"]})
    return dict(cli.ok("--org", "acme", "events", "emit", event, "--data", data))


def jobs(cli: Cli) -> list[dict[str, Any]]:
    """Org ``acme``'s jobs, oldest first."""
    return list(reversed(cli.ok("--org", "acme", "jobs", "list")))


def attempts(cli: Cli, job_id: str) -> list[tuple[Any, ...]]:
    """``(attempt_number, status_code, error, response_excerpt)`` of each attempt of a job."""
    rows = cli.ok("--org", "acme", "jobs", "attempts", job_id)
    return [(a["attempt_number"], a["status_code"], a["error"], a["response_excerpt"]) for a in rows]


def sweep_until(cli: Cli, done: Callable[[], bool], *, timeout: float = 20.0) -> None:
    """`worker sweep` until ``done()`` (with retries 50 ms apart, a retry is soon due)."""
    deadline = time.monotonic() + timeout
    while True:
        cli.ok("worker", "sweep")
        if done():
            return
        assert time.monotonic() < deadline, f"the jobs did not reach the expected state in time: {jobs(cli)}"
        time.sleep(0.06)
