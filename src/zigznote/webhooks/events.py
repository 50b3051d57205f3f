"""The catalog of webhook event types, and validation of event data and subscriptions.

The catalog is the single source of truth for which event types exist: ``events types`` lists
it, ``events emit`` validates against it, ``webhooks create --events`` validates subscriptions
against it, and the delivery fan-out uses :func:`matches`. Only the fields a receiver cannot do
without are required (``meeting_id`` everywhere, ``error`` for ``bot.error``); every other field
is free-form and passed through untouched, so the platform can add fields without a release of
this tool.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from zigznote.errors import InvalidInput

#: Upper bound on an event's serialised ``data``. Receivers commonly cap request bodies around
#: 256 KB-1 MB, and a delivery is retried and recorded many times, so big blobs (full
#: transcripts) belong behind a URL rather than inline.
MAX_PAYLOAD_BYTES = 256 * 1024

WILDCARD = "*"
TEST_EVENT = "webhook.test"

_TYPES_HINT = "`zigznote events types` lists the event types"


@dataclass(frozen=True)
class EventType:
    """One event type: its name, what it means, the ``data`` fields it requires, an example."""

    name: str
    description: str
    required: tuple[str, ...]
    example: dict[str, Any] = field(hash=False, compare=False)


_MEETING = "mtg_01JD3Q8Z4W6X7Y8Z9A0B1C2D3E"
_PARTICIPANTS = [
    {"name": "Amara Okafor", "email": "amara@example.com"},
    {"name": "Jonas Weber", "email": "jonas@example.com"},
]

_EVENTS: tuple[EventType, ...] = (
    EventType(
        "meeting.started",
        "A meeting began and the bot is recording it.",
        ("meeting_id",),
        {
            "meeting_id": _MEETING,
            "title": "Weekly product sync",
            "platform": "zoom",
            "started_at": "2026-11-03T14:00:12Z",
        },
    ),
    EventType(
        "meeting.ended",
        "A meeting finished; transcript and summary follow as separate events.",
        ("meeting_id",),
        {
            "meeting_id": _MEETING,
            "title": "Weekly product sync",
            "started_at": "2026-11-03T14:00:12Z",
            "ended_at": "2026-11-03T14:47:40Z",
            "duration_seconds": 2848,
            "participants": _PARTICIPANTS,
        },
    ),
    EventType(
        "meeting.updated",
        "A meeting's details (title, participants, schedule) changed.",
        ("meeting_id",),
        {
            "meeting_id": _MEETING,
            "changes": {"title": {"from": "Product sync", "to": "Weekly product sync"}},
        },
    ),
    EventType(
        "meeting.deleted",
        "A meeting and its transcript, summary and action items were deleted.",
        ("meeting_id",),
        {"meeting_id": _MEETING, "deleted_at": "2026-11-10T09:12:00Z"},
    ),
    EventType(
        "transcript.ready",
        "The meeting's transcript is available.",
        ("meeting_id",),
        {
            "meeting_id": _MEETING,
            "language": "en",
            "word_count": 6412,
            "transcript_url": f"https://app.zigznote.com/meetings/{_MEETING}/transcript",
        },
    ),
    EventType(
        "summary.ready",
        "The meeting's AI summary is available.",
        ("meeting_id",),
        {
            "meeting_id": _MEETING,
            "title": "Weekly product sync",
            "summary": "Agreed to ship the Flutterwave checkout on 18 November; "
            "mobile-money refunds stay manual until December.",
            "key_points": [
                "Flutterwave checkout ships 18 November",
                "Refunds for mobile money remain manual",
            ],
        },
    ),
    EventType(
        "action_items.ready",
        "Action items were extracted from the meeting.",
        ("meeting_id",),
        {
            "meeting_id": _MEETING,
            "action_items": [
                {
                    "text": "Write the refund runbook",
                    "assignee": "amara@example.com",
                    "due_date": "2026-11-14",
                },
                {"text": "Load-test checkout in KES", "assignee": "jonas@example.com"},
            ],
        },
    ),
    EventType(
        "bot.joined",
        "The recording bot joined the meeting.",
        ("meeting_id",),
        {"meeting_id": _MEETING, "bot_id": "bot_7Q2M", "joined_at": "2026-11-03T13:59:58Z"},
    ),
    EventType(
        "bot.left",
        "The recording bot left the meeting.",
        ("meeting_id",),
        {
            "meeting_id": _MEETING,
            "bot_id": "bot_7Q2M",
            "left_at": "2026-11-03T14:47:41Z",
            "reason": "meeting_ended",
        },
    ),
    EventType(
        "bot.error",
        "The recording bot failed (could not join, was removed, lost the stream).",
        ("meeting_id", "error"),
        {
            "meeting_id": _MEETING,
            "bot_id": "bot_7Q2M",
            "error": "The host denied the bot entry to the meeting",
            "error_code": "entry_denied",
        },
    ),
    EventType(
        TEST_EVENT,
        "A test message sent by `zigznote webhooks test`; never fanned out to `*`.",
        (),
        {"message": "This is a test webhook from zigznote."},
    ),
)

CATALOG: dict[str, EventType] = {event.name: event for event in _EVENTS}


def _non_empty_string(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _error_value(value: object) -> bool:
    # Senders describe errors either as a message or as an object like {"code", "message"};
    # both are useful to a receiver, an empty one is not.
    return _non_empty_string(value) or (isinstance(value, dict) and bool(value))


# What each required field must look like, and how to say so when it does not.
_FIELD_RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "meeting_id": (_non_empty_string, "a non-empty string"),
    "error": (_error_value, "a non-empty string or object"),
}


def suggest(name: str) -> str | None:
    """Return the catalog event type closest to ``name``, if any is close enough."""
    found = difflib.get_close_matches(name.strip().lower(), list(CATALOG), n=1, cutoff=0.6)
    return found[0] if found else None


def _unknown(names: Sequence[str]) -> InvalidInput:
    parts = []
    for name in names:
        guess = suggest(name)
        parts.append(f"{name!r} (did you mean {guess!r}?)" if guess else repr(name))
    noun = "event type" if len(names) == 1 else "event types"
    return InvalidInput(f"unknown {noun}: {', '.join(parts)}", hint=_TYPES_HINT, code="unknown_event_type")


def get(type_: str) -> EventType:
    """Return the catalog entry for ``type_``; InvalidInput (with a suggestion) if unknown."""
    event = CATALOG.get(type_)
    if event is None:
        raise _unknown([type_])
    return event


def validate_event(type_: str, data: object) -> dict[str, Any]:
    """Validate one event's type and ``data``; return ``data`` as a (shallow-copied) dict.

    Raises InvalidInput for an unknown type, data that is not a JSON object, missing or
    malformed required fields, data that is not JSON-serialisable, or data whose serialised
    size exceeds :data:`MAX_PAYLOAD_BYTES`.
    """
    if not isinstance(type_, str):
        raise InvalidInput(f"event type must be a string, got {type(type_).__name__}")
    event = get(type_)
    if not isinstance(data, dict):
        raise InvalidInput(
            f"{type_}: data must be a JSON object, got {_json_kind(data)}",
            # Only the required fields: a whole example is too long for one hint line, and a
            # cut one is not valid JSON to copy.
            hint=f"for example --data '{json.dumps({k: event.example[k] for k in event.required})}'",
        )
    missing = [name for name in event.required if name not in data]
    if missing:
        raise InvalidInput(
            f"{type_}: data is missing required field(s): {', '.join(missing)}",
            hint=f"{type_} requires {', '.join(event.required)}",
        )
    for name in event.required:
        rule = _FIELD_RULES.get(name)
        if rule is not None and not rule[0](data[name]):
            raise InvalidInput(f"{type_}: data.{name} must be {rule[1]}, got {_describe(data[name])}")
    try:
        # Measure what will actually be sent: compact UTF-8 JSON. NaN/Infinity are refused
        # because they are not JSON and most receivers' parsers reject them.
        encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{type_}: data is not JSON-serialisable ({exc})") from None
    size = len(encoded.encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise InvalidInput(
            f"{type_}: data is {size:,} bytes serialised; the limit is {MAX_PAYLOAD_BYTES:,} bytes (256 KB)",
            hint="send large content (such as full transcripts) as a URL instead of inline",
            code="payload_too_large",
        )
    return dict(data)


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def _describe(value: object) -> str:
    if isinstance(value, str):
        return "an empty string" if not value.strip() else "a string"
    if isinstance(value, dict) and not value:
        return "an empty object"
    return _json_kind(value)


def parse_subscription(spec: str | Sequence[str]) -> list[str]:
    """Parse a webhook's event subscription into a canonical list.

    ``"*"`` (alone or among others) gives ``["*"]``; otherwise a comma-separated string or a
    list of names (items may themselves be comma-separated) gives the validated, de-duplicated,
    sorted list. Unknown names and an empty subscription are InvalidInput.
    """
    items = [spec] if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInput(f"event type must be a string, got {type(item).__name__}")
        names.extend(part.strip() for part in item.split(",") if part.strip())
    if not names:
        raise InvalidInput("subscribe to at least one event type, or * for all of them", hint=_TYPES_HINT)
    if WILDCARD in names:
        return [WILDCARD]
    unknown = [name for name in dict.fromkeys(names) if name not in CATALOG]
    if unknown:
        raise _unknown(unknown)
    return sorted(set(names))


def matches(subscribed: Sequence[str], type_: str) -> bool:
    """True if a webhook subscribed to ``subscribed`` should receive an event of ``type_``.

    ``*`` covers every catalog event except ``webhook.test``: a test message goes to the one
    endpoint being tested (``webhooks test`` sends it directly) and must never fan out to every
    ``*`` endpoint of an org. An explicit ``webhook.test`` subscription does receive it.
    """
    if isinstance(subscribed, str):
        # A stored "a,b" string would otherwise match by substring ("meeting" in "meeting.ended").
        subscribed = [part.strip() for part in subscribed.split(",")]
    if type_ in subscribed:
        return True
    return WILDCARD in subscribed and type_ in CATALOG and type_ != TEST_EVENT
