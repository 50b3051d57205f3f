"""Slack's ``{"ok": false, "error": ...}`` answers as zigznote errors (one table, one function).

Error codes and their meanings come from the method pages of the Slack reference
(https://docs.slack.dev/reference/methods/ — chat.postMessage, conversations.list, auth.test,
auth.revoke, apps.uninstall, oauth.v2.access) and the token rotation guide
(https://docs.slack.dev/authentication/using-token-rotation). Everything Slack sends is
untrusted: codes are used as codes only when they look like codes, other strings are made
storable and bounded before they enter a message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from zigznote.errors import ConfigError, Conflict, CredentialsRejected, InvalidInput, NotFound, ProviderError
from zigznote.untrusted import storable_text

__all__ = ["RECONNECT_HINT", "scopes_from", "slack_error", "text_field"]

RECONNECT_HINT = "run `zigznote slack connect` again"

_SCOPE_LIST_RE = re.compile(r"[A-Za-z0-9:._-]+(?:,[A-Za-z0-9:._-]+)*")


def text_field(value: Any, max_chars: int = 255) -> str | None:
    """A string field of a Slack answer, made storable and bounded; anything else is None."""
    return storable_text(value, max_chars=max_chars) if isinstance(value, str) else None


def scopes_from(value: Any) -> tuple[str, ...]:
    """Scopes from a comma-separated Slack scope string (``"chat:write,channels:read"``, as in
    ``oauth.v2.access``'s ``scope`` and the ``X-OAuth-Scopes`` header); malformed → ``()``."""
    if not isinstance(value, str) or len(value) > 4000:
        return ()
    text = value.replace(" ", "")
    return tuple(text.split(",")) if _SCOPE_LIST_RE.fullmatch(text) else ()


_ERROR_CODE_RE = re.compile(r"[a-z0-9_]{1,64}")
# The token no longer works (https://docs.slack.dev/reference/methods/auth.test, common errors);
# on oauth.v2.access, the refresh token was refused (rotation revokes the previous one).
_CREDENTIALS = {
    "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
    "invalid_refresh_token", "invalid_grant", "no_refresh_token",
}  # fmt: skip
# oauth.v2.access / apps.uninstall refusing the app's own settings or a stale code
# (https://docs.slack.dev/reference/methods/oauth.v2.access).
_OAUTH_SETTINGS = {
    "invalid_client_id": "check SLACK_CLIENT_ID (Basic Information page of the Slack app)",
    "invalid_client": "check SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (Basic Information page of the Slack app)",
    "bad_client_secret": "check SLACK_CLIENT_SECRET (Basic Information page of the Slack app)",
    "client_id_token_mismatch": "the token belongs to another Slack app than SLACK_CLIENT_ID",
    "invalid_code": "the authorization code expired or was already used; " + RECONNECT_HINT,
    "bad_redirect_uri": "SLACK_REDIRECT_URI must equal a redirect URL registered under OAuth & Permissions",
    "oauth_authorization_url_mismatch": "use the v2 authorize URL (https://slack.com/oauth/v2/authorize)",
    "invalid_grant_type": "this Slack app does not accept that grant; is token rotation on?",
    "invalid_scope": "check the requested scopes against the Slack app's settings",
    "unapproved_app": "a workspace admin must approve the Slack app first",
}
# The payload itself is wrong: sending it again cannot help.
_PAYLOAD = {
    "invalid_blocks",
    "invalid_blocks_format",
    "msg_blocks_too_long",
    "msg_too_long",
    "no_text",
    "too_many_attachments",
}
_SERVICE = {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org"}
_CHANNEL_HINT = "check the channel ID with `zigznote slack channels`; a private channel must invite the app first"
_INVITE_HINT = (
    "invite the bot: /invite @<bot> in the channel, "
    "or add the chat:write.public scope in the Slack app settings and connect again"
)


def _scope_text(value: Any) -> str | None:
    scopes = scopes_from(value)
    if scopes:
        return ",".join(scopes)
    return text_field(value, 200)


def slack_error(method: str, body: Mapping[str, Any], *, about: str | None = None) -> Exception:
    """The zigznote error for an ``{"ok": false, "error": ...}`` answer to ``method``.

    ``about`` names the target in messages ("channel C123"). Token refused
    (``invalid_auth``, ``token_revoked``, ``token_expired``, ``account_inactive``,
    ``not_authed``, ``invalid_refresh_token``, ``invalid_grant``) → CredentialsRejected (6);
    ``not_in_channel`` / ``is_archived`` → Conflict (4); ``channel_not_found`` → NotFound (3);
    ``missing_scope`` → ConfigError (6) naming ``needed``; the app's OAuth settings
    (``bad_client_secret``, ``invalid_code``, ``bad_redirect_uri`` …) → ConfigError (6, code =
    Slack's); a bad payload (``invalid_blocks``, ``msg_blocks_too_long``, ``msg_too_long``,
    ``no_text``) → InvalidInput (2); anything else → ProviderError (5), code ``slack_<error>``
    (``slack_error`` when the error is not a plain code). Slack's strings are made storable and
    bounded before they enter a message.
    """
    raw = body.get("error")
    error = raw if isinstance(raw, str) else ""
    plain = bool(_ERROR_CODE_RE.fullmatch(error))
    shown = error if plain else repr(storable_text(error, max_chars=100))
    target = f" ({about})" if about else ""
    if error in _CREDENTIALS:
        # On the token endpoint the credential sent is the refresh token; elsewhere the access token.
        refresh = method == "oauth.v2.access" or error in ("invalid_refresh_token", "invalid_grant", "no_refresh_token")
        token = "refresh token" if refresh else "access token"
        return CredentialsRejected(f"Slack refused the {token} ({method}: {error})", provider="slack")
    if error == "not_in_channel":
        return Conflict(f"the Slack app is not a member of the channel{target}", hint=_INVITE_HINT, code=error)
    if error in ("is_archived", "channel_is_archived"):
        return Conflict(
            f"the Slack channel is archived{target}",
            hint="choose another channel with `zigznote slack settings --channel`",
            code="is_archived",
        )
    if error == "channel_not_found":
        return NotFound(
            f"Slack cannot find the channel{target}, or the app cannot see it", hint=_CHANNEL_HINT, code=error
        )
    if error == "missing_scope":
        needed = _scope_text(body.get("needed")) or "(Slack did not say which)"
        provided = _scope_text(body.get("provided"))
        has = f"; the token has: {provided}" if provided else ""
        return ConfigError(
            f"the Slack token lacks the scope {needed} needed by {method}{has}",
            hint=f"add {needed} under OAuth & Permissions in the Slack app settings, then {RECONNECT_HINT}",
            code=error,
        )
    if error in _OAUTH_SETTINGS:
        return ConfigError(f"Slack refused {method}: {error}", hint=_OAUTH_SETTINGS[error], code=error)
    if error in _PAYLOAD:
        details = body.get("errors")
        detail = ""
        if isinstance(details, list):
            texts = [t for t in (text_field(d, 300) for d in details[:3]) if t]
            detail = f" ({'; '.join(texts)})" if texts else ""
        return InvalidInput(f"Slack refused the message for {method}{target}: {error}{detail}", code=error)
    hint = "Slack has a problem; try again later" if error in _SERVICE else None
    return ProviderError(
        f"Slack refused {method}{target}: {shown or '(no error code)'}",
        hint=hint,
        code=f"slack_{error}" if plain else "slack_error",
    )
