"""Tests for zigznote.delivery.retry: schedule, jitter, Retry-After and classification."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, cast

import pytest

from zigznote.delivery.retry import (
    DEFAULT_SCHEDULE,
    RetryPolicy,
    classify,
    parse_retry_after,
    parse_schedule,
)
from zigznote.errors import InvalidInput
from zigznote.timeutil import utcnow

NOW = datetime(2026, 11, 26, 6, 0, 0)


def http_date(dt: datetime) -> str:
    """An RFC 9110 IMF-fixdate for a naive-UTC datetime."""
    return format_datetime(dt.replace(tzinfo=UTC), usegmt=True)


# --------------------------------------------------------------------------- parse_schedule


def test_default_schedule_matches_the_contract() -> None:
    assert DEFAULT_SCHEDULE == (1.0, 5.0, 30.0, 300.0, 3600.0)
    assert parse_schedule("1s,5s,30s,5m,1h") == DEFAULT_SCHEDULE


def test_parse_schedule_tolerates_spaces_and_mixed_forms() -> None:
    assert parse_schedule(" 500ms , 2 , 1m30s ") == (0.5, 2.0, 90.0)


@pytest.mark.parametrize("spec", ["", "   ", "1s,,5s", "1s,", ",1s", "1s,5x", "1s;5s", "-1s"])
def test_parse_schedule_rejects(spec: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_schedule(spec)
    assert info.value.hint and "1s,5s,30s,5m,1h" in info.value.hint


def test_parse_schedule_names_the_bad_item() -> None:
    with pytest.raises(InvalidInput, match="item 3"):
        parse_schedule("1s,5s,soon")


# --------------------------------------------------------------------------- RetryPolicy


def test_defaults() -> None:
    policy = RetryPolicy()
    assert policy.schedule == DEFAULT_SCHEDULE
    assert policy.jitter == 0.2
    assert policy.disable_after == 10
    assert policy.max_attempts == 6


def test_max_attempts_follows_schedule() -> None:
    assert RetryPolicy(schedule=(1.0,)).max_attempts == 2
    assert RetryPolicy(schedule=()).max_attempts == 1


def test_schedule_list_is_normalized_to_tuple() -> None:
    policy = RetryPolicy(schedule=cast(Any, [1, 2]))
    assert policy.schedule == (1.0, 2.0)
    hash(policy)  # frozen and hashable, so it can be shared freely


@pytest.mark.parametrize(
    "kwargs",
    [
        {"jitter": -0.1},
        {"jitter": 1.0},
        {"disable_after": 0},
        {"schedule": (1.0, -1.0)},
        {"schedule": (float("nan"),)},
    ],
)
def test_invalid_policy(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match=r"(?i)jitter|disable.after|schedule|retry"):
        RetryPolicy(**kwargs)


def test_delay_without_jitter_is_the_schedule() -> None:
    policy = RetryPolicy(jitter=0.0)
    assert [policy.delay_after(n) for n in range(1, 6)] == list(DEFAULT_SCHEDULE)


def test_exhausted_attempts_return_none() -> None:
    policy = RetryPolicy()
    assert policy.delay_after(5) is not None
    assert policy.delay_after(6) is None
    assert policy.delay_after(100) is None
    assert RetryPolicy(schedule=()).delay_after(1) is None


def test_attempt_number_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempt_number must be >= 1"):
        RetryPolicy().delay_after(0)


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5])
def test_jitter_bounds_and_spread(attempt: int) -> None:
    policy = RetryPolicy(jitter=0.2)
    rng = random.Random(1234)
    nominal = DEFAULT_SCHEDULE[attempt - 1]
    draws = [policy.delay_after(attempt, rng=rng) for _ in range(10_000)]
    values = [d for d in draws if d is not None]
    assert len(values) == len(draws)
    # Every draw within [0.8, 1.2] x nominal ...
    assert min(values) >= nominal * 0.8
    assert max(values) <= nominal * 1.2
    # ... and the draws actually use that range: near both ends, centred, uniform-like spread.
    assert min(values) < nominal * 0.81
    assert max(values) > nominal * 1.19
    assert statistics.fmean(values) == pytest.approx(nominal, rel=0.01)
    # A uniform on [a, b] has stdev (b - a) / sqrt(12): 0.4 * nominal / 3.464 ~ 0.1155 * nominal.
    assert statistics.pstdev(values) == pytest.approx(0.1155 * nominal, rel=0.05)


def test_jitter_is_deterministic_with_seeded_rng() -> None:
    policy = RetryPolicy()
    first = [policy.delay_after(1, rng=random.Random(7)) for _ in range(3)]
    assert len(set(first)) == 1
    assert first[0] != 1.0


def test_jitter_without_rng_uses_module_random() -> None:
    policy = RetryPolicy()
    values = {policy.delay_after(3) for _ in range(50)}
    assert len(values) > 1
    assert all(v is not None and 24.0 <= v <= 36.0 for v in values)


# --------------------------------------------------------------------------- Retry-After


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0.0), ("120", 120.0), ("  7 ", 7.0), ("1.5", 1.5)],
)
def test_parse_retry_after_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_http_date() -> None:
    value = http_date(NOW + timedelta(seconds=90))
    assert value.endswith("GMT")
    assert parse_retry_after(value, now=NOW) == pytest.approx(90.0)


def test_parse_retry_after_http_date_with_offset() -> None:
    # Legacy but valid RFC 5322 form with a numeric zone: 08:01:30 +0200 is 06:01:30 UTC.
    assert parse_retry_after("Thu, 26 Nov 2026 08:01:30 +0200", now=NOW) == pytest.approx(90.0)


def test_parse_retry_after_past_date_is_zero() -> None:
    assert parse_retry_after(http_date(NOW - timedelta(hours=1)), now=NOW) == 0.0


def test_parse_retry_after_default_now_is_current_time() -> None:
    future = utcnow() + timedelta(seconds=600)
    value = parse_retry_after(http_date(future))
    assert value is not None and 590 <= value <= 600


@pytest.mark.parametrize("value", ["", "soon", "-5", "nan", "inf", "Thu, 99 Foo 2026 99:99:99 GMT", "12 apples"])
def test_parse_retry_after_garbage(value: str) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_retry_after_missing_or_garbage_keeps_schedule() -> None:
    policy = RetryPolicy()
    assert policy.retry_after_delay(30.0, None, now=NOW) == 30.0
    assert policy.retry_after_delay(30.0, "later please", now=NOW) == 30.0


def test_retry_after_within_bounds_is_honoured() -> None:
    policy = RetryPolicy()
    assert policy.retry_after_delay(30.0, "45", now=NOW) == 45.0
    assert policy.retry_after_delay(30.0, http_date(NOW + timedelta(seconds=50)), now=NOW) == (pytest.approx(50.0))


def test_retry_after_clamped_up_to_schedule() -> None:
    # A server asking for an immediate retry must not turn the schedule into a hot loop.
    policy = RetryPolicy()
    assert policy.retry_after_delay(30.0, "0", now=NOW) == 30.0
    assert policy.retry_after_delay(30.0, "10", now=NOW) == 30.0
    assert policy.retry_after_delay(30.0, http_date(NOW - timedelta(days=1)), now=NOW) == 30.0


def test_retry_after_clamped_down_to_double() -> None:
    policy = RetryPolicy()
    assert policy.retry_after_delay(30.0, "86400", now=NOW) == 60.0
    assert policy.retry_after_delay(30.0, "60", now=NOW) == 60.0
    assert policy.retry_after_delay(30.0, http_date(NOW + timedelta(days=7)), now=NOW) == 60.0


# --------------------------------------------------------------------------- classify


@pytest.mark.parametrize(
    ("status", "error", "outcome"),
    [
        (200, None, "success"),
        (201, None, "success"),
        (202, None, "success"),
        (204, None, "success"),
        (299, None, "success"),
        (100, None, "retry"),
        (301, None, "retry"),
        (302, None, "retry"),
        (304, None, "retry"),
        (307, None, "retry"),
        (308, None, "retry"),
        (400, None, "retry"),
        (401, None, "retry"),
        (404, None, "retry"),
        (409, None, "retry"),
        (429, None, "retry"),
        (410, None, "gone"),
        (500, None, "retry"),
        (502, None, "retry"),
        (503, None, "retry"),
        (599, None, "retry"),
        (None, "timeout after 15s", "retry"),
        (None, "connection refused", "retry"),
        (None, None, "retry"),
        (200, "response body truncated", "success"),
    ],
)
def test_classify(status: int | None, error: str | None, outcome: str) -> None:
    assert classify(status, error) == outcome
