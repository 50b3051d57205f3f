"""What every HubSpot service function shares: the app's settings, the API client, the
refresher, calls with the stored token, the connection lookup and the auto-sync job rule."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

from zigznote.delivery import handlers
from zigznote.delivery.queue import jobs as qjobs
from zigznote.errors import ConfigError
from zigznote.integrations.hubspot.client import HubSpotClient
from zigznote.integrations.hubspot.oauth import HubSpotOAuth
from zigznote.services import integrations, orgs
from zigznote.services.integrations.connections import not_connected_error, public, row_of
from zigznote.store.models import IntegrationConnection
from zigznote.timeutil import utcnow

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.integrations.base import TokenSet
    from zigznote.store.engine import Database
    from zigznote.vault import Vault

T = TypeVar("T")

PROVIDER = "hubspot"
#: The integration-job kind of auto-sync (handler: ``integrations/hubspot/handlers.py``).
KIND = "hubspot.sync"
#: The events that make an auto-sync job (a summary, then action items, may arrive separately).
AUTO_SYNC_EVENTS = ("summary.ready", "action_items.ready")
#: The connection settings ``hubspot settings`` manages (IntegrationConnection.settings).
SETTING_KEYS = ("auto_sync", "create_contacts", "default_owner")


def scopes_setting(settings: Settings) -> tuple[str, ...]:
    """``HUBSPOT_SCOPES`` as a tuple (the setting is a normalised comma list)."""
    return tuple(s for s in str(settings.hubspot_scopes).split(",") if s)


#: What a missing client ID/secret blocks, unless said otherwise: the OAuth flow, which a
#: static token pasted on stdin avoids.
TOKEN_STDIN_INSTEAD = "to store a service key instead, use `hubspot connect --token-stdin`"


def app_credentials(
    settings: Settings, *, needed_for: str, instead: str | None = TOKEN_STDIN_INSTEAD
) -> tuple[str, str]:
    """``(HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET)``, or ConfigError (exit 6,
    ``hubspot_not_configured``) naming what needs them ("connecting with OAuth", "renewing
    the access token", "revoking the refresh token"). ``instead``: the way around them that
    the hint offers after where to find them (None: none, e.g. for the revoke of ``disconnect``)."""
    client_id, secret = settings.hubspot_client_id, settings.hubspot_client_secret
    if not client_id or not secret:
        missing = [n for n, v in (("HUBSPOT_CLIENT_ID", client_id), ("HUBSPOT_CLIENT_SECRET", secret)) if not v]
        where = (
            "copy the Client ID and Client secret from the app's Auth page on HubSpot's developer platform "
            "into HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET (or hubspot_client_id / hubspot_client_secret in "
            "the config file)"
        )
        raise ConfigError(
            f"{needed_for} needs the HubSpot app's credentials: {' and '.join(missing)} "
            f"{'are' if len(missing) > 1 else 'is'} not set",
            hint=f"{where}; {instead}" if instead else where,
            code="hubspot_not_configured",
        )
    return str(client_id), str(secret)


@contextmanager
def open_client(settings: Settings, *, sleep: Callable[[float], None] | None = None) -> Iterator[HubSpotClient]:
    """A :class:`HubSpotClient` on ``HUBSPOT_API_BASE`` and ``HUBSPOT_API_VERSION`` for one
    service call, closed afterwards. ``sleep``: how rate-limit waits sleep (tests)."""
    extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    with HubSpotClient(
        api_base=str(settings.hubspot_api_base), version=str(settings.hubspot_api_version), **extra
    ) as client:
        yield client


def oauth(settings: Settings, client: HubSpotClient, *, needed_for: str) -> HubSpotOAuth:
    """The app's :class:`HubSpotOAuth` (authorize URL with PKCE, code exchange, refresh,
    revoke) over ``client``."""
    client_id, secret = app_credentials(settings, needed_for=needed_for)
    return HubSpotOAuth(
        client_id=client_id,
        client_secret=secret,
        redirect_uri=str(settings.hubspot_redirect_uri),
        authorize_url=str(settings.hubspot_oauth_authorize_url),
        scopes=scopes_setting(settings),
        client=client,
    )


def refresher(settings: Settings, client: HubSpotClient) -> Callable[[TokenSet], TokenSet]:
    """The refresher ``services.integrations`` calls under its lock. The app's credentials are
    only required when a refresh really happens (a service key never needs them)."""

    def refresh(tokens: TokenSet) -> TokenSet:
        return oauth(settings, client, needed_for="renewing the HubSpot access token").refresh(tokens)

    return refresh


def with_token(
    db: Database, vault: Vault, settings: Settings, org_id: str, client: HubSpotClient, call: Callable[[str], T]
) -> T:
    """``call(access_token)`` through ``services.integrations.call_with_token``: the stored
    token, refreshed first when it expires within 5 minutes (HubSpot's last 30), and exactly
    one refresh-and-retry when HubSpot refuses it. Raises NotFound (``not_connected``, 3),
    CredentialsRejected (6, "connect again"), and what ``call`` raises."""
    return integrations.call_with_token(
        db, vault, org_id=org_id, provider=PROVIDER, refresher=refresher(settings, client), call=call
    )


def connection(db: Database, org_ref: str) -> tuple[str, dict[str, Any]]:
    """``(org_id, public view)`` of the organization's HubSpot connection; NotFound
    (``not_connected``, exit 3, hint: the connect command) when there is none."""
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        row = row_of(session, org.id, PROVIDER)
        if row is None:
            raise not_connected_error(session, org.id, PROVIDER)
        return org.id, public(row, PROVIDER)


def org_id_of(db: Database, org_ref: str) -> str:
    """The organization's ID (NotFound for an unknown slug or ID)."""
    with db.session() as session:
        return orgs.resolve(session, org_ref).id


def set_settings(session: Session, row: IntegrationConnection, changes: dict[str, Any]) -> None:
    """Merge ``changes`` into the connection's settings (None removes a key)."""
    merged = {**(row.settings or {})}
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    row.settings = merged
    row.updated_at = utcnow()
    session.add(row)


# ---------------------------------------------------------------------------------------------
# The auto-sync rule (organization.settings["jobs"]["hubspot.sync"], see delivery/handlers.py)
# ---------------------------------------------------------------------------------------------


def write_rule(conn: sa.Connection, org_id: str, hub_id: str | None) -> dict[str, Any] | None:
    """In the caller's transaction: make ``summary.ready`` and ``action_items.ready`` enqueue one
    ``hubspot.sync`` job for the portal ``hub_id``, or (None) remove the rule. Returns the rule
    written, or None."""
    settings = qjobs.read_settings(conn, org_id, lock=True) or {}
    rules = dict(settings.get(handlers.SETTINGS_KEY) or {})
    if hub_id is None:
        if KIND not in rules:
            return None
        del rules[KIND]
        rule = None
    else:
        rule = {"events": list(AUTO_SYNC_EVENTS), "targets": [hub_id]}
        rules[KIND] = rule
    settings[handlers.SETTINGS_KEY] = rules
    qjobs.write_settings(conn, org_id, settings, now=utcnow())
    return rule


def current_rule(conn: sa.Connection, org_id: str) -> dict[str, Any] | None:
    """The organization's ``hubspot.sync`` job rule (``{"events", "targets"}``), or None."""
    rules = (qjobs.read_settings(conn, org_id) or {}).get(handlers.SETTINGS_KEY)
    rule = rules.get(KIND) if isinstance(rules, dict) else None
    return dict(rule) if isinstance(rule, dict) else None


def drop_auto_sync(db: Database, org_id: str) -> bool:
    """Remove the auto-sync rule and the connection's ``auto_sync`` setting (after a
    disconnect, or a re-connect to another portal). True if there was a rule."""
    with db.session() as session:
        row = row_of(session, org_id, PROVIDER, lock=True)  # the connection first, then the org
        conn = session.connection()
        had = current_rule(conn, org_id) is not None
        if had:
            write_rule(conn, org_id, None)
        if row is not None and (row.settings or {}).get("auto_sync"):
            set_settings(session, row, {"auto_sync": False})
        return had
