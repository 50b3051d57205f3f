"""Connecting and disconnecting HubSpot, and checking the connection."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zigznote.config import data_dir
from zigznote.errors import CredentialsRejected, InvalidInput, ProviderError
from zigznote.integrations.browser import browser_mode
from zigznote.integrations.connect import obtain_grant
from zigznote.integrations.hubspot.oauth import grant_from_static_token
from zigznote.integrations.loopback import callback_target
from zigznote.integrations.tls import TlsFiles, localhost_tls
from zigznote.services import integrations
from zigznote.services.hubspot import links
from zigznote.services.hubspot._common import (
    PROVIDER,
    app_credentials,
    connection,
    drop_auto_sync,
    oauth,
    open_client,
    org_id_of,
    scopes_setting,
    with_token,
)
from zigznote.timeutil import iso, utcnow

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.store.engine import Database
    from zigznote.vault import Vault

#: Longest token accepted on stdin (HubSpot says to allow ~300 characters; service keys are shorter).
MAX_TOKEN_CHARS = 4000
#: What to do about a pasted token HubSpot refuses: "connect again" would only refuse it again.
TOKEN_REFUSED_HINT = (
    "check the token: copy the service key (or legacy private-app access token) again from the HubSpot "
    "account's settings; a deleted or rotated key must be replaced by the new one"
)
#: What `disconnect` says about the app itself: revoking a refresh token leaves it installed.
UNINSTALL_NOTE = (
    "the app stays installed in the HubSpot account: uninstall it there (Settings → Integrations → "
    "Connected apps), which also ends every token it holds"
)


def view(shown: Mapping[str, Any]) -> dict[str, Any]:
    """The connection facts every HubSpot command shows (never a token)."""
    details = shown.get("details") or {}
    settings = shown.get("settings") or {}
    return {
        "provider": PROVIDER,
        "status": shown.get("status"),
        "hub_id": shown.get("account_id"),
        "hub_domain": shown.get("account_name") or details.get("hub_domain"),
        "token_kind": "static" if details.get("static") else "oauth",
        "user": details.get("user_email"),
        "scopes": list(shown.get("scopes") or []),
        "token_expires_at": shown.get("token_expires_at"),
        "refreshable": shown.get("refreshable"),
        "auto_sync": bool(settings.get("auto_sync")),
        "create_contacts": bool(settings.get("create_contacts")),
        "default_owner": settings.get("default_owner"),
        "last_error": shown.get("last_error"),
        "last_error_at": shown.get("last_error_at"),
        "connected_at": shown.get("connected_at"),
        "refreshed_at": shown.get("refreshed_at"),
    }


def _tls_for(settings: Settings, *, notify: Callable[[str], None]) -> TlsFiles | None:
    """The certificate of an https loopback redirect (None for http, HubSpot's usual case)."""
    if callback_target(str(settings.hubspot_redirect_uri)).scheme != "https":
        return None
    cert = Path(settings.tls_cert) if settings.tls_cert else None
    key = Path(settings.tls_key) if settings.tls_key else None
    files, generated = localhost_tls(data_dir(settings.env), cert=cert, key=key)
    if generated:
        notify(
            f"Generated a self-signed certificate for the https://localhost callback: {files.cert}. Your browser "
            "will warn once; an http://localhost redirect (which HubSpot accepts) needs no certificate."
        )
    return files


def _static_token(text: str) -> str:
    token = text.strip()
    if not token:
        raise InvalidInput(
            "no HubSpot token on stdin",
            hint="pipe the service key (or a legacy private-app access token) from the HubSpot account's settings",
            code="missing_token",
        )
    if len(token) > MAX_TOKEN_CHARS or any(c.isspace() or not c.isprintable() for c in token):
        # Never quote it: it may be a real token with a stray character.
        raise InvalidInput(
            "the text on stdin is not a HubSpot token (too long, or holding spaces or line breaks)",
            hint='pipe only the token, e.g. `printf %s "$HUBSPOT_KEY" | zigznote hubspot connect --token-stdin`',
            code="invalid_token",
        )
    return token


def connect(
    db: Database,
    vault: Vault,
    settings: Settings,
    *,
    org_ref: str,
    no_browser: bool,
    token: str | None,
    notify: Callable[[str], None],
    read_pasted: Callable[[str], str],
    env: Mapping[str, str],
    timeout: float | None = None,
) -> dict[str, Any]:
    """Connect the organization's HubSpot portal and store its tokens (encrypted).

    ``token`` (``--token-stdin``): a service key or legacy private-app token, checked with the
    account details (no app credentials needed; it does not expire and is not refreshed).
    Otherwise OAuth through ``integrations.connect.obtain_grant`` with ``HubSpotOAuth``
    (``HUBSPOT_SCOPES``, redirect ``HUBSPOT_REDIRECT_URI``, http://localhost by default):
    ``notify`` gets the stderr lines (the authorize URL first), ``read_pasted`` the pasted
    redirect URL in paste mode. ``timeout``: seconds to wait for the redirect (default
    ``ZIGZNOTE_OAUTH_TIMEOUT``).

    Nothing is stored unless the whole flow succeeds; then ``save_grant`` stores the tokens and
    releases held ``hubspot.*`` jobs. A re-connect to another portal drops the auto-sync rule
    and the stored links (they name the old portal's objects).

    Returns the connection view plus ``method`` (``"oauth"``/``"token"``), ``released_jobs``,
    ``auto_sync_dropped``, ``links_dropped``. Raises ConfigError (6: ``hubspot_not_configured``,
    ``access_denied``, ``invalid_code`` …), SignatureInvalid (7, ``state_mismatch``), InvalidInput
    (2), Conflict (4, ``port_in_use``), ProviderError (5), CredentialsRejected (6), NotFound (3).
    """
    org_id = org_id_of(db, org_ref)  # before any browser: an unknown organization fails at once
    with open_client(settings) as client:
        if token is not None:
            try:
                grant = grant_from_static_token(client, _static_token(token))
            except CredentialsRejected as exc:
                raise CredentialsRejected(exc.message, hint=TOKEN_REFUSED_HINT, code=exc.code) from None
            method = "token"
        else:
            app = oauth(settings, client, needed_for="connecting HubSpot with OAuth")
            mode = "paste" if no_browser else browser_mode(env)
            tls = _tls_for(settings, notify=notify) if mode == "browser" else None
            wait = settings.oauth_timeout if timeout is None else timeout
            grant = obtain_grant(
                app, no_browser=mode == "paste", timeout=wait, tls=tls, env=env, notify=notify, read_pasted=read_pasted
            )
            method = "oauth"
    before = integrations.get(db, org_id=org_id, provider=PROVIDER)
    saved = integrations.save_grant(db, vault, org_id=org_id, provider=PROVIDER, grant=grant)
    dropped, forgotten = False, 0
    if before is not None and before["account_id"] != saved["account_id"]:
        dropped = drop_auto_sync(db, org_id)
        forgotten = links.forget(db, org_id=org_id, provider=PROVIDER)
    return {
        **view(saved),
        "method": method,
        "released_jobs": saved["released_jobs"],
        "auto_sync_dropped": dropped,
        "links_dropped": forgotten,
    }


def status(db: Database, vault: Vault, settings: Settings, *, org_ref: str) -> dict[str, Any]:
    """The stored connection and a live check (account details with its token).

    Returns the connection view read *after* the check (which may have refreshed the token or
    put the connection in state ``error``) and ``check``: ``{"ok": true, "at", "error": null}``
    or ``{"ok": false, "at", "error": {code, message, hint}}`` when HubSpot refused or could not
    be reached (``status`` shows a broken connection; ``test`` fails on it). Raises NotFound (3).
    """
    org_id, _ = connection(db, org_ref)
    checked_at = iso(utcnow())
    try:
        with open_client(settings) as client:
            with_token(db, vault, settings, org_id, client, client.account)
        check: dict[str, Any] = {"ok": True, "at": checked_at, "error": None}
    except (CredentialsRejected, ProviderError) as exc:
        check = {"ok": False, "at": checked_at, "error": exc.to_dict()}
    _, shown = connection(db, org_id)
    return {**view(shown), "check": check}


def test(db: Database, vault: Vault, settings: Settings, *, org_ref: str) -> dict[str, Any]:
    """Check that HubSpot accepts the stored token: account details (one refresh-and-retry) and,
    for an OAuth connection, the token's scopes by introspection.

    Returns ``{"ok": true, "hub_id", "ui_domain", "time_zone", "account_type", "scopes",
    "missing_scopes"}`` (``missing_scopes``: the ``HUBSPOT_SCOPES`` the token lacks; empty when
    HubSpot did not say, as for a service key). Raises NotFound (3), CredentialsRejected (6:
    refused; the connection is then in state ``error``), ProviderError (5), ConfigError (6).
    """
    org_id, shown = connection(db, org_ref)
    static = bool((shown.get("details") or {}).get("static"))
    with open_client(settings) as client:
        account = with_token(db, vault, settings, org_id, client, client.account)
        scopes: list[str] = list(shown.get("scopes") or [])
        if not static and settings.hubspot_client_id and settings.hubspot_client_secret:
            app = oauth(settings, client, needed_for="checking the token's scopes")
            info = with_token(db, vault, settings, org_id, client, app.introspect)
            scopes = list(info["scopes"]) or scopes
    missing = [s for s in scopes_setting(settings) if s not in scopes] if scopes else []
    return {
        "ok": True,
        "hub_id": account["hub_id"],
        "ui_domain": account["ui_domain"],
        "time_zone": account["time_zone"],
        "account_type": account["account_type"],
        "token_kind": "static" if static else "oauth",
        "scopes": scopes,
        "missing_scopes": missing,
    }


def disconnect(db: Database, vault: Vault, settings: Settings, *, org_ref: str) -> dict[str, Any]:
    """Revoke the refresh token at HubSpot and delete the stored connection, its auto-sync
    rule and its links.

    ``POST /oauth/{version}/token/revoke`` with the refresh token (needs ``HUBSPOT_CLIENT_ID`` /
    ``HUBSPOT_CLIENT_SECRET``, checked before anything is done); a token HubSpot already refuses
    counts as revoked. A static token (service key, private-app token) has nothing to revoke
    here: it is managed in HubSpot. After an OAuth connection the app stays installed in the
    account (``uninstall``: what to do about that; None for a static token, which belongs to no
    app). The links are dropped because their external keys find the objects again after a
    re-connect to the same portal.

    Returns ``{"provider", "hub_id", "revoked", "already_invalid", "static", "deleted",
    "auto_sync_dropped", "links_dropped", "uninstall"}``. Raises NotFound (3), ConfigError (6),
    ProviderError (5: HubSpot unreachable; nothing is deleted then, run it again).
    """
    org_id, shown = connection(db, org_ref)
    tokens = integrations.stored_tokens(db, vault, org_id=org_id, provider=PROVIDER)
    revoked = already_invalid = False
    if tokens.refresh_token:
        # --token-stdin is no way around them here: the stored refresh token is revoked first.
        credentials = app_credentials(settings, needed_for="revoking the HubSpot refresh token", instead=None)
        del credentials  # checked first: nothing is deleted when the revoke cannot be made
        with open_client(settings) as client:
            app = oauth(settings, client, needed_for="revoking the HubSpot refresh token")
            try:
                app.revoke(tokens.refresh_token)
                revoked = True
            except CredentialsRejected:
                already_invalid = True
    dropped = drop_auto_sync(db, org_id)
    forgotten = links.forget(db, org_id=org_id, provider=PROVIDER)
    deleted = integrations.delete(db, org_id=org_id, provider=PROVIDER)
    return {
        "provider": PROVIDER,
        "hub_id": shown["account_id"],
        "revoked": revoked,
        "already_invalid": already_invalid,
        "static": not tokens.refresh_token,
        "deleted": deleted,
        "auto_sync_dropped": dropped,
        "links_dropped": forgotten,
        "uninstall": UNINSTALL_NOTE if tokens.refresh_token else None,
    }
