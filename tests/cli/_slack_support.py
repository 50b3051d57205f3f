"""Shared pieces of the `zigznote slack …` CLI tests: the Slack settings pointed at a respx
base URL, the store behind the CLI, a stored connection, and readers of what was stored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tests.conftest import Cli
from tests.support.provider_helpers import (
    basic_of,
    bearer_of,
    fixture_reader,
    form_of,
    store,
    without_provider_env,
)
from zigznote.integrations.base import Grant, TokenSet
from zigznote.services import integrations
from zigznote.store.engine import Database
from zigznote.vault import Vault

__all__ = ["basic_of", "bearer_of", "form_of", "store"]  # shared helpers, imported from here by the tests

API = "https://slack.test/api"
AUTHORIZE = "https://slack.test/oauth/v2/authorize"
CLIENT_ID = "4724469134.4644010092847"
CLIENT_SECRET = "test-client-secret-0123456789abcdef"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "slack"
SCOPES = ["chat:write", "chat:write.public", "channels:read", "groups:read"]
# The installation of the oauth_v2_access*.json fixtures.
TEAM_ID, TEAM_NAME, BOT_USER = "T9TK3CUKW", "Slack Softball Team", "U0KRQLJ9H"
ACCESS = "xoxe.xoxb-1-MS0yLTE3NjUzNjcyNDgxLTE5ODc0Njk4MzIz"
REFRESH = "xoxe-1-My0xLTE3NjUzNjcyNDgxLWZpcnN0"


#: The public view of the connection :func:`connect_stored` makes (``slack status`` …), without
#: ``token_expires_at`` and ``connected_at``, which vary.
STORED_VIEW: dict[str, Any] = {
    "provider": "slack",
    "status": "connected",
    "team": TEAM_NAME,
    "team_id": TEAM_ID,
    "bot_user_id": BOT_USER,
    "app_id": "A0KRD7HC3",
    "scopes": SCOPES,
    "refreshable": True,
    "channel_id": None,
    "channel_name": None,
    "auto_send": False,
    "last_error": None,
    "last_error_at": None,
    "refreshed_at": None,
}

REDIRECT = "https://localhost:8765/callback"
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")


fixture = fixture_reader("slack")


@pytest.fixture
def slack_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The isolated environment plus the Slack app's settings pointed at ``API``; no browser
    settings from the machine running the tests."""
    without_provider_env(monkeypatch, "SLACK")
    values = {
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_API_BASE": API,
        "SLACK_OAUTH_AUTHORIZE_URL": AUTHORIZE,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return {**env, **values}


@pytest.fixture
def api(slack_env: dict[str, str]) -> Iterator[respx.MockRouter]:
    """respx on ``API``: every request to it must match a route; other hosts are refused."""
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


def connect_stored(
    store: tuple[Database, Vault],
    *,
    access: str = ACCESS,
    refresh: str | None = REFRESH,
    expires_in: float | None = 7200,
    scopes: list[str] = SCOPES,
    team_id: str = TEAM_ID,
) -> dict[str, Any]:
    """A connection of org ``acme`` as a finished connect leaves it (rotation on by default)."""
    db, vault = store
    expires = datetime.now(UTC) + timedelta(seconds=expires_in) if expires_in is not None else None
    tokens = TokenSet(access, refresh, expires, tuple(scopes), "bot")
    grant = Grant(tokens, team_id, TEAM_NAME, {"team_id": team_id, "bot_user_id": BOT_USER, "app_id": "A0KRD7HC3"})
    return integrations.save_grant(db, vault, org_id="acme", provider="slack", grant=grant)


def stored_tokens(store: tuple[Database, Vault]) -> TokenSet:
    db, vault = store
    return integrations.stored_tokens(db, vault, org_id="acme", provider="slack")


def connection(store: tuple[Database, Vault]) -> dict[str, Any] | None:
    return integrations.get(store[0], org_id="acme", provider="slack")


def nothing_stored(cli: Cli) -> None:
    """`integrations list` shows no connection for org ``acme``."""
    listed = cli.ok("--org", "acme", "integrations", "list")
    assert [(c["provider"], c["status"]) for c in listed] == [("slack", "not connected"), ("hubspot", "not connected")]


def sqlite_bytes(cli: Cli) -> bytes:
    """Every byte of the SQLite store (database, WAL), to look for plaintext."""
    path = Path(cli.db_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))


PAGES = ["conversations_list_page1.json", "conversations_list_page2_empty.json", "conversations_list_page3.json"]


def pages(api: respx.MockRouter, *first: httpx.Response) -> respx.Route:
    """conversations.list answering ``first`` (e.g. a 429) and then the three fixture pages."""
    answers = [*first, *(httpx.Response(200, json=fixture(name)) for name in PAGES)]
    return api.post("/conversations.list").mock(side_effect=answers)


@pytest.fixture
def connected(cli: Cli, org: dict[str, Any], store: tuple[Database, Vault]) -> dict[str, Any]:
    """Org ``acme`` with a stored Slack connection (:func:`connect_stored`)."""
    return connect_stored(store)
