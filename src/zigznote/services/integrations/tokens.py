"""Token lifecycle: read the stored tokens, refresh them (serialized across processes), call
the provider with one refresh-and-retry. See the package docstring for why the lock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

from zigznote.errors import CredentialsRejected, DatabaseUnavailable, NotFound
from zigznote.services import orgs
from zigznote.services.integrations.connections import (
    connect_hint,
    decrypt_tokens,
    not_connected_error,
    provider_name,
    require_provider,
    row_of,
    set_error,
    token_columns,
)
from zigznote.store.engine import SQLITE_BUSY_TIMEOUT_MS, Database, translate_db_error
from zigznote.store.models import IntegrationConnection, table_of
from zigznote.store.models.integration import ERROR
from zigznote.timeutil import utcnow

if TYPE_CHECKING:
    from zigznote.integrations.base import TokenSet
    from zigznote.vault import Vault

T = TypeVar("T")
#: The provider's refresh call: old token set in, new token set out; raises
#: CredentialsRejected when the refresh token is refused, ProviderError when unreachable.
Refresher = Callable[["TokenSet"], "TokenSet"]

#: Refresh when the access token expires within this many seconds (Slack's last 12 h).
REFRESH_SKEW = 300.0
#: How long a refresher waits for another process's refresh (which holds the lock during its
#: HTTP call: up to the HTTP client's timeouts, 15 s each, plus retries) before giving up.
REFRESH_LOCK_TIMEOUT = 60.0


@dataclass(slots=True)
class _Stored:
    """A connection's tokens as one process read them, with what it needs to act on them."""

    org_id: str
    tokens: TokenSet
    version: int
    status: str
    last_error: str | None
    hint: str  # "run `zigznote --org SLUG PROVIDER connect` again"


def _load(db: Database, vault: Vault, org_id: str, provider: str) -> _Stored:
    require_provider(provider)
    # In a waiting transaction: on SQLite every transaction (reads too) queues for the write
    # lock, which a refresh in another process holds during its HTTP call.
    with _transaction(db) as conn, Session(bind=conn) as session:
        org = orgs.resolve(session, org_id)
        row = row_of(session, org.id, provider)
        if row is None:
            raise not_connected_error(session, org.id, provider)
        hint = connect_hint(session, org.id, provider)
        tokens = decrypt_tokens(vault, row.id, row.token_enc)
        return _Stored(
            org_id=org.id, tokens=tokens, version=row.token_version, status=row.status,
            last_error=row.last_error, hint=hint,
        )  # fmt: skip


def refusal(provider: str, what: str, detail: str) -> str:
    """One sentence saying who refused what: ``Slack refused the access token (auth.test:
    invalid_auth)``. ``detail`` is the adapter's message; when it already names the provider
    ("Slack refused …", as the adapters' messages do) it is the sentence, so nothing is said
    twice; otherwise it goes in parentheses after ``{Name} refused the {what}``."""
    name = provider_name(provider)
    if detail.startswith(f"{name} "):
        return detail
    return f"{name} refused the {what} ({detail})"


def _refuse_error_state(stored: _Stored, provider: str) -> None:
    # An `error` connection had its credentials refused (a revoked refresh token cannot come
    # back): calling the provider again would only fail again, so say at once what repairs it
    # (the hint). The stored error already says who refused what: it is the message.
    if stored.status == ERROR:
        raise CredentialsRejected(
            stored.last_error or f"{provider_name(provider)} refused the stored credentials",
            hint=stored.hint,
            provider=provider,
        )


def stored_tokens(db: Database, vault: Vault, *, org_id: str, provider: str) -> TokenSet:
    """The stored token set as is (no refresh, also in state ``error``), e.g. to revoke it on
    disconnect. Raises NotFound (``not_connected``), VaultError."""
    return _load(db, vault, org_id, provider).tokens


def _current(db: Database, vault: Vault, org_id: str, provider: str, refresher: Refresher, skew: float) -> _Stored:
    stored = _load(db, vault, org_id, provider)
    _refuse_error_state(stored, provider)
    tokens = stored.tokens
    if tokens.refresh_token and tokens.expires_within(skew, datetime.now(UTC)):
        return _refresh(db, vault, stored, provider, refresher, seen_version=stored.version)
    return stored


def current_tokens(
    db: Database, vault: Vault, *, org_id: str, provider: str, refresher: Refresher, skew: float = REFRESH_SKEW
) -> TokenSet:
    """Tokens to call the provider with: refreshed first (see :func:`refresh`) when the access
    token expires within ``skew`` seconds and a refresh token is stored. Raises NotFound
    (``not_connected``, exit 3), CredentialsRejected (exit 6: state ``error``, or the refresh
    token was refused, which puts the connection in state ``error``), VaultError, and whatever
    the refresher raises otherwise (ProviderError: nothing stored)."""
    return _current(db, vault, org_id, provider, refresher, skew).tokens


def refresh(
    db: Database, vault: Vault, *, org_id: str, provider: str, refresher: Refresher, seen_version: int | None
) -> TokenSet:
    """Refresh the stored tokens, serialized across processes: ``refresher(tokens)`` (the
    provider's HTTP call) runs while this process holds the connection's lock, and is skipped
    when ``token_version`` differs from ``seen_version`` (the version the caller's tokens came
    with; None: refresh regardless) once the lock is held: another process refreshed meanwhile,
    and its tokens are returned. A refresh answer without a refresh token keeps the old one
    (RFC 6749 section 6: the server MAY issue a new one). Raises as :func:`current_tokens`, and
    DatabaseUnavailable (``refresh_lock_timeout``) after :data:`REFRESH_LOCK_TIMEOUT` seconds."""
    stored = _load(db, vault, org_id, provider)
    _refuse_error_state(stored, provider)
    return _refresh(db, vault, stored, provider, refresher, seen_version=seen_version).tokens


@contextmanager
def _transaction(db: Database) -> Iterator[sa.Connection]:
    """A transaction whose lock waits last up to :data:`REFRESH_LOCK_TIMEOUT` seconds, long
    enough for another process's refresh. On SQLite the engine begins it with BEGIN IMMEDIATE
    (the database's write lock, held to the end: this is the refresh lock there); on Postgres
    the caller's SELECT … FOR UPDATE takes the row lock. Raises DatabaseUnavailable
    (``refresh_lock_timeout``) when the wait runs out."""
    timeout_ms = int(REFRESH_LOCK_TIMEOUT * 1000)
    try:
        with db.engine.connect() as conn:
            raw = conn.connection.dbapi_connection if db.is_sqlite else None
            if raw is not None:  # before BEGIN: the busy timeout is what BEGIN IMMEDIATE waits
                raw.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            try:
                with conn.begin():
                    if raw is None:
                        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {timeout_ms}")
                    yield conn
            finally:
                if raw is not None:  # back to the engine's default before the pool reuses it
                    raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    except OperationalError as exc:
        # SQLite: "database is locked"; Postgres: lock_not_available (55P03) from lock_timeout.
        if "database is locked" in str(exc.orig) or getattr(exc.orig, "sqlstate", None) == "55P03":
            raise DatabaseUnavailable(
                f"the database stayed locked for over {REFRESH_LOCK_TIMEOUT:g} s "
                "(another process is writing, e.g. refreshing this connection's tokens)",
                hint="try again; if it persists, look for a stuck zigznote process",
                code="refresh_lock_timeout",
            ) from None
        if exc.connection_invalidated:
            raise translate_db_error(exc, db.url) from None
        raise
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise translate_db_error(exc, db.url) from None
        raise


def _refresh(
    db: Database, vault: Vault, stored: _Stored, provider: str, refresher: Refresher, *, seen_version: int | None
) -> _Stored:
    """Refresh under the lock (see :func:`refresh`); the tokens and version now stored."""
    table = table_of(IntegrationConnection)
    with _transaction(db) as conn:
        query = sa.select(table.c.id, table.c.token_enc, table.c.token_version, table.c.status, table.c.last_error)
        query = query.where(table.c.org_id == stored.org_id, table.c.provider == provider)
        found = conn.execute(query if db.is_sqlite else query.with_for_update()).first()
        if found is None:  # disconnected meanwhile
            raise NotFound(f"{provider_name(provider)} is not connected for this organization", code="not_connected")
        locked = _Stored(
            org_id=stored.org_id, tokens=decrypt_tokens(vault, found.id, found.token_enc), version=found.token_version,
            status=found.status, last_error=found.last_error, hint=stored.hint,
        )  # fmt: skip
        _refuse_error_state(locked, provider)
        if seen_version is not None and locked.version != seen_version:
            return locked  # another process refreshed while this one waited for the lock
        outcome = _call_refresher(locked, provider, refresher)
        if isinstance(outcome, CredentialsRejected):
            set_error(conn, stored.org_id, provider, outcome.message)
        else:
            fresh = outcome
            if fresh.refresh_token is None:
                fresh = replace(fresh, refresh_token=locked.tokens.refresh_token)
            if not fresh.scopes:
                fresh = replace(fresh, scopes=locked.tokens.scopes)
            now = utcnow()
            conn.execute(
                sa.update(table)
                .where(table.c.id == found.id)
                .values(
                    **token_columns(vault, found.id, fresh),
                    token_version=locked.version + 1,
                    refreshed_at=now,
                    updated_at=now,
                )
            )
            return replace(locked, tokens=fresh, version=locked.version + 1)
    raise outcome  # after the commit: the error state is stored


def _call_refresher(locked: _Stored, provider: str, refresher: Refresher) -> TokenSet | CredentialsRejected:
    """The refresher's new tokens, or the refusal to store and raise (other errors propagate:
    an unreachable provider leaves the stored tokens and the state as they were)."""
    if not locked.tokens.refresh_token:
        return CredentialsRejected(
            f"{provider_name(provider)} gave no refresh token with this connection, so it cannot be refreshed",
            hint=locked.hint,
            provider=provider,
        )
    try:
        return refresher(locked.tokens)
    except CredentialsRejected as exc:
        return CredentialsRejected(refusal(provider, "refresh token", exc.message), hint=locked.hint, provider=provider)


def _give_up(db: Database, refused: _Stored, provider: str, message: str) -> CredentialsRejected:
    """Store the error state and return the error to raise. Only if the refused tokens are still
    the stored ones: a connect made meanwhile by someone else is not put in error."""
    with _transaction(db) as conn:
        set_error(conn, refused.org_id, provider, message, version=refused.version)
    return CredentialsRejected(message, hint=refused.hint, provider=provider)


def call_with_token(
    db: Database,
    vault: Vault,
    *,
    org_id: str,
    provider: str,
    refresher: Refresher,
    call: Callable[[str], T],
    skew: float = REFRESH_SKEW,
) -> T:
    """``call(access_token)`` with the connection's tokens (refreshed first when expiring, see
    :func:`current_tokens`). When the provider refuses the token (``call`` raises
    CredentialsRejected) and a refresh token is stored: exactly one refresh and one retry.
    A refusal that a refresh cannot cure (no refresh token, refresh token refused, refreshed
    token refused too) puts the connection in state ``error`` and raises CredentialsRejected
    with the "connect again" hint (exit 6). Other errors of ``call`` pass through unchanged."""
    stored = _current(db, vault, org_id, provider, refresher, skew)
    try:
        return call(stored.tokens.access_token)
    except CredentialsRejected as exc:
        first = exc.message
    if not stored.tokens.refresh_token:
        raise _give_up(db, stored, provider, refusal(provider, "access token", first))
    fresh = _refresh(db, vault, stored, provider, refresher, seen_version=stored.version)
    try:
        return call(fresh.tokens.access_token)
    except CredentialsRejected as exc:
        second = exc.message
    raise _give_up(db, fresh, provider, f"{refusal(provider, 'access token', second)} even after a refresh")
