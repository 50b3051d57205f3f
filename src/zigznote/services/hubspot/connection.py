"""Connecting and disconnecting HubSpot, and checking the connection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zigznote.errors import CredentialsRejected, InvalidInput
from zigznote.integrations.hubspot.oauth import grant_from_static_token
from zigznote.services import integrations
from zigznote.services.hubspot import links
from zigznote.services.hubspot._common import APP, PROVIDER, connection, oauth, open_client, with_token
from zigznote.services.integrations import common

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
#: What `hubspot connect` says after generating the certificate of an https callback.
GENERATED_CERTIFICATE = (
    "Generated a self-signed certificate for the https://localhost callback: {cert}. Your browser will warn "
    "once; an http://localhost redirect (which HubSpot accepts) needs no certificate."
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
    account = {
        "hub_id": shown.get("account_id"),
        "hub_domain": shown.get("account_name") or details.get("hub_domain"),
        "token_kind": "static" if details.get("static") else "oauth",
        "user": details.get("user_email"),
    }
    chosen = {
        "auto_sync": bool(settings.get("auto_sync")),
        "create_contacts": bool(settings.get("create_contacts")),
        "default_owner": settings.get("default_owner"),
    }
    return common.view(shown, account=account, settings=chosen)


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
    token: str | None,
    flow: common.OAuthFlow,
) -> dict[str, Any]:
    """Connect the organization's HubSpot portal and store its tokens (encrypted).

    ``token`` (``--token-stdin``): a service key or legacy private-app token, checked with the
    account details (no app credentials needed; it does not expire and is not refreshed).
    Otherwise OAuth through ``services.integrations.common.authorize`` with ``HubSpotOAuth``
    (``HUBSPOT_SCOPES``, redirect ``HUBSPOT_REDIRECT_URI``, http://localhost by default; an IP
    literal is warned about, HubSpot refuses it) and ``flow`` (stderr lines, the pasted
    redirect URL in paste mode, the environment, the timeout).

    Nothing is stored unless the whole flow succeeds; then ``save_grant`` stores the tokens and
    releases held ``hubspot.*`` jobs. A re-connect to another portal drops the auto-sync rule
    and the stored links (they name the old portal's objects).

    Returns the connection view plus ``method`` (``"oauth"``/``"token"``), ``released_jobs``,
    ``auto_sync_dropped``, ``links_dropped``. Raises ConfigError (6: ``hubspot_not_configured``,
    ``access_denied``, ``invalid_code`` …), SignatureInvalid (7, ``state_mismatch``), InvalidInput
    (2), Conflict (4, ``port_in_use``), ProviderError (5), CredentialsRejected (6), NotFound (3).
    """
    org_id = common.org_id_of(db, org_ref)  # before any browser: an unknown organization fails at once
    with open_client(settings) as client:
        if token is not None:
            try:
                grant = grant_from_static_token(client, _static_token(token))
            except CredentialsRejected as exc:
                raise CredentialsRejected(exc.message, hint=TOKEN_REFUSED_HINT, code=exc.code) from None
            method = "token"
        else:
            grant = common.authorize(
                oauth(settings, client, needed_for="connecting HubSpot with OAuth"),
                settings,
                flow,
                # An https redirect (HubSpot's usual one is http://localhost) gets a certificate.
                tls_for=lambda note: common.loopback_tls(
                    settings,
                    str(settings.hubspot_redirect_uri),
                    cert=None,
                    key=None,
                    note=note,
                    generated=(GENERATED_CERTIFICATE,),
                ),
            )
            method = "oauth"
    saved, moved = common.save_connection(db, vault, org_id=org_id, provider=PROVIDER, grant=grant)
    dropped, forgotten = False, 0
    if moved:
        dropped = common.drop_rule(db, org_id, APP)
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

    def check() -> dict[str, Any]:
        with open_client(settings) as client:
            return with_token(db, vault, settings, org_id, client, client.account)

    _, checked = common.live_check(check)
    _, shown = connection(db, org_id)
    return {**view(shown), "check": checked}


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
    missing = [s for s in common.scopes_setting(settings, APP) if s not in scopes] if scopes else []
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


def _still_valid(shown: dict[str, Any]) -> str:
    """What a local-only disconnect leaves valid at HubSpot, and how to end it there."""
    if (shown.get("details") or {}).get("static"):
        return "the static token stays valid at HubSpot: delete or rotate it in the HubSpot account's settings"
    return (
        "the HubSpot refresh token stays valid until the app is uninstalled from the account (Settings → "
        f"Integrations → Connected apps), and the access token until {shown.get('token_expires_at') or 'it expires'}"
    )


def disconnect(
    db: Database, vault: Vault, settings: Settings, *, org_ref: str, local_only: bool = False
) -> dict[str, Any]:
    """Revoke the refresh token at HubSpot and delete the stored connection, its auto-sync
    rule and its links.

    ``POST /oauth/{version}/token/revoke`` with the refresh token (needs ``HUBSPOT_CLIENT_ID`` /
    ``HUBSPOT_CLIENT_SECRET``, checked before anything is done); a token HubSpot already refuses
    counts as revoked. A static token (service key, private-app token) has nothing to revoke
    here: it is managed in HubSpot. After an OAuth connection the app stays installed in the
    account (``uninstall``: what to do about that; None for a static token, which belongs to no
    app). The links are dropped because their external keys find the objects again after a
    re-connect to the same portal. ``local_only``: delete without asking HubSpot anything (no
    token is decrypted); the tokens stay valid there, and ``still_valid`` says how to end them.

    Returns ``{"provider", "hub_id", "revoked", "already_invalid", "static", "deleted",
    "auto_sync_dropped", "links_dropped", "uninstall", "local_only", "still_valid"}``. Raises
    NotFound (3), ConfigError (6), ProviderError (5: HubSpot unreachable); after those nothing
    is deleted, and the hint names ``--local-only``.
    """
    org_id, shown = connection(db, org_ref)
    static = bool((shown.get("details") or {}).get("static"))
    revoked = already_invalid = False
    if not local_only:
        with common.offering_local_only(db, org_id, PROVIDER):
            tokens = integrations.stored_tokens(db, vault, org_id=org_id, provider=PROVIDER)
            static = not tokens.refresh_token
            if tokens.refresh_token:
                revoked, already_invalid = _revoke(settings, tokens.refresh_token)
    forgotten = links.forget(db, org_id=org_id, provider=PROVIDER)
    dropped, deleted = common.forget(db, org_id, APP)
    return {
        "provider": PROVIDER,
        "hub_id": shown["account_id"],
        "revoked": revoked,
        "already_invalid": already_invalid,
        "static": static,
        "deleted": deleted,
        "auto_sync_dropped": dropped,
        "links_dropped": forgotten,
        "uninstall": None if static else UNINSTALL_NOTE,
        "local_only": local_only,
        "still_valid": _still_valid(shown) if local_only else None,
    }


def _revoke(settings: Settings, refresh_token: str) -> tuple[bool, bool]:
    """Revoke ``refresh_token`` at HubSpot: ``(revoked, already_invalid)``. The app's
    credentials are checked first: nothing is deleted when the revoke cannot be made (and
    ``--token-stdin`` is no way around them here: the caller's hint offers ``--local-only``)."""
    with open_client(settings) as client:
        app = oauth(settings, client, needed_for="revoking the HubSpot refresh token", instead=None)
        try:
            app.revoke(refresh_token)
        except CredentialsRejected:
            return False, True
        return True, False
