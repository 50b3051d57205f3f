"""What the provider services (``services/slack``, ``services/hubspot``) share: the app's
credentials, the connection lookup, the connection's settings, the per-kind job rule, the
OAuth connect orchestration, the live check and the disconnect plumbing.

Each provider describes itself once with a :class:`ProviderApp` (its store name, how people
write its name, its job kind and events, where its credentials come from); the functions here
take that description and keep the provider differences to it. Nothing here talks to a
provider's API: the provider passes the OAuth adapter, the token grant and the calls.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

from zigznote.config import data_dir
from zigznote.delivery import handlers
from zigznote.delivery.queue import jobs as qjobs
from zigznote.errors import ConfigError, CredentialsRejected, ProviderError
from zigznote.integrations.browser import browser_mode
from zigznote.integrations.connect import obtain_grant
from zigznote.integrations.loopback import callback_target
from zigznote.integrations.tls import TlsFiles, localhost_tls
from zigznote.services import orgs
from zigznote.services.integrations import connections
from zigznote.services.integrations.connections import not_connected_error, public, row_of
from zigznote.store.models import IntegrationConnection
from zigznote.timeutil import iso, utcnow

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.integrations.base import Grant, OAuthIntegration
    from zigznote.store.engine import Database
    from zigznote.vault import Vault

T = TypeVar("T")


@dataclass(frozen=True)
class ProviderApp:
    """One provider as the shared service code sees it.

    ``provider``: the store's and the command group's name (``"slack"``); ``title``: how
    messages write it (``"Slack"``); ``kind``: its integration-job kind (``"slack.summary"``)
    and ``events``: the events its automatic rule reacts to; ``auto_setting``: the connection
    setting that turns the rule on (``"auto_send"``); ``credentials_page``: where the app's
    client ID and secret are shown, as the hint says it ("Client ID and Client Secret from the
    Basic Information page of the Slack app"); ``token_stdin_instead``: the hint's way around
    missing credentials for the OAuth flow.
    """

    provider: str
    title: str
    kind: str
    events: tuple[str, ...]
    auto_setting: str
    credentials_page: str
    token_stdin_instead: str


@dataclass(frozen=True)
class OAuthFlow:
    """How a connect's OAuth flow meets the person running it.

    ``no_browser``: paste mode even where a browser could open; ``notify``: a line for stderr
    (the authorize URL first); ``read_pasted(prompt)``: the pasted redirect URL (paste mode);
    ``env``: the process environment (``BROWSER``, ``DISPLAY``, ``SSH_CONNECTION`` …);
    ``timeout``: seconds to wait for the redirect (None: ``ZIGZNOTE_OAUTH_TIMEOUT``).
    """

    no_browser: bool
    notify: Callable[[str], None]
    read_pasted: Callable[[str], str]
    env: Mapping[str, str]
    timeout: float | None = None


# ---------------------------------------------------------------------------------------------
# Settings and lookups
# ---------------------------------------------------------------------------------------------


def scopes_setting(settings: Settings, app: ProviderApp) -> tuple[str, ...]:
    """``<PROVIDER>_SCOPES`` as a tuple (the setting is a normalised comma list)."""
    return tuple(s for s in str(getattr(settings, f"{app.provider}_scopes")).split(",") if s)


def app_credentials(settings: Settings, app: ProviderApp, *, needed_for: str, instead: str | None) -> tuple[str, str]:
    """``(<PROVIDER>_CLIENT_ID, <PROVIDER>_CLIENT_SECRET)``, or ConfigError (exit 6,
    ``<provider>_not_configured``) naming what needs them (``needed_for``: "connecting Slack with
    OAuth", "renewing the HubSpot access token" …) and the missing names. ``instead``: the way
    around them that the hint offers after where to find them (None: none)."""
    client_id = getattr(settings, f"{app.provider}_client_id")
    secret = getattr(settings, f"{app.provider}_client_secret")
    if client_id and secret:
        return str(client_id), str(secret)
    env_id, env_secret = f"{app.provider.upper()}_CLIENT_ID", f"{app.provider.upper()}_CLIENT_SECRET"
    missing = [n for n, v in ((env_id, client_id), (env_secret, secret)) if not v]
    where = (
        f"copy the {app.credentials_page} into {env_id} and {env_secret} (or {app.provider}_client_id / "
        f"{app.provider}_client_secret in the config file)"
    )
    raise ConfigError(
        f"{needed_for} needs the {app.title} app's credentials: {' and '.join(missing)} "
        f"{'are' if len(missing) > 1 else 'is'} not set",
        hint=f"{where}; {instead}" if instead else where,
        code=f"{app.provider}_not_configured",
    )


def org_id_of(db: Database, org_ref: str) -> str:
    """The organization's ID (NotFound for an unknown slug or ID)."""
    with db.session() as session:
        return orgs.resolve(session, org_ref).id


def connection(db: Database, org_ref: str, provider: str) -> tuple[str, dict[str, Any]]:
    """``(org_id, public view)`` of the organization's connection to ``provider``; NotFound
    (``not_connected``, exit 3, hint: the connect command) when there is none."""
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        row = row_of(session, org.id, provider)
        if row is None:
            raise not_connected_error(session, org.id, provider)
        return org.id, public(row, provider)


def command(db: Database, org_id: str, args: str) -> str:
    """A hint's command line for the organization: ``zigznote --org SLUG args``."""
    with db.session() as session:
        return orgs.command(session, org_id, args)


def view(shown: Mapping[str, Any], *, account: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The connection facts a provider's commands show (never a token), from the public view
    ``shown``: ``provider``, ``status``, the provider's ``account`` facts (workspace, portal …),
    ``scopes``, ``token_expires_at``, ``refreshable``, the provider's ``settings`` facts, then
    ``last_error``, ``last_error_at``, ``connected_at``, ``refreshed_at``, in that order."""
    return {
        "provider": shown.get("provider"),
        "status": shown.get("status"),
        **account,
        "scopes": list(shown.get("scopes") or []),
        "token_expires_at": shown.get("token_expires_at"),
        "refreshable": shown.get("refreshable"),
        **settings,
        "last_error": shown.get("last_error"),
        "last_error_at": shown.get("last_error_at"),
        "connected_at": shown.get("connected_at"),
        "refreshed_at": shown.get("refreshed_at"),
    }


def set_settings(session: Session, row: IntegrationConnection, changes: Mapping[str, Any]) -> None:
    """Merge ``changes`` into the connection's settings (None removes a key), in ``session``."""
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
# The automatic job rule (organization.settings["jobs"][kind], see delivery/handlers.py)
# ---------------------------------------------------------------------------------------------


class Keep(enum.Enum):
    """:func:`save_settings`' rule answer "leave the rule as it is"."""

    RULE = enum.auto()


KEEP = Keep.RULE


def write_rule(conn: sa.Connection, org_id: str, app: ProviderApp, target: str | None) -> dict[str, Any] | None:
    """In the caller's transaction: make ``app.events`` enqueue one ``app.kind`` job for
    ``target`` (a channel, a portal), or (None) remove the rule. Returns the rule written, or None."""
    settings = qjobs.read_settings(conn, org_id, lock=True) or {}
    rules = dict(settings.get(handlers.SETTINGS_KEY) or {})
    if target is None:
        if app.kind not in rules:
            return None
        del rules[app.kind]
        rule = None
    else:
        rule = {"events": list(app.events), "targets": [target]}
        rules[app.kind] = rule
    settings[handlers.SETTINGS_KEY] = rules
    qjobs.write_settings(conn, org_id, settings, now=utcnow())
    return rule


def current_rule(conn: sa.Connection, org_id: str, app: ProviderApp) -> dict[str, Any] | None:
    """The organization's ``app.kind`` job rule (``{"events", "targets"}``), or None."""
    rules = (qjobs.read_settings(conn, org_id) or {}).get(handlers.SETTINGS_KEY)
    rule = rules.get(app.kind) if isinstance(rules, dict) else None
    return dict(rule) if isinstance(rule, dict) else None


def drop_rule(db: Database, org_id: str, app: ProviderApp) -> bool:
    """Remove the ``app.kind`` rule and turn the connection's ``app.auto_setting`` off (after a
    disconnect, or a re-connect to another account, whose targets the rule cannot reach).
    True if there was a rule."""
    with db.session() as session:
        # The connection row first, then the organization: the order of save_grant and settings.
        row = row_of(session, org_id, app.provider, lock=True)
        if row is not None and (row.settings or {}).get(app.auto_setting):
            set_settings(session, row, {app.auto_setting: False})
        conn = session.connection()
        rules = (qjobs.read_settings(conn, org_id, lock=True) or {}).get(handlers.SETTINGS_KEY)
        had = isinstance(rules, dict) and app.kind in rules
        if had:
            write_rule(conn, org_id, app, None)
        return had


def save_settings(
    db: Database,
    org_id: str,
    app: ProviderApp,
    changes: Mapping[str, Any],
    *,
    rule: Callable[[Mapping[str, Any]], str | Keep | None],
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Apply ``changes`` to the connection's settings and set the job rule, in one transaction
    with the connection row locked first (then the organization, as ``save_grant``).

    ``rule(settings after the change)``: the rule's new target, None to remove the rule, or
    :data:`KEEP`. Returns ``(settings after the change, the rule now in force or None)``.
    Raises NotFound (``not_connected``: disconnected meanwhile)."""
    with db.session() as session:
        row = row_of(session, org_id, app.provider, lock=True)
        if row is None:
            raise not_connected_error(session, org_id, app.provider)
        if changes:
            set_settings(session, row, changes)
        now = dict(row.settings or {})
        conn = session.connection()
        target = rule(now)
        if target is not KEEP:
            write_rule(conn, org_id, app, target)
        return now, current_rule(conn, org_id, app)


# ---------------------------------------------------------------------------------------------
# Connecting
# ---------------------------------------------------------------------------------------------


def loopback_tls(
    settings: Settings,
    redirect_uri: str,
    *,
    cert: Path | None,
    key: Path | None,
    note: Callable[[str], None],
    generated: Sequence[str],
) -> TlsFiles | None:
    """The certificate of an https loopback ``redirect_uri`` (None for http). ``cert``/``key``
    (flags) win over ``ZIGZNOTE_TLS_CERT``/``_KEY``; without either, a self-signed localhost
    certificate in the data directory (``integrations.tls.localhost_tls``), and when it was
    generated just now, each of ``generated`` (``{cert}``: its path) is said with ``note``.
    Raises ConfigError (``redirect_uri_invalid``, ``redirect_not_loopback``, ``tls_*``)."""
    # The redirect must be one this machine can serve before anything is generated for it.
    if callback_target(redirect_uri).scheme != "https":
        return None
    cert = cert or (Path(settings.tls_cert) if settings.tls_cert else None)
    key = key or (Path(settings.tls_key) if settings.tls_key else None)
    files, made_now = localhost_tls(data_dir(settings.env), cert=cert, key=key)
    if made_now:
        for line in generated:
            note(line.format(cert=files.cert))
    return files


def _intro_and_notes(notify: Callable[[str], None], notes: list[str]) -> Callable[[str], None]:
    """``notify``, with ``notes`` said right after the authorize URL (``obtain_grant``'s first two
    lines are the introduction and the URL) and before the browser opens or the paste prompt."""
    said = 0

    def say(line: str) -> None:
        nonlocal said
        said += 1
        notify(line)
        if said == 2:
            for note in notes:
                notify(note)

    return say


def authorize(
    integration: OAuthIntegration,
    settings: Settings,
    flow: OAuthFlow,
    *,
    tls_for: Callable[[Callable[[str], None]], TlsFiles | None],
) -> Grant:
    """The OAuth flow of ``integration`` up to its grant (``integrations.connect.obtain_grant``).

    Paste mode with ``flow.no_browser`` or where no graphical browser can open (``flow.env``);
    browser mode serves the loopback redirect with ``tls_for(note)`` (None for http; ``note``
    collects what to say about a certificate). What to say besides the flow's own lines (the
    provider's :meth:`~zigznote.integrations.base.OAuthIntegration.redirect_warning`, then the
    certificate notes) follows the authorize URL: the URL always comes first. Raises what
    ``obtain_grant`` and ``tls_for`` raise."""
    mode = "paste" if flow.no_browser else browser_mode(flow.env)
    notes: list[str] = []
    warning = integration.redirect_warning()
    if warning:
        notes.append(f"warning: {warning}")
    # Paste mode runs no local server, so it needs no certificate.
    tls = tls_for(notes.append) if mode == "browser" else None
    return obtain_grant(
        integration,
        no_browser=mode == "paste",
        timeout=settings.oauth_timeout if flow.timeout is None else flow.timeout,
        tls=tls,
        env=flow.env,
        notify=_intro_and_notes(flow.notify, notes),
        read_pasted=flow.read_pasted,
    )


def save_connection(
    db: Database, vault: Vault, *, org_id: str, provider: str, grant: Grant
) -> tuple[dict[str, Any], bool]:
    """Store ``grant`` (``services.integrations.save_grant``: encrypted tokens, held jobs of the
    provider released). Returns ``(the saved view with released_jobs, moved)``: ``moved`` is
    True when the organization was connected to another account (workspace, portal) before,
    whose rule targets and links no longer apply."""
    before = connections.get(db, org_id=org_id, provider=provider)
    saved = connections.save_grant(db, vault, org_id=org_id, provider=provider, grant=grant)
    return saved, before is not None and before["account_id"] != saved["account_id"]


# ---------------------------------------------------------------------------------------------
# Checking and disconnecting
# ---------------------------------------------------------------------------------------------


def live_check(call: Callable[[], T]) -> tuple[T | None, dict[str, Any]]:
    """``(call(), {"ok": true, "at", "error": null})``, or ``(None, {"ok": false, "at", "error":
    {code, message, hint}})`` when the provider refused the credentials or could not be reached:
    ``status`` shows a broken connection rather than failing on it. ``at``: ISO-8601 UTC."""
    checked_at = iso(utcnow())
    try:
        result = call()
    except (CredentialsRejected, ProviderError) as exc:
        return None, {"ok": False, "at": checked_at, "error": exc.to_dict()}
    return result, {"ok": True, "at": checked_at, "error": None}


def local_only_command(db: Database, org_id: str, provider: str) -> str:
    """``zigznote --org SLUG <provider> disconnect --local-only``, for hints."""
    return command(db, org_id, f"{provider} disconnect --local-only")


@contextmanager
def offering_local_only(db: Database, org_id: str, provider: str) -> Iterator[None]:
    """Around a disconnect's revoke: an error that keeps the revoke from being made (the
    provider unreachable, ProviderError; the app's credentials or the master key missing,
    ConfigError) gets a hint naming ``disconnect --local-only``, so an operator who lost the
    secret is not stuck. The error keeps its class, code and message (the connection is kept);
    CredentialsRejected (the token is already dead) passes unchanged."""
    try:
        yield
    except CredentialsRejected:
        raise
    except (ConfigError, ProviderError) as exc:
        way = f"to delete the stored connection without revoking, run `{local_only_command(db, org_id, provider)}`"
        exc.hint = f"{exc.hint}; {way}" if exc.hint else way
        raise


def forget(db: Database, org_id: str, app: ProviderApp) -> tuple[bool, bool]:
    """Drop the job rule and delete the stored connection: ``(rule_dropped, deleted)``."""
    dropped = drop_rule(db, org_id, app)
    return dropped, connections.delete(db, org_id=org_id, provider=app.provider)
