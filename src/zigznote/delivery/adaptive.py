"""Per-endpoint concurrency that adapts to the endpoint (AIMD), and a rate cap.

The rule (additive increase, multiplicative decrease, as TCP congestion control):

- Each endpoint starts at ``start`` requests in flight (``--per-endpoint``).
- Growth: a 2xx received while the endpoint was using its whole level, and while its
  latency is *stable*, counts toward the next step; after ``level`` such successes (one
  "round trip" at the current level) the level grows by one, up to ``maximum``
  (``--per-endpoint-max``). Latency is stable while its running average stays within
  twice the endpoint's unloaded latency (its lowest latency, slowly forgotten) plus
  ``LATENCY_SLACK``. Beyond that, requests are queueing at the receiver: more of them
  would only add latency, so the level holds.
- Decrease: a congestion signal (429, 503, a timeout, a connection error) halves the
  level, never below 1, at most once per round: answers to requests sent before the
  last decrease are ignored, so one burst of failures halves once, not ten times.
- Other failures (a 500, a 404) say nothing about load and leave the level alone; the
  failure-streak rule (one probe at a time while failing) is applied by the lanes.

``RateLimit`` is a plain pacing cap for endpoints whose owners ask for one: starts are
spaced at least ``1/rate`` seconds apart, so no window of T seconds sees more than
``T·rate + 1`` requests.
"""

from __future__ import annotations

# Seconds of queueing tolerated on top of twice the unloaded latency: enough for the
# jitter of a LAN or a busy host, small against the latency of a remote endpoint.
LATENCY_SLACK = 0.005
# Weight of a new latency sample in the running average.
LATENCY_ALPHA = 0.1
# How fast the unloaded-latency estimate follows samples above it (it drops at once to
# a lower sample): slow, so queueing does not become the new normal, yet a lasting
# change of route is learnt within some ten thousand requests.
FLOOR_RISE = 0.0001

# Errors (status None) from the sender that mean the endpoint is overloaded or
# unreachable, as opposed to refusals decided before sending.
_CONGESTION_PREFIXES = ("timed out", "connection failed", "network error", "Server", "ClientOS", "ClientPayload")


def is_congestion(status_code: int | None, error: str | None) -> bool:
    """Whether an attempt's result is a "slow down" signal (429, 503, timeout, connection)."""
    if status_code is not None:
        return status_code in (429, 503)
    return error is not None and error.startswith(_CONGESTION_PREFIXES)


class AdaptiveLimit:
    """The AIMD level of one endpoint (pure: no clock, no I/O).

    Call ``sent()`` when a request starts (it returns the round it belongs to) and
    ``success(round, latency, in_flight)`` or ``congestion(round)`` when it ends.
    ``level`` is the number of requests that may be in flight now.
    """

    __slots__ = ("_acked", "_floor", "_latency", "_level", "_round", "maximum", "minimum")

    def __init__(self, start: int, maximum: int, minimum: int = 1) -> None:
        if not 1 <= minimum <= maximum:
            raise ValueError(f"need 1 <= minimum ({minimum}) <= maximum ({maximum})")
        self.minimum = minimum
        self.maximum = maximum
        self._level = min(max(start, minimum), maximum)
        self._acked = 0  # growth-eligible successes since the last change
        self._round = 0
        self._latency: float | None = None  # running average (seconds)
        self._floor: float | None = None  # unloaded latency estimate (seconds)

    @property
    def level(self) -> int:
        """Requests that may be in flight now (an integer in ``[minimum, maximum]``)."""
        return self._level

    def sent(self) -> int:
        """A request starts; returns its round (pass it back with the result)."""
        return self._round

    def success(self, round_: int, latency: float, in_flight: int) -> None:
        """A 2xx after ``latency`` seconds; ``in_flight`` counts requests still in
        flight for the endpoint, this one included."""
        average, floor = self._latency, self._floor
        if average is None or floor is None:
            average = floor = latency
        self._latency = average = average + LATENCY_ALPHA * (latency - average)
        self._floor = floor = latency if latency < floor else floor + FLOOR_RISE * (latency - floor)
        if average > 2 * floor + LATENCY_SLACK:
            return  # queueing at the receiver: hold
        if in_flight < self._level or self._level >= self.maximum:
            return  # the level was not the limit: growing it would prove nothing
        self._acked += 1
        if self._acked >= self._level:
            self._level += 1
            self._acked = 0

    def congestion(self, round_: int) -> None:
        """A 429/503/timeout/connection error for a request of round ``round_``."""
        if round_ < self._round:
            return  # sent before the last decrease: already accounted for
        self._level = max(self.minimum, self._level // 2)
        self._acked = 0
        self._round += 1


class RateLimit:
    """Space request starts at least ``1/rate`` seconds apart (``rate`` requests/s)."""

    __slots__ = ("_next", "interval")

    def __init__(self, rate: float) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self.interval = 1.0 / rate
        self._next = float("-inf")

    def wait(self, now: float) -> float:
        """Seconds until the next request may start (0 when it may start now)."""
        return max(0.0, self._next - now)

    def take(self, now: float) -> None:
        """A request starts at ``now`` (monotonic seconds)."""
        self._next = max(now, self._next) + self.interval
