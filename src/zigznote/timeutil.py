"""Time helpers: one place that knows zigznote's time conventions.

Conventions (docs/architecture.md, "Store"): UTC everywhere, ISO-8601 in output, and ``--since 2h`` /
``--since 2026-11-01`` accepted on the command line. The store keeps *naive* datetimes that are
UTC by convention (SQLite has no time-zone type, and mixing aware and naive values raises
``TypeError`` on comparison), so every function here returns naive UTC and every function that
accepts a datetime treats a naive one as UTC.

Standard library only: this module is imported by ``--help`` paths and must stay cheap.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta

from zigznote.errors import InvalidInput

__all__ = [
    "as_naive_utc",
    "format_duration",
    "iso",
    "parse_duration",
    "parse_since",
    "parse_timestamp",
    "utcnow",
]

# Seconds per unit. Longest unit names first in the regex alternation so "ms" is not read as
# "m" followed by a stray "s".
_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
# Plain decimal numbers only: float() would also accept "inf", "nan" and "1e3", none of which
# is a duration an operator means to type.
_NUMBER = r"\d+(?:\.\d+)?|\.\d+"
_BARE_NUMBER_RE = re.compile(rf"(?:{_NUMBER})")
_COMPONENT_RE = re.compile(rf"\s*({_NUMBER})\s*(ms|s|m|h|d)\s*")

_DURATION_HINT = "use a number with a unit: 500ms, 1s, 5m, 1h, 2d, or combinations like 1h30m"


def utcnow() -> datetime:
    """The current time as a naive UTC datetime (microseconds kept)."""
    return datetime.now(UTC).replace(tzinfo=None)


def as_naive_utc(dt: datetime) -> datetime:
    """Convert ``dt`` to naive UTC; a naive input is assumed to already be UTC."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        return dt.replace(tzinfo=None)
    return dt.astimezone(UTC).replace(tzinfo=None)


def parse_duration(text: str) -> float:
    """Parse a duration into seconds.

    Accepts ``500ms``, ``1s``, ``5m``, ``1h``, ``2d``, fractions (``1.5s``), combinations
    (``1h30m``, ``1m 30s``) and a bare number meaning seconds (``30``, ``0.25``). Units are
    case-insensitive. Raises :class:`InvalidInput` on anything else, including negative values.
    """
    if not isinstance(text, str):
        raise InvalidInput(f"invalid duration {text!r}: expected text", hint=_DURATION_HINT)
    raw = text.strip()
    if not raw:
        raise InvalidInput("invalid duration: it is empty", hint=_DURATION_HINT)
    if raw.startswith("-"):
        raise InvalidInput(f"invalid duration {text!r}: durations cannot be negative", hint=_DURATION_HINT)
    lowered = raw.lower()
    if _BARE_NUMBER_RE.fullmatch(lowered):
        return float(lowered)

    total = 0.0
    seen: set[str] = set()
    pos = 0
    while pos < len(lowered):
        match = _COMPONENT_RE.match(lowered, pos)
        if match is None:
            raise InvalidInput(
                f"invalid duration {text!r}: cannot read {raw[pos:]!r} (known units: {', '.join(_UNITS)})",
                hint=_DURATION_HINT,
            )
        number, unit = match.group(1), match.group(2)
        # "1h1h" is almost certainly a typo; refusing it beats silently meaning 2h.
        if unit in seen:
            raise InvalidInput(
                f"invalid duration {text!r}: unit {unit!r} appears more than once",
                hint=_DURATION_HINT,
            )
        seen.add(unit)
        total += float(number) * _UNITS[unit]
        pos = match.end()
    if not math.isfinite(total):
        raise InvalidInput(f"invalid duration {text!r}: too large", hint=_DURATION_HINT)
    return total


def format_duration(seconds: float) -> str:
    """Render seconds in the short form :func:`parse_duration` reads back.

    ``1`` → ``1s``, ``300`` → ``5m``, ``5400`` → ``1h30m``, ``0.25`` → ``250ms``,
    ``1.5`` → ``1.5s``. Precision is one millisecond; negative values get a leading ``-``.
    """
    if not math.isfinite(seconds):
        raise ValueError(f"cannot format a non-finite duration: {seconds!r}")
    sign = "-" if seconds < 0 else ""
    # Work in integer milliseconds so 0.1 + 0.2 style float noise never reaches the output.
    total_ms = round(abs(seconds) * 1000)
    if total_ms == 0:
        return "0s"
    if total_ms < 1000:
        return f"{sign}{total_ms}ms"
    days, rest = divmod(total_ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    parts: list[str] = []
    if days:
        parts.append(f"{days}d")
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs or millis:
        if millis:
            parts.append(f"{secs}.{millis:03d}".rstrip("0") + "s")
        else:
            parts.append(f"{secs}s")
    return sign + "".join(parts)


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 date or datetime into naive UTC.

    ``Z`` and ``±HH:MM`` offsets are converted to UTC; a value without an offset is taken as UTC;
    a bare date means midnight UTC. Raises :class:`InvalidInput` otherwise.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(
            "invalid timestamp: it is empty",
            hint="use ISO-8601, for example 2026-11-01 or 2026-11-01T10:00:00Z",
        )
    raw = text.strip()
    try:
        # Python 3.11's fromisoformat reads "Z", offsets, dates and most ISO-8601 forms.
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        try:
            # Week dates and ordinal dates ("2026-W48-3") only parse as dates.
            parsed = datetime.combine(date.fromisoformat(raw), datetime.min.time())
        except ValueError:
            raise InvalidInput(
                f"invalid timestamp {text!r}",
                hint="use ISO-8601, for example 2026-11-01 or 2026-11-01T10:00:00Z",
            ) from None
    return as_naive_utc(parsed)


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """Parse a ``--since`` value into naive UTC.

    Either a duration meaning "that long ago" (``2h`` → now - 2h; a bare number is seconds) or an
    ISO-8601 date/datetime as accepted by :func:`parse_timestamp`. ``now`` (naive UTC, or aware)
    defaults to :func:`utcnow` and exists so tests can pin the clock.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(
            "invalid --since value: it is empty",
            hint="use a duration (2h, 30m, 7d) or an ISO-8601 date (2026-11-01)",
        )
    try:
        seconds = parse_duration(text)
    except InvalidInput:
        pass
    else:
        reference = utcnow() if now is None else as_naive_utc(now)
        try:
            return reference - timedelta(seconds=seconds)
        except OverflowError:
            raise InvalidInput(f"invalid --since value {text!r}: too far back") from None
    try:
        return parse_timestamp(text)
    except InvalidInput:
        raise InvalidInput(
            f"invalid --since value {text!r}",
            hint="use a duration (2h, 30m, 7d) or an ISO-8601 date (2026-11-01)",
        ) from None


def iso(dt: datetime | None) -> str | None:
    """Render a datetime as ISO-8601 UTC with a ``Z`` suffix; ``None`` passes through.

    Exactly two shapes, so output sorts and diffs cleanly: ``YYYY-MM-DDTHH:MM:SSZ`` when the
    microseconds are zero, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` otherwise. Naive input is UTC; aware
    input is converted.
    """
    if dt is None:
        return None
    value = as_naive_utc(dt)
    # isoformat rather than strftime: strftime("%Y") does not zero-pad years below 1000 on glibc.
    spec = "microseconds" if value.microsecond else "seconds"
    return value.isoformat(timespec=spec) + "Z"
