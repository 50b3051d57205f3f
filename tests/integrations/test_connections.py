"""The connection store (services/integrations): save, get, list, delete, settings, error
state; tokens only as vault ciphertexts, on SQLite and Postgres."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support import factory
from zigznote.delivery.queue import jobs as qjobs
from zigznote.errors import InvalidInput, NotFound, ProviderError
from zigznote.integrations.base import Grant, TokenSet
from zigznote.services import integrations, orgs
from zigznote.store.engine import Database
from zigznote.timeutil import parse_timestamp, utcnow
from zigznote.vault import MasterKey, Vault

ACCESS = "xoxe.xoxb-1-access-PLAINTEXT-a1b2c3"
REFRESH = "xoxe-1-refresh-PLAINTEXT-d4e5f6"
EXPIRES = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def vault() -> Vault:
    return Vault([MasterKey(os.urandom(32), "env")])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = factory.migrated(url)
    yield database
    database.dispose()


@pytest.fixture
def org(db: Database) -> str:
    return factory.add_org(db, "acme")


def grant(
    *,
    access: str = ACCESS,
    refresh: str | None = REFRESH,
    account_id: str = "T0123",
    account_name: str | None = "Acme HQ",
    expires_at: datetime | None = EXPIRES,
) -> Grant:
    tokens = TokenSet(access, refresh, expires_at, ("chat:write", "channels:read"), "bot")
    return Grant(tokens, account_id, account_name, {"bot_user_id": "U0BOT", "app_id": "A0APP"})


def times_checked(view: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``view`` without the given timestamp keys, after checking each is a time from this test."""
    out = dict(view)
    for key in keys:
        value = out.pop(key)
        assert abs((parse_timestamp(value) - utcnow()).total_seconds()) < 60, (key, value)
    return out


CONNECTED_VIEW = {
    "provider": "slack",
    "status": "connected",
    "account_id": "T0123",
    "account_name": "Acme HQ",
    "scopes": ["chat:write", "channels:read"],
    "token_expires_at": "2030-01-02T03:04:05Z",
    "refreshable": True,
    "settings": {},
    "details": {"bot_user_id": "U0BOT", "app_id": "A0APP"},
    "last_error": None,
    "last_error_at": None,
    "refreshed_at": None,
}


def test_save_then_get_and_list(db: Database, vault: Vault, org: str) -> None:
    saved = integrations.save_grant(db, vault, org_id=org, provider="slack", grant=grant())
    conn_id = saved["id"]
    assert conn_id.startswith("conn_")
    assert times_checked(saved, "connected_at") == {"id": conn_id, **CONNECTED_VIEW, "released_jobs": 0}
    shown = integrations.get(db, org_id="acme", provider="slack")  # by slug as well as by ID
    assert shown is not None and times_checked(shown, "connected_at") == {"id": conn_id, **CONNECTED_VIEW}
    assert integrations.get(db, org_id=org, provider="hubspot") is None

    slack, hubspot = integrations.list_connections(db, org_id=org)
    assert times_checked(slack, "connected_at") == {"id": conn_id, **CONNECTED_VIEW}
    assert hubspot == integrations.public(None, "hubspot")
    assert hubspot["status"] == "not connected" and hubspot["id"] is None


def test_save_again_replaces_the_tokens(db: Database, vault: Vault, org: str) -> None:
    first = integrations.save_grant(db, vault, org_id=org, provider="slack", grant=grant())
    integrations.update_settings(db, org_id=org, provider="slack", changes={"channel_id": "C1", "auto_send": True})
    integrations.mark_error(db, org_id=org, provider="slack", message="slack refused the refresh token")

    # Same workspace: same row, new tokens, error cleared, settings kept.
    again = integrations.save_grant(db, vault, org_id=org, provider="slack", grant=grant(access="xoxb-2", refresh=None))
    assert again["id"] == first["id"]
    assert (again["status"], again["last_error"], again["last_error_at"]) == ("connected", None, None)
    assert again["settings"] == {"channel_id": "C1", "auto_send": True}
    assert again["refreshable"] is False
    assert integrations.stored_tokens(db, vault, org_id=org, provider="slack").access_token == "xoxb-2"
    assert _column(db, "token_version") == 2

    # Another workspace: its channels are not this one's, so the settings go.
    other = integrations.save_grant(db, vault, org_id=org, provider="slack", grant=grant(account_id="T0999"))
    assert (other["id"], other["account_id"], other["settings"]) == (first["id"], "T0999", {})
    assert _column(db, "token_version") == 3


def test_save_releases_the_providers_held_jobs(db: Database, vault: Vault, org: str) -> None:
    [slack_job] = factory.emit(db, org, [None], 1, kind="slack.summary")
    [hubspot_job] = factory.emit(db, org, [None], 1, kind="hubspot.sync")
    with db.engine.begin() as conn:
        for kind in ("slack.summary", "hubspot.sync"):
            assert qjobs.hold(conn, org, kind, reason="integration revoked", now=utcnow()) == 1

    saved = integrations.save_grant(db, vault, org_id=org, provider="slack", grant=grant())

    assert saved["released_jobs"] == 1
    rows = factory.deliveries(db)
    assert (rows[slack_job].status, rows[hubspot_job].status) == ("pending", "held")
    with db.engine.connect() as conn:
        assert sorted(qjobs.held_kinds(qjobs.read_settings(conn, org) or {})) == ["hubspot.sync"]


def test_delete(db: Database, vault: Vault, org: str) -> None:
    integrations.save_grant(db, vault, org_id=org, provider="slack", grant=grant())
    assert integrations.delete(db, org_id=org, provider="slack") is True
    assert integrations.get(db, org_id=org, provider="slack") is None
    assert integrations.delete(db, org_id=org, provider="slack") is False
    assert _count(db) == 0


def test_deleting_the_organization_deletes_its_connections(db: Database, vault: Vault, org: str) -> None:
    other = factory.add_org(db, "other")
    integrations.save_grant(db, vault, org_id=org, provider="slack", grant=grant())
    integrations.save_grant(db, vault, org_id=other, provider="slack", grant=grant())
    orgs.delete(db, "acme", force=True)
    assert _count(db) == 1
    assert integrations.get(db, org_id="other", provider="slack") is not None


def test_update_settings(db: Database, vault: Vault, org: str) -> None:
    with pytest.raises(NotFound) as missing:
        integrations.update_settings(db, org_id=org, provider="slack", changes={"auto_send": True})
    assert (missing.value.code, missing.value.hint) == ("not_connected", "run `zigznote --org acme slack connect`")

    integrations.save_grant(db, vault, org_id=org, provider="slack", grant=grant())
    view = integrations.update_settings(
        db, org_id=org, provider="slack", changes={"channel_id": "C1", "channel_name": "gen\x00eral", "auto_send": True}
    )
    assert view["settings"] == {"channel_id": "C1", "channel_name": "gen\ufffderal", "auto_send": True}
    view = integrations.update_settings(db, org_id=org, provider="slack", changes={"channel_name": None, "n": 3})
    assert view["settings"] == {"channel_id": "C1", "auto_send": True, "n": 3}

    for bad in ({"": 1}, {"x" * 65: 1}, {"k": [1]}, {"k": {"a": 1}}, {"k": 1.5}):
        with pytest.raises(InvalidInput) as refused:
            integrations.update_settings(db, org_id=org, provider="slack", changes=bad)
        assert refused.value.code == "invalid_setting"
    shown = integrations.get(db, org_id=org, provider="slack")
    assert shown is not None and shown["settings"] == {"channel_id": "C1", "auto_send": True, "n": 3}


def test_mark_error(db: Database, vault: Vault, org: str) -> None:
    integrations.mark_error(db, org_id=org, provider="slack", message="nothing to mark")  # no connection: no-op
    assert _count(db) == 0
    integrations.save_grant(db, vault, org_id=org, provider="slack", grant=grant())
    integrations.mark_error(db, org_id=org, provider="slack", message="token_revoked\x00" + "x" * 3000)
    [slack, _] = integrations.list_connections(db, org_id=org)
    assert slack["status"] == "error"
    assert slack["last_error"] == ("token_revoked\ufffd" + "x" * 3000)[:2000]
    times_checked(slack, "last_error_at", "connected_at")


def test_unknown_provider_and_org(db: Database, vault: Vault, org: str) -> None:
    with pytest.raises(InvalidInput) as unknown:
        integrations.save_grant(db, vault, org_id=org, provider="teams", grant=grant())
    assert unknown.value.code == "unknown_provider" and unknown.value.hint == "known providers: slack, hubspot"
    with pytest.raises(NotFound) as no_org:
        integrations.list_connections(db, org_id="nope")
    assert no_org.value.code == "org_not_found"
    with pytest.raises(ProviderError) as no_account:
        integrations.save_grant(db, vault, org_id=org, provider="slack", grant=grant(account_id=" "))
    assert no_account.value.code == "provider_invalid_response"
    assert _count(db) == 0


def test_provider_text_is_made_storable(db: Database, vault: Vault, org: str) -> None:
    odd = Grant(
        TokenSet(ACCESS, None, None, ("chat:write\x00",)),
        "T\x001",
        "\ud800Acme" + "x" * 300,
        {"team": {"name": "a\x00b", "deep": {"a": {"b": {"c": {"d": 1}}}}}, "nan": float("nan"), "n": [1, "\x00"]},
    )
    view = integrations.save_grant(db, vault, org_id=org, provider="slack", grant=odd)
    assert view["account_id"] == "T\ufffd1"
    assert view["account_name"] == ("\ufffdAcme" + "x" * 300)[:200]
    assert view["scopes"] == ["chat:write\ufffd"]
    assert view["token_expires_at"] is None and view["refreshable"] is False
    assert view["details"] == {
        "team": {"name": "a\ufffdb", "deep": {"a": {"b": None}}},
        "nan": None,
        "n": [1, "\ufffd"],
    }


def test_views_never_hold_a_token(db: Database, vault: Vault, org: str) -> None:
    integrations.save_grant(db, vault, org_id=org, provider="slack", grant=grant())
    integrations.update_settings(db, org_id=org, provider="slack", changes={"channel_id": "C1"})
    shown = json.dumps(
        [integrations.get(db, org_id=org, provider="slack"), integrations.list_connections(db, org_id=org)]
    )
    assert "T0123" in shown  # the view is there
    assert ACCESS not in shown and REFRESH not in shown and "zv1:" not in shown


def test_no_plaintext_token_at_rest(db: Database, vault: Vault, org: str) -> None:
    integrations.save_grant(db, vault, org_id=org, provider="slack", grant=grant())
    data = _stored_bytes(db)
    # Positive controls: the scan sees the row (its account ID) and the ciphertext.
    assert b"T0123" in data and b"zv1:" in data
    for secret in (ACCESS, REFRESH):
        assert secret.encode() not in data
        assert base64.b64encode(secret.encode()) not in data
    # The ciphertext is bound to its row and column (AAD), and decrypts to the token set.
    token_enc = _column(db, "token_enc")
    conn_id = _column(db, "id")
    plain = vault.decrypt(token_enc, table="integration_connection", row=conn_id, field="token_enc")
    assert TokenSet.from_json(plain) == grant().tokens


def _stored_bytes(db: Database) -> bytes:
    """Everything the store holds: the SQLite file and its WAL, or every row of every Postgres
    table as text."""
    db.dispose()  # nothing left in a connection's buffers
    if db.is_sqlite:
        path = Path(db.url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    chunks = []
    with db.engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            chunks += [str(r[0]) for r in conn.execute(sa.text(f'SELECT t::text FROM "{table}" AS t'))]
    return "\n".join(chunks).encode()


def _column(db: Database, name: str) -> Any:
    with db.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT {name} FROM integration_connection")).scalar_one()


def _count(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM integration_connection")).scalar_one())
