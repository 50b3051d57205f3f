"""The connection store: save a connect's grant, read the public views, delete, change
settings, put a connection in state ``error``. See the package docstring."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from zigznote.delivery.queue import jobs as qjobs
from zigznote.delivery.queue import notify
from zigznote.errors import Conflict, InvalidInput, NotFound, ProviderError
from zigznote.ids import new_id
from zigznote.services import orgs
from zigznote.store.engine import Database
from zigznote.store.models import IntegrationConnection, table_of
from zigznote.store.models.integration import CONNECTED, ERROR
from zigznote.timeutil import as_naive_utc, iso, utcnow
from zigznote.untrusted import storable_text

if TYPE_CHECKING:
    from zigznote.integrations.base import Grant, TokenSet
    from zigznote.vault import Vault

KNOWN_PROVIDERS = ("slack", "hubspot")
#: How people write each provider's name in messages ("Slack refused …", "HubSpot is not connected").
PROVIDER_NAMES = {"slack": "Slack", "hubspot": "HubSpot"}
NOT_CONNECTED = "not connected"  # list_connections' status for a provider without a row
TABLE = "integration_connection"
TOKEN_FIELD = "token_enc"

_MAX_TEXT = 200
_MAX_ERROR = 2000
_MAX_SCOPES = 200
_MAX_JSON_DEPTH = 4
_MAX_JSON_ITEMS = 100


# ---------------------------------------------------------------------------------------------
# Views and validation
# ---------------------------------------------------------------------------------------------


def public(row: IntegrationConnection | None, provider: str) -> dict[str, Any]:
    """The shown form of a connection (``row`` None: ``status`` "not connected"). Keys: id,
    provider, status, account_id, account_name, scopes, token_expires_at (ISO-8601 UTC),
    refreshable (a refresh token is stored), settings, details, last_error, last_error_at,
    connected_at, refreshed_at. Never a token."""
    if row is None:
        return {
            "id": None,
            "provider": provider,
            "status": NOT_CONNECTED,
            "account_id": None,
            "account_name": None,
            "scopes": [],
            "token_expires_at": None,
            "refreshable": None,
            "settings": {},
            "details": {},
            "last_error": None,
            "last_error_at": None,
            "connected_at": None,
            "refreshed_at": None,
        }
    return {
        "id": row.id,
        "provider": row.provider,
        "status": row.status,
        "account_id": row.account_id,
        "account_name": row.account_name,
        "scopes": list(row.scopes or []),
        "token_expires_at": iso(row.token_expires_at),
        "refreshable": row.has_refresh_token,
        "settings": dict(row.settings or {}),
        "details": dict(row.details or {}),
        "last_error": row.last_error,
        "last_error_at": iso(row.last_error_at),
        "connected_at": iso(row.connected_at),
        "refreshed_at": iso(row.refreshed_at),
    }


def provider_name(provider: str) -> str:
    """The provider's proper name for messages: ``slack`` -> ``Slack``, ``hubspot`` -> ``HubSpot``
    (an unknown key as it is)."""
    return PROVIDER_NAMES.get(provider, provider)


def require_provider(provider: str) -> str:
    """``provider`` if it is one of :data:`KNOWN_PROVIDERS`; InvalidInput (``unknown_provider``) otherwise."""
    if provider not in KNOWN_PROVIDERS:
        raise InvalidInput(
            f"unknown integration provider {provider!r}",
            hint=f"known providers: {', '.join(KNOWN_PROVIDERS)}",
            code="unknown_provider",
        )
    return provider


def _storable_json(value: Any, depth: int = 0) -> Any:
    """Provider facts made storable on both databases: strings through ``storable_text``,
    containers bounded in depth and size, non-finite numbers dropped (JSON has none)."""
    if isinstance(value, str):
        return storable_text(value, max_chars=1000)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= _MAX_JSON_DEPTH:
        return None
    if isinstance(value, Mapping):
        items = list(value.items())[:_MAX_JSON_ITEMS]
        return {storable_text(str(k), max_chars=_MAX_TEXT): _storable_json(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        return [_storable_json(v, depth + 1) for v in list(value)[:_MAX_JSON_ITEMS]]
    return storable_text(str(value), max_chars=1000)


def _scopes(scopes: tuple[str, ...] | list[str]) -> list[str]:
    return [s for s in (storable_text(str(x), max_chars=_MAX_TEXT) for x in scopes[:_MAX_SCOPES]) if s]


def connect_hint(session: Session, org_id: str, provider: str) -> str:
    """The hint of a refused credential: ``run `zigznote --org SLUG slack connect` again``."""
    return f"run `{orgs.command(session, org_id, f'{provider} connect')}` again"


def not_connected_error(session: Session, org_id: str, provider: str) -> NotFound:
    """NotFound (exit 3, code ``not_connected``) with the connect command as the hint."""
    return NotFound(
        f"{provider_name(provider)} is not connected for this organization",
        hint=f"run `{orgs.command(session, org_id, f'{provider} connect')}`",
        code="not_connected",
    )


def row_of(session: Session, org_id: str, provider: str, *, lock: bool = False) -> IntegrationConnection | None:
    """The connection row, or None. ``lock``: FOR UPDATE on Postgres, so a write based on what
    was read cannot interleave with a refresh (SQLite's transactions are serialized anyway)."""
    query = select(IntegrationConnection).where(
        IntegrationConnection.org_id == org_id, IntegrationConnection.provider == provider
    )
    return session.exec(query.with_for_update() if lock else query).first()


def decrypt_tokens(vault: Vault, row_id: str, token_enc: str) -> TokenSet:
    """The token set of a row; VaultError (wrong key, copied ciphertext), ConfigError (not a token set)."""
    from zigznote.integrations.base import TokenSet

    return TokenSet.from_json(vault.decrypt(token_enc, table=TABLE, row=row_id, field=TOKEN_FIELD))


def token_columns(vault: Vault, row_id: str, tokens: TokenSet) -> dict[str, Any]:
    """The columns that hold (or repeat the public parts of) a token set."""
    expires = as_naive_utc(tokens.expires_at) if tokens.expires_at is not None else None
    return {
        "token_enc": vault.encrypt(tokens.to_json(), table=TABLE, row=row_id, field=TOKEN_FIELD),
        "token_expires_at": expires,
        "has_refresh_token": bool(tokens.refresh_token),
        "scopes": _scopes(tokens.scopes),
    }


# ---------------------------------------------------------------------------------------------
# The connection store
# ---------------------------------------------------------------------------------------------


def save_grant(db: Database, vault: Vault, *, org_id: str, provider: str, grant: Grant) -> dict[str, Any]:
    """Store what a connect yielded (insert, or replace the tokens of the existing connection):
    status ``connected``, error cleared, ``token_version`` + 1. Settings survive a re-connect to
    the same account and are reset for another account (a channel of another workspace is
    meaningless). Then the organization's held jobs of the provider's kinds (``<provider>.*``,
    held when the integration was gone) are released, in the same transaction.

    Returns the public view plus ``released_jobs`` (int). Raises InvalidInput (unknown
    provider), NotFound (organization), ProviderError (the grant has no account ID),
    Conflict (a concurrent connect of the same provider won the insert).
    """
    require_provider(provider)
    account_id = storable_text(grant.account_id, max_chars=_MAX_TEXT) or ""
    if not account_id.strip():
        raise ProviderError(
            f"{provider_name(provider)} returned no account ID with the token", code="provider_invalid_response"
        )
    now = utcnow()
    with db.session() as session:
        org = orgs.resolve(session, org_id)
        row = row_of(session, org.id, provider, lock=True)
        if row is None:
            row = IntegrationConnection(
                id=new_id("conn"), org_id=org.id, provider=provider, account_id=account_id,
                token_enc="", token_version=0, connected_at=now, created_at=now,
            )  # fmt: skip
        elif row.account_id != account_id:
            row.settings = {}
        for name, value in token_columns(vault, row.id, grant.tokens).items():
            setattr(row, name, value)
        row.account_id = account_id
        row.account_name = storable_text(grant.account_name, max_chars=_MAX_TEXT)
        row.details = _storable_json(dict(grant.details))
        row.status = CONNECTED
        row.token_version += 1
        row.last_error = row.last_error_at = row.refreshed_at = None
        row.connected_at = row.updated_at = now
        session.add(row)
        try:
            session.flush()
        except IntegrityError:  # lost the insert to a concurrent connect
            raise Conflict(
                f"another {provider_name(provider)} connect for this organization finished at the same time",
                hint=f"check with `{orgs.command(session, org.id, 'integrations list')}`",
                code="connect_conflict",
            ) from None
        released = _release_held(session.connection(), org.id, provider, now=now)
        return {**public(row, provider), "released_jobs": released}


def _release_held(conn: sa.Connection, org_id: str, provider: str, *, now: datetime) -> int:
    """Release the organization's held ``<provider>.*`` job kinds (services/jobs' hold rule)."""
    held = qjobs.held_kinds(qjobs.read_settings(conn, org_id) or {})
    released = sum(
        qjobs.release(conn, org_id, kind, now=now) for kind in sorted(held) if kind.startswith(f"{provider}.")
    )
    if released:
        notify(conn)
    return released


def get(db: Database, *, org_id: str, provider: str) -> dict[str, Any] | None:
    """The public view of the organization's ``provider`` connection, or None."""
    require_provider(provider)
    with db.session() as session:
        org = orgs.resolve(session, org_id)
        row = row_of(session, org.id, provider)
        return public(row, provider) if row is not None else None


def list_connections(db: Database, *, org_id: str) -> list[dict[str, Any]]:
    """One public view per known provider, in :data:`KNOWN_PROVIDERS` order ("not connected"
    rows included), then stored connections of providers this build does not know."""
    with db.session() as session:
        org = orgs.resolve(session, org_id)
        rows = {
            r.provider: r
            for r in session.exec(select(IntegrationConnection).where(IntegrationConnection.org_id == org.id))
        }
        out = [public(rows.pop(p, None), p) for p in KNOWN_PROVIDERS]
        return out + [public(rows[p], p) for p in sorted(rows)]


def delete(db: Database, *, org_id: str, provider: str) -> bool:
    """Delete the stored connection (tokens included); False if there was none. Revoking the
    token at the provider first is the caller's business (it needs the token)."""
    require_provider(provider)
    with db.session() as session:
        org = orgs.resolve(session, org_id)
        table = table_of(IntegrationConnection)
        result = session.connection().execute(
            sa.delete(table).where(table.c.org_id == org.id, table.c.provider == provider)
        )
        return bool(result.rowcount)


def update_settings(db: Database, *, org_id: str, provider: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``changes`` into the connection's settings (a None value removes the key) and
    return the public view. Keys: 1-64 characters; values: str (made storable, ≤ 200
    characters), bool, int or None. Raises InvalidInput, NotFound (``not_connected``)."""
    require_provider(provider)
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 64 or not key.isprintable():
            raise InvalidInput(f"invalid setting name {key!r}", code="invalid_setting")
        if value is not None and not isinstance(value, str | bool | int):
            raise InvalidInput(f"setting {key!r} must be text, a number or true/false", code="invalid_setting")
        clean[key] = storable_text(value, max_chars=_MAX_TEXT) if isinstance(value, str) else value
    with db.session() as session:
        org = orgs.resolve(session, org_id)
        row = row_of(session, org.id, provider, lock=True)
        if row is None:
            raise not_connected_error(session, org.id, provider)
        settings = dict(row.settings or {})
        for key, value in clean.items():
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
        row.settings = settings
        row.updated_at = utcnow()
        session.add(row)
        return public(row, provider)


def mark_error(db: Database, *, org_id: str, provider: str, message: str) -> None:
    """Put the connection in state ``error`` (credentials refused: only a new connect repairs
    it) with ``message`` (made storable, ≤ 2000 characters; never a token). No connection:
    nothing to mark."""
    require_provider(provider)
    with db.session() as session:
        org = orgs.resolve(session, org_id)
        set_error(session.connection(), org.id, provider, message)


def set_error(conn: sa.Connection, org_id: str, provider: str, message: str, *, version: int | None = None) -> None:
    """:func:`mark_error` in the caller's transaction (the organization already resolved); with
    ``version``, only while the stored tokens are still that version."""
    table = table_of(IntegrationConnection)
    now = utcnow()
    where = [table.c.org_id == org_id, table.c.provider == provider]
    if version is not None:
        where.append(table.c.token_version == version)
    conn.execute(
        sa.update(table)
        .where(*where)
        .values(
            status=ERROR, last_error=storable_text(message, max_chars=_MAX_ERROR), last_error_at=now, updated_at=now
        )
    )
