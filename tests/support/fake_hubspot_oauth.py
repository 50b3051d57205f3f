"""The OAuth endpoints of :class:`tests.support.fake_hubspot.FakeHubSpot`: the authorize page
and the dated token, introspection and revoke endpoints
(developers.hubspot.com/docs/api-reference/latest/authentication/manage-oauth-tokens; the
authorize parameters and the localhost rule from …/apps/developer-platform/build-apps/
authentication/oauth/working-with-oauth). Errors are RFC 6749 section 5.2 bodies with HubSpot's
own fields beside them. Same calling convention as :mod:`tests.support.fake_hubspot_api`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from tests.support.fake_hubspot_api import HubRequest, Reply

if TYPE_CHECKING:
    from tests.support.fake_hubspot import FakeHubSpot

CODE_TTL = 300.0  # seconds an authorization code may wait for its exchange


def oauth_refusal(status: int, error: str, description: str, legacy: str | None = None) -> Reply:
    """RFC 6749 section 5.2 errors, with HubSpot's own fields beside them."""
    body: dict[str, Any] = {"error": error, "error_description": description, "message": description}
    if legacy:
        body["status"] = legacy
    body["correlationId"] = secrets.token_hex(8)
    return Reply(body, status)


def authorize(fake: FakeHubSpot, req: HubRequest) -> Reply:
    """GET /oauth/authorize: checks, then a 302 back to the redirect URI (or an error page).
    HubSpot accepts ``http://localhost`` redirects and refuses IP literals."""
    q = req.query
    redirect = q.get("redirect_uri", "")
    host = urlsplit(redirect).hostname or ""
    problem = None
    if q.get("client_id") != fake.client_id:
        problem = "unknown client_id"
    elif not redirect or (fake.redirect_uris is not None and redirect not in fake.redirect_uris):
        problem = "redirect_uri does not match the app"
    elif re.fullmatch(r"[0-9.]+|\[?[0-9a-fA-F:]+\]?", host):
        problem = "redirect_uri must not be an IP address (use localhost)"
    elif urlsplit(redirect).scheme == "http" and host != "localhost":
        problem = "http redirect_uri is only allowed for localhost"
    elif not q.get("scope"):
        problem = "missing scope"
    if problem:  # an error page; never a redirect to an unchecked URI
        return Reply({"_html": f"<html><body><h1>Authorization error</h1><p>{problem}</p></body></html>"}, 400)
    asked = tuple(q["scope"].split())
    granted = tuple(fake.grant_scopes) if fake.grant_scopes is not None else asked
    params = {"state": q.get("state", "")}
    if fake.authorize == "deny":
        params = {"error": "access_denied", "error_description": "the user denied access", **params}
    else:
        code = secrets.token_urlsafe(24)
        challenge = q.get("code_challenge") if q.get("code_challenge_method") == "S256" else None
        fake.codes[code] = (redirect, granted, fake.clock(), challenge)
        params = {"code": code, **params}
    sep = "&" if urlsplit(redirect).query else "?"
    return Reply({"_location": redirect + sep + urlencode(params)}, 302)


def _client(fake: FakeHubSpot, req: HubRequest) -> None:
    """Client credentials must be in the form body (the dated endpoints refuse the query)."""
    if "client_secret" in req.query or "refresh_token" in req.query or "code" in req.query:
        raise oauth_refusal(400, "invalid_request", "credentials must be sent in the request body")
    if req.form.get("client_id") != fake.client_id or req.form.get("client_secret") != fake.client_secret:
        raise oauth_refusal(401, "invalid_client", "client authentication failed", "BAD_CLIENT_ID")


def token(fake: FakeHubSpot, req: HubRequest) -> tuple[int, dict[str, Any]]:
    """POST /oauth/{version}/token: code exchange (single-use code, same redirect URI, PKCE
    verifier when a challenge was given) or refresh (with ``rotation`` the old refresh token
    is spent)."""
    _client(fake, req)
    grant = req.form.get("grant_type")
    if grant == "refresh_token":
        old = req.form.get("refresh_token", "")
        scopes = fake.refresh_tokens.get(old)
        if scopes is None:
            raise oauth_refusal(
                400, "invalid_grant", "refresh token is invalid, expired or revoked", "BAD_REFRESH_TOKEN"
            )
        if fake.rotation:
            fake.refresh_tokens[old] = None
            return 200, fake.mint(scopes)
        return 200, fake.mint(scopes, refresh=old)
    if grant != "authorization_code":
        raise oauth_refusal(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")
    entry = fake.codes.pop(req.form.get("code", ""), None)
    if entry is None or fake.clock() - entry[2] > CODE_TTL:
        raise oauth_refusal(400, "invalid_grant", "missing or invalid auth code", "BAD_AUTH_CODE")
    redirect, scopes, _, challenge = entry
    if req.form.get("redirect_uri") != redirect:
        raise oauth_refusal(400, "invalid_grant", "redirect_uri does not match", "BAD_REDIRECT_URI")
    if challenge is not None:
        verifier = req.form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if digest != challenge:
            raise oauth_refusal(400, "invalid_grant", "code_verifier does not match", "BAD_AUTH_CODE")
    return 200, fake.mint(scopes)


def introspect(fake: FakeHubSpot, req: HubRequest) -> tuple[int, dict[str, Any]]:
    """POST /oauth/{version}/token/introspect (RFC 7662 with HubSpot's fields)."""
    _client(fake, req)
    value = req.form.get("token", "")
    info = fake.access_tokens.get(value)
    if info is not None and not info.revoked and (info.expires_at is None or info.expires_at > fake.clock()):
        left = int(info.expires_at - fake.clock()) if info.expires_at is not None else None
        body = {
            "active": True, "token_use": "access_token", "token_type": "access", "app_id": fake.app_id,
            "client_id": fake.client_id, "hub_id": fake.hub_id, "hub_domain": fake.hub_domain,
            "scopes": list(info.scopes), "user": fake.user_email, "user_id": fake.user_id, "expires_in": left,
        }  # fmt: skip
        return 200, body
    if fake.refresh_tokens.get(value) is not None:
        return 200, {"active": True, "token_use": "refresh_token", "hub_id": fake.hub_id, "app_id": fake.app_id}
    return 200, {"active": False}


def revoke(fake: FakeHubSpot, req: HubRequest) -> tuple[int, dict[str, Any]]:
    """POST /oauth/{version}/token/revoke: the refresh token is revoked (issued access tokens
    stay valid until they expire). Unknown tokens are answered 200 too (RFC 7009)."""
    _client(fake, req)
    value = req.form.get("token", "")
    if value in fake.refresh_tokens:
        fake.refresh_tokens[value] = None
        fake.revoked.append(value)
    return 200, {"_empty": True}


OAUTH_ENDPOINTS = {"token": token, "introspect": introspect, "revoke": revoke}
