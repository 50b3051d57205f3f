"""Endpoint health: failure streaks, auto-disable, re-enable, and the events that record them.

The rule (docs/architecture.md, "Outcomes"). Every failed attempt extends the endpoint's
failure streak (``webhook.consecutive_failures``; ``webhook.failing_since`` = when the streak
began); a 2xx ends it. An endpoint is disabled when

- an attempt was answered 410 Gone (at once), or
- the streak has at least ``disable_after`` failed attempts **and** has lasted at least
  ``period`` seconds (``RetryPolicy.streak_period()``; ``0`` = the count alone decides).

So a burst of first-attempt failures (ten in one second) never disables an endpoint that
answers its retries; only failure that persists in time does. A success that ends a streak
of at least ``recovery_threshold(disable_after)`` failures (half-way to the count limit)
records a ``recovered`` event: shorter blips are everyday noise, not operational news.

Every change is written in the transaction that causes it, with an ``endpoint_event`` row
(``disabled``, ``enabled``, ``recovered``), so the history never disagrees with the state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from zigznote.ids import new_id
from zigznote.store.models.delivery import DELIVERING, HELD, PENDING, SUCCEEDED
from zigznote.store.models.health import ENDPOINT_DISABLED, ENDPOINT_ENABLED, ENDPOINT_RECOVERED
from zigznote.timeutil import format_duration, iso
from zigznote.untrusted import storable_text
from zigznote.wording import plural

if TYPE_CHECKING:
    from zigznote.delivery.queue.outcomes import Outcome

#: Longest reason stored with an endpoint event or as ``webhook.disabled_reason``.
REASON_MAX_CHARS = 1000

_STATE_COLUMNS = "id, org_id, enabled, consecutive_failures, failing_since"


class DisabledEndpoint(str):
    """A disabled webhook's ID (a ``str``, as ``finish`` promises) that also carries why,
    so the worker's ``webhook_disabled`` notice can say it without another query."""

    reason: str

    def __new__(cls, webhook_id: str, reason: str) -> DisabledEndpoint:
        self = super().__new__(cls, webhook_id)
        self.reason = reason
        return self


@dataclass(slots=True)
class Streak:
    """One endpoint's health as stored: its org, whether it is enabled, the current streak."""

    org_id: str
    enabled: bool
    failures: int
    since: datetime | None


@dataclass(slots=True)
class Recovery:
    """A success that ended a streak worth recording."""

    failures: int
    since: datetime | None
    at: datetime


@dataclass(slots=True)
class Verdict:
    """What a run of attempt outcomes does to an endpoint's streak (see :func:`fold`)."""

    failures: int
    since: datetime | None
    recoveries: list[Recovery] = field(default_factory=list)
    disable_reason: str | None = None


def recovery_threshold(disable_after: int) -> int:
    """Failures a streak needs before its end is recorded as ``recovered``: half the limit."""
    return max(1, (disable_after + 1) // 2)


def fold(streak: Streak, outcomes: Iterable[Outcome], *, disable_after: int, period: float) -> Verdict:
    """Apply outcomes (in the order their attempts completed) to a stored streak. Pure.

    Returns the new count and start of the streak, the recoveries to record and, when the
    endpoint must be disabled, why (how long the streak lasted and how many attempts failed;
    or the 410). Only the streak still open after the last outcome can disable.
    """
    failures, since = streak.failures, streak.since
    recoveries: list[Recovery] = []
    gone: str | None = None
    last: Outcome | None = None
    latest: datetime | None = None
    for o in outcomes:
        if o.status == SUCCEEDED:
            if failures >= recovery_threshold(disable_after):
                recoveries.append(Recovery(failures, since, o.attempted_at))
            failures, since, gone, last, latest = 0, None, None, None, None
            continue
        failures += 1
        # Attempts complete out of order under concurrency: the streak began at the earliest.
        since = o.attempted_at if since is None else min(since, o.attempted_at)
        latest = o.attempted_at if latest is None else max(latest, o.attempted_at)
        last = o
        gone = o.disable_reason or gone
    verdict = Verdict(failures, since, recoveries)
    if gone is not None:
        verdict.disable_reason = gone
    elif last is not None and latest is not None and since is not None and failures >= disable_after:
        lasted = max(0.0, (latest - since).total_seconds())
        if lasted >= period:
            error = last.result.error or f"HTTP {last.result.status_code}"
            verdict.disable_reason = storable_text(
                f"{failures} consecutive failed attempts over {format_duration(round(lasted, 3))} "
                f"(since {iso(since)}; last: {error})",
                max_chars=REASON_MAX_CHARS,
            )
    return verdict


def _names(prefix: str, values: Sequence[str]) -> tuple[str, dict[str, str]]:
    params = {f"{prefix}{i}": v for i, v in enumerate(values)}
    return ", ".join(f":{k}" for k in params), params


def _states(conn: sa.Connection, ids: Sequence[str]) -> dict[str, Streak]:
    names, params = _names("w", sorted(ids))
    # Postgres: lock the endpoints (in ID order, so two workers never deadlock) before the
    # batch touches their deliveries: the same order as `disable`, which locks the webhook
    # first. SQLite's BEGIN IMMEDIATE already serialises writers.
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    query = sa.text(f"SELECT {_STATE_COLUMNS} FROM webhook WHERE id IN ({names}) ORDER BY id{lock}").columns(
        failing_since=sa.DateTime()
    )
    return {
        r.id: Streak(r.org_id, bool(r.enabled), int(r.consecutive_failures), r.failing_since)
        for r in conn.execute(query, params)
    }


def load_streaks(conn: sa.Connection, outcomes: Iterable[Outcome]) -> dict[str, Streak]:
    """Read (and on Postgres lock) the stored streak of every endpoint whose health the
    outcomes may change: endpoints with a failure, and succeeding ones that are mid-streak.

    A batch of successes to healthy endpoints costs one small SELECT and locks nothing.
    Integration jobs (no webhook) have no endpoint health.
    """
    failing: set[str] = set()
    clean: set[str] = set()
    for o in outcomes:
        webhook_id = o.claimed.webhook_id
        if webhook_id is not None:
            (clean if o.status == SUCCEEDED else failing).add(webhook_id)
    clean -= failing
    ids = set(failing)
    if clean:
        names, params = _names("c", sorted(clean))
        rows = conn.execute(
            sa.text(
                f"SELECT id FROM webhook WHERE id IN ({names}) "
                "AND (consecutive_failures <> 0 OR failing_since IS NOT NULL)"
            ),
            params,
        )
        ids.update(r.id for r in rows)
    return _states(conn, sorted(ids)) if ids else {}


def apply_outcomes(
    conn: sa.Connection,
    streaks: Mapping[str, Streak],
    outcomes: Sequence[Outcome],
    *,
    disable_after: int,
    period: float,
    now: datetime,
) -> list[str]:
    """Write the new streaks, record recoveries, disable what must be; return disabled IDs.

    ``streaks`` comes from :func:`load_streaks` in the same transaction. An endpoint an
    operator disabled meanwhile keeps its counts up to date but records nothing.
    """
    per_webhook: dict[str, list[Outcome]] = {}
    for o in outcomes:
        webhook_id = o.claimed.webhook_id
        if webhook_id is not None and webhook_id in streaks:
            per_webhook.setdefault(webhook_id, []).append(o)
    updates: list[dict[str, Any]] = []
    to_disable: list[tuple[str, str]] = []
    for webhook_id, items in per_webhook.items():
        streak = streaks[webhook_id]
        verdict = fold(streak, items, disable_after=disable_after, period=period)
        if (verdict.failures, verdict.since) != (streak.failures, streak.since):
            updates.append({"id": webhook_id, "n": verdict.failures, "since": verdict.since})
        if not streak.enabled:
            continue
        for rec in verdict.recoveries:
            lasted = format_duration(round((rec.at - rec.since).total_seconds(), 3)) if rec.since else "?"
            record_event(
                conn,
                org_id=streak.org_id,
                webhook_id=webhook_id,
                type=ENDPOINT_RECOVERED,
                reason=f"delivered again after {rec.failures} consecutive failed attempts over {lasted}",
                failures=rec.failures,
                streak_since=rec.since,
                now=rec.at,
            )
        if verdict.disable_reason is not None:
            to_disable.append((webhook_id, verdict.disable_reason))
    if updates:
        conn.execute(
            sa.text("UPDATE webhook SET consecutive_failures = :n, failing_since = :since WHERE id = :id"),
            updates,
        )
    disabled: list[str] = []
    for webhook_id, reason in to_disable:
        disable(conn, webhook_id, reason=reason, now=now)
        disabled.append(DisabledEndpoint(webhook_id, reason))
    return disabled


def record_event(
    conn: sa.Connection,
    *,
    org_id: str,
    webhook_id: str,
    type: str,
    reason: str | None,
    failures: int,
    streak_since: datetime | None,
    now: datetime,
) -> None:
    """Append one endpoint event (``disabled``, ``enabled`` or ``recovered``); ``reason`` is
    made storable (it may quote a receiver's error) and bounded to REASON_MAX_CHARS."""
    conn.execute(
        sa.text(
            "INSERT INTO endpoint_event (id, org_id, webhook_id, type, reason, failures, streak_since, created_at) "
            "VALUES (:id, :org_id, :webhook_id, :type, :reason, :failures, :streak_since, :now)"
        ),
        {
            "id": new_id("epe"),
            "org_id": org_id,
            "webhook_id": webhook_id,
            "type": type,
            "reason": storable_text(reason, max_chars=REASON_MAX_CHARS),
            "failures": failures,
            "streak_since": streak_since,
            "now": now,
        },
    )


def disable(conn: sa.Connection, webhook_id: str, *, reason: str, now: datetime, by_operator: bool = False) -> int:
    """Disable an endpoint and hold its active deliveries (never drop them); return how many
    were held. Clearing their claim tokens means a worker with one in flight cannot finish
    it: the held row waits for :func:`enable`. A ``disabled`` event is recorded when the
    endpoint was enabled (``by_operator`` marks who did it); 0 for an unknown webhook.
    """
    state = _states(conn, [webhook_id]).get(webhook_id)
    if state is None:
        return 0
    text = storable_text(reason, max_chars=REASON_MAX_CHARS)
    conn.execute(
        sa.text(
            "UPDATE webhook SET enabled = :false, disabled_reason = :reason, disabled_at = :now, "
            "updated_at = :now WHERE id = :id"
        ),
        {"false": False, "reason": text, "now": now, "id": webhook_id},
    )
    held = conn.execute(
        sa.text(
            f"UPDATE webhook_delivery SET status = '{HELD}', claim_token = NULL, updated_at = :now "
            f"WHERE webhook_id = :id AND status IN ('{PENDING}', '{DELIVERING}')"
        ),
        {"now": now, "id": webhook_id},
    )
    if state.enabled:
        record_event(
            conn,
            org_id=state.org_id,
            webhook_id=webhook_id,
            type=ENDPOINT_DISABLED,
            reason=f"operator: {text}" if by_operator else text,
            failures=state.failures,
            streak_since=state.since,
            now=now,
        )
    return int(held.rowcount or 0)


def enable(conn: sa.Connection, webhook_id: str, *, now: datetime) -> int:
    """Enable an endpoint: reset its streak and disabled reason, release its held deliveries
    (pending, due now) and wake workers; return how many were released. An ``enabled`` event
    is recorded when it was disabled; 0 for an unknown webhook."""
    from zigznote.delivery.queue import notify

    state = _states(conn, [webhook_id]).get(webhook_id)
    if state is None:
        return 0
    conn.execute(
        sa.text(
            "UPDATE webhook SET enabled = :true, consecutive_failures = 0, failing_since = NULL, "
            "disabled_reason = NULL, disabled_at = NULL, updated_at = :now WHERE id = :id"
        ),
        {"true": True, "now": now, "id": webhook_id},
    )
    released = int(
        conn.execute(
            sa.text(
                f"UPDATE webhook_delivery SET status = '{PENDING}', next_attempt_at = :now, claim_token = NULL, "
                f"updated_at = :now WHERE webhook_id = :id AND status = '{HELD}'"
            ),
            {"now": now, "id": webhook_id},
        ).rowcount
        or 0
    )
    if not state.enabled:
        record_event(
            conn,
            org_id=state.org_id,
            webhook_id=webhook_id,
            type=ENDPOINT_ENABLED,
            reason=f"enabled by an operator; {plural(released, 'held delivery', 'held deliveries')} released",
            failures=state.failures,
            streak_since=state.since,
            now=now,
        )
    if released:
        notify(conn)
    return released
