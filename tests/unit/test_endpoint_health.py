"""The auto-disable rule as pure functions: a count AND a streak duration; 410 at once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from zigznote.config import load_settings
from zigznote.delivery.queue import Claimed, Outcome, storable_result
from zigznote.delivery.queue.health import Streak, fold, recovery_threshold
from zigznote.delivery.result import RESPONSE_EXCERPT_BYTES, AttemptResult
from zigznote.delivery.retry import RetryPolicy
from zigznote.errors import ConfigError, InvalidInput
from zigznote.services.worker import engine_config
from zigznote.store.models.delivery import HELD, PENDING, SUCCEEDED

T0 = datetime(2026, 11, 30, 12, 0, 0)


def claimed(n: int = 0) -> Claimed:
    return Claimed(
        f"msg_{n}", "org_1", f"evt_{n}", "wh_1", "webhook", 0, 0, "scheduled", "tok", "meeting.ended", T0, {}
    )


def failed(at: float, status: int = 500) -> Outcome:
    return Outcome(claimed(), AttemptResult(status, f"HTTP {status}", 5), T0 + timedelta(seconds=at), PENDING, None)


def ok(at: float) -> Outcome:
    return Outcome(claimed(), AttemptResult(200, None, 5), T0 + timedelta(seconds=at), SUCCEEDED, None)


def gone(at: float) -> Outcome:
    return Outcome(
        claimed(),
        AttemptResult(410, "HTTP 410", 5),
        T0 + timedelta(seconds=at),
        HELD,
        None,
        disable_reason="endpoint answered 410 Gone",
    )


HEALTHY = Streak("org_1", True, 0, None)


def test_a_burst_reaching_the_count_does_not_disable_within_the_period() -> None:
    burst = [failed(i * 0.01) for i in range(12)]  # 12 failures in 0.11 s
    verdict = fold(HEALTHY, burst, disable_after=10, period=60.0)
    assert (verdict.failures, verdict.since, verdict.disable_reason) == (12, T0, None)


def test_count_and_period_together_disable_with_how_long_and_how_many() -> None:
    streak = Streak("org_1", True, 9, T0)
    verdict = fold(streak, [failed(61.5)], disable_after=10, period=60.0)
    assert verdict.failures == 10
    assert verdict.disable_reason == (
        "10 consecutive failed attempts over 1m1.5s (since 2026-11-30T12:00:00Z; last: HTTP 500)"
    )


def test_a_long_streak_below_the_count_does_not_disable() -> None:
    streak = Streak("org_1", True, 3, T0)
    verdict = fold(streak, [failed(7200.0)], disable_after=10, period=60.0)
    assert (verdict.failures, verdict.disable_reason) == (4, None)


def test_period_zero_is_the_count_only_rule() -> None:
    verdict = fold(HEALTHY, [failed(0.0) for _ in range(10)], disable_after=10, period=0.0)
    assert (
        verdict.disable_reason == "10 consecutive failed attempts over 0s (since 2026-11-30T12:00:00Z; last: HTTP 500)"
    )
    nine = fold(HEALTHY, [failed(0.0) for _ in range(9)], disable_after=10, period=0.0)
    assert nine.disable_reason is None


def test_410_disables_at_once_whatever_the_count_and_period() -> None:
    verdict = fold(HEALTHY, [gone(0.0)], disable_after=10, period=3600.0)
    assert (verdict.failures, verdict.disable_reason) == (1, "endpoint answered 410 Gone")


def test_a_success_ends_the_streak_and_only_the_open_streak_can_disable() -> None:
    outcomes = [gone(0.0), *[failed(100.0 + i) for i in range(9)], ok(200.0), failed(201.0)]
    verdict = fold(Streak("org_1", True, 5, T0 - timedelta(hours=1)), outcomes, disable_after=10, period=0.0)
    assert (verdict.failures, verdict.since, verdict.disable_reason) == (1, T0 + timedelta(seconds=201), None)
    # The ended streak (5 stored + 10 here) is recorded as a recovery, with when it began.
    [rec] = verdict.recoveries
    assert (rec.failures, rec.since, rec.at) == (15, T0 - timedelta(hours=1), T0 + timedelta(seconds=200))


def test_recovery_is_recorded_only_for_streaks_of_half_the_limit() -> None:
    assert [recovery_threshold(n) for n in (1, 2, 3, 10, 11)] == [1, 1, 2, 5, 6]
    short = fold(HEALTHY, [failed(0.0)] * 4 + [ok(1.0)], disable_after=10, period=0.0)
    assert (short.failures, short.since, short.recoveries) == (0, None, [])
    five = fold(HEALTHY, [failed(0.0)] * 5 + [ok(1.0)], disable_after=10, period=0.0)
    assert [(r.failures, r.since) for r in five.recoveries] == [(5, T0)]


def test_out_of_order_completions_measure_the_streak_from_its_earliest_attempt() -> None:
    verdict = fold(HEALTHY, [failed(30.0), failed(0.0), failed(59.0)], disable_after=3, period=59.0)
    assert verdict.since == T0
    assert verdict.disable_reason is not None and verdict.disable_reason.startswith(
        "3 consecutive failed attempts over 59s"
    )


def test_legacy_streak_without_a_start_starts_at_the_first_failure_seen() -> None:
    verdict = fold(Streak("org_1", True, 20, None), [failed(5.0)], disable_after=10, period=1.0)
    assert (verdict.failures, verdict.since, verdict.disable_reason) == (21, T0 + timedelta(seconds=5), None)


def test_streak_period_defaults_to_the_schedule_span() -> None:
    assert RetryPolicy().streak_period() == 3936.0  # 1s + 5s + 30s + 5m + 1h = 1h5m36s
    assert RetryPolicy(schedule=(0.2, 0.2)).streak_period() == pytest.approx(0.4)
    assert RetryPolicy(disable_after_period=0).streak_period() == 0.0
    assert RetryPolicy(disable_after_period=90).streak_period() == 90.0


@pytest.mark.parametrize("period", [-1.0, float("nan"), float("inf")])
def test_invalid_period_is_refused(period: float) -> None:
    with pytest.raises(InvalidInput, match="invalid disable-after period"):
        RetryPolicy(disable_after_period=period)


def test_setting_flows_into_the_engine_policy() -> None:
    env = {"ZIGZNOTE_DISABLE_AFTER_PERIOD": "1h5m", "ZIGZNOTE_RETRY_SCHEDULE": "1s,2s", "HOME": "/nonexistent"}
    settings = load_settings(env=env)
    assert settings.sources["disable_after_period"] == "env:ZIGZNOTE_DISABLE_AFTER_PERIOD"
    assert engine_config(settings).policy.streak_period() == 3900.0
    default = load_settings(env={"ZIGZNOTE_RETRY_SCHEDULE": "1s,2s", "HOME": "/nonexistent"})
    assert (default.disable_after_period, engine_config(default).policy.streak_period()) == (None, 3.0)
    zero = load_settings(env={"ZIGZNOTE_DISABLE_AFTER_PERIOD": "0", "HOME": "/nonexistent"})
    assert engine_config(zero).policy.streak_period() == 0.0


def test_a_bad_period_setting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ZIGZNOTE_DISABLE_AFTER_PERIOD"):
        load_settings(env={"ZIGZNOTE_DISABLE_AFTER_PERIOD": "soon", "HOME": "/nonexistent"})


def test_storable_result_replaces_nul_and_surrogates_and_bounds_lengths() -> None:
    result = AttemptResult(200, "bad \x00 \udc80 error" + "e" * 5000, 3, "ok\x00" + "x" * 5000, "1")
    stored = storable_result(result)
    assert stored.error is not None and stored.response_excerpt is not None
    assert stored.error.startswith("bad \ufffd \ufffd error") and len(stored.error) == 2000
    assert stored.response_excerpt.startswith("ok\ufffdx") and len(stored.response_excerpt) == RESPONSE_EXCERPT_BYTES
    assert (stored.status_code, stored.duration_ms, stored.retry_after) == (200, 3, "1")
    clean = AttemptResult(200, None, 1, "ok")
    assert storable_result(clean) is clean
