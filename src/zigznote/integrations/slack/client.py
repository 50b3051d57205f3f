"""Slack Web API client: the calls zigznote makes, and Slack's errors as zigznote errors.

Every method is ``POST {api_base}/{method}`` (Slack accepts POST for every Web API method, as
the Python SDK's ``slack_sdk/web/base_client.py`` relies on) with ``Authorization: Bearer <token>``. Arguments go
as a form (``application/x-www-form-urlencoded``), except ``chat.postMessage``, which is
sent as ``application/json; charset=utf-8`` because ``blocks`` is structured
(https://docs.slack.dev/reference/methods/chat.postMessage). The OAuth token endpoint
(``oauth.v2.access``) authenticates the app with HTTP Basic instead of a token.

Rate limits (https://docs.slack.dev/apis/web-api/rate-limits): Slack answers HTTP 429 with
``Retry-After`` (seconds). :meth:`SlackClient.call` sleeps that long and retries the same
request (same arguments, so a paginated listing resumes from the same cursor), within
``max_wait`` seconds in total; beyond it, ``ProviderError(code="ratelimited")``.

Slack answers most errors with HTTP 200 and ``{"ok": false, "error": "<code>"}``; the
mapping to the error tree is :func:`slack_error`. Everything in an answer is untrusted:
answers that are not JSON objects are refused, and strings pass ``untrusted.storable_text``
before they enter a message or a returned dict.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from zigznote.errors import CredentialsRejected, InvalidInput, ProviderError
from zigznote.integrations.http import DEFAULT_MAX_BODY_BYTES, Reply, make_client, retry_after_seconds, send
from zigznote.integrations.slack.errors import scopes_from, slack_error, text_field
from zigznote.untrusted import load_json

__all__ = ["DEFAULT_API_BASE", "SlackClient"]

DEFAULT_API_BASE = "https://slack.com/api"

#: conversations.list accepts ``limit`` up to 1000 (https://docs.slack.dev/reference/methods/conversations.list).
MAX_PAGE_LIMIT = 1000
#: A listing that needs more pages than this is not a workspace, it is a loop.
MAX_PAGES = 10_000
#: Shortest wait after a 429 (a ``Retry-After: 0`` would otherwise retry in a tight loop).
MIN_RATE_WAIT = 1.0
#: Most rate-limit retries of one call, whatever the waits (a second safety net beside max_wait).
MAX_RATE_RETRIES = 30

_METHOD_RE = re.compile(r"[a-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)+")
# Tokens go into a header: printable ASCII without spaces, or the request is not sent at all.
_TOKEN_RE = re.compile(r"[\x21-\x7e]{1,2000}")
_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TS_RE = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,12})?")


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and _ID_RE.fullmatch(value) else None


class SlackClient:
    """Calls to the Slack Web API with one ``httpx.Client``.

    ``api_base``: ``SLACK_API_BASE`` (every method is ``{api_base}/{method}``). ``http``: an
    injected client (tests, proxies); by default one from ``integrations.http.make_client``
    (15 s timeouts, no redirects), closed by :meth:`close`. ``max_wait``: total seconds one call
    may spend sleeping on rate limits. ``sleep``: how to wait (tests pass a recorder).
    ``max_response_bytes``: largest answer body accepted.
    """

    def __init__(
        self,
        *,
        api_base: str = DEFAULT_API_BASE,
        http: httpx.Client | None = None,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        max_response_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if not (math.isfinite(max_wait) and max_wait >= 0):
            raise ValueError(f"max_wait must be a non-negative number of seconds, not {max_wait!r}")
        self.api_base = api_base.rstrip("/")
        self._owns_http = http is None
        self.http = http if http is not None else make_client()
        self.max_wait = max_wait
        self._sleep = sleep
        self.max_response_bytes = max_response_bytes

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> SlackClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one request path ------------------------------------------------------------

    def call(
        self,
        method: str,
        token: str | None,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        form: Mapping[str, Any] | None = None,
        auth: tuple[str, str] | None = None,
        secrets: Sequence[str] = (),
    ) -> dict[str, Any]:
        """``POST {api_base}/{method}`` and return the answer object (``ok`` is true).

        ``token``: bearer token (None for ``oauth.v2.access``, which uses ``auth``, the app's
        client ID and secret as HTTP Basic). ``params`` go in the query string, ``form`` as a
        form body, ``json`` as a JSON body (UTF-8). Rate limits are waited out within
        ``max_wait``. Raises what :func:`slack_error` maps ``ok: false`` to;
        ``CredentialsRejected`` on HTTP 401; ``ProviderError`` for 5xx, redirects, answers that
        are not a JSON object (``slack_bad_response``), network failures
        (``provider_unreachable``) and a rate limit outlasting ``max_wait`` (``ratelimited``).
        """
        body, _ = self._call(method, token, params=params, json=json, form=form, auth=auth, secrets=tuple(secrets))
        return body

    def _call(
        self,
        method: str,
        token: str | None,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        form: Mapping[str, Any] | None = None,
        auth: tuple[str, str] | None = None,
        secrets: tuple[str, ...] = (),
        about: str | None = None,
    ) -> tuple[dict[str, Any], httpx.Headers]:
        if not _METHOD_RE.fullmatch(method):
            raise ValueError(f"not a Slack Web API method name: {method!r}")
        headers: dict[str, str] = {}
        secrets = (*secrets, *([auth[1]] if auth else []))
        if token is not None:
            if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
                raise CredentialsRejected(
                    "the stored Slack token is malformed (empty, too long, or holding spaces or control characters)",
                    provider="slack",
                )
            headers["Authorization"] = f"Bearer {token}"
            secrets = (*secrets, token)
        content: bytes | None = None
        if json is not None:
            # Slack asks for the charset on JSON bodies (it warns "missing_charset" otherwise).
            headers["Content-Type"] = "application/json; charset=utf-8"
            content = _json_bytes(json)
        waited = 0.0
        retries = 0
        while True:
            reply = send(
                self.http,
                "POST",
                f"{self.api_base}/{method}",
                what=f"Slack {method}",
                headers=headers,
                params=params,
                data=form,
                content=content,
                auth=auth,
                secrets=secrets,
                max_bytes=self.max_response_bytes,
            )
            body = _parse(reply)
            if _rate_limited(reply, body):
                wait = max(
                    retry_after_seconds(reply.headers.get("Retry-After"), default=MIN_RATE_WAIT, cap=86_400.0),
                    MIN_RATE_WAIT,
                )
                if waited + wait > self.max_wait or retries >= MAX_RATE_RETRIES:
                    raise ProviderError(
                        f"Slack is rate-limiting {method}: it asks to wait {wait:g} s more, after {waited:g} s "
                        f"already waited (at most {self.max_wait:g} s per call)",
                        hint=f"try again in {math.ceil(wait)} s",
                        code="ratelimited",
                    )
                self._sleep(wait)
                waited += wait
                retries += 1
                continue
            return _result(method, reply, body, about=about), reply.headers

    # -- methods ---------------------------------------------------------------------------

    def auth_test(self, token: str) -> dict[str, Any]:
        """``auth.test`` (https://docs.slack.dev/reference/methods/auth.test): who the token is.

        Returns ``{"team_id", "team", "user_id", "user", "bot_id", "url", "enterprise_id"}``
        (storable strings or None), ``"is_enterprise_install"`` (bool) and ``"scopes"``: the
        token's scopes from the ``X-OAuth-Scopes`` answer header (``()`` when absent).
        Raises CredentialsRejected for a revoked/expired/invalid token.
        """
        body, headers = self._call("auth.test", token)
        return {
            "team_id": _id(body.get("team_id")),
            "team": text_field(body.get("team")),
            "user_id": _id(body.get("user_id")),
            "user": text_field(body.get("user")),
            "bot_id": _id(body.get("bot_id")),
            "url": text_field(body.get("url"), 500),
            "enterprise_id": _id(body.get("enterprise_id")),
            "is_enterprise_install": body.get("is_enterprise_install") is True,
            "scopes": scopes_from(headers.get("X-OAuth-Scopes")),
        }

    def conversations(
        self,
        token: str,
        *,
        types: str = "public_channel,private_channel",
        limit: int = MAX_PAGE_LIMIT,
        exclude_archived: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """Every channel the token can see: ``conversations.list``, page by page
        (https://docs.slack.dev/reference/methods/conversations.list).

        Follows ``response_metadata.next_cursor`` until it is empty: a page may be short or
        even empty and still carry a cursor (filters apply after a page is cut). A rate limit
        in the middle is waited out and the same cursor asked again. Yields
        ``{"id", "name", "is_private", "is_member", "is_archived"}``; items without a valid ID
        are skipped. ``limit`` is the page size, 1 to 1000. Raises ProviderError if Slack
        repeats a cursor or the listing never ends, plus everything :meth:`call` raises.
        """
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise InvalidInput(f"conversations.list page size must be 1 to {MAX_PAGE_LIMIT}, not {limit}")
        cursor = ""
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            form = {"types": types, "exclude_archived": "true" if exclude_archived else "false", "limit": str(limit)}
            if cursor:
                form["cursor"] = cursor
            body = self.call("conversations.list", token, form=form)
            channels = body.get("channels", [])
            if not isinstance(channels, list):
                raise ProviderError(
                    "Slack's answer to conversations.list has no list of channels", code="slack_bad_response"
                )
            for item in channels:
                channel = _channel(item)
                if channel is not None:
                    yield channel
            meta = body.get("response_metadata")
            following = meta.get("next_cursor") if isinstance(meta, dict) else None
            if not isinstance(following, str) or not following:
                return
            if following in seen or len(following) > 2000:
                raise ProviderError(
                    "Slack's conversations.list paging went wrong (a cursor repeated or is not a cursor)",
                    code="slack_bad_response",
                )
            seen.add(following)
            cursor = following
        raise ProviderError(f"conversations.list did not end after {MAX_PAGES} pages", code="slack_bad_response")

    def post_message(
        self,
        token: str,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        thread_ts: str | None = None,
    ) -> dict[str, str]:
        """``chat.postMessage`` (https://docs.slack.dev/reference/methods/chat.postMessage).

        ``text`` is the fallback shown in notifications and read by screen readers; ``blocks``
        the Block Kit layout; ``thread_ts`` makes the message a reply in that thread. Returns
        ``{"channel", "ts"}`` of the posted message. Raises Conflict ``not_in_channel`` /
        ``is_archived``, NotFound ``channel_not_found``, InvalidInput ``invalid_blocks`` /
        ``msg_blocks_too_long`` / ``msg_too_long`` (never retried: the same payload would fail
        again), ConfigError ``missing_scope`` naming the needed scope, CredentialsRejected.
        """
        payload: dict[str, Any] = {"channel": channel, "text": text}
        if blocks is not None:
            payload["blocks"] = blocks
        if thread_ts is not None:
            payload["thread_ts"] = thread_ts
        body, _ = self._call("chat.postMessage", token, json=payload, about=f"channel {channel}")
        ts = body.get("ts")
        if not isinstance(ts, str) or not _TS_RE.fullmatch(ts):
            raise ProviderError(
                "Slack's answer to chat.postMessage carries no message timestamp", code="slack_bad_response"
            )
        return {"channel": _id(body.get("channel")) or channel, "ts": ts}

    def revoke(self, token: str) -> None:
        """``auth.revoke`` (https://docs.slack.dev/reference/methods/auth.revoke): revoke this token.

        Revoking a bot token does not uninstall the app (see :meth:`uninstall`). Raises
        CredentialsRejected if the token is already invalid or revoked.
        """
        self._call("auth.revoke", token)

    def uninstall(self, token: str, *, client_id: str, client_secret: str) -> None:
        """``apps.uninstall`` (https://docs.slack.dev/reference/methods/apps.uninstall): remove the
        app from the workspace, revoking every token of this installation.

        Needs the app's ``client_id`` and ``client_secret`` besides a token of the
        installation. Raises ConfigError for a wrong client ID or secret.
        """
        self._call(
            "apps.uninstall",
            token,
            form={"client_id": client_id, "client_secret": client_secret},
            secrets=(client_secret,),
        )


# -- answers -------------------------------------------------------------------------------


def _json_bytes(payload: Mapping[str, Any]) -> bytes:
    try:
        return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"the Slack request cannot be encoded as JSON: {exc}") from None
    except UnicodeEncodeError:
        raise InvalidInput("the Slack request holds text that is not valid Unicode (a lone surrogate)") from None


def _parse(reply: Reply) -> Any:
    """The answer's JSON value, or None when the body is empty or not JSON."""
    if not reply.body:
        return None
    try:
        return load_json(reply.body, where="Slack's answer")
    except InvalidInput:
        return None


def _rate_limited(reply: Reply, body: Any) -> bool:
    if reply.status == 429:
        return True
    # "ratelimited" is the Web API's code; chat.postMessage documents "rate_limited" for
    # posting too fast into one channel. Both mean: wait and send the same request again.
    return isinstance(body, dict) and body.get("ok") is False and body.get("error") in ("ratelimited", "rate_limited")


def _result(method: str, reply: Reply, body: Any, *, about: str | None) -> dict[str, Any]:
    if isinstance(body, dict) and body.get("ok") is False:
        raise slack_error(method, body, about=about)
    status = reply.status
    if status == 401:
        raise CredentialsRejected(f"Slack refused the credentials for {method} (HTTP 401)", provider="slack")
    if status >= 500:
        raise ProviderError(
            f"Slack answered HTTP {status} to {method}",
            hint="Slack has a problem; try again later",
            code="slack_unavailable",
        )
    if status != 200:
        where = reply.headers.get("Location")
        extra = " (redirects are not followed: check the Slack API base URL setting)" if where else ""
        raise ProviderError(f"Slack answered HTTP {status} to {method}{extra}", code="slack_http_error")
    if not isinstance(body, dict):
        raise ProviderError(f"Slack's answer to {method} is not a JSON object", code="slack_bad_response")
    if body.get("ok") is not True:
        raise ProviderError(f'Slack\'s answer to {method} does not say "ok": true', code="slack_bad_response")
    return body


def _channel(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return None
    channel_id = _id(item.get("id"))
    if channel_id is None:
        return None
    return {
        "id": channel_id,
        "name": text_field(item.get("name"), 255),
        "is_private": item.get("is_private") is True,
        "is_member": item.get("is_member") is True,
        "is_archived": item.get("is_archived") is True,
    }
