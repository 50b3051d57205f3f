"""The event catalog: its contents, event validation, subscriptions and fan-out matching."""

from __future__ import annotations

import dataclasses
import json

import pytest

from zigznote.errors import InvalidInput
from zigznote.webhooks import events
from zigznote.webhooks.events import CATALOG, MAX_PAYLOAD_BYTES, EventType

DOMAIN_EVENTS = [
    "meeting.started",
    "meeting.ended",
    "meeting.updated",
    "meeting.deleted",
    "transcript.ready",
    "summary.ready",
    "action_items.ready",
    "bot.joined",
    "bot.left",
    "bot.error",
]


# --- catalog --------------------------------------------------------------------------------


def test_catalog_has_exactly_the_contract_events() -> None:
    assert sorted(CATALOG) == sorted([*DOMAIN_EVENTS, "webhook.test"])
    for name, event in CATALOG.items():
        assert isinstance(event, EventType)
        assert event.name == name
        assert event.description.strip()


def test_required_fields() -> None:
    for name in DOMAIN_EVENTS:
        assert "meeting_id" in CATALOG[name].required
    assert CATALOG["bot.error"].required == ("meeting_id", "error")
    assert CATALOG["webhook.test"].required == ()
    others = set(DOMAIN_EVENTS) - {"bot.error"}
    assert all(CATALOG[n].required == ("meeting_id",) for n in others)


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_example_is_valid_and_serialisable(name: str) -> None:
    example = CATALOG[name].example
    assert events.validate_event(name, example) == example
    json.dumps(example)


def test_examples_are_realistic() -> None:
    assert {"meeting_id", "title", "summary"} <= set(CATALOG["summary.ready"].example)
    items = CATALOG["action_items.ready"].example["action_items"]
    assert isinstance(items, list) and items and all("text" in i for i in items)
    ended = CATALOG["meeting.ended"].example
    assert {"started_at", "ended_at", "duration_seconds", "participants"} <= set(ended)
    assert isinstance(ended["duration_seconds"], int)
    assert CATALOG["bot.error"].example["error"]


def test_event_type_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'name'"):
        field_name = "name"  # via setattr so the type checker lets the test try it
        setattr(CATALOG["bot.left"], field_name, "bot.gone")


def test_max_payload_bytes() -> None:
    assert MAX_PAYLOAD_BYTES == 262_144


# --- validate_event -------------------------------------------------------------------------


def test_validate_passes_free_form_fields_through_and_copies() -> None:
    data = {"meeting_id": "mtg_1", "anything": {"nested": [1, 2]}, "title": None}
    out = events.validate_event("meeting.updated", data)
    assert out == data
    assert out is not data


def test_unknown_type_suggests_nearest_and_points_to_types_command() -> None:
    with pytest.raises(InvalidInput) as exc:
        events.validate_event("meeting.endd", {"meeting_id": "m"})
    assert "unknown event type" in exc.value.message
    assert "'meeting.ended'" in exc.value.message
    assert "zigznote events types" in (exc.value.hint or "")
    assert exc.value.exit_code == 2


def test_unknown_type_without_near_match_has_no_suggestion() -> None:
    with pytest.raises(InvalidInput) as exc:
        events.validate_event("zzzzzz", {"meeting_id": "m"})
    assert "did you mean" not in exc.value.message


@pytest.mark.parametrize(
    ("data", "kind"),
    [(None, "null"), ([], "an array"), ("x", "a string"), (3, "a number"), (True, "a boolean")],
)
def test_data_must_be_an_object(data: object, kind: str) -> None:
    with pytest.raises(InvalidInput, match=f"data must be a JSON object, got {kind}"):
        events.validate_event("meeting.started", data)


def test_missing_required_fields_are_named() -> None:
    with pytest.raises(InvalidInput, match=r"missing required field\(s\): meeting_id$"):
        events.validate_event("summary.ready", {"summary": "x"})
    with pytest.raises(InvalidInput, match=r"missing required field\(s\): meeting_id, error"):
        events.validate_event("bot.error", {})
    with pytest.raises(InvalidInput, match=r"missing required field\(s\): error"):
        events.validate_event("bot.error", {"meeting_id": "mtg_1"})


@pytest.mark.parametrize("value", ["", "   ", 42, None, ["mtg_1"], {"id": "mtg_1"}], ids=repr)
def test_meeting_id_must_be_non_empty_string(value: object) -> None:
    with pytest.raises(InvalidInput, match=r"data\.meeting_id must be a non-empty string"):
        events.validate_event("transcript.ready", {"meeting_id": value})


def test_bot_error_error_field() -> None:
    events.validate_event("bot.error", {"meeting_id": "m", "error": "kicked"})
    events.validate_event("bot.error", {"meeting_id": "m", "error": {"code": "kicked"}})
    bad: object
    for bad in ("", {}, None, 5):
        with pytest.raises(InvalidInput, match=r"data\.error must be"):
            events.validate_event("bot.error", {"meeting_id": "m", "error": bad})


def test_webhook_test_requires_nothing() -> None:
    assert events.validate_event("webhook.test", {}) == {}


def test_payload_size_limit_is_enforced_and_reported() -> None:
    # Compact JSON of {"meeting_id":"m","blob":"..."} is 30 bytes plus the blob.
    overhead = len(json.dumps({"meeting_id": "m", "blob": ""}, separators=(",", ":")))
    at_limit = {"meeting_id": "m", "blob": "x" * (MAX_PAYLOAD_BYTES - overhead)}
    events.validate_event("transcript.ready", at_limit)
    over = {"meeting_id": "m", "blob": "x" * (MAX_PAYLOAD_BYTES - overhead + 1)}
    with pytest.raises(InvalidInput) as exc:
        events.validate_event("transcript.ready", over)
    assert "262,145 bytes" in exc.value.message
    assert "256 KB" in exc.value.message


def test_payload_size_counts_utf8_bytes_not_characters() -> None:
    n = MAX_PAYLOAD_BYTES // 2  # 2 bytes per "é": fewer chars than the limit, more bytes
    with pytest.raises(InvalidInput, match="the limit is 262,144 bytes"):
        events.validate_event("summary.ready", {"meeting_id": "m", "summary": "é" * n})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {1, 2}, object()], ids=repr)
def test_data_must_be_json_serialisable(bad: object) -> None:
    with pytest.raises(InvalidInput, match="not JSON-serialisable"):
        events.validate_event("meeting.updated", {"meeting_id": "m", "x": bad})


# --- parse_subscription ---------------------------------------------------------------------


def test_parse_subscription_star() -> None:
    assert events.parse_subscription("*") == ["*"]
    assert events.parse_subscription(" * ") == ["*"]
    assert events.parse_subscription("meeting.ended,*,bot.left") == ["*"]
    assert events.parse_subscription(["summary.ready", "*"]) == ["*"]


def test_parse_subscription_list_is_deduplicated_and_sorted() -> None:
    assert events.parse_subscription("summary.ready, meeting.ended,summary.ready") == [
        "meeting.ended",
        "summary.ready",
    ]
    assert events.parse_subscription(["bot.left", "action_items.ready,bot.left"]) == [
        "action_items.ready",
        "bot.left",
    ]
    assert events.parse_subscription("webhook.test") == ["webhook.test"]


@pytest.mark.parametrize("spec", ["", " , ", [], [""]], ids=repr)
def test_parse_subscription_empty_refused(spec: str | list[str]) -> None:
    with pytest.raises(InvalidInput, match="at least one event type"):
        events.parse_subscription(spec)


def test_parse_subscription_unknown_refused_with_suggestions() -> None:
    with pytest.raises(InvalidInput) as exc:
        events.parse_subscription("meeting.ended,sumary.ready,nonsense")
    msg = exc.value.message
    assert msg.startswith("unknown event types:")
    assert "'sumary.ready' (did you mean 'summary.ready'?)" in msg
    assert "'nonsense'" in msg
    assert "meeting.ended" not in msg


# --- matches --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DOMAIN_EVENTS)
def test_star_matches_every_domain_event(name: str) -> None:
    assert events.matches(["*"], name)


def test_star_does_not_match_webhook_test_or_unknown() -> None:
    assert not events.matches(["*"], "webhook.test")
    assert not events.matches(["*"], "not.an.event")


def test_explicit_subscriptions() -> None:
    subs = events.parse_subscription("meeting.ended,summary.ready")
    assert events.matches(subs, "meeting.ended")
    assert events.matches(subs, "summary.ready")
    assert not events.matches(subs, "meeting.started")
    assert not events.matches(subs, "webhook.test")
    assert events.matches(["webhook.test"], "webhook.test")


def test_matches_string_subscription_is_not_substring_matching() -> None:
    assert not events.matches("meeting.ended", "meeting")
    assert events.matches("meeting.ended,bot.left", "bot.left")
