"""Tests for zigznote.timeutil: durations, --since, timestamps and ISO output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from zigznote.errors import InvalidInput
from zigznote.timeutil import (
    as_naive_utc,
    format_duration,
    iso,
    parse_duration,
    parse_since,
    parse_timestamp,
    utcnow,
)

NOW = datetime(2026, 11, 26, 6, 47, 20, 123456)


# --------------------------------------------------------------------------- utcnow


def test_utcnow_is_naive_and_utc() -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    value = utcnow()
    after = datetime.now(UTC).replace(tzinfo=None)
    assert value.tzinfo is None
    assert before <= value <= after


def test_utcnow_keeps_microseconds() -> None:
    # Two readings a few calls apart share the same microsecond only by chance; over many
    # readings at least one must have a non-zero microsecond field if they are kept.
    assert any(utcnow().microsecond for _ in range(50))


# --------------------------------------------------------------------------- parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("1s", 1.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("2d", 172800.0),
        ("1.5s", 1.5),
        ("1h30m", 5400.0),
        ("1d2h3m4s", 86400 + 7200 + 180 + 4),
        ("1m30s250ms", 90.25),
        ("1h 30m", 5400.0),
        ("  15m  ", 900.0),
        ("30", 30.0),
        ("0.25", 0.25),
        ("0", 0.0),
        ("0s", 0.0),
        ("5M", 300.0),
        (".5s", 0.5),
    ],
)
def test_parse_duration_accepts(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("-5s", "negative"),
        ("-1", "negative"),
        ("5x", "5x"),
        ("5 weeks", "weeks"),
        ("h", "h"),
        ("1h1h", "more than once"),
        ("1.2.3s", "1.2.3s"),
        ("inf", "inf"),
        ("nan", "nan"),
        ("1e3", "1e3"),
        ("1h-30m", "-30m"),
    ],
)
def test_parse_duration_rejects_with_clear_message(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_duration(text)
    assert fragment in info.value.message
    assert info.value.hint and "1h30m" in info.value.hint


# --------------------------------------------------------------------------- format_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1, "1s"),
        (1.0, "1s"),
        (59, "59s"),
        (60, "1m"),
        (300, "5m"),
        (3600, "1h"),
        (5400, "1h30m"),
        (3661, "1h1m1s"),
        (86400, "1d"),
        (90000, "1d1h"),
        (0.25, "250ms"),
        (0.001, "1ms"),
        (1.5, "1.5s"),
        (90.25, "1m30.25s"),
        (-5, "-5s"),
        (0.1 + 0.2, "300ms"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0.5, 1, 1.5, 59.999, 61, 3599, 5400, 86461.25, 0.001])
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


def test_format_duration_rejects_non_finite() -> None:
    with pytest.raises(ValueError, match="non-finite duration"):
        format_duration(float("inf"))


# --------------------------------------------------------------------------- parse_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", datetime(2026, 11, 1)),
        ("2026-11-01T10:00:00", datetime(2026, 11, 1, 10)),
        ("2026-11-01T10:00:00Z", datetime(2026, 11, 1, 10)),
        ("2026-11-01T10:00:00.5Z", datetime(2026, 11, 1, 10, 0, 0, 500000)),
        ("2026-11-01T12:30:00+02:00", datetime(2026, 11, 1, 10, 30)),
        ("2026-11-01T05:00:00-05:00", datetime(2026, 11, 1, 10)),
        # Offsets can move the date across midnight.
        ("2026-11-01T01:00:00+03:00", datetime(2026, 10, 31, 22)),
        ("2026-11-01 10:00", datetime(2026, 11, 1, 10)),
    ],
)
def test_parse_timestamp(text: str, expected: datetime) -> None:
    value = parse_timestamp(text)
    assert value == expected
    assert value.tzinfo is None


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "2026-11-01T25:00", "10:00"])
def test_parse_timestamp_rejects(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"timestamp|time|date"):
        parse_timestamp(text)


# --------------------------------------------------------------------------- parse_since


def test_parse_since_duration_is_relative_to_now() -> None:
    assert parse_since("2h", now=NOW) == NOW - timedelta(hours=2)
    assert parse_since("1h30m", now=NOW) == NOW - timedelta(minutes=90)
    assert parse_since("45", now=NOW) == NOW - timedelta(seconds=45)


def test_parse_since_aware_now_is_converted() -> None:
    aware = datetime(2026, 11, 26, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    assert parse_since("1h", now=aware) == datetime(2026, 11, 26, 5, 0)


def test_parse_since_defaults_to_current_time() -> None:
    value = parse_since("1h")
    expected = utcnow() - timedelta(hours=1)
    assert value.tzinfo is None
    assert abs((value - expected).total_seconds()) < 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", datetime(2026, 11, 1)),
        ("2026-11-01T10:00:00Z", datetime(2026, 11, 1, 10)),
        ("2026-11-01T10:00:00+01:00", datetime(2026, 11, 1, 9)),
        ("2026-11-01T10:00:00", datetime(2026, 11, 1, 10)),
    ],
)
def test_parse_since_iso(text: str, expected: datetime) -> None:
    assert parse_since(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["", "last week", "-2h", "2026-02-30", "2 fortnights"])
def test_parse_since_rejects(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_since(text, now=NOW)
    assert info.value.hint and "2h" in info.value.hint


# --------------------------------------------------------------------------- iso


def test_iso_none() -> None:
    assert iso(None) is None


def test_iso_with_microseconds() -> None:
    assert iso(NOW) == "2026-11-26T06:47:20.123456Z"


def test_iso_without_microseconds() -> None:
    assert iso(datetime(2026, 11, 26, 6, 47, 20)) == "2026-11-26T06:47:20Z"


def test_iso_pads_small_microseconds_and_years() -> None:
    assert iso(datetime(2026, 1, 2, 3, 4, 5, 7)) == "2026-01-02T03:04:05.000007Z"
    assert iso(datetime(999, 1, 1)) == "0999-01-01T00:00:00Z"


def test_iso_converts_aware_to_utc() -> None:
    aware = datetime(2026, 11, 26, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    assert iso(aware) == "2026-11-26T06:00:00Z"


def test_iso_round_trips_through_parse_timestamp() -> None:
    for value in (NOW, NOW.replace(microsecond=0)):
        text = iso(value)
        assert text is not None
        assert parse_timestamp(text) == value


def test_as_naive_utc() -> None:
    assert as_naive_utc(NOW) == NOW
    aware = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-3)))
    assert as_naive_utc(aware) == datetime(2026, 1, 1, 3)
