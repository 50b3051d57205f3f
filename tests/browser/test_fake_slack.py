"""The fake Slack itself (no browser): it must behave like the documented Slack, or the tests
built on it prove nothing. Real HTTP over loopback with httpx; one check through SlackOAuth."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.fake_slack import FakeSlack, channel
from zigznote.errors import CredentialsRejected
from zigznote.integrations.base import TokenSet
from zigznote.integrations.http import make_client
from zigznote.integrations.slack.oauth import SlackOAuth

REDIRECT = "http://localhost:8765/callback"
SCOPES = "chat:write,channels:read,groups:read"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        yield client


def _authorize(fake: FakeSlack, http: httpx.Client, **overrides: str) -> httpx.Response:
    params = {"client_id": fake.client_id, "scope": SCOPES, "redirect_uri": REDIRECT, "state": "st-1", **overrides}
    return http.get(fake.authorize_url, params={k: v for k, v in params.items() if v})


def _redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _exchange(fake: FakeSlack, http: httpx.Client, code: str, *, basic: bool = True, **form: str) -> dict[str, Any]:
    data = {"code": code, "redirect_uri": REDIRECT, **form}
    url = f"{fake.api_base}/oauth.v2.access"
    if basic:
        response = http.post(url, data=data, auth=(fake.client_id, fake.client_secret))
    else:
        response = http.post(url, data=data | {"client_id": fake.client_id, "client_secret": fake.client_secret})
    assert response.status_code == 200
    return dict(response.json())


def _call(fake: FakeSlack, http: httpx.Client, method: str, token: str | None, **kwargs: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return dict(http.post(f"{fake.api_base}/{method}", headers=headers, **kwargs).json())


def test_authorize_validates_and_redirects(fake_slack: FakeSlack, http: httpx.Client) -> None:
    for missing in ("client_id", "redirect_uri", "scope", "state"):
        assert _authorize(fake_slack, http, **{missing: ""}).status_code == 400
    assert _authorize(fake_slack, http, client_id="other").status_code == 400
    params = _redirect_params(_authorize(fake_slack, http))
    assert params["state"] == "st-1" and set(params) == {"code", "state"}
    fake_slack.authorize = "deny"
    assert _redirect_params(_authorize(fake_slack, http)) == {"error": "access_denied", "state": "st-1"}
    fake_slack.authorize = "wrong_state"
    other = _redirect_params(_authorize(fake_slack, http))
    assert other["state"] != "st-1" and other["code"]
    fake_slack.redirect_uris = ["https://localhost:8765/callback"]
    assert _authorize(fake_slack, http).status_code == 400  # not a registered redirect URI
    assert len(fake_slack.authorize_requests) == 9


def test_code_exchange_shape_and_single_use(fake_slack: FakeSlack, http: httpx.Client) -> None:
    code = _redirect_params(_authorize(fake_slack, http))["code"]
    body = _exchange(fake_slack, http, code)
    assert set(body) == {
        "ok", "app_id", "access_token", "token_type", "scope", "bot_user_id", "team", "enterprise",
        "is_enterprise_install", "authed_user",
    }  # fmt: skip
    assert body["token_type"] == "bot" and body["access_token"].startswith("xoxb-")
    assert body["scope"] == SCOPES
    assert body["team"] == {"id": "T0FAKE0001", "name": "Fake Workspace"}
    assert _exchange(fake_slack, http, code) == {"ok": False, "error": "invalid_code"}
    assert fake_slack.calls("oauth.v2.access")[0].client_auth == "basic"

    code = _redirect_params(_authorize(fake_slack, http))["code"]
    wrong = http.post(f"{fake_slack.api_base}/oauth.v2.access", data={"code": code}, auth=(fake_slack.client_id, "x"))
    assert wrong.json() == {"ok": False, "error": "bad_client_secret"}
    assert _exchange(fake_slack, http, code, redirect_uri="http://localhost:1/cb")["error"] == "bad_redirect_uri"
    code = _redirect_params(_authorize(fake_slack, http))["code"]
    assert _exchange(fake_slack, http, code, basic=False)["ok"] is True
    assert fake_slack.calls("oauth.v2.access")[-1].client_auth == "form"


def test_rotation_spends_each_refresh_token_once(fake_slack: FakeSlack, http: httpx.Client) -> None:
    fake_slack.rotation = True
    first = fake_slack.install()
    assert first["expires_in"] == 43_200 and first["refresh_token"].startswith("xoxe-1-")
    auth = (fake_slack.client_id, fake_slack.client_secret)
    url = f"{fake_slack.api_base}/oauth.v2.access"
    refreshed = http.post(url, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, auth=auth)
    second = refreshed.json()
    assert second["ok"] is True and second["token_type"] == "bot" and second["expires_in"] == 43_200
    assert second["access_token"] != first["access_token"] and second["refresh_token"] != first["refresh_token"]
    again = http.post(url, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, auth=auth)
    assert again.json() == {"ok": False, "error": "invalid_refresh_token"}
    assert fake_slack.valid_refresh_tokens() == [second["refresh_token"]]
    assert fake_slack.valid_access_tokens() == [first["access_token"], second["access_token"]]


def test_concurrent_refreshes_with_one_token_one_wins(fake_slack: FakeSlack) -> None:
    fake_slack.rotation = True
    fake_slack.delays["oauth.v2.access"] = 0.3  # both requests are in flight together
    refresh = fake_slack.install()["refresh_token"]
    results: list[dict[str, Any]] = []

    def run() -> None:
        with httpx.Client(timeout=10) as client:
            answer = client.post(
                f"{fake_slack.api_base}/oauth.v2.access",
                data={"grant_type": "refresh_token", "refresh_token": refresh},
                auth=(fake_slack.client_id, fake_slack.client_secret),
            )
            results.append(answer.json())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(r["ok"] for r in results) == [False, True]
    assert [r["error"] for r in results if not r["ok"]] == ["invalid_refresh_token"]


def test_slack_oauth_refresh_against_the_fake(fake_slack: FakeSlack) -> None:
    fake_slack.rotation = True
    fake_slack.install()
    with make_client() as client:
        slack = SlackOAuth(
            client_id=fake_slack.client_id,
            client_secret=fake_slack.client_secret,
            redirect_uri=REDIRECT,
            api_base=fake_slack.api_base,
            http=client,
        )
        [refresh] = fake_slack.valid_refresh_tokens()
        old = TokenSet(access_token="unused", refresh_token=refresh, token_type="bot")
        new = slack.refresh(old)
        assert new.refresh_token == fake_slack.valid_refresh_tokens()[0] != refresh
        with pytest.raises(CredentialsRejected):
            slack.refresh(old)
    assert fake_slack.calls("oauth.v2.access", grant_type="refresh_token")[0].client_auth == "basic"


def test_token_checks(fake_slack: FakeSlack, http: httpx.Client) -> None:
    token = fake_slack.install(scopes=("channels:read",))["access_token"]
    assert _call(fake_slack, http, "auth.test", None) == {"ok": False, "error": "not_authed"}
    assert _call(fake_slack, http, "auth.test", "xoxb-nope") == {"ok": False, "error": "invalid_auth"}
    assert _call(fake_slack, http, "auth.test", token)["team_id"] == "T0FAKE0001"
    assert _call(fake_slack, http, "auth.test", None, data={"token": token})["ok"] is True
    missing = _call(fake_slack, http, "chat.postMessage", token, json={"channel": "C0GENERAL1", "text": "hi"})
    assert missing == {"ok": False, "error": "missing_scope", "needed": "chat:write", "provided": "channels:read"}
    fake_slack.expire_access_tokens()
    assert _call(fake_slack, http, "auth.test", token) == {"ok": False, "error": "token_expired"}
    assert _call(fake_slack, http, "no.such", token) == {"ok": False, "error": "unknown_method"}


def test_conversations_pages(fake_slack: FakeSlack, http: httpx.Client) -> None:
    fake_slack.channel_pages = [
        [channel("C1", "one"), channel("G1", "secret", private=True)],
        [],
        [channel("C2", "two", archived=True), channel("C3", "three")],
    ]
    token = fake_slack.install()["access_token"]
    seen: list[list[str]] = []
    form = {"types": "public_channel", "exclude_archived": "true", "limit": "1000"}
    cursor = ""
    while True:
        body = _call(fake_slack, http, "conversations.list", token, data={**form, "cursor": cursor})
        seen.append([c["id"] for c in body["channels"]])
        cursor = body["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert seen == [["C1"], [], ["C3"]]
    both = _call(fake_slack, http, "conversations.list", token, data={"types": "public_channel,private_channel"})
    assert [c["id"] for c in both["channels"]] == ["C1", "G1"]
    bad = _call(fake_slack, http, "conversations.list", token, data={"cursor": base64.b64encode(b"page:9").decode()})
    assert bad == {"ok": False, "error": "invalid_cursor"}


def test_post_message_rules_and_records(fake_slack: FakeSlack, http: httpx.Client) -> None:
    token = fake_slack.install(scopes=("chat:write",))["access_token"]
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}
    sent = _call(
        fake_slack, http, "chat.postMessage", token, json={"channel": "#general", "text": "t", "blocks": [section]}
    )
    assert sent["ok"] is True and sent["channel"] == "C0GENERAL1" and sent["message"]["text"] == "t"
    assert fake_slack.messages == [{"channel": "C0GENERAL1", "text": "t", "blocks": [section], "ts": sent["ts"]}]
    assert (
        _call(fake_slack, http, "chat.postMessage", token, json={"channel": "C0RANDOM01", "text": "t"})["error"]
        == "not_in_channel"
    )
    assert (
        _call(fake_slack, http, "chat.postMessage", token, json={"channel": "C0NOPE", "text": "t"})["error"]
        == "channel_not_found"
    )
    assert _call(fake_slack, http, "chat.postMessage", token, json={"channel": "C0GENERAL1"})["error"] == "no_text"
    too_many = _call(
        fake_slack,
        http,
        "chat.postMessage",
        token,
        json={"channel": "C0GENERAL1", "text": "t", "blocks": [{"type": "divider"}] * 51},
    )
    assert too_many["error"] == "invalid_blocks" and "/blocks]" in too_many["errors"][0]
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}
    long_header = _call(
        fake_slack, http, "chat.postMessage", token, json={"channel": "C0GENERAL1", "text": "t", "blocks": [header]}
    )
    assert long_header == {
        "ok": False,
        "error": "invalid_blocks",
        "errors": ["must be less than 151 characters [json-pointer:/blocks/0/text/text]"],
        "response_metadata": {
            "messages": ["[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]"]
        },
    }
    five = [section] * 5  # 15,000 characters of block text
    assert (
        _call(fake_slack, http, "chat.postMessage", token, json={"channel": "C0GENERAL1", "text": "t", "blocks": five})[
            "error"
        ]
        == "msg_blocks_too_long"
    )
    assert len(fake_slack.messages) == 1


def test_scripted_failures_then_normal(fake_slack: FakeSlack, http: httpx.Client) -> None:
    token = fake_slack.install()["access_token"]
    fake_slack.fail("auth.test", "ratelimited", status=429, retry_after=2)
    limited = http.post(f"{fake_slack.api_base}/auth.test", headers={"Authorization": f"Bearer {token}"})
    assert (limited.status_code, limited.headers["retry-after"], limited.json()) == (
        429,
        "2",
        {"ok": False, "error": "ratelimited"},
    )
    assert _call(fake_slack, http, "auth.test", token)["ok"] is True


def test_revoke_and_uninstall(fake_slack: FakeSlack, http: httpx.Client) -> None:
    one = fake_slack.install()["access_token"]
    assert _call(fake_slack, http, "auth.revoke", one, data={"test": "true"}) == {"ok": True, "revoked": True}
    assert _call(fake_slack, http, "auth.test", one)["ok"] is True
    assert _call(fake_slack, http, "auth.revoke", one) == {"ok": True, "revoked": True}
    assert _call(fake_slack, http, "auth.test", one)["error"] == "invalid_auth"
    two = fake_slack.install()["access_token"]
    creds = {"client_id": fake_slack.client_id, "client_secret": "wrong"}
    assert _call(fake_slack, http, "apps.uninstall", two, data=creds)["error"] == "bad_client_secret"
    creds["client_secret"] = fake_slack.client_secret
    assert _call(fake_slack, http, "apps.uninstall", two, data=creds) == {"ok": True}
    assert fake_slack.valid_access_tokens() == []
