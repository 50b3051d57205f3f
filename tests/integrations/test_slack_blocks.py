"""Block Kit summary messages: Slack's limits, nothing lost, nothing interpreted."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pytest
import respx

from zigznote.integrations.slack.blocks import escape, split_text, summary_messages
from zigznote.integrations.slack.client import SlackClient

API = "https://slack.test/api"
TOKEN = "xoxb-1-2-3"
MEETING = {
    "id": "mtg_01",
    "external_id": "m-1",
    "title": "Weekly sync & <planning>",
    "started_at": "2026-11-30T14:00:00Z",
    "ended_at": "2026-11-30T15:05:00Z",
    "url": "https://app.zigznote.test/m/1",
    "summary": "We met. Ann said <!channel> & co.\n\nSecond paragraph.",
    "participants": [{"name": "Ann Lee", "email": "ann@x.io"}, {"name": "", "email": "bob@x.io"}],
    "action_items": [
        {"text": "Ship it", "assignee_email": "ann@x.io", "due": "2026-12-01T00:00:00Z"},
        {"text": "Write docs", "assignee_email": "carol@x.io", "due": None},
        {"text": "Tidy up", "assignee_email": None, "due": None},
    ],
}


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def text_length(value: Any) -> int:
    """Independent count of block text: every string under a "text" key."""
    if isinstance(value, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else text_length(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(text_length(v) for v in value)
    return 0


def check_limits(message: Mapping[str, Any]) -> None:
    """Every limit of one chat.postMessage payload."""
    blocks = message["blocks"]
    assert 1 <= len(blocks) <= 50
    assert text_length(blocks) <= 12_000
    assert isinstance(message["text"], str) and 0 < len(message["text"]) <= 4000
    assert not re.search(r"&(?!amp;|lt;|gt;)", message["text"])  # escaped, no half entity
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(ids) == len(set(ids))
    for block in blocks:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            assert block["text"]["type"] == "mrkdwn"
            assert 0 < len(block["text"]["text"]) <= 3000
            assert not re.search(r"[<>]|&(?!amp;|lt;|gt;)", block["text"]["text"])
        elif block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
        elif block["type"] == "actions":
            (button,) = block["elements"]
            assert len(button["url"]) <= 3000
            assert len(button["text"]["text"]) <= 75
        else:
            pytest.fail(f"unexpected block type {block['type']}")


def sections(messages: Sequence[Mapping[str, Any]], prefix: str) -> list[str]:
    return [
        unescape(block["text"]["text"])
        for message in messages
        for block in message["blocks"]
        if block["type"] == "section" and block["block_id"].startswith(prefix)
    ]


# -- one small meeting, exactly -------------------------------------------------------------


def test_a_small_meeting_is_one_exact_message() -> None:
    (message,) = summary_messages(MEETING)
    assert message == {
        "text": (
            "Meeting summary: Weekly sync &amp; &lt;planning&gt; (2026-11-30 14:00 UTC · 1h 5m)\n"
            "We met. Ann said &lt;!channel&gt; &amp; co. Second paragraph.\n3 action items"
        ),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Weekly sync & <planning>"}},
            {
                "type": "context",
                "block_id": "meta",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "<!date^1796047200^{date_short_pretty} {time}|2026-11-30 14:00 UTC> · 1h 5m",
                    },
                    {"type": "mrkdwn", "text": "Participants: Ann Lee, bob@x.io"},
                ],
            },
            {
                "type": "section",
                "block_id": "summary-0",
                "text": {"type": "mrkdwn", "text": "We met. Ann said &lt;!channel&gt; &amp; co.\n\nSecond paragraph."},
            },
            {"type": "header", "block_id": "action-items", "text": {"type": "plain_text", "text": "Action items (3)"}},
            {
                "type": "section",
                "block_id": "action-items-0",
                "text": {
                    "type": "mrkdwn",
                    "text": "• Ship it — Ann Lee (ann@x.io) (due 2026-12-01)\n• Write docs — carol@x.io\n• Tidy up",
                },
            },
            {
                "type": "actions",
                "block_id": "links",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "open-meeting",
                        "text": {"type": "plain_text", "text": "Open the meeting"},
                        "url": "https://app.zigznote.test/m/1",
                    }
                ],
            },
        ],
    }


def test_an_empty_meeting_still_makes_a_valid_message() -> None:
    (message,) = summary_messages({})
    check_limits(message)
    assert message["text"] == "Meeting summary: Meeting"
    assert [b["type"] for b in message["blocks"]] == ["header", "section"]
    assert message["blocks"][1]["text"]["text"] == "_No summary was recorded for this meeting._"


@pytest.mark.parametrize(
    ("ended_at", "shown"),
    [("2026-11-30T14:45:00Z", " · 45m"), ("2026-11-30T16:00:00Z", " · 2h"),
     ("2026-11-30T14:00:20Z", " · under a minute"), (None, ""), ("2026-11-30T13:00:00Z", "")],
)  # fmt: skip
def test_duration_comes_from_ended_at(ended_at: str | None, shown: str) -> None:
    (message,) = summary_messages({**MEETING, "ended_at": ended_at})
    date = message["blocks"][1]["elements"][0]["text"]
    assert date == "<!date^1796047200^{date_short_pretty} {time}|2026-11-30 14:00 UTC>" + shown


def test_the_link_button() -> None:
    def button(**kw: Any) -> list[str]:
        (message,) = summary_messages({**MEETING, **kw.pop("meeting", {})}, **kw)
        return [e["url"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]

    assert button() == ["https://app.zigznote.test/m/1"]
    assert button(link="https://other.test/x") == ["https://other.test/x"]
    assert button(meeting={"url": None}) == []
    assert button(link="javascript:alert(1)") == []
    assert button(link="https://x.test/" + "a" * 3000) == []


def test_a_long_title_is_shortened_in_the_header_only_visibly() -> None:
    title = " ".join(["word"] * 120)  # 599 characters
    (message,) = summary_messages({**MEETING, "title": title})
    header = message["blocks"][0]["text"]["text"]
    assert len(header) <= 150 and header.endswith("…")
    assert header[:-1].split() == ["word"] * len(header[:-1].split())
    check_limits(message)


def test_many_participants_end_with_and_n_more() -> None:
    people = [{"name": f"Person {i:03d} with a fairly long name", "email": None} for i in range(200)]
    (message,) = summary_messages({**MEETING, "participants": people})
    text = message["blocks"][1]["elements"][1]["text"]
    assert len(text) <= 1500
    shown = text.removeprefix("Participants: ").split(", ")
    more = re.fullmatch(r"and (\d+) more", shown[-1])
    assert more is not None
    assert len(shown) - 1 + int(more.group(1)) == 200


# -- splitting ----------------------------------------------------------------------------------


def test_split_text_keeps_paragraphs_that_fit() -> None:
    assert split_text("One.\n\n\n  Two.\nStill two.", 3000) == ["One.\n\nTwo.\nStill two."]
    assert split_text("  \n ", 3000) == []


def test_split_text_goes_to_sentences_then_words() -> None:
    text = "Alpha beta gamma. Delta epsilon zeta! Eta theta iota?"
    assert split_text(text, 20) == ["Alpha beta gamma.", "Delta epsilon zeta!", "Eta theta iota?"]
    assert split_text(text, 12) == ["Alpha beta", "gamma. Delta", "epsilon", "zeta! Eta", "theta iota?"]


def test_split_text_measures_escaped_length_and_never_cuts_an_entity() -> None:
    word = "&" * 1000  # 5000 characters once escaped
    chunks = split_text(word, 3000)
    assert [len(c) for c in chunks] == [600, 400]
    assert all(len(escape(c)) <= 3000 for c in chunks)
    assert "".join(chunks) == word


def test_a_word_longer_than_a_section_is_cut_never_dropped() -> None:
    word = "https://example.test/" + "x" * 7000
    summary = f"Before the link. {word} after the link."
    messages = summary_messages({**MEETING, "summary": summary, "action_items": []})
    for message in messages:
        check_limits(message)
    texts = sections(messages, "summary-")
    # The sentence before, then 3000-character pieces of the word, the last sharing its section.
    assert texts[0] == "Before the link."
    assert [len(t) for t in texts[1:]] == [3000, 3000, 1021 + len(" after the link.")]
    assert texts[0] + " " + texts[1] + texts[2] + texts[3] == summary


# -- the big one: 20,000 characters and 60 action items, posted through the client --------------------

WORDS = [
    "budget",
    "roadmap",
    "hiring",
    "launch",
    "R&D",
    "<beta>",
    "customers",
    "churn",
    "pricing",
    "latency",
    "Q4",
    "OKR",
    "migration",
    "security",
    "audit",
    "onboarding",
    "a&b",
    "x<y",
    "z>w",
    "design",
    "review",
    "partner",
    "contract",
    "renewal",
    "escalation",
]


def _big_summary(rng: random.Random, size: int) -> str:
    paragraphs: list[str] = []
    total = 0
    while total < size:
        sentences = []
        for _ in range(rng.randint(1, 40)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(3, 25))]
            sentences.append(" ".join(words).capitalize() + rng.choice([".", "!", "?", "…"]))
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    return "\n\n".join(paragraphs)[:size].rstrip()


def test_a_20000_character_summary_with_60_items_respects_every_limit_and_loses_nothing() -> None:
    rng = random.Random(9)
    summary = _big_summary(rng, 20_000)
    assert len(summary) == 20_000
    items: list[dict[str, Any]] = [
        {
            "text": f"Item {i:02d}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))),
            "assignee_email": f"person{i % 7}@x.io" if i % 3 else None,
            "due": "2026-12-15" if i % 5 == 0 else None,
        }
        for i in range(60)
    ]
    meeting = {**MEETING, "summary": summary, "action_items": items}
    messages = summary_messages(meeting)

    with respx.mock, SlackClient(api_base=API) as client:
        route = respx.post(f"{API}/chat.postMessage").mock(
            side_effect=[
                httpx.Response(200, json={"ok": True, "channel": "C1", "ts": f"17000.{n:06d}"}) for n in range(1, 20)
            ]
        )
        first = client.post_message(TOKEN, channel="C1", **messages[0])
        for message in messages[1:]:
            client.post_message(TOKEN, channel="C1", thread_ts=first["ts"], **message)
        payloads = [json.loads(call.request.content) for call in route.calls]

    assert len(payloads) == len(messages) >= 2
    assert "thread_ts" not in payloads[0]
    assert all(p["thread_ts"] == "17000.000001" and p["channel"] == "C1" for p in payloads[1:])
    for payload in payloads:
        check_limits(payload)
    for n, payload in enumerate(payloads[1:], start=2):
        assert payload["blocks"][0]["elements"][0]["text"].endswith(f" · continued ({n}/{len(payloads)})")
        assert payload["text"] == f"Weekly sync &amp; &lt;planning&gt;: continued ({n}/{len(payloads)})"

    # Every word of the summary, in order, exactly as written (entities undone).
    assert " ".join(sections(payloads, "summary-")).split() == summary.split()
    # Every action item exactly once, with its assignee and due date.
    lines = [line for text in sections(payloads, "action-items-") for line in text.split("\n")]
    assert len(lines) == 60
    for i, item in enumerate(items):
        expected = "• " + item["text"]
        if item["assignee_email"]:
            expected += f" — {item['assignee_email']}"
        if item["due"]:
            expected += " (due 2026-12-15)"
        assert lines.count(expected) == 1, expected
        assert lines[i] == expected
    # The header, the meta context and the button are on the first message only.
    assert payloads[0]["blocks"][0]["text"]["text"] == "Weekly sync & <planning>"
    assert [b["type"] for b in payloads[0]["blocks"]][-1] == "actions"
    assert all(b["type"] != "actions" for p in payloads[1:] for b in p["blocks"])


def test_action_items_that_overflow_continue_under_a_continued_header() -> None:
    items = [{"text": f"Task {i:03d} " + "detail " * 40} for i in range(200)]  # ~57,000 characters
    messages = summary_messages({**MEETING, "summary": "Short.", "action_items": items})
    assert len(messages) >= 5
    for message in messages:
        check_limits(message)
    headers = [b["text"]["text"] for m in messages for b in m["blocks"] if b.get("block_id") == "action-items"]
    assert headers == ["Action items (200)"] + ["Action items (continued)"] * (len(messages) - 1)
    lines = [line for text in sections(messages, "action-items-") for line in text.split("\n")]
    assert lines == ["• " + " ".join(item["text"].split()) for item in items]


def test_a_summary_of_ampersands_keeps_the_fallback_short_and_whole() -> None:
    messages = summary_messages({**MEETING, "title": "&" * 500, "summary": "&" * 5000})
    for message in messages:
        check_limits(message)
    assert "".join(sections(messages, "summary-")) == "&" * 5000
