"""The Web API methods and the authorize page of :class:`tests.support.fake_slack.FakeSlack`.

Each method function takes the fake (its lock held) and the recorded request and returns the JSON
body, or raises :class:`Reply` to answer otherwise. Shapes and error strings follow the method
reference pages at docs.slack.dev/reference/methods/<method> (auth.test, conversations.list,
chat.postMessage, auth.revoke, apps.uninstall, oauth.v2.access) and the Block Kit limits at
docs.slack.dev/reference/block-kit/blocks.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from tests.support.fake_oauth import Reply, TokenInfo

if TYPE_CHECKING:
    from tests.support.fake_slack import FakeSlack

CODE_TTL = 600.0  # seconds an authorization code may wait for its exchange (Slack: 10 minutes)
# conversations.list needs the read scope of every conversation type asked for.
TYPE_SCOPES = {
    "public_channel": "channels:read",
    "private_channel": "groups:read",
    "im": "im:read",
    "mpim": "mpim:read",
}
MAX_BLOCKS, MAX_HEADER, MAX_SECTION, MAX_FIELD, MAX_BUTTON, MAX_URL = 50, 150, 3000, 2000, 75, 3000


@dataclass(frozen=True)
class SlackRequest:
    """One request as the fake received it. ``method`` is the Web API method (``"oauth.v2.access"``)
    or ``"authorize"``; ``form`` merges the query and the form or JSON body's string fields; ``json``
    is the parsed JSON body (``None`` for forms); ``headers`` have lower-case names; ``token`` is the
    bearer or form token; ``client_auth`` is ``"basic"``, ``"form"`` or ``None``; ``at`` is
    ``time.monotonic()`` on arrival."""

    http_method: str
    path: str
    method: str
    form: dict[str, str]
    json: Any
    headers: dict[str, str]
    token: str | None
    client_auth: str | None
    at: float = field(default_factory=time.monotonic)


#: What the fake knows about one access token.
Access = TokenInfo


def error(code: str, **extra: Any) -> Reply:
    """Slack's failure body: HTTP 200 with ``{"ok": false, "error": code, ...}``."""
    return Reply({"ok": False, "error": code, **extra})


def authorize(fake: FakeSlack, req: SlackRequest) -> Reply:
    """GET /oauth/v2/authorize: validate, then redirect per ``fake.authorize``."""
    q = req.form
    problem = None
    if q.get("client_id") != fake.client_id:
        problem = "invalid_client_id"
    elif not q.get("redirect_uri") or (fake.redirect_uris is not None and q["redirect_uri"] not in fake.redirect_uris):
        problem = "bad_redirect_uri"
    elif not q.get("scope"):
        problem = "invalid_scope"
    elif not q.get("state"):
        problem = "missing_state"
    if problem:  # Slack shows an error page; it never redirects to an unregistered redirect_uri
        return Reply({"_html": f"<html><body><h1>OAuth error</h1><p>{problem}</p></body></html>"}, 400)
    asked = tuple(s for s in q["scope"].replace(" ", ",").split(",") if s)
    granted = tuple(fake.grant_scopes) if fake.grant_scopes is not None else asked
    code = f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**13)}.{secrets.token_hex(32)}"
    params = {"code": code, "state": q["state"]}
    if fake.authorize == "deny":
        params = {"error": "access_denied", "state": q["state"]}
    else:
        fake.codes[code] = (q["redirect_uri"], granted, fake.clock())
        if fake.authorize == "wrong_state":
            params["state"] = secrets.token_urlsafe(32)
    sep = "&" if urlsplit(q["redirect_uri"]).query else "?"
    return Reply({"_location": q["redirect_uri"] + sep + urlencode(params)}, 302)


def client_auth(fake: FakeSlack, req: SlackRequest) -> None:
    """HTTP Basic (what Slack recommends) or form ``client_id``/``client_secret``."""
    client_id, secret = req.form.get("client_id"), req.form.get("client_secret")
    basic = req.headers.get("authorization", "")
    if basic[:6].lower() == "basic ":
        try:
            client_id, _, secret = base64.b64decode(basic[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise error("invalid_client_id") from None
    if client_id != fake.client_id:
        raise error("invalid_client_id")
    if secret != fake.client_secret:
        raise error("bad_client_secret")


def oauth_v2_access(fake: FakeSlack, req: SlackRequest) -> dict[str, Any]:
    """Code exchange, or (``grant_type=refresh_token``) rotation: the old refresh token is spent."""
    client_auth(fake, req)
    grant_type = req.form.get("grant_type", "authorization_code")
    if grant_type == "refresh_token":
        old = req.form.get("refresh_token", "")
        scopes = fake.refresh_tokens.get(old)
        if scopes is None:  # unknown, or already used: rotation revoked it
            raise error("invalid_refresh_token")
        fake.refresh_tokens[old] = None
        return fake.mint(scopes)
    if grant_type != "authorization_code":
        raise error("invalid_grant_type")
    entry = fake.codes.pop(req.form.get("code", ""), None)
    if entry is None or fake.clock() - entry[2] > CODE_TTL:
        raise error("invalid_code")
    if req.form.get("redirect_uri", entry[0]) != entry[0]:
        raise error("bad_redirect_uri")
    return fake.mint(entry[1])


def check_token(fake: FakeSlack, req: SlackRequest, needed: str | None) -> Access:
    """The request's access token, or the error Slack gives (not_authed, invalid_auth,
    token_expired, missing_scope with ``needed``/``provided``)."""
    if not req.token:
        raise error("not_authed")
    info = fake.access_tokens.get(req.token)
    if info is None or info.revoked:
        raise error("invalid_auth")
    if info.expires_at is not None and info.expires_at <= fake.clock():
        raise error("token_expired")
    if needed and needed not in info.scopes:
        raise error("missing_scope", needed=needed, provided=",".join(info.scopes))
    return info


def auth_test(fake: FakeSlack, req: SlackRequest) -> dict[str, Any]:
    check_token(fake, req, None)
    return {
        "ok": True,
        "url": "https://fake-workspace.slack.com/",
        "team": fake.team_name,
        "user": "zigznote",
        "team_id": fake.team_id,
        "user_id": fake.bot_user_id,
        "bot_id": fake.bot_id,
        "is_enterprise_install": False,
    }


def conversations_list(fake: FakeSlack, req: SlackRequest) -> dict[str, Any]:
    """One configured page per call; the cursor names the next page (``""`` after the last)."""
    types = [t for t in req.form.get("types", "public_channel").split(",") if t]
    for t in types:
        check_token(fake, req, TYPE_SCOPES.get(t, "channels:read"))
    index = 0
    if cursor := req.form.get("cursor", ""):
        try:
            index = int(base64.b64decode(cursor, validate=True).decode().removeprefix("page:"))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise error("invalid_cursor") from None
        if not 0 < index < len(fake.channel_pages):
            raise error("invalid_cursor")
    # Slack filters a page after cutting it: why a page may be short, or empty with a cursor.
    private_wanted = {t == "private_channel" for t in types if t in ("public_channel", "private_channel")}
    skip_archived = req.form.get("exclude_archived") in ("true", "1")
    page = [
        c
        for c in fake.channel_pages[index]
        if c["is_private"] in private_wanted and not (skip_archived and c["is_archived"])
    ]
    more = index + 1 < len(fake.channel_pages)
    next_cursor = base64.b64encode(f"page:{index + 1}".encode()).decode() if more else ""
    return {"ok": True, "channels": page, "response_metadata": {"next_cursor": next_cursor}}


def _text_len(obj: Any, where: str, problems: list[str], limit: int | None) -> int:
    if (
        not isinstance(obj, dict)
        or obj.get("type") not in ("plain_text", "mrkdwn")
        or not isinstance(obj.get("text"), str)
    ):
        problems.append(f"must be a text object [json-pointer:{where}]")
        return 0
    n = len(obj["text"])
    if n == 0:
        problems.append(f"must be more than 0 characters [json-pointer:{where}/text]")
    elif limit is not None and n > limit:
        problems.append(f"must be less than {limit + 1} characters [json-pointer:{where}/text]")  # Slack's wording
    return n


def block_errors(blocks: Any) -> tuple[list[str], int]:
    """Problems Slack would report as ``invalid_blocks`` (``[json-pointer:…]`` messages), and the
    number of characters of text across all blocks."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"], 0
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"must contain at most {MAX_BLOCKS} items, got {len(blocks)} [json-pointer:/blocks]")
    total = 0
    for i, block in enumerate(blocks):
        at = f"/blocks/{i}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "header":
            if block.get("text", {}).get("type") != "plain_text":
                problems.append(f"must be plain_text [json-pointer:{at}/text]")
            total += _text_len(block.get("text"), f"{at}/text", problems, MAX_HEADER)
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"must have text or fields [json-pointer:{at}]")
            if "text" in block:
                total += _text_len(block["text"], f"{at}/text", problems, MAX_SECTION)
            for j, f in enumerate(block.get("fields", [])[:10]):
                total += _text_len(f, f"{at}/fields/{j}", problems, MAX_FIELD)
            if len(block.get("fields", [])) > 10:
                problems.append(f"must contain at most 10 items [json-pointer:{at}/fields]")
        elif kind == "context":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= 10:
                problems.append(f"must contain 1 to 10 items [json-pointer:{at}/elements]")
            for j, e in enumerate(elements):
                if isinstance(e, dict) and e.get("type") != "image":
                    total += _text_len(e, f"{at}/elements/{j}", problems, None)
        elif kind == "actions":
            for j, e in enumerate(block.get("elements", [])):
                if isinstance(e, dict) and e.get("type") == "button":
                    total += _text_len(e.get("text"), f"{at}/elements/{j}/text", problems, MAX_BUTTON)
                    if len(str(e.get("url", ""))) > MAX_URL:
                        problems.append(f"must be at most {MAX_URL} characters [json-pointer:{at}/elements/{j}/url]")
        elif kind not in ("divider", "image", "rich_text"):
            problems.append(f"unsupported block type {kind!r} [json-pointer:{at}/type]")
    return problems, total


def _find_channel(fake: FakeSlack, ref: str) -> dict[str, Any] | None:
    for page in fake.channel_pages:
        for c in page:
            if ref in (c["id"], c["name"], "#" + c["name"]):
                return dict(c)
    return None


def chat_post_message(fake: FakeSlack, req: SlackRequest) -> dict[str, Any]:
    """Posts to a known channel (by ID or name); records the payload in ``fake.messages``."""
    info = check_token(fake, req, "chat:write")
    payload: dict[str, Any] = dict(req.json) if isinstance(req.json, dict) else dict(req.form)
    if isinstance(payload.get("blocks"), str):
        payload["blocks"] = json.loads(payload["blocks"])  # a form post carries blocks as a JSON string
    found = _find_channel(fake, str(payload.get("channel", "")))
    if found is None or (found["is_private"] and not found["is_member"]):
        raise error("channel_not_found")
    if found["is_archived"]:
        raise error("is_archived")
    if not found["is_member"] and "chat:write.public" not in info.scopes:
        raise error("not_in_channel")
    blocks = payload.get("blocks")
    if not payload.get("text") and not blocks:
        raise error("no_text")
    if len(str(payload.get("text") or "")) > 40_000:
        raise error("msg_too_long")
    if fake.validate_blocks and blocks:
        problems, total = block_errors(blocks)
        if problems:
            raise error(
                "invalid_blocks", errors=problems, response_metadata={"messages": ["[ERROR] " + p for p in problems]}
            )
        if total > fake.max_block_text:
            raise error("msg_blocks_too_long")
    ts = fake.next_ts()
    fake.messages.append({**payload, "channel": found["id"], "ts": ts})
    message: dict[str, Any] = {"type": "message", "user": fake.bot_user_id, "bot_id": fake.bot_id, "ts": ts}
    message["text"] = payload.get("text", "")
    if blocks:
        message["blocks"] = blocks
    if payload.get("thread_ts"):
        message["thread_ts"] = payload["thread_ts"]
    return {"ok": True, "channel": found["id"], "ts": ts, "message": message}


def auth_revoke(fake: FakeSlack, req: SlackRequest) -> dict[str, Any]:
    """Revokes the calling token (not with ``test=true``)."""
    info = check_token(fake, req, None)
    if req.form.get("test") not in ("true", "1"):
        info.revoked = True
    return {"ok": True, "revoked": True}


def apps_uninstall(fake: FakeSlack, req: SlackRequest) -> dict[str, Any]:
    """Needs a token and the app's client_id/client_secret; revokes every token of the install."""
    check_token(fake, req, None)
    client_auth(fake, req)
    fake.revoke_all()
    return {"ok": True}


METHODS: dict[str, Callable[[FakeSlack, SlackRequest], dict[str, Any]]] = {
    "oauth.v2.access": oauth_v2_access,
    "auth.test": auth_test,
    "conversations.list": conversations_list,
    "chat.postMessage": chat_post_message,
    "auth.revoke": auth_revoke,
    "apps.uninstall": apps_uninstall,
}
