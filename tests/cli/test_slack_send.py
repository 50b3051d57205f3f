"""`zigznote slack send` against respx on SLACK_API_BASE: a 20,000-character summary with 60
action items as a thread, checked on the exact payloads Slack received; the default channel;
errors with their hints; resuming after messages already sent (the job handler's retries)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import respx

from tests.cli._slack_support import (
    ACCESS,
    api,
    bearer_of,
    connected,
    fixture,
    pages,
    slack_env,
    store,
)
from tests.conftest import Cli
from zigznote.integrations.slack.blocks import block_text_length

__all__ = ["api", "connected", "slack_env", "store"]  # fixtures used by name

# -- send ----------------------------------------------------------------------------------------

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"]


def long_meeting() -> dict[str, Any]:
    """A 20,000-character summary (paragraphs of numbered sentences, a few <, >, & to escape) and
    60 action items, each identifiable."""
    paragraphs, n = [], 0
    text_len = 0
    while text_len < 20_000:
        sentences = []
        for _ in range(6):
            n += 1
            words = " ".join(f"{WORDS[(n + k) % len(WORDS)]}{n}" for k in range(8))
            sentences.append(f"Point w{n}: {words} & <ok>.")
        paragraphs.append(" ".join(sentences))
        text_len = len("\n\n".join(paragraphs))
    summary = "\n\n".join(paragraphs)[:20_000].rsplit(" ", 1)[0]
    items = [
        {"text": f"Action item number {i:02d} for the team", "assignee_email": f"p{i}@example.com"} for i in range(60)
    ]
    return {
        "external_id": "m-long",
        "title": "Quarterly planning " + "x" * 200,
        "started_at": "2026-11-02T09:00:00Z",
        "ended_at": "2026-11-02T10:30:00Z",
        "url": "https://app.example.com/meetings/m-long",
        "summary": summary,
        "participants": [{"name": "Ada", "email": "p0@example.com"}],
        "action_items": items,
    }


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def texts(blocks: list[dict[str, Any]], prefix: str) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section" and b["block_id"].startswith(prefix)]


def posting(api: respx.MockRouter) -> tuple[respx.Route, list[dict[str, Any]]]:
    """chat.postMessage answering with increasing ts; returns the route and the JSON payloads."""
    payloads: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        payloads.append(json.loads(request.content))
        ts = f"1700000000.{len(payloads):06d}"
        return httpx.Response(200, json={**fixture("chat_post_message.json"), "channel": "C012AB3CD", "ts": ts})

    return api.post("/chat.postMessage").mock(side_effect=answer), payloads


def test_send_a_long_summary_as_a_thread_within_every_limit(
    cli: Cli, connected: dict[str, Any], api: respx.MockRouter
) -> None:
    meeting = long_meeting()
    assert len(meeting["summary"]) > 19_900
    cli.ok("--org", "acme", "meetings", "import", "-", input=json.dumps(meeting))
    route, payloads = posting(api)
    shown = cli.ok("--org", "acme", "slack", "send", "m-long", "--channel", "C012AB3CD")

    assert len(payloads) >= 3
    ts = [f"1700000000.{i:06d}" for i in range(1, len(payloads) + 1)]
    assert shown["channel"] == "C012AB3CD" and shown["ts"] == ts[0] and shown["messages"] == ts
    assert shown["meeting_id"].startswith("mtg_")
    for i, (payload, call) in enumerate(zip(payloads, route.calls, strict=True)):
        assert call.request.headers["Content-Type"] == "application/json; charset=utf-8"
        assert bearer_of(call.request) == ACCESS
        assert payload["channel"] == "C012AB3CD"
        assert payload.get("thread_ts") == (None if i == 0 else ts[0])  # replies go into the first one's thread
        blocks = payload["blocks"]
        assert 0 < len(payload["text"]) <= 4000
        assert len(blocks) <= 50
        assert block_text_length(blocks) <= 12_000
        for block in blocks:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= 3000
            if block["type"] == "header":
                assert len(block["text"]["text"]) <= 150
    first = payloads[0]["blocks"]
    assert first[0] == {"type": "header", "text": {"type": "plain_text", "text": first[0]["text"]["text"]}}
    assert first[0]["text"]["text"].startswith("Quarterly planning x") and first[0]["text"]["text"].endswith("…")
    assert first[-1]["elements"][0]["url"] == "https://app.example.com/meetings/m-long"

    # Every word of the summary arrived, once, in order; every action item exactly once.
    summary = unescape("\n\n".join(t for p in payloads for t in texts(p["blocks"], "summary-")))
    assert summary.split() == meeting["summary"].split()
    item_lines = [
        line for p in payloads for t in texts(p["blocks"], "action-items-") for line in unescape(t).splitlines()
    ]
    assert item_lines == [
        f"• Action item number {i:02d} for the team — {'Ada (p0@example.com)' if i == 0 else f'p{i}@example.com'}"
        for i in range(60)
    ]
    assert len(item_lines) == 60
    # Escaping: the raw < > & of the summary never reach Slack unescaped.
    raw = "".join(t for p in payloads for t in texts(p["blocks"], "summary-"))
    assert "<ok>" not in raw and "&lt;ok&gt;" in raw and re.search(r"&(?!amp;|lt;|gt;)", raw) is None


def test_send_uses_the_default_channel_and_says_where(
    cli: Cli, connected: dict[str, Any], api: respx.MockRouter
) -> None:
    cli.ok("--org", "acme", "meetings", "import", "-", input=json.dumps(short_meeting()))
    pages(api)
    cli.ok("--org", "acme", "slack", "settings", "--channel", "#general")
    route, payloads = posting(api)
    ran = cli("--org", "acme", "slack", "send", "m-1")
    assert ran.exit_code == 0, ran.stderr
    assert ran.stderr.strip() == "✓ posted the summary of m-1 to C012AB3CD: message 1700000000.000001"
    [payload] = payloads
    assert payload["channel"] == "C012AB3CD" and "thread_ts" not in payload
    assert payload["text"].startswith("Meeting summary: Weekly sync")
    assert route.calls.call_count == 1


def short_meeting() -> dict[str, Any]:
    return {
        "external_id": "m-1",
        "title": "Weekly sync",
        "started_at": "2026-11-02T09:00:00Z",
        "summary": "We shipped it.",
        "action_items": [{"text": "Write the notes"}],
    }


def test_send_without_any_channel_is_exit_2(cli: Cli, connected: dict[str, Any], api: respx.MockRouter) -> None:
    cli.ok("--org", "acme", "meetings", "import", "-", input=json.dumps(short_meeting()))
    error = cli.fails(2, "--org", "acme", "slack", "send", "m-1")
    assert error["code"] == "channel_required"
    assert error["hint"] == (
        "name one: `zigznote --org acme slack send MEETING --channel '#name'`, "
        "or set a default: `zigznote --org acme slack settings --channel '#name'`"
    )
    assert api.calls.call_count == 0


def test_send_of_an_unknown_meeting_is_exit_3(cli: Cli, connected: dict[str, Any], api: respx.MockRouter) -> None:
    assert cli.fails(3, "--org", "acme", "slack", "send", "m-404", "--channel", "C1234")["code"] == "meeting_not_found"
    assert api.calls.call_count == 0


def test_not_in_channel_gives_the_invite_hint(cli: Cli, connected: dict[str, Any], api: respx.MockRouter) -> None:
    cli.ok("--org", "acme", "meetings", "import", "-", input=json.dumps(short_meeting()))
    route = api.post("/chat.postMessage").respond(200, json=fixture("error_not_in_channel.json"))
    ran = cli("--org", "acme", "slack", "send", "m-1", "--channel", "C061EG9T2")
    assert ran.exit_code == 4
    assert ran.stderr.splitlines() == [
        "error: the Slack app is not a member of the channel (channel C061EG9T2)",
        "hint: invite the bot: /invite @<bot> in the channel, or add the chat:write.public scope in the Slack "
        "app settings and connect again",
    ]
    assert route.calls.call_count == 1  # not retried


def test_invalid_blocks_is_reported_not_retried_and_says_what_was_posted(
    cli: Cli, connected: dict[str, Any], api: respx.MockRouter
) -> None:
    cli.ok("--org", "acme", "meetings", "import", "-", input=json.dumps(long_meeting()))
    route = api.post("/chat.postMessage").mock(
        side_effect=[
            httpx.Response(200, json={**fixture("chat_post_message.json"), "channel": "C012AB3CD", "ts": "1.000001"}),
            httpx.Response(200, json=fixture("error_invalid_blocks.json")),
        ]
    )
    error = cli.fails(2, "--org", "acme", "slack", "send", "m-long", "--channel", "C012AB3CD")
    assert error["code"] == "invalid_blocks"
    assert error["message"].startswith(
        "Slack refused the message for chat.postMessage (channel C012AB3CD): invalid_blocks "
        "(must be less than 3001 characters [json-pointer:/blocks/0/text/text]) (message 2 of "
    )
    assert "messages 1-1 were posted, thread 1.000001" in error["message"]
    assert route.calls.call_count == 2


def test_send_summary_resumes_after_the_messages_already_sent(
    cli: Cli, connected: dict[str, Any], api: respx.MockRouter, store: Any, slack_env: dict[str, str]
) -> None:
    """The job handler's retry: messages recorded in ``sent`` are not posted again."""
    from zigznote.config import load_settings
    from zigznote.services import slack

    cli.ok("--org", "acme", "meetings", "import", "-", input=json.dumps(long_meeting()))
    route, payloads = posting(api)
    db, vault = store
    sent: dict[int, str] = {0: "1699999999.000001"}
    seen: list[tuple[int, str]] = []
    result = slack.send_summary(
        db,
        vault,
        load_settings({"db_url": cli.db_url}),
        org_id="acme",
        meeting_ref="m-long",
        channel="C012AB3CD",
        sent=sent,
        on_posted=lambda i, ts: seen.append((i, ts)),
    )
    total = len(result["messages"])
    assert route.calls.call_count == total - 1
    assert {p["thread_ts"] for p in payloads} == {"1699999999.000001"}
    assert result["messages"][0] == "1699999999.000001" and result["ts"] == "1699999999.000001"
    assert seen == [(i, f"1700000000.{i:06d}") for i in range(1, total)]
    assert sent == dict([(0, "1699999999.000001"), *seen])
