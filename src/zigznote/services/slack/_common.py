"""What every Slack service function shares: the app's settings, the HTTP client, the refresher,
calls with the stored token, the connection lookup and the auto-send job rule."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

from zigznote.delivery import handlers
from zigznote.delivery.queue import jobs as qjobs
from zigznote.errors import ConfigError, InvalidInput
from zigznote.integrations.slack.client import SlackClient
from zigznote.integrations.slack.oauth import SlackOAuth
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

PROVIDER = "slack"
#: The integration-job kind of auto-send (handler: ``integrations/slack/handlers.py``).
KIND = "slack.summary"
#: The event that makes an auto-send job.
AUTO_SEND_EVENTS = ("summary.ready",)

# Slack conversation IDs: C (public), G (private, older), D (direct message), then upper-case
# letters and digits (https://docs.slack.dev/reference/objects/conversation-object).
CHANNEL_ID_RE = re.compile(r"[CGD][A-Z0-9]{2,40}")
# Channel names: lower case, up to 80 characters, no spaces or periods in new names, but older
# workspaces have other names: anything printable without spaces, within bounds.
_CHANNEL_NAME_RE = re.compile(r"[^\s#,]{1,80}")


def scopes_setting(settings: Settings) -> tuple[str, ...]:
    """``SLACK_SCOPES`` as a tuple (the setting is a normalised comma list)."""
    return tuple(s for s in str(settings.slack_scopes).split(",") if s)


#: What a missing client ID/secret blocks, unless said otherwise: the OAuth flow, which a bot
#: token pasted on stdin avoids.
TOKEN_STDIN_INSTEAD = "to store a bot token instead, use `slack connect --token-stdin`"


def app_credentials(
    settings: Settings, *, needed_for: str, instead: str | None = TOKEN_STDIN_INSTEAD
) -> tuple[str, str]:
    """``(SLACK_CLIENT_ID, SLACK_CLIENT_SECRET)``, or ConfigError (exit 6, ``slack_not_configured``)
    naming what needs them (``needed_for``: "connecting with OAuth", "renewing the token" …).
    ``instead``: the way around them that the hint offers after where to find them (None: none;
    ``--token-stdin`` is no way around ``disconnect --uninstall``)."""
    client_id, secret = settings.slack_client_id, settings.slack_client_secret
    if not client_id or not secret:
        missing = [n for n, v in (("SLACK_CLIENT_ID", client_id), ("SLACK_CLIENT_SECRET", secret)) if not v]
        where = (
            "copy the Client ID and Client Secret from the Basic Information page of the Slack app into "
            "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (or slack_client_id / slack_client_secret in the config file)"
        )
        raise ConfigError(
            f"{needed_for} needs the Slack app's credentials: {' and '.join(missing)} "
            f"{'are' if len(missing) > 1 else 'is'} not set",
            hint=f"{where}; {instead}" if instead else where,
            code="slack_not_configured",
        )
    return str(client_id), str(secret)


@contextmanager
def open_client(settings: Settings) -> Iterator[SlackClient]:
    """A :class:`SlackClient` on ``SLACK_API_BASE`` for one service call, closed afterwards."""
    with SlackClient(api_base=str(settings.slack_api_base)) as client:
        yield client


def oauth(settings: Settings, client: SlackClient, *, needed_for: str) -> SlackOAuth:
    """The app's :class:`SlackOAuth` (authorize URL, code exchange, refresh) over ``client``."""
    client_id, secret = app_credentials(settings, needed_for=needed_for)
    return SlackOAuth(
        client_id=client_id,
        client_secret=secret,
        redirect_uri=str(settings.slack_redirect_uri),
        authorize_url=str(settings.slack_oauth_authorize_url),
        scopes=scopes_setting(settings),
        api_base=str(settings.slack_api_base),
        client=client,
    )


def refresher(settings: Settings, client: SlackClient) -> Callable[[TokenSet], TokenSet]:
    """The refresher ``services.integrations`` calls under its lock. The app's credentials are
    only required when a refresh really happens (a bot token pasted with ``--token-stdin``
    never needs them)."""

    def refresh(tokens: TokenSet) -> TokenSet:
        return oauth(settings, client, needed_for="renewing the Slack access token").refresh(tokens)

    return refresh


def with_token(
    db: Database, vault: Vault, settings: Settings, org_id: str, client: SlackClient, call: Callable[[str], T]
) -> T:
    """``call(access_token)`` through ``services.integrations.call_with_token``: the stored token,
    refreshed first when it expires within 5 minutes, and exactly one refresh-and-retry when
    Slack refuses it (a refusal that cannot be cured puts the connection in state ``error``).
    Raises NotFound (``not_connected``, exit 3), CredentialsRejected (6), and what ``call`` raises."""
    return integrations.call_with_token(
        db, vault, org_id=org_id, provider=PROVIDER, refresher=refresher(settings, client), call=call
    )


def connection(db: Database, org_ref: str) -> tuple[str, dict[str, Any]]:
    """``(org_id, public view)`` of the organization's Slack connection; NotFound
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


def parse_channel(value: str) -> tuple[str | None, str | None]:
    """``(channel_id, None)`` for an ID (``C0123ABCD``), ``(None, name)`` for ``#name`` or a bare
    name. Raises InvalidInput (exit 2, ``invalid_channel``) for anything else."""
    text = value.strip() if isinstance(value, str) else ""
    if CHANNEL_ID_RE.fullmatch(text):
        return text, None
    name = text.removeprefix("#")
    if _CHANNEL_NAME_RE.fullmatch(name) and name.isprintable():
        return None, name
    raise InvalidInput(
        f"not a Slack channel: {value!r}",
        hint="give a channel ID (C0123ABCD) or #name; `zigznote slack channels` lists them",
        code="invalid_channel",
    )


# ---------------------------------------------------------------------------------------------
# The auto-send rule (organization.settings["jobs"]["slack.summary"], see delivery/handlers.py)
# ---------------------------------------------------------------------------------------------


def write_rule(conn: sa.Connection, org_id: str, channel_id: str | None) -> dict[str, Any] | None:
    """In the caller's transaction: make ``summary.ready`` enqueue one ``slack.summary`` job for
    ``channel_id``, or (None) remove the rule. Returns the rule written, or None."""
    settings = qjobs.read_settings(conn, org_id, lock=True) or {}
    rules = dict(settings.get(handlers.SETTINGS_KEY) or {})
    if channel_id is None:
        if KIND not in rules:
            return None
        del rules[KIND]
        rule = None
    else:
        rule = {"events": list(AUTO_SEND_EVENTS), "targets": [channel_id]}
        rules[KIND] = rule
    settings[handlers.SETTINGS_KEY] = rules
    qjobs.write_settings(conn, org_id, settings, now=utcnow())
    return rule


def current_rule(conn: sa.Connection, org_id: str) -> dict[str, Any] | None:
    """The organization's ``slack.summary`` job rule (``{"events", "targets"}``), or None."""
    rules = (qjobs.read_settings(conn, org_id) or {}).get(handlers.SETTINGS_KEY)
    rule = rules.get(KIND) if isinstance(rules, dict) else None
    return dict(rule) if isinstance(rule, dict) else None


def drop_auto_send(db: Database, org_id: str) -> bool:
    """Remove the auto-send rule and the connection's ``auto_send`` setting (after a disconnect,
    or a re-connect to another workspace, whose channels the rule cannot reach). True if
    there was a rule."""
    with db.session() as session:
        # The connection row first, then the organization: the order of save_grant and settings.
        row = row_of(session, org_id, PROVIDER, lock=True)
        if row is not None and (row.settings or {}).get("auto_send"):
            set_settings(session, row, {"auto_send": False})
        conn = session.connection()
        rules = (qjobs.read_settings(conn, org_id, lock=True) or {}).get(handlers.SETTINGS_KEY)
        had = isinstance(rules, dict) and KIND in rules
        if had:
            write_rule(conn, org_id, None)
        return had


def set_settings(session: Session, row: IntegrationConnection, changes: dict[str, Any]) -> None:
    row.settings = {**(row.settings or {}), **changes}
    row.updated_at = utcnow()
    session.add(row)
