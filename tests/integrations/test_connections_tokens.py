"""Token lifecycle (services/integrations): proactive refresh, one refresh-and-retry on a
refused token, the error state, the refresh lock, on SQLite and Postgres."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support import factory
from zigznote.errors import CredentialsRejected, DatabaseUnavailable, NotFound, ProviderError
from zigznote.integrations.base import Grant, TokenSet
from zigznote.services import integrations
from zigznote.services.integrations import tokens as token_module
from zigznote.store.engine import Database
from zigznote.timeutil import parse_timestamp
from zigznote.vault import MasterKey, Vault

HINT = "run `zigznote --org acme slack connect` again"


@pytest.fixture
def vault() -> Vault:
    return Vault([MasterKey(os.urandom(32), "env")])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = factory.migrated(url)
    factory.add_org(database, "acme")
    yield database
    database.dispose()


def in_(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def connect(db: Database, vault: Vault, *, expires_at: datetime | None, refresh: str | None = "r1") -> None:
    tokens = TokenSet("a1", refresh, expires_at, ("chat:write",), "bot")
    integrations.save_grant(db, vault, org_id="acme", provider="slack", grant=Grant(tokens, "T1", "Acme", {}))


@dataclass
class Provider:
    """A provider in memory: rotates tokens on refresh, accepts only its current access token."""

    access: str = "a1"
    refresh_token: str = "r1"
    refused_refresh: bool = False
    refreshes: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    accept: bool = True

    def refresher(self, tokens: TokenSet) -> TokenSet:
        assert tokens.refresh_token is not None
        self.refreshes.append(tokens.refresh_token)
        if self.refused_refresh or tokens.refresh_token != self.refresh_token:
            raise CredentialsRejected("invalid_refresh_token", provider="slack")
        n = len(self.refreshes) + 1
        self.access, self.refresh_token = f"a{n}", f"r{n}"
        return TokenSet(self.access, self.refresh_token, in_(43200), ("chat:write",), "bot")

    def call(self, token: str) -> str:
        self.calls.append(token)
        if not self.accept or token != self.access:
            raise CredentialsRejected("invalid_auth", provider="slack")
        return f"ok with {token}"


def run(db: Database, vault: Vault, provider: Provider) -> str:
    return integrations.call_with_token(
        db, vault, org_id="acme", provider="slack", refresher=provider.refresher, call=provider.call
    )


def state(db: Database) -> tuple[str, int, str | None]:
    with db.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT status, token_version, last_error FROM integration_connection")).one()
    return row.status, row.token_version, row.last_error


def test_proactive_refresh_when_expiring_within_the_skew(db: Database, vault: Vault) -> None:
    connect(db, vault, expires_at=in_(100))  # within the default 300 s
    provider = Provider()
    assert run(db, vault, provider) == "ok with a2"
    assert (provider.refreshes, provider.calls) == (["r1"], ["a2"])
    stored = integrations.stored_tokens(db, vault, org_id="acme", provider="slack")
    assert (stored.access_token, stored.refresh_token) == ("a2", "r2")
    assert state(db) == ("connected", 2, None)
    view = integrations.get(db, org_id="acme", provider="slack")
    assert view is not None and view["refreshed_at"] is not None
    expires = parse_timestamp(view["token_expires_at"]).replace(tzinfo=UTC)
    assert in_(43200 - 60) < expires <= in_(43200)  # the refreshed token's expiry, 12 h out


@pytest.mark.parametrize("expires_at", [None, "later"])
def test_no_refresh_while_the_token_is_good(db: Database, vault: Vault, expires_at: str | None) -> None:
    connect(db, vault, expires_at=in_(3600) if expires_at else None)
    provider = Provider()
    assert run(db, vault, provider) == "ok with a1"
    assert (provider.refreshes, provider.calls) == ([], ["a1"])
    assert state(db) == ("connected", 1, None)


def test_expiring_without_a_refresh_token_is_used_as_is(db: Database, vault: Vault) -> None:
    connect(db, vault, expires_at=in_(10), refresh=None)
    provider = Provider()
    assert run(db, vault, provider) == "ok with a1"
    assert provider.refreshes == []


def test_one_refresh_and_retry_when_the_token_is_refused(db: Database, vault: Vault) -> None:
    connect(db, vault, expires_at=in_(3600))
    provider = Provider(access="a-unknown")  # the provider no longer takes a1 (revoked elsewhere)
    assert run(db, vault, provider) == "ok with a2"
    assert (provider.refreshes, provider.calls) == (["r1"], ["a1", "a2"])
    assert state(db) == ("connected", 2, None)


def test_second_refusal_puts_the_connection_in_error(db: Database, vault: Vault) -> None:
    connect(db, vault, expires_at=in_(3600))
    provider = Provider(accept=False)
    with pytest.raises(CredentialsRejected) as refused:
        run(db, vault, provider)
    assert refused.value.exit_code == 6 and refused.value.code == "credentials_rejected"
    assert refused.value.message == "Slack refused the access token (invalid_auth) even after a refresh"
    assert refused.value.hint == HINT
    assert (provider.refreshes, provider.calls) == (["r1"], ["a1", "a2"])
    assert state(db) == ("error", 2, "Slack refused the access token (invalid_auth) even after a refresh")
    # From now on nothing is tried: only a new connect repairs it.
    with pytest.raises(CredentialsRejected) as again:
        run(db, vault, provider)
    # The stored error is the message, said once; the hint says what repairs it.
    assert again.value.message == "Slack refused the access token (invalid_auth) even after a refresh"
    assert again.value.hint == HINT
    assert (provider.refreshes, provider.calls) == (["r1"], ["a1", "a2"])
    # A new connect clears the error.
    connect(db, vault, expires_at=None)
    assert state(db)[0] == "connected"


def test_refused_refresh_token_puts_the_connection_in_error(db: Database, vault: Vault) -> None:
    connect(db, vault, expires_at=in_(-60))  # expired: refreshed first
    provider = Provider(refused_refresh=True)
    with pytest.raises(CredentialsRejected) as refused:
        run(db, vault, provider)
    assert refused.value.message == "Slack refused the refresh token (invalid_refresh_token)"
    assert refused.value.hint == HINT
    assert (provider.refreshes, provider.calls) == (["r1"], [])
    assert state(db) == ("error", 1, "Slack refused the refresh token (invalid_refresh_token)")
    stored = integrations.stored_tokens(db, vault, org_id="acme", provider="slack")
    assert (stored.access_token, stored.refresh_token) == ("a1", "r1")


def test_refused_token_without_a_refresh_token(db: Database, vault: Vault) -> None:
    connect(db, vault, expires_at=None, refresh=None)
    provider = Provider(accept=False)
    with pytest.raises(CredentialsRejected) as refused:
        run(db, vault, provider)
    assert (refused.value.message, refused.value.hint) == ("Slack refused the access token (invalid_auth)", HINT)
    assert (provider.refreshes, provider.calls) == ([], ["a1"])
    assert state(db) == ("error", 1, "Slack refused the access token (invalid_auth)")


def test_a_connect_made_meanwhile_is_not_put_in_error(db: Database, vault: Vault) -> None:
    connect(db, vault, expires_at=None, refresh=None)

    def refused_while_someone_reconnects(token: str) -> str:
        connect(db, vault, expires_at=None, refresh=None)  # another operator's `slack connect`
        raise CredentialsRejected("token_revoked", provider="slack")

    with pytest.raises(CredentialsRejected) as refused:
        integrations.call_with_token(
            db, vault, org_id="acme", provider="slack", refresher=Provider().refresher,
            call=refused_while_someone_reconnects,
        )  # fmt: skip
    assert refused.value.message == "Slack refused the access token (token_revoked)"
    assert state(db) == ("connected", 2, None)


def test_unreachable_provider_changes_nothing(db: Database, vault: Vault) -> None:
    connect(db, vault, expires_at=in_(-60))

    def unreachable(tokens: TokenSet) -> TokenSet:
        raise ProviderError("cannot reach slack.com", code="provider_unreachable")

    with pytest.raises(ProviderError) as failed:
        integrations.current_tokens(db, vault, org_id="acme", provider="slack", refresher=unreachable)
    assert failed.value.code == "provider_unreachable"
    assert state(db) == ("connected", 1, None)
    assert integrations.stored_tokens(db, vault, org_id="acme", provider="slack").access_token == "a1"


def test_refresh_keeps_what_the_answer_leaves_out(db: Database, vault: Vault) -> None:
    connect(db, vault, expires_at=in_(-60))
    fresh = integrations.refresh(
        db, vault, org_id="acme", provider="slack", refresher=lambda t: TokenSet("a2", None, in_(60)), seen_version=1
    )
    assert (fresh.access_token, fresh.refresh_token, fresh.scopes) == ("a2", "r1", ("chat:write",))
    assert integrations.stored_tokens(db, vault, org_id="acme", provider="slack") == fresh


def test_refresh_is_skipped_when_another_process_refreshed(db: Database, vault: Vault) -> None:
    connect(db, vault, expires_at=in_(-60))
    provider = Provider()
    integrations.refresh(db, vault, org_id="acme", provider="slack", refresher=provider.refresher, seen_version=1)
    # A process that read version 1 before that refresh: gets the new tokens, makes no call.
    late = integrations.refresh(
        db, vault, org_id="acme", provider="slack", refresher=provider.refresher, seen_version=1
    )
    assert (late.access_token, provider.refreshes) == ("a2", ["r1"])
    # seen_version None: refresh regardless.
    integrations.refresh(db, vault, org_id="acme", provider="slack", refresher=provider.refresher, seen_version=None)
    assert provider.refreshes == ["r1", "r2"] and state(db) == ("connected", 3, None)


def test_not_connected(db: Database, vault: Vault) -> None:
    provider = Provider()
    with pytest.raises(NotFound) as missing:
        run(db, vault, provider)
    assert missing.value.exit_code == 3 and missing.value.code == "not_connected"
    assert missing.value.hint == "run `zigznote --org acme slack connect`"
    assert provider.calls == []


def test_refresh_waits_for_the_lock_then_gives_up(db: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(db, vault, expires_at=in_(-60))
    monkeypatch.setattr(token_module, "REFRESH_LOCK_TIMEOUT", 0.5)
    provider = Provider()
    holder = sa.create_engine(db.engine.url)
    with holder.connect() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, as another refresher holds it
        else:
            conn.exec_driver_sql("BEGIN")
            conn.exec_driver_sql("SELECT id FROM integration_connection FOR UPDATE")
        with pytest.raises(DatabaseUnavailable) as busy:
            run(db, vault, provider)
        conn.exec_driver_sql("ROLLBACK")
    holder.dispose()
    assert (busy.value.code, busy.value.exit_code) == ("refresh_lock_timeout", 5)
    assert provider.refreshes == []
    if db.is_sqlite:  # the pooled connection (the only one) is back on the engine's busy timeout
        pool = db.engine.pool
        assert isinstance(pool, sa.pool.QueuePool) and pool.checkedin() == 1
        with db.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None and raw.cursor().execute("PRAGMA busy_timeout").fetchone() == (10_000,)
    assert run(db, vault, provider) == "ok with a2"


def test_a_waiting_refresher_uses_the_holders_tokens(db: Database, vault: Vault) -> None:
    """Two threads: the second waits on the lock while the first refreshes, then uses its tokens."""
    connect(db, vault, expires_at=in_(-60))
    provider = Provider()
    inside, release = threading.Event(), threading.Event()

    def slow(tokens: TokenSet) -> TokenSet:
        inside.set()
        assert release.wait(10)
        return provider.refresher(tokens)

    results: list[str] = []
    first = threading.Thread(
        target=lambda: results.append(
            integrations.current_tokens(db, vault, org_id="acme", provider="slack", refresher=slow).access_token
        )
    )
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=lambda: results.append(run(db, vault, provider)))
    second.start()
    second.join(0.5)
    assert second.is_alive()  # waiting for the lock, not refreshing with the same token
    release.set()
    first.join(10)
    second.join(10)
    assert sorted(results) == ["a2", "ok with a2"]
    assert provider.refreshes == ["r1"] and state(db) == ("connected", 2, None)
