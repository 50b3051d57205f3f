"""Retry policy for outbound webhook deliveries.

The contract (docs/architecture.md, "Outcomes"): success is a 2xx; redirects are not followed, so
a 3xx is a failure; 410 disables the endpoint at once; 429/503 honour ``Retry-After`` within bounds;
after the first attempt retries follow a schedule (default 1s, 5s, 30s, 5m, 1h) with jitter, and
after the last one the delivery is ``failed``; persistent failure (a count and a duration)
disables the endpoint. This module holds those rules as pure functions so
the engine, the CLI (``webhooks retry``) and the tests share one definition.

Standard library only.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Literal

from zigznote.errors import InvalidInput
from zigznote.timeutil import as_naive_utc, parse_duration, utcnow

__all__ = [
    "DEFAULT_SCHEDULE",
    "Outcome",
    "RetryPolicy",
    "classify",
    "parse_retry_after",
    "parse_schedule",
]

#: Delays in seconds before the 2nd, 3rd, ... attempt (``ZIGZNOTE_RETRY_SCHEDULE`` default).
DEFAULT_SCHEDULE: tuple[float, ...] = (1.0, 5.0, 30.0, 300.0, 3600.0)

Outcome = Literal["success", "retry", "gone"]


def parse_schedule(spec: str) -> tuple[float, ...]:
    """Parse a comma-separated schedule such as ``"1s,5s,30s,5m,1h"`` into seconds.

    Raises :class:`InvalidInput` when the spec or any element is empty or not a duration.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInput(
            "invalid retry schedule: it is empty",
            hint="use comma-separated durations, for example 1s,5s,30s,5m,1h",
        )
    delays: list[float] = []
    for position, item in enumerate(spec.split(","), start=1):
        if not item.strip():
            raise InvalidInput(
                f"invalid retry schedule {spec!r}: item {position} is empty",
                hint="use comma-separated durations, for example 1s,5s,30s,5m,1h",
            )
        try:
            delays.append(parse_duration(item))
        except InvalidInput as exc:
            raise InvalidInput(
                f"invalid retry schedule {spec!r}: item {position}: {exc.message}",
                hint="use comma-separated durations, for example 1s,5s,30s,5m,1h",
            ) from None
    return tuple(delays)


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a delivery again, and when to give up on it or on its endpoint.

    ``schedule[i]`` is the delay after attempt ``i + 1``; ``jitter`` spreads each delay uniformly
    over ``[1 - jitter, 1 + jitter]`` times its nominal value so endpoints recovering from an outage
    are not hit by every queued delivery in the same second.

    An endpoint is disabled when it has ``disable_after`` consecutive failed attempts **and** its
    failure streak has lasted ``streak_period()`` seconds: ``disable_after_period`` when set, else
    the nominal span of the schedule (so at least one message has had every retry). A period of
    ``0`` is the count-only rule. A burst of first-attempt failures therefore never disables an
    endpoint that answers its retries.
    """

    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    jitter: float = 0.2
    disable_after: int = 10
    #: Seconds a failure streak must last before auto-disable; ``None``: the schedule's span.
    disable_after_period: float | None = None

    def __post_init__(self) -> None:
        # Frozen dataclass: normalize a list passed by a caller into the declared tuple.
        schedule = tuple(float(delay) for delay in self.schedule)
        if any(not math.isfinite(delay) or delay < 0 for delay in schedule):
            raise InvalidInput(f"invalid retry schedule {schedule!r}: delays must be finite and not negative")
        object.__setattr__(self, "schedule", schedule)
        # jitter >= 1 could produce a zero or negative delay, i.e. a retry storm.
        if not (0.0 <= self.jitter < 1.0):
            raise InvalidInput(f"invalid retry jitter {self.jitter!r}: must be in [0, 1)")
        if isinstance(self.disable_after, bool) or self.disable_after < 1:
            raise InvalidInput(f"invalid disable-after value {self.disable_after!r}: must be at least 1")
        period = self.disable_after_period
        if period is not None and (isinstance(period, bool) or not math.isfinite(period) or period < 0):
            raise InvalidInput(f"invalid disable-after period {period!r}: must be a duration of 0 or more")

    def streak_period(self) -> float:
        """Seconds a failure streak must last before the endpoint is disabled (0: count only).

        ``disable_after_period`` when set, else the sum of the nominal schedule (1h5m36s for
        the default ``1s,5s,30s,5m,1h``): by then one message has been tried on every step.
        """
        if self.disable_after_period is not None:
            return float(self.disable_after_period)
        return float(sum(self.schedule))

    @property
    def max_attempts(self) -> int:
        """Total attempts a delivery gets: the first one plus one per schedule entry."""
        return 1 + len(self.schedule)

    def delay_after(self, attempt_number: int, *, rng: random.Random | None = None) -> float | None:
        """Seconds to wait after ``attempt_number`` attempts, or ``None`` when exhausted.

        ``attempt_number`` counts attempts made so far (1 after the first). ``None`` means the
        delivery is out of attempts and becomes ``failed``. ``rng`` lets tests make jitter
        deterministic; the module-level generator is used otherwise.
        """
        if attempt_number < 1:
            raise ValueError(f"attempt_number must be >= 1, got {attempt_number}")
        if attempt_number > len(self.schedule):
            return None
        nominal = self.schedule[attempt_number - 1]
        if self.jitter == 0:
            return nominal
        source = rng if rng is not None else random
        return nominal * source.uniform(1.0 - self.jitter, 1.0 + self.jitter)

    def retry_after_delay(
        self,
        scheduled: float,
        retry_after_header: str | None,
        *,
        now: datetime | None = None,
    ) -> float:
        """Combine our scheduled delay with a server's ``Retry-After`` wish.

        The server may slow us down but only within bounds: its wish is clamped to
        ``[scheduled, 2 * scheduled]``. Never sooner than scheduled (a ``Retry-After: 0`` must not
        turn the schedule into a hot loop) and never more than double (a ``Retry-After`` of a week
        must not park a delivery past the rest of its schedule). A missing or unparseable header
        leaves the scheduled delay unchanged.
        """
        if retry_after_header is None:
            return scheduled
        wish = parse_retry_after(retry_after_header, now=now)
        if wish is None:
            return scheduled
        return min(max(wish, scheduled), 2.0 * scheduled)


def parse_retry_after(value: str, *, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header value (RFC 9110 §10.2.3) into seconds from ``now``.

    Accepts delta-seconds (``120``; a decimal like ``1.5`` is tolerated) and an HTTP-date
    (``Wed, 21 Oct 2026 07:28:00 GMT``). A date in the past gives ``0.0``. Returns ``None`` for
    anything unparseable so callers fall back to their own schedule. ``now`` is naive UTC (or
    aware) and defaults to the current time.
    """
    if not isinstance(value, str):
        return None
    raw = value.strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        # float() also reads "nan", "inf" and "-5"; none is a usable delay.
        if not math.isfinite(seconds) or seconds < 0:
            return None
        return seconds
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    reference = utcnow() if now is None else as_naive_utc(now)
    return max(0.0, (as_naive_utc(when) - reference).total_seconds())


def classify(status: int | None, error: str | None) -> Outcome:
    """Classify one attempt's result.

    ``"success"`` for any 2xx; ``"gone"`` for 410, which disables the endpoint at once; ``"retry"``
    for everything else: 1xx/3xx (redirects are deliberately not followed), 4xx, 5xx, and no
    status at all (timeout, connection refused, TLS or SSRF failure, described by ``error``).
    A 2xx stays a success even if ``error`` is set: the receiver has accepted the event, and
    retrying would deliver it twice. ``error`` is accepted so callers can pass an attempt's
    result as recorded; the status alone decides.
    """
    if status is None:
        return "retry"
    if 200 <= status <= 299:
        return "success"
    if status == 410:
        return "gone"
    return "retry"
