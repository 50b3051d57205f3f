"""Connecting and disconnecting Slack, and checking the connection (``auth.test``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zigznote.errors import CredentialsRejected, InvalidInput
from zigznote.integrations.slack.client import SlackClient
from zigznote.integrations.slack.oauth import grant_from_bot_token
from zigznote.services.integrations import common
from zigznote.services.slack._common import APP, PROVIDER, connection, oauth, open_client, with_token

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.integrations.base import Grant
    from zigznote.store.engine import Database
    from zigznote.vault import Vault

#: Longest bot token accepted on stdin (Slack's are under 100 characters).
MAX_TOKEN_CHARS = 2000
#: What to do about a pasted token Slack refuses: "connect again" would only refuse it again.
TOKEN_REFUSED_HINT = (
    "check the token: copy the Bot User OAuth Token (xoxb-…) again from OAuth & Permissions in the Slack "
    "app settings (after a revoke or an uninstall, reinstall the app to the workspace first)"
)


def _view(shown: Mapping[str, Any]) -> dict[str, Any]:
    """The connection facts every Slack command shows (never a token)."""
    details = shown.get("details") or {}
    settings = shown.get("settings") or {}
    account = {
        "team": shown.get("account_name"),
        "team_id": shown.get("account_id"),
        "bot_user_id": details.get("bot_user_id"),
        "app_id": details.get("app_id"),
    }
    chosen = {
        "channel_id": settings.get("channel_id"),
        "channel_name": settings.get("channel_name"),
        "auto_send": bool(settings.get("auto_send")),
    }
    return common.view(shown, account=account, settings=chosen)


#: What `slack connect` says after generating the https callback's certificate.
GENERATED_CERTIFICATE = (
    "Generated a self-signed certificate for the https://localhost callback: {cert} (reused from now on). Your "
    "browser will warn once that the connection is not private: choose to proceed to localhost to finish connecting.",
    "To avoid the warning, trust that certificate in your browser or system store, or make a trusted one with "
    "mkcert (`mkcert -install && mkcert localhost 127.0.0.1 ::1`) and pass it with --tls-cert/--tls-key (or "
    "ZIGZNOTE_TLS_CERT/ZIGZNOTE_TLS_KEY).",
)


def connect(
    db: Database,
    vault: Vault,
    settings: Settings,
    *,
    org_ref: str,
    token: str | None,
    flow: common.OAuthFlow,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> dict[str, Any]:
    """Connect the organization's Slack workspace and store the bot token (encrypted).

    ``token`` (``--token-stdin``): a bot token installed from the app's settings, checked with
    ``auth.test`` (https://docs.slack.dev/reference/methods/auth.test); no app credentials needed.
    Otherwise the OAuth v2 flow (https://docs.slack.dev/authentication/installing-with-oauth)
    through ``services.integrations.common.authorize`` with ``flow`` (stderr lines, the pasted
    redirect URL in paste mode, the environment, the timeout). An https ``SLACK_REDIRECT_URI``
    is served with ``tls_cert``/``tls_key`` (else ``ZIGZNOTE_TLS_CERT``/``_KEY``, else a
    generated self-signed localhost certificate); an http one is warned about (Slack refuses it).

    Nothing is stored unless the whole flow succeeds; then ``services.integrations.save_grant``
    stores the tokens and releases held ``slack.*`` jobs. A re-connect to another workspace
    drops the auto-send rule (its channel belongs to the old workspace).

    Returns the connection view (team, team_id, bot_user_id, scopes, token_expires_at, …) plus
    ``method`` (``"oauth"`` / ``"token"``), ``released_jobs`` and ``auto_send_dropped``. Raises
    ConfigError (6: ``slack_not_configured``, ``access_denied``, Slack's ``invalid_code`` …),
    SignatureInvalid (7, ``state_mismatch``), InvalidInput (2: ``missing_code``, an empty or
    non-bot token), Conflict (4, ``port_in_use``), ProviderError (5: ``authorization_timeout``,
    network), CredentialsRejected (6, a refused token), NotFound (3, organization).
    """
    org_id = common.org_id_of(db, org_ref)  # before any browser: an unknown organization fails at once
    with open_client(settings) as client:
        if token is not None:
            grant, method = _grant_from_token(client, token), "token"
        else:
            grant = common.authorize(
                oauth(settings, client, needed_for="connecting Slack with OAuth"),
                settings,
                flow,
                tls_for=lambda note: common.loopback_tls(
                    settings,
                    str(settings.slack_redirect_uri),
                    cert=tls_cert,
                    key=tls_key,
                    note=note,
                    generated=GENERATED_CERTIFICATE,
                ),
            )
            method = "oauth"
    saved, moved = common.save_connection(db, vault, org_id=org_id, provider=PROVIDER, grant=grant)
    dropped = common.drop_rule(db, org_id, APP) if moved else False
    return {**_view(saved), "method": method, "released_jobs": saved["released_jobs"], "auto_send_dropped": dropped}


def _grant_from_token(client: SlackClient, token: str) -> Grant:
    """The grant of a pasted bot token, refusing (without quoting it) text that cannot be one."""
    text = token.strip()
    if not text:
        raise InvalidInput(
            "no Slack token on stdin",
            hint="pipe the Bot User OAuth Token (xoxb-…) from OAuth & Permissions in the Slack app settings",
            code="missing_token",
        )
    if len(text) > MAX_TOKEN_CHARS or any(c.isspace() for c in text):
        # Never quote it: it may be a real token with a stray character.
        raise InvalidInput(
            "the text on stdin is not a Slack token (too long, or holding spaces or line breaks)",
            hint='pipe only the token, e.g. `printf %s "$SLACK_BOT_TOKEN" | zigznote slack connect --token-stdin`',
            code="invalid_token",
        )
    try:
        return grant_from_bot_token(client, text)
    except CredentialsRejected as exc:
        raise CredentialsRejected(exc.message, hint=TOKEN_REFUSED_HINT, code=exc.code) from None


def status(db: Database, vault: Vault, settings: Settings, *, org_ref: str) -> dict[str, Any]:
    """The stored connection and a live ``auth.test`` with its token.

    Returns the connection view (team, team_id, bot_user_id, scopes, token_expires_at,
    refreshable, channel, auto_send, last_error …) read *after* the check (which may have
    refreshed the token or put the connection in state ``error``), ``bot_user`` (the bot's name
    from auth.test) and ``check``: ``{"ok": true, "at"}``, or ``{"ok": false, "at", "error":
    {code, message, hint}}`` when Slack refused or could not be reached: ``status`` shows a
    broken connection rather than failing on it (``test`` fails). Raises NotFound (3,
    ``not_connected``), VaultError/ConfigError (6).
    """
    org_id, _ = connection(db, org_ref)

    def check() -> dict[str, Any]:
        with open_client(settings) as client:
            return with_token(db, vault, settings, org_id, client, client.auth_test)

    who, checked = common.live_check(check)
    _, shown = connection(db, org_id)
    return {**_view(shown), "bot_user": who["user"] if who else None, "check": checked}


def test(db: Database, vault: Vault, settings: Settings, *, org_ref: str) -> dict[str, Any]:
    """Check that Slack accepts the stored token (``auth.test``, one refresh-and-retry).

    Returns ``{"ok": true, "team", "team_id", "bot_user", "bot_user_id", "url", "scopes",
    "missing_scopes"}``: ``scopes`` as Slack reports them (``X-OAuth-Scopes``), and the
    ``SLACK_SCOPES`` the token lacks (empty when Slack did not say). Raises NotFound (3),
    CredentialsRejected (6: refused; the connection is then in state ``error``),
    ProviderError (5).
    """
    org_id, _ = connection(db, org_ref)
    with open_client(settings) as client:
        who = with_token(db, vault, settings, org_id, client, client.auth_test)
    scopes = list(who["scopes"])
    missing = [s for s in common.scopes_setting(settings, APP) if s not in scopes] if scopes else []
    return {
        "ok": True,
        "team": who["team"],
        "team_id": who["team_id"],
        "bot_user": who["user"],
        "bot_user_id": who["user_id"],
        "url": who["url"],
        "scopes": scopes,
        "missing_scopes": missing,
    }


#: How to end a token at Slack without zigznote (``disconnect --local-only``).
REVOKE_AT_SLACK = (
    "remove the app from the workspace (Manage apps in the workspace settings) or revoke its tokens "
    "under OAuth & Permissions in the Slack app settings"
)


def _still_valid(shown: dict[str, Any]) -> str:
    """What a local-only disconnect leaves valid at Slack, and how to end it there."""
    if shown.get("refreshable"):
        return (
            f"the Slack access token stays valid until {shown.get('token_expires_at') or 'it expires'} and its "
            f"refresh token until it is revoked at Slack: {REVOKE_AT_SLACK}"
        )
    return f"the Slack bot token stays valid until it is revoked at Slack: {REVOKE_AT_SLACK}"


def disconnect(
    db: Database, vault: Vault, settings: Settings, *, org_ref: str, uninstall: bool, local_only: bool = False
) -> dict[str, Any]:
    """Revoke the token at Slack and delete the stored connection (and the auto-send rule).

    ``auth.revoke`` (https://docs.slack.dev/reference/methods/auth.revoke) with the current token
    (refreshed first if it expired); a token Slack already refuses counts as revoked. With
    ``uninstall``, ``apps.uninstall`` (https://docs.slack.dev/reference/methods/apps.uninstall)
    instead, which removes the app from the workspace and revokes all its tokens; it needs
    ``SLACK_CLIENT_ID``/``SLACK_CLIENT_SECRET`` (checked before anything is done).
    ``local_only``: delete without asking Slack anything (no token is decrypted); the token
    stays valid at Slack, and ``still_valid`` says until when and how to end it there.

    Returns ``{"provider", "team", "team_id", "revoked", "already_invalid", "uninstalled":
    bool | None, "deleted": true, "auto_send_dropped", "local_only", "still_valid": str | None}``
    (``uninstalled`` false: the token no longer worked, so the app could not be uninstalled
    with it). Raises NotFound (3, ``not_connected``), InvalidInput (2, ``uninstall`` with
    ``local_only``), ConfigError (6), ProviderError (5: Slack unreachable; nothing is deleted
    then, and the hint names ``--local-only``).
    """
    if uninstall and local_only:
        raise InvalidInput(
            "--uninstall asks Slack to remove the app, --local-only asks Slack nothing: choose one",
            code="usage_error",
        )
    org_id, shown = connection(db, org_ref)
    # Checked first, outside the --local-only offer: a plain disconnect needs no credentials.
    credentials = (
        common.app_credentials(
            settings,
            APP,
            needed_for="uninstalling the Slack app",
            instead="or run `slack disconnect` without --uninstall to revoke only this token",
        )
        if uninstall
        else None
    )
    already_invalid = False
    uninstalled: bool | None = None
    if not local_only:
        with common.offering_local_only(db, org_id, PROVIDER):
            already_invalid, uninstalled = _revoke(db, vault, settings, org_id, credentials=credentials)
    dropped, deleted = common.forget(db, org_id, APP)
    return {
        "provider": PROVIDER,
        "team": shown["account_name"],
        "team_id": shown["account_id"],
        "revoked": not local_only,
        "already_invalid": already_invalid,
        "uninstalled": uninstalled,
        "deleted": deleted,
        "auto_send_dropped": dropped,
        "local_only": local_only,
        "still_valid": _still_valid(shown) if local_only else None,
    }


def _revoke(
    db: Database, vault: Vault, settings: Settings, org_id: str, *, credentials: tuple[str, str] | None
) -> tuple[bool, bool | None]:
    """``auth.revoke``, or ``apps.uninstall`` with the app's ``credentials``:
    ``(already_invalid, uninstalled)``."""
    with open_client(settings) as client:
        try:
            if credentials is None:
                with_token(db, vault, settings, org_id, client, client.revoke)
                return False, None
            client_id, secret = credentials
            with_token(
                db,
                vault,
                settings,
                org_id,
                client,
                lambda token: client.uninstall(token, client_id=client_id, client_secret=secret),
            )
            return False, True
        except CredentialsRejected:
            # Revoked, expired beyond refresh, or the app was removed in Slack: nothing left to revoke.
            return True, False if credentials is not None else None
