"""`zigznote slack channels | settings` against respx on SLACK_API_BASE: channels over three
pages (one short, one empty with a cursor) and a 429 in the middle; settings resolving `#name`
once and writing, moving and removing the auto-send job rule."""

from __future__ import annotations

import time
from typing import Any

import httpx
import respx

from tests.cli._slack_support import (
    ACCESS,
    api,
    bearer_of,
    connect_stored,
    connected,
    connection,
    fixture,
    form_of,
    pages,
    slack_env,
    store,
)
from tests.conftest import Cli

__all__ = ["api", "connected", "slack_env", "store"]  # fixtures used by name

CHANNELS = [
    {"id": "C012AB3CD", "name": "general", "private": False, "member": True},
    {"id": "C061EG9T2", "name": "random", "private": False, "member": False},
    {"id": "G0AKFJBEU", "name": "leadership", "private": True, "member": True},
]


# -- channels ------------------------------------------------------------------------------------


def test_channels_follows_the_cursor_through_a_short_and_an_empty_page(
    cli: Cli, connected: dict[str, Any], api: respx.MockRouter
) -> None:
    route = pages(api)
    assert cli.ok("--org", "acme", "slack", "channels") == CHANNELS
    forms = [form_of(c.request) for c in route.calls]
    base = {"types": "public_channel,private_channel", "exclude_archived": "true", "limit": "1000"}
    assert forms == [
        base,
        {**base, "cursor": "dGVhbTpDMDYxRkE1UEI="},
        {**base, "cursor": "dGVhbTpDMDYxRkE1UEM="},
    ]
    assert {bearer_of(c.request) for c in route.calls} == {ACCESS}
    pages(api)
    ran = cli("--org", "acme", "slack", "channels")
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in ran.stdout.splitlines() if line.startswith("│")]
    assert rows == [
        ["C012AB3CD", "general", "no", "yes"],
        ["C061EG9T2", "random", "no", "no"],
        ["G0AKFJBEU", "leadership", "yes", "yes"],
    ]


def test_a_429_in_the_middle_waits_retry_after_and_resumes_the_same_cursor(
    cli: Cli, connected: dict[str, Any], api: respx.MockRouter
) -> None:
    answers = [
        httpx.Response(200, json=fixture("conversations_list_page1.json")),
        httpx.Response(429, json=fixture("error_ratelimited.json"), headers={"Retry-After": "1"}),
        httpx.Response(200, json=fixture("conversations_list_page2_empty.json")),
        httpx.Response(200, json=fixture("conversations_list_page3.json")),
    ]
    route = api.post("/conversations.list").mock(side_effect=answers)
    started = time.monotonic()
    assert cli.ok("--org", "acme", "slack", "channels") == CHANNELS
    assert time.monotonic() - started >= 1.0
    cursors = [form_of(c.request).get("cursor") for c in route.calls]
    assert cursors == [None, "dGVhbTpDMDYxRkE1UEI=", "dGVhbTpDMDYxRkE1UEI=", "dGVhbTpDMDYxRkE1UEM="]
    # The retry came after the wait the answer asked for.
    assert route.calls[2].request is not route.calls[1].request


def test_channels_without_the_read_scope_names_it(cli: Cli, connected: dict[str, Any], api: respx.MockRouter) -> None:
    api.post("/conversations.list").respond(
        200, json={"ok": False, "error": "missing_scope", "needed": "groups:read", "provided": "chat:write"}
    )
    error = cli.fails(6, "--org", "acme", "slack", "channels")
    assert error["code"] == "missing_scope"
    assert error["message"] == (
        "the Slack token lacks the scope groups:read needed by conversations.list; the token has: chat:write"
    )


# -- settings ------------------------------------------------------------------------------------


def test_settings_resolves_a_name_once_and_stores_id_and_name(
    cli: Cli, connected: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    route = pages(api)
    assert cli.ok("--org", "acme", "slack", "settings", "--channel", "#Leadership") == {
        "channel_id": "G0AKFJBEU",
        "channel_name": "leadership",
        "auto_send": False,
        "rule": None,
    }
    assert route.calls.call_count == 3
    assert connection(store)["settings"] == {"channel_id": "G0AKFJBEU", "channel_name": "leadership"}  # type: ignore[index]
    # Showing the settings calls nothing.
    assert cli.ok("--org", "acme", "slack", "settings")["channel_id"] == "G0AKFJBEU"
    assert route.calls.call_count == 3


def test_auto_send_writes_and_removes_the_job_rule(cli: Cli, connected: dict[str, Any], api: respx.MockRouter) -> None:
    pages(api)
    rule = {"events": ["summary.ready"], "targets": ["C012AB3CD"]}
    shown = cli.ok("--org", "acme", "slack", "settings", "--channel", "C012AB3CD", "--auto-send")
    assert shown == {"channel_id": "C012AB3CD", "channel_name": "general", "auto_send": True, "rule": rule}
    [listed] = cli.ok("--org", "acme", "jobs", "rules", "list")
    assert (listed["kind"], listed["events"], listed["targets"]) == ("slack.summary", ["summary.ready"], ["C012AB3CD"])

    shown = cli.ok("--org", "acme", "slack", "settings", "--no-auto-send")
    assert shown == {"channel_id": "C012AB3CD", "channel_name": "general", "auto_send": False, "rule": None}
    assert cli.ok("--org", "acme", "jobs", "rules", "list") == []


def test_changing_the_channel_moves_the_rule(cli: Cli, connected: dict[str, Any], api: respx.MockRouter) -> None:
    api.post("/conversations.list").mock(
        side_effect=lambda request: httpx.Response(
            200,
            json={
                "ok": True,
                "channels": fixture("conversations_list_page1.json")["channels"],
                "response_metadata": {"next_cursor": ""},
            },
        )
    )
    cli.ok("--org", "acme", "slack", "settings", "--channel", "#general", "--auto-send")
    shown = cli.ok("--org", "acme", "slack", "settings", "--channel", "#random")
    assert shown["rule"] == {"events": ["summary.ready"], "targets": ["C061EG9T2"]}
    assert shown["auto_send"] is True


def test_auto_send_without_a_channel_is_exit_2(cli: Cli, connected: dict[str, Any], api: respx.MockRouter) -> None:
    error = cli.fails(2, "--org", "acme", "slack", "settings", "--auto-send")
    assert error == {
        "code": "channel_required",
        "message": "auto-send needs a channel to post to, and none is set",
        "hint": "choose one in the same command: `zigznote --org acme slack settings --channel '#name' --auto-send`",
    }
    assert cli.ok("--org", "acme", "jobs", "rules", "list") == []


def test_an_unknown_channel_is_exit_3_and_changes_nothing(
    cli: Cli, connected: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    pages(api)
    error = cli.fails(3, "--org", "acme", "slack", "settings", "--channel", "#nope", "--auto-send")
    assert error["code"] == "channel_not_found"
    assert connection(store)["settings"] == {}  # type: ignore[index]
    assert cli.fails(2, "--org", "acme", "slack", "settings", "--channel", "two words")["code"] == "invalid_channel"


def test_a_public_channel_without_the_bot_warns_without_chat_write_public(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    connect_stored(store, scopes=["chat:write", "channels:read", "groups:read"])
    pages(api)
    ran = cli("--org", "acme", "slack", "settings", "--channel", "#random")
    assert ran.exit_code == 0
    assert ran.stderr.splitlines() == [
        "warning: the Slack app is not a member of #random: invite it (/invite @<bot> in the channel) or add "
        "the chat:write.public scope and connect again, or posts will fail"
    ]


def test_disconnect_removes_the_auto_send_rule(cli: Cli, connected: dict[str, Any], api: respx.MockRouter) -> None:
    pages(api)
    cli.ok("--org", "acme", "slack", "settings", "--channel", "#general", "--auto-send")
    api.post("/auth.revoke").respond(200, json=fixture("auth_revoke.json"))
    assert cli.ok("--org", "acme", "slack", "disconnect")["auto_send_dropped"] is True
    assert cli.ok("--org", "acme", "jobs", "rules", "list") == []


def test_a_reconnect_to_another_workspace_drops_auto_send(
    cli: Cli, connected: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    pages(api)
    cli.ok("--org", "acme", "slack", "settings", "--channel", "#general", "--auto-send")
    api.post("/auth.test").respond(200, json=fixture("auth_test_bot.json"))  # workspace T0G9PQBBK
    shown = cli.ok("--org", "acme", "slack", "connect", "--token-stdin", input="xoxb-other-workspace-token")
    assert (shown["team_id"], shown["auto_send_dropped"], shown["auto_send"]) == ("T0G9PQBBK", True, False)
    assert shown["channel_id"] is None
    assert cli.ok("--org", "acme", "jobs", "rules", "list") == []


def test_a_reconnect_to_the_same_workspace_keeps_the_settings(
    cli: Cli, connected: dict[str, Any], api: respx.MockRouter
) -> None:
    pages(api)
    cli.ok("--org", "acme", "slack", "settings", "--channel", "#general", "--auto-send")
    api.post("/auth.test").respond(200, json={**fixture("auth_test_bot.json"), "team_id": "T9TK3CUKW"})
    shown = cli.ok("--org", "acme", "slack", "connect", "--token-stdin", input="xoxb-same-workspace-token")
    assert (shown["auto_send_dropped"], shown["auto_send"], shown["channel_id"]) == (False, True, "C012AB3CD")
    [rule] = cli.ok("--org", "acme", "jobs", "rules", "list")
    assert rule["targets"] == ["C012AB3CD"]
