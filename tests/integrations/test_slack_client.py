"""SlackClient against respx: request shapes, pagination, rate limits, and ok:false → errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import respx

from tests.support.provider_helpers import Sleeps, fixture_reader, form_of, sleeps
from zigznote.errors import ConfigError, Conflict, CredentialsRejected, InvalidInput, NotFound, ProviderError
from zigznote.integrations.slack.client import SlackClient

__all__ = ["sleeps"]  # fixtures used by name

API = "https://slack.test/api"
TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"


fixture = fixture_reader("slack")


@pytest.fixture
def slack(sleeps: Sleeps) -> Iterator[SlackClient]:
    with respx.mock, SlackClient(api_base=API, sleep=sleeps, max_wait=60) as client:
        yield client


# -- auth.test ------------------------------------------------------------------------------------


def test_auth_test_posts_with_the_bearer_token_and_reads_scopes(slack: SlackClient) -> None:
    route = respx.post(f"{API}/auth.test").respond(
        200, json=fixture("auth_test_bot.json"), headers={"X-OAuth-Scopes": "chat:write,channels:read"}
    )
    who = slack.auth_test(TOKEN)
    assert who == {
        "team_id": "T0G9PQBBK",
        "team": "Subarachnoid Workspace",
        "user_id": "W23456789",
        "user": "bot",
        "bot_id": "BZYBOTHED",
        "url": "https://subarachnoid.slack.com/",
        "enterprise_id": None,
        "is_enterprise_install": False,
        "scopes": ("chat:write", "channels:read"),
    }
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"] == "zigznote/0.1.0"


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked", "token_expired", "account_inactive", "not_authed"])
def test_a_refused_token_is_credentials_rejected(slack: SlackClient, error: str) -> None:
    respx.post(f"{API}/auth.test").respond(200, json={"ok": False, "error": error})
    with pytest.raises(CredentialsRejected) as caught:
        slack.auth_test(TOKEN)
    err = caught.value
    assert (err.code, err.exit_code) == ("credentials_rejected", 6)
    assert err.message == f"Slack refused the access token (auth.test: {error})"
    assert err.hint == "run `zigznote slack connect` again"


def test_http_401_is_credentials_rejected(slack: SlackClient) -> None:
    respx.post(f"{API}/auth.test").respond(401, text="Unauthorized")
    with pytest.raises(CredentialsRejected) as caught:
        slack.auth_test(TOKEN)
    assert caught.value.message == "Slack refused the credentials for auth.test (HTTP 401)"


def test_a_malformed_token_is_never_sent(slack: SlackClient) -> None:
    route = respx.post(f"{API}/auth.test").respond(200, json={"ok": True})
    with pytest.raises(CredentialsRejected) as caught:
        slack.auth_test("xoxb-abc\r\nX-Injected: 1")
    assert "X-Injected" not in caught.value.message
    assert not route.called


# -- conversations.list ---------------------------------------------------------------------------

PAGE1, PAGE2, PAGE3 = (
    "conversations_list_page1.json",
    "conversations_list_page2_empty.json",
    "conversations_list_page3.json",
)
CURSOR2, CURSOR3 = "dGVhbTpDMDYxRkE1UEI=", "dGVhbTpDMDYxRkE1UEM="
EXPECTED_CHANNELS = [
    {"id": "C012AB3CD", "name": "general", "is_private": False, "is_member": True, "is_archived": False},
    {"id": "C061EG9T2", "name": "random", "is_private": False, "is_member": False, "is_archived": False},
    {"id": "G0AKFJBEU", "name": "leadership", "is_private": True, "is_member": True, "is_archived": False},
]


def test_conversations_follow_the_cursor_across_a_short_and_an_empty_page(slack: SlackClient) -> None:
    route = respx.post(f"{API}/conversations.list").mock(
        side_effect=[httpx.Response(200, json=fixture(name)) for name in (PAGE1, PAGE2, PAGE3)]
    )
    assert list(slack.conversations(TOKEN)) == EXPECTED_CHANNELS
    forms = [form_of(call.request) for call in route.calls]
    base = {"types": "public_channel,private_channel", "exclude_archived": "true", "limit": "1000"}
    assert forms == [base, {**base, "cursor": CURSOR2}, {**base, "cursor": CURSOR3}]
    assert all(call.request.headers["Authorization"] == f"Bearer {TOKEN}" for call in route.calls)


def test_a_429_mid_pagination_waits_and_resumes_with_the_same_cursor(slack: SlackClient, sleeps: Sleeps) -> None:
    route = respx.post(f"{API}/conversations.list").mock(
        side_effect=[
            httpx.Response(200, json=fixture(PAGE1)),
            httpx.Response(429, json=fixture("error_ratelimited.json"), headers={"Retry-After": "3"}),
            httpx.Response(200, json=fixture(PAGE2)),
            httpx.Response(200, json=fixture(PAGE3)),
        ]
    )
    assert list(slack.conversations(TOKEN, limit=200)) == EXPECTED_CHANNELS
    cursors = [form_of(call.request).get("cursor") for call in route.calls]
    assert cursors == [None, CURSOR2, CURSOR2, CURSOR3]
    assert form_of(route.calls[0].request)["limit"] == "200"
    assert sleeps == [3.0]


@pytest.mark.parametrize("limit", [0, 1001])
def test_conversations_page_size_is_1_to_1000(slack: SlackClient, limit: int) -> None:
    with pytest.raises(InvalidInput):
        list(slack.conversations(TOKEN, limit=limit))


def test_a_repeated_cursor_stops_the_listing(slack: SlackClient) -> None:
    page = {"ok": True, "channels": [], "response_metadata": {"next_cursor": "same"}}
    respx.post(f"{API}/conversations.list").respond(200, json=page)
    with pytest.raises(ProviderError) as caught:
        list(slack.conversations(TOKEN))
    assert caught.value.code == "slack_bad_response"


def test_malformed_channel_items_are_skipped(slack: SlackClient) -> None:
    page = {
        "ok": True,
        "channels": [None, "C1", {"name": "no id"}, {"id": "C0\x1b[2J", "name": "bad id"}, {"id": "C9", "name": 7}],
    }
    respx.post(f"{API}/conversations.list").respond(200, json=page)
    assert list(slack.conversations(TOKEN)) == [
        {"id": "C9", "name": None, "is_private": False, "is_member": False, "is_archived": False}
    ]


# -- chat.postMessage ----------------------------------------------------------------------------

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "Ünïcode &amp; more"}}]


def test_post_message_sends_json_with_charset_and_returns_channel_and_ts(slack: SlackClient) -> None:
    route = respx.post(f"{API}/chat.postMessage").respond(200, json=fixture("chat_post_message.json"))
    result = slack.post_message(TOKEN, channel="C123ABC456", text="fallback", blocks=BLOCKS, thread_ts="1.2")
    assert result == {"channel": "C123ABC456", "ts": "1503435956.000247"}
    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content.decode("utf-8")) == {
        "channel": "C123ABC456",
        "text": "fallback",
        "blocks": BLOCKS,
        "thread_ts": "1.2",
    }
    assert "Ünïcode".encode() in request.content  # UTF-8, not \\u escapes


def test_post_message_without_thread_or_blocks_sends_neither(slack: SlackClient) -> None:
    route = respx.post(f"{API}/chat.postMessage").respond(200, json=fixture("chat_post_message.json"))
    slack.post_message(TOKEN, channel="C1", text="hi", blocks=None)
    assert json.loads(route.calls.last.request.content) == {"channel": "C1", "text": "hi"}


def test_not_in_channel_gives_the_invite_hint(slack: SlackClient) -> None:
    respx.post(f"{API}/chat.postMessage").respond(200, json=fixture("error_not_in_channel.json"))
    with pytest.raises(Conflict) as caught:
        slack.post_message(TOKEN, channel="C0PRIVATE", text="hi", blocks=None)
    err = caught.value
    assert (err.code, err.exit_code) == ("not_in_channel", 4)
    assert err.message == "the Slack app is not a member of the channel (channel C0PRIVATE)"
    assert err.hint == (
        "invite the bot: /invite @<bot> in the channel, "
        "or add the chat:write.public scope in the Slack app settings and connect again"
    )


def test_channel_not_found_is_not_found(slack: SlackClient) -> None:
    respx.post(f"{API}/chat.postMessage").respond(200, json={"ok": False, "error": "channel_not_found"})
    with pytest.raises(NotFound) as caught:
        slack.post_message(TOKEN, channel="C404", text="hi", blocks=None)
    assert (caught.value.code, caught.value.exit_code) == ("channel_not_found", 3)
    assert caught.value.message == "Slack cannot find the channel (channel C404), or the app cannot see it"


def test_missing_scope_names_the_needed_scope(slack: SlackClient) -> None:
    respx.post(f"{API}/chat.postMessage").respond(200, json=fixture("error_missing_scope.json"))
    with pytest.raises(ConfigError) as caught:
        slack.post_message(TOKEN, channel="C1", text="hi", blocks=None)
    err = caught.value
    assert (err.code, err.exit_code) == ("missing_scope", 6)
    assert err.message == (
        "the Slack token lacks the scope chat:write.public needed by chat.postMessage; "
        "the token has: chat:write,channels:read"
    )
    assert err.hint == (
        "add chat:write.public under OAuth & Permissions in the Slack app settings, "
        "then run `zigznote slack connect` again"
    )


@pytest.mark.parametrize("error", ["invalid_blocks", "msg_blocks_too_long", "msg_too_long"])
def test_payload_errors_are_reported_not_retried(slack: SlackClient, sleeps: Sleeps, error: str) -> None:
    body = fixture("error_invalid_blocks.json") if error == "invalid_blocks" else {"ok": False, "error": error}
    route = respx.post(f"{API}/chat.postMessage").respond(200, json=body)
    with pytest.raises(InvalidInput) as caught:
        slack.post_message(TOKEN, channel="C1", text="hi", blocks=BLOCKS)
    assert (caught.value.code, caught.value.exit_code) == (error, 2)
    assert route.call_count == 1
    assert sleeps == []
    if error == "invalid_blocks":
        assert caught.value.message == (
            "Slack refused the message for chat.postMessage (channel C1): invalid_blocks "
            "(must be less than 3001 characters [json-pointer:/blocks/0/text/text])"
        )


def test_is_archived_is_a_conflict(slack: SlackClient) -> None:
    respx.post(f"{API}/chat.postMessage").respond(200, json={"ok": False, "error": "is_archived"})
    with pytest.raises(Conflict) as caught:
        slack.post_message(TOKEN, channel="C1", text="hi", blocks=None)
    assert caught.value.code == "is_archived"


# -- rate limits ----------------------------------------------------------------------------------


def test_ratelimited_waits_retry_after_then_succeeds(slack: SlackClient, sleeps: Sleeps) -> None:
    route = respx.post(f"{API}/chat.postMessage").mock(
        side_effect=[
            httpx.Response(429, json=fixture("error_ratelimited.json"), headers={"Retry-After": "30"}),
            httpx.Response(200, json={"ok": False, "error": "rate_limited"}, headers={"Retry-After": "2"}),
            httpx.Response(200, json=fixture("chat_post_message.json")),
        ]
    )
    assert slack.post_message(TOKEN, channel="C1", text="hi", blocks=None)["ts"] == "1503435956.000247"
    assert sleeps == [30.0, 2.0]
    assert route.call_count == 3
    bodies = {call.request.content for call in route.calls}
    assert len(bodies) == 1  # the same request each time


def test_ratelimit_beyond_max_wait_is_a_provider_error(slack: SlackClient, sleeps: Sleeps) -> None:
    route = respx.post(f"{API}/auth.test").respond(429, headers={"Retry-After": "25"})
    with pytest.raises(ProviderError) as caught:
        slack.auth_test(TOKEN)
    err = caught.value
    assert (err.code, err.exit_code) == ("ratelimited", 5)
    assert err.message == (
        "Slack is rate-limiting auth.test: it asks to wait 25 s more, after 50 s already waited (at most 60 s per call)"
    )
    assert err.hint == "try again in 25 s"
    assert sleeps == [25.0, 25.0]
    assert route.call_count == 3


def test_retry_after_zero_still_waits_a_second(slack: SlackClient, sleeps: Sleeps) -> None:
    respx.post(f"{API}/auth.test").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(200, json=fixture("auth_test_bot.json")),
        ]
    )
    slack.auth_test(TOKEN)
    assert sleeps == [1.0]


# -- revoke, uninstall ------------------------------------------------------------------------------


def test_revoke_posts_auth_revoke(slack: SlackClient) -> None:
    route = respx.post(f"{API}/auth.revoke").respond(200, json=fixture("auth_revoke.json"))
    slack.revoke(TOKEN)
    assert route.call_count == 1
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_revoke_of_a_revoked_token_is_credentials_rejected(slack: SlackClient) -> None:
    respx.post(f"{API}/auth.revoke").respond(200, json={"ok": False, "error": "token_revoked"})
    with pytest.raises(CredentialsRejected):
        slack.revoke(TOKEN)


def test_uninstall_sends_client_id_and_secret(slack: SlackClient) -> None:
    route = respx.post(f"{API}/apps.uninstall").respond(200, json=fixture("apps_uninstall.json"))
    slack.uninstall(TOKEN, client_id="123.456", client_secret="s3cr3t")
    request = route.calls.last.request
    assert form_of(request) == {"client_id": "123.456", "client_secret": "s3cr3t"}
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_uninstall_with_a_wrong_secret_is_a_config_error(slack: SlackClient) -> None:
    respx.post(f"{API}/apps.uninstall").respond(200, json={"ok": False, "error": "bad_client_secret"})
    with pytest.raises(ConfigError) as caught:
        slack.uninstall(TOKEN, client_id="123.456", client_secret="s3cr3t")
    assert caught.value.code == "bad_client_secret"
    assert caught.value.hint == "check SLACK_CLIENT_SECRET (Basic Information page of the Slack app)"
    assert "s3cr3t" not in str(caught.value.to_dict())


# -- what Slack (or something pretending to be it) may answer ----------------------------------------


def test_network_error_is_a_provider_error_without_the_token(slack: SlackClient) -> None:
    respx.post(f"{API}/chat.postMessage").mock(side_effect=httpx.ConnectError(f"connect failed for {TOKEN}"))
    with pytest.raises(ProviderError) as caught:
        slack.post_message(TOKEN, channel="C1", text="hi", blocks=None)
    err = caught.value
    assert (err.code, err.exit_code) == ("provider_unreachable", 5)
    assert (
        err.message == "cannot reach slack.test for Slack chat.postMessage: ConnectError: connect failed for [redacted]"
    )
    assert TOKEN not in str(err.to_dict())


@pytest.mark.parametrize(
    ("status", "content", "code"),
    [
        (200, b"<html>Slack is down</html>", "slack_bad_response"),
        (200, b"[1, 2, 3]", "slack_bad_response"),
        (200, b'{"ok": "yes"}', "slack_bad_response"),
        (200, b"", "slack_bad_response"),
        (200, b"[" * 5000 + b"]" * 5000, "slack_bad_response"),  # nesting past the JSON depth limit
        (503, b"Service Unavailable", "slack_unavailable"),
        (500, b'{"ok": false}', "slack_error"),
        (404, b"not found", "slack_http_error"),
    ],
)
def test_answers_that_are_not_api_answers(slack: SlackClient, status: int, content: bytes, code: str) -> None:
    respx.post(f"{API}/auth.test").respond(status, content=content)
    with pytest.raises(ProviderError) as caught:
        slack.auth_test(TOKEN)
    assert caught.value.code == code


def test_internal_error_is_retryable_provider_error(slack: SlackClient) -> None:
    respx.post(f"{API}/auth.test").respond(200, json={"ok": False, "error": "internal_error"})
    with pytest.raises(ProviderError) as caught:
        slack.auth_test(TOKEN)
    assert (caught.value.code, caught.value.exit_code) == ("slack_internal_error", 5)
    assert caught.value.hint == "Slack has a problem; try again later"


def test_a_hostile_error_string_is_made_safe(slack: SlackClient) -> None:
    evil = "\x1b]0;pwned\x07\x1b[2J\x00" + "A" * 100_000
    respx.post(f"{API}/auth.test").respond(200, json={"ok": False, "error": evil})
    with pytest.raises(ProviderError) as caught:
        slack.auth_test(TOKEN)
    err = caught.value
    assert err.code == "slack_error"
    assert "\x1b" not in err.message and "\x00" not in err.message
    assert err.message.startswith("Slack refused auth.test: '\\x1b]0;pwned\\x07\\x1b[2J\ufffdAAA")
    assert len(err.message) < 200


def test_an_unknown_plain_error_keeps_its_code(slack: SlackClient) -> None:
    respx.post(f"{API}/auth.test").respond(200, json={"ok": False, "error": "team_access_not_granted"})
    with pytest.raises(ProviderError) as caught:
        slack.auth_test(TOKEN)
    assert caught.value.code == "slack_team_access_not_granted"
    assert caught.value.message == "Slack refused auth.test: team_access_not_granted"


def test_a_huge_body_is_refused(sleeps: Sleeps) -> None:
    with respx.mock, SlackClient(api_base=API, sleep=sleeps, max_response_bytes=1 << 20) as slack:
        respx.post(f"{API}/conversations.list").respond(200, content=b'{"ok": true, "x": "' + b"x" * (2 << 20) + b'"}')
        with pytest.raises(ProviderError) as caught:
            list(slack.conversations(TOKEN))
    assert caught.value.code == "provider_bad_response"


def test_hostile_strings_in_a_good_answer_are_bounded(slack: SlackClient) -> None:
    body = dict(fixture("auth_test_bot.json"), team="T" * 10_000 + "\x00", team_id=["not", "a", "string"])
    respx.post(f"{API}/auth.test").respond(200, json=body, headers={"X-OAuth-Scopes": "chat:write, <script>"})
    who = slack.auth_test(TOKEN)
    assert who["team"] == "T" * 255
    assert who["team_id"] is None
    assert who["scopes"] == ()


def test_a_method_name_is_checked(slack: SlackClient) -> None:
    with pytest.raises(ValueError):
        slack.call("../../admin", TOKEN)
