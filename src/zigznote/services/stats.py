"""Delivery statistics of one webhook over a time window, from its recorded attempts.

Summaries are computed in Python from three narrow columns: a webhook's attempts in a
day are at most tens of thousands of rows, and exact percentiles are simpler and more
portable than each backend's percentile functions.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from zigznote.delivery.queue import views
from zigznote.errors import InvalidInput
from zigznote.services import orgs
from zigznote.services.webhooks import resolve
from zigznote.store.engine import Database
from zigznote.timeutil import iso, parse_since, utcnow

#: Upper bounds (exclusive, ms) of the latency histogram; the last bucket is open-ended.
LATENCY_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (50, "<50ms"),
    (100, "<100ms"),
    (250, "<250ms"),
    (500, "<500ms"),
    (1000, "<1s"),
    (5000, "<5s"),
    (None, "≥5s"),
)
TIMELINE_BUCKETS = 12

Attempt = tuple[datetime, int, int | None]  # attempted_at, duration_ms, status_code


def _ok(status: int | None) -> bool:
    return status is not None and 200 <= status <= 299


def percentile(sorted_values: Sequence[int], q: float) -> int | None:
    """Nearest-rank percentile (an observed value, never an interpolation)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(
    attempts: Iterable[Attempt], start: datetime, end: datetime, buckets: int = TIMELINE_BUCKETS
) -> dict[str, Any]:
    """The numbers behind `webhooks stats`, for attempts in ``[start, end]``."""
    rows = list(attempts)
    durations = sorted(d for _, d, _ in rows)
    succeeded = sum(1 for _, _, s in rows if _ok(s))
    codes = Counter(s for _, _, s in rows)

    in_bucket = [0] * len(LATENCY_BUCKETS)
    for duration in durations:
        for i, (bound, _) in enumerate(LATENCY_BUCKETS):
            if bound is None or duration < bound:
                in_bucket[i] += 1
                break
    histogram = [{"bucket": label, "count": n} for (_, label), n in zip(LATENCY_BUCKETS, in_bucket, strict=True)]

    width = (end - start) / buckets
    per_slot = [0] * buckets
    ok_slot = [0] * buckets
    for at, _, status in rows:
        index = int((at - start) / width) if width.total_seconds() > 0 else 0
        index = min(max(index, 0), buckets - 1)  # the window's end instant belongs to the last bucket
        per_slot[index] += 1
        ok_slot[index] += _ok(status)
    timeline = [
        {"start": iso(start + width * i), "attempts": per_slot[i], "succeeded": ok_slot[i]} for i in range(buckets)
    ]

    return {
        "since": iso(start),
        "until": iso(end),
        "attempts": len(rows),
        "succeeded": succeeded,
        "failed": len(rows) - succeeded,
        "success_rate": round(succeeded / len(rows), 4) if rows else None,
        "latency_ms": {
            "p50": percentile(durations, 0.50),
            "p95": percentile(durations, 0.95),
            "max": durations[-1] if durations else None,
        },
        # No status code means the request never got an answer (timeout, refused, SSRF guard).
        "status_codes": [
            {"status": code, "count": n}
            for code, n in sorted(codes.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        ],
        "histogram": histogram,
        "timeline": timeline,
    }


def webhook_stats(db: Database, org_ref: str, ref: str, *, since: str = "24h") -> dict[str, Any]:
    end = utcnow()
    start = parse_since(since, now=end)
    if start >= end:
        raise InvalidInput(f"--since {since!r} is not in the past", code="invalid_since")
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        rows = views.attempt_samples(session.connection(), wh.id, start, end)
    data: dict[str, Any] = {"webhook_id": wh.id}
    data.update(summarize(rows, start, end))
    return data
