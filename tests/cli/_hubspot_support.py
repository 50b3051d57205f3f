"""Shared pieces of the `zigznote hubspot …` CLI tests: the environment pointed at a fake
HubSpot (a real loopback server) or at a respx base URL, the store behind the CLI, a stored
connection, a meeting to sync, and readers of what was stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli
from tests.support.fake_hubspot import FakeHubSpot
from tests.support.provider_helpers import fixture_reader, point_at, store
from zigznote.integrations.base import Grant, TokenSet
from zigznote.services import integrations
from zigznote.store.engine import Database, normalize_url
from zigznote.vault import Vault

__all__ = ["store"]  # the shared fixture, imported from here by the tests

HUB_ID = "62515"

MEETING: dict[str, Any] = {
    "external_id": "m-100",
    "title": "Quarterly review",
    "started_at": "2026-11-30T10:00:00Z",
    "ended_at": "2026-11-30T11:00:00Z",
    "url": "https://meet.example.com/m-100",
    "summary": "Revenue is up.\nNext: <hiring> & budget.",
    "participants": [
        {"name": "Ada Lovelace", "email": "ada@example.com"},
        {"name": "Grace Hopper", "email": "Grace@Example.com"},
        {"name": "New Person", "email": "new@example.com"},
    ],
    "action_items": [
        {"text": "Send the proposal", "assignee_email": "alice@example.com", "due": "2026-12-05T17:00:00Z"},
        {"text": "Book the venue"},
    ],
}


fixture = fixture_reader("hubspot")


@pytest.fixture
def hub(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHubSpot]:
    """A started fake HubSpot, with the HUBSPOT_* settings pointing at it (and two contacts,
    one owner)."""
    with FakeHubSpot() as fake:
        point_at(monkeypatch, fake)
        fake.add_contact("ada@example.com", "Ada", "Lovelace", "Analytical")
        fake.add_contact("grace@navy.example", "Grace", "Hopper", additional=["grace@example.com"])
        fake.add_owner("alice@example.com", "Alice", "Owner")
        yield fake


def connect_with(store: tuple[Database, Vault], body: dict[str, Any], *, expires_in: float | None = None) -> None:
    """A connection of org ``acme`` as an OAuth connect leaves it, from a token-endpoint body."""
    db, vault = store
    seconds = body["expires_in"] if expires_in is None else expires_in
    tokens = TokenSet(
        body["access_token"],
        body["refresh_token"],
        datetime.now(UTC) + timedelta(seconds=seconds),
        tuple(body["scopes"]),
    )
    grant = Grant(tokens, str(body["hub_id"]), "fake-portal.hubspot.com", {"hub_id": str(body["hub_id"])})
    integrations.save_grant(db, vault, org_id="acme", provider="hubspot", grant=grant)


def connect_static(store: tuple[Database, Vault], token: str, hub_id: str = HUB_ID) -> None:
    db, vault = store
    grant = Grant(TokenSet(token), hub_id, None, {"hub_id": hub_id, "static": True})
    integrations.save_grant(db, vault, org_id="acme", provider="hubspot", grant=grant)


def import_meeting(cli: Cli, meeting: dict[str, Any] | None = None) -> str:
    """Import ``meeting`` (default :data:`MEETING`) into org ``acme``; its ID."""
    result = cli.ok("--org", "acme", "meetings", "import", "-", input=json.dumps(meeting or MEETING))
    return str(result["meetings"][0])


def stored_tokens(store: tuple[Database, Vault]) -> TokenSet:
    db, vault = store
    return integrations.stored_tokens(db, vault, org_id="acme", provider="hubspot")


def store_bytes(cli: Cli) -> bytes:
    """Everything the store holds, to look for plaintext: every byte of the SQLite files
    (database, WAL), or every row of every table as text on Postgres."""
    if cli.db_url.startswith("sqlite:"):
        path = Path(cli.db_url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))
    import sqlalchemy as sa

    engine = sa.create_engine(normalize_url(cli.db_url))
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            rows = [conn.execute(sa.text(f'SELECT t::text FROM "{name}" t')).scalars().all() for name in tables]
    finally:
        engine.dispose()
    return "\n".join(str(v) for table in rows for v in table).encode()


def actions(result: dict[str, Any]) -> list[tuple[str, str]]:
    """``(object, action)`` of every outcome of a sync, in order."""
    return [(item["object"], item["action"]) for item in result["items"]]
