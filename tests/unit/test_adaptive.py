"""The adaptive per-endpoint concurrency rule (AIMD) and the rate cap, as pure classes."""

from __future__ import annotations

import pytest

from zigznote.delivery.adaptive import AdaptiveLimit, RateLimit, is_congestion


def grow(limit: AdaptiveLimit, successes: int, latency: float = 0.01) -> None:
    """Successes while the endpoint uses its whole level (the case that grows it)."""
    for _ in range(successes):
        limit.success(limit.sent(), latency, in_flight=limit.level)


def test_starts_at_start_clamped_to_bounds() -> None:
    assert AdaptiveLimit(10, 100).level == 10
    assert AdaptiveLimit(500, 100).level == 100
    assert AdaptiveLimit(0, 100).level == 1


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match=r"need 1 <= minimum \(0\) <= maximum \(5\)"):
        AdaptiveLimit(1, 5, minimum=0)
    with pytest.raises(ValueError, match=r"need 1 <= minimum \(6\) <= maximum \(5\)"):
        AdaptiveLimit(1, 5, minimum=6)


def test_additive_increase_is_one_per_round() -> None:
    limit = AdaptiveLimit(4, 100)
    grow(limit, 3)
    assert limit.level == 4  # three of the four successes a step needs
    grow(limit, 1)
    assert limit.level == 5  # a full round of 4 successes adds one
    grow(limit, 5)
    assert limit.level == 6


def test_climbs_to_the_cap_and_stays() -> None:
    limit = AdaptiveLimit(2, 12)
    grow(limit, 1000)
    assert limit.level == 12


def test_no_growth_when_the_level_was_not_the_limit() -> None:
    limit = AdaptiveLimit(10, 100)
    for _ in range(200):
        limit.success(limit.sent(), 0.01, in_flight=3)
    assert limit.level == 10


def test_unstable_latency_holds_the_level() -> None:
    limit = AdaptiveLimit(4, 100)
    grow(limit, 20, latency=0.010)
    before = limit.level
    for _ in range(50):  # each sample far above 2x the running average + slack
        limit.success(limit.sent(), 10.0, in_flight=limit.level)
        limit._latency = 0.010  # keep the average where a stable endpoint had it
    assert limit.level == before


def test_congestion_halves_once_per_round() -> None:
    limit = AdaptiveLimit(40, 100)
    rounds = [limit.sent() for _ in range(40)]  # forty requests of the same round in flight
    for r in rounds:
        limit.congestion(r)  # all of them answer 429
    assert limit.level == 20  # halved once, not forty times
    limit.congestion(limit.sent())  # a request sent after the decrease counts again
    assert limit.level == 10


def test_congestion_never_goes_below_the_minimum() -> None:
    limit = AdaptiveLimit(3, 100)
    for _ in range(10):
        limit.congestion(limit.sent())
    assert limit.level == 1


def test_settles_around_a_capacity() -> None:
    """Simulate an endpoint that answers 429 above 8 concurrent requests."""
    capacity = 8
    limit = AdaptiveLimit(1, 100)
    levels = []
    for _ in range(3000):
        in_flight = limit.level
        round_ = limit.sent()
        if in_flight > capacity:
            limit.congestion(round_)
        else:
            limit.success(round_, 0.01, in_flight=in_flight)
        levels.append(limit.level)
    tail = levels[-1000:]
    assert max(tail) == capacity + 1  # probes one above, then backs off
    assert min(tail) >= (capacity + 1) // 2


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (429, "HTTP 429", True),
        (503, "HTTP 503", True),
        (None, "timed out", True),
        (None, "connection failed: Connection refused", True),
        (None, "ServerDisconnectedError: Server disconnected", True),
        (500, "HTTP 500", False),
        (404, "HTTP 404", False),
        (200, None, False),
        (None, "refused by SSRF guard: 10.0.0.1 is private", False),
        (None, "internal error building the request body: ValueError: nan", False),
        (None, "cannot decrypt the signing secret: gone", False),
    ],
)
def test_congestion_signals(status: int | None, error: str | None, expected: bool) -> None:
    assert is_congestion(status, error) is expected


def test_rate_limit_spaces_starts() -> None:
    rate = RateLimit(4.0)  # one start per 0.25 s
    assert rate.wait(100.0) == 0.0
    rate.take(100.0)
    assert rate.wait(100.0) == pytest.approx(0.25)
    assert rate.wait(100.2) == pytest.approx(0.05)
    rate.take(100.25)
    assert rate.wait(100.25) == pytest.approx(0.25)
    # Idle time does not bank a burst: after a long pause, one start, then spacing again.
    rate.take(200.0)
    assert rate.wait(200.0) == pytest.approx(0.25)


def test_rate_limit_upper_bound_over_a_window() -> None:
    rate = RateLimit(10.0)
    now, starts = 0.0, []
    while now < 3.0:  # ask to start as often as possible (every millisecond)
        if rate.wait(now) == 0.0:
            rate.take(now)
            starts.append(now)
        now += 0.001
    assert len(starts) <= 3.0 * 10 + 1
    assert len(starts) >= 3.0 * 10 - 1


def test_rate_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate must be positive, got 0"):
        RateLimit(0)
