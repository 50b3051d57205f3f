"""Connecting and disconnecting Slack, and checking the connection (``auth.test``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zigznote.config import data_dir
from zigznote.errors import CredentialsRejected, InvalidInput, ProviderError
from zigznote.integrations.browser import browser_mode
from zigznote.integrations.connect import obtain_grant
from zigznote.integrations.loopback import callback_target
from zigznote.integrations.slack.client import SlackClient
from zigznote.integrations.slack.oauth import grant_from_bot_token
from zigznote.integrations.tls import TlsFiles, localhost_tls
from zigznote.services import integrations
from zigznote.services.slack._common import (
    PROVIDER,
    app_credentials,
    connection,
    drop_auto_send,
    oauth,
    open_client,
    org_id_of,
    scopes_setting,
    with_token,
)
from zigznote.timeutil import iso, utcnow

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
    return {
        "provider": PROVIDER,
        "status": shown.get("status"),
        "team": shown.get("account_name"),
        "team_id": shown.get("account_id"),
        "bot_user_id": details.get("bot_user_id"),
        "app_id": details.get("app_id"),
        "scopes": list(shown.get("scopes") or []),
        "token_expires_at": shown.get("token_expires_at"),
        "refreshable": shown.get("refreshable"),
        "channel_id": settings.get("channel_id"),
        "channel_name": settings.get("channel_name"),
        "auto_send": bool(settings.get("auto_send")),
        "last_error": shown.get("last_error"),
        "last_error_at": shown.get("last_error_at"),
        "connected_at": shown.get("connected_at"),
        "refreshed_at": shown.get("refreshed_at"),
    }


def _tls_for(
    settings: Settings, *, cert: Path | None, key: Path | None, notify: Callable[[str], None]
) -> TlsFiles | None:
    """The certificate of an https loopback redirect (None for http). Says on stderr, when it
    was generated just now, that the browser will warn once and how to avoid that."""
    # The redirect must be one this machine can serve before anything is generated for it.
    if callback_target(str(settings.slack_redirect_uri)).scheme != "https":
        return None
    cert = cert or (Path(settings.tls_cert) if settings.tls_cert else None)
    key = key or (Path(settings.tls_key) if settings.tls_key else None)
    files, generated = localhost_tls(data_dir(settings.env), cert=cert, key=key)
    if generated:
        notify(
            f"Generated a self-signed certificate for the https://localhost callback: {files.cert} "
            "(reused from now on). Your browser will warn once that the connection is not private: "
            "choose to proceed to localhost to finish connecting."
        )
        notify(
            "To avoid the warning, trust that certificate in your browser or system store, or make a "
            "trusted one with mkcert (`mkcert -install && mkcert localhost 127.0.0.1 ::1`) and pass it "
            "with --tls-cert/--tls-key (or ZIGZNOTE_TLS_CERT/ZIGZNOTE_TLS_KEY)."
        )
    return files


def _after_url(notify: Callable[[str], None], notes: list[str]) -> Callable[[str], None]:
    """``notify``, with ``notes`` said right after the authorize URL (``obtain_grant``'s first two
    lines are the introduction and the URL) and before the browser opens."""
    said = 0

    def say(line: str) -> None:
        nonlocal said
        notify(line)
        said += 1
        if said == 2:
            for note in notes:
                notify(note)

    return say


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
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Connect the organization's Slack workspace and store the bot token (encrypted).

    ``token`` (``--token-stdin``): a bot token installed from the app's settings, checked with
    ``auth.test`` (https://docs.slack.dev/reference/methods/auth.test); no app credentials needed.
    Otherwise the OAuth v2 flow (https://docs.slack.dev/authentication/installing-with-oauth)
    through ``integrations.connect.obtain_grant``: ``notify`` gets the stderr lines (the
    authorize URL first), ``read_pasted(prompt)`` the pasted redirect URL in paste mode
    (``no_browser``, or no graphical browser in ``env``). An https ``SLACK_REDIRECT_URI`` is
    served with ``tls_cert``/``tls_key`` (else ``ZIGZNOTE_TLS_CERT``/``_KEY``, else a generated
    self-signed localhost certificate). ``timeout``: seconds to wait for the redirect (default
    ``ZIGZNOTE_OAUTH_TIMEOUT``).

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
    org_id = org_id_of(db, org_ref)  # before any browser: an unknown organization fails at once
    with open_client(settings) as client:
        if token is not None:
            grant = _grant_from_token(client, token)
            method = "token"
        else:
            app = oauth(settings, client, needed_for="connecting Slack with OAuth")
            mode = "paste" if no_browser else browser_mode(env)
            # Paste mode runs no local server, so it needs no certificate. What the command says
            # about a generated certificate waits until the authorize URL is out: the URL comes first.
            notes: list[str] = []
            tls = _tls_for(settings, cert=tls_cert, key=tls_key, notify=notes.append) if mode == "browser" else None
            wait = settings.oauth_timeout if timeout is None else timeout
            grant = obtain_grant(
                app,
                no_browser=mode == "paste",
                timeout=wait,
                tls=tls,
                env=env,
                notify=_after_url(notify, notes),
                read_pasted=read_pasted,
            )
            method = "oauth"
    before = integrations.get(db, org_id=org_id, provider=PROVIDER)
    saved = integrations.save_grant(db, vault, org_id=org_id, provider=PROVIDER, grant=grant)
    dropped = False
    if before is not None and before["account_id"] != saved["account_id"]:
        dropped = drop_auto_send(db, org_id)
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
    bot_user = None
    checked_at = iso(utcnow())
    try:
        with open_client(settings) as client:
            who = with_token(db, vault, settings, org_id, client, client.auth_test)
        bot_user = who["user"]
        check: dict[str, Any] = {"ok": True, "at": checked_at, "error": None}
    except (CredentialsRejected, ProviderError) as exc:
        check = {"ok": False, "at": checked_at, "error": exc.to_dict()}
    _, shown = connection(db, org_id)
    return {**_view(shown), "bot_user": bot_user, "check": check}


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
    missing = [s for s in scopes_setting(settings) if s not in scopes] if scopes else []
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


def disconnect(db: Database, vault: Vault, settings: Settings, *, org_ref: str, uninstall: bool) -> dict[str, Any]:
    """Revoke the token at Slack and delete the stored connection (and the auto-send rule).

    ``auth.revoke`` (https://docs.slack.dev/reference/methods/auth.revoke) with the current token
    (refreshed first if it expired); a token Slack already refuses counts as revoked. With
    ``uninstall``, ``apps.uninstall`` (https://docs.slack.dev/reference/methods/apps.uninstall)
    instead, which removes the app from the workspace and revokes all its tokens; it needs
    ``SLACK_CLIENT_ID``/``SLACK_CLIENT_SECRET`` (checked before anything is done).

    Returns ``{"provider", "team", "team_id", "revoked": true, "already_invalid": bool,
    "uninstalled": bool | None, "deleted": true, "auto_send_dropped": bool}``
    (``uninstalled`` false: the token no longer worked, so the app could not be uninstalled
    with it). Raises NotFound (3, ``not_connected``), ConfigError (6), ProviderError (5:
    Slack unreachable; nothing is deleted then, run it again).
    """
    org_id, shown = connection(db, org_ref)
    credentials = (
        app_credentials(
            settings,
            needed_for="uninstalling the Slack app",
            instead="or run `slack disconnect` without --uninstall to revoke only this token",
        )
        if uninstall
        else None
    )
    already_invalid = False
    uninstalled: bool | None = None
    with open_client(settings) as client:
        try:
            if credentials is not None:
                client_id, secret = credentials
                with_token(
                    db,
                    vault,
                    settings,
                    org_id,
                    client,
                    lambda token: client.uninstall(token, client_id=client_id, client_secret=secret),
                )
                uninstalled = True
            else:
                with_token(db, vault, settings, org_id, client, client.revoke)
        except CredentialsRejected:
            # Revoked, expired beyond refresh, or the app was removed in Slack: nothing left to revoke.
            already_invalid = True
            uninstalled = False if credentials is not None else None
    dropped = drop_auto_send(db, org_id)
    deleted = integrations.delete(db, org_id=org_id, provider=PROVIDER)
    return {
        "provider": PROVIDER,
        "team": shown["account_name"],
        "team_id": shown["account_id"],
        "revoked": True,
        "already_invalid": already_invalid,
        "uninstalled": uninstalled,
        "deleted": deleted,
        "auto_send_dropped": dropped,
    }
