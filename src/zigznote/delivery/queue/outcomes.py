"""Deciding and writing what became of attempts: ``decide`` (pure) and ``finish`` (SQL).

Finishing requires the claim token, so a worker whose lease expired cannot overwrite the
result of the worker that took the delivery over. A batch is written in one transaction:
one executemany for the delivery updates, one for the attempt rows, then endpoint health
(``queue.health``).

Everything a receiver (or a job's provider) sent is data from outside: it is made storable
on both databases (``untrusted.storable_text``: NUL, invalid UTF-8 and lone surrogates
replaced, bounded) before it is written. And one bad result can never fail a batch: if the
batch's transaction fails anyway, it is written again row by row, each row in a savepoint;
a row that still cannot be written is finished with a recorded attempt whose error says
the result could not be stored (and the database's error class), never left ``delivering``
to be sent again after every lease.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from zigznote.delivery.queue import health, jobs
from zigznote.delivery.queue.claims import Claimed
from zigznote.delivery.result import RESPONSE_EXCERPT_BYTES, AttemptResult
from zigznote.delivery.retry import RetryPolicy, classify
from zigznote.ids import new_id
from zigznote.store.models.delivery import FAILED, HELD, PENDING, SUCCEEDED, TRIGGER_SCHEDULED
from zigznote.untrusted import storable_text

log = logging.getLogger(__name__)

# What a driver raises for a value it cannot take: SQLAlchemy wraps the DBAPI's own errors
# (psycopg's DataError for a NUL) in StatementError, but passes on what the driver's
# encoding raises before the database sees anything (UnicodeEncodeError for a lone
# surrogate, OverflowError for an integer SQLite cannot hold).
_WRITE_ERRORS = (sa.exc.StatementError, ValueError, OverflowError)

#: Longest attempt error stored (it may quote a receiver's or provider's message).
ERROR_MAX_CHARS = 2000

# The hot path's SQL goes to the driver as it is (``exec_driver_sql``: no compiling, no
# per-row parameter processing), with positional parameters built as tuples: SQLAlchemy's
# named-parameter handling cost tens of µs per row. Written in the qmark style (SQLite);
# ``_driver_sql`` turns it into psycopg's ``%s`` style.
_FINISH = """
UPDATE webhook_delivery
   SET status = ?, attempts = attempts + 1, cycle_attempts = ?, next_attempt_at = ?, last_status_code = ?,
       last_error = ?, delivered_at = ?, claim_token = NULL, next_trigger = 'scheduled', updated_at = ?
 WHERE id = ? AND claim_token = ?
"""
# Positions in a _FINISH row of what the fallback replaces (status code, error).
_F_CODE, _F_ERROR, _F_ID = 3, 4, 7

# An attempt is recorded whenever its delivery still exists (a lease lost to another
# worker is still an attempt that happened); a delivery deleted meanwhile with
# `webhooks delete --force` has nothing left to attach it to.
_RECORD = """
INSERT INTO delivery_attempt
       (id, delivery_id, webhook_id, attempt_number, "trigger", attempted_at, duration_ms,
        status_code, error, response_excerpt)
SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
 WHERE EXISTS (SELECT 1 FROM webhook_delivery WHERE id = ?)
"""
# Positions in a _RECORD row of what the fallback replaces (status code, error, excerpt).
_R_CODE, _R_ERROR, _R_EXCERPT = 7, 8, 9


def _driver_sql(conn: sa.Connection, sql: str) -> str:
    """``sql`` (qmark style) in the paramstyle of ``conn``'s driver."""
    return sql if conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s")


@dataclass(slots=True)
class Outcome:
    """What became of one attempt, ready to be written.

    ``status`` is the delivery's next state; ``next_attempt_at`` is set when it is retried;
    ``disable_reason`` is set when the attempt alone disables the endpoint (410 Gone).
    """

    claimed: Claimed
    result: AttemptResult
    attempted_at: datetime
    status: str
    next_attempt_at: datetime | None
    disable_reason: str | None = None


def decide(
    claimed: Claimed,
    result: AttemptResult,
    *,
    policy: RetryPolicy,
    attempted_at: datetime,
    now: datetime,
    rng: Any = None,
) -> Outcome:
    """Apply the retry contract to one attempt's result (pure; no I/O)."""
    kind = classify(result.status_code, result.error)
    if kind == "success":
        return Outcome(claimed, result, attempted_at, SUCCEEDED, None)
    if kind == "gone":
        # 410: the receiver says the endpoint is gone. Disable it at once; the delivery
        # is held (not dropped) and flows again if an operator re-enables the endpoint.
        return Outcome(claimed, result, attempted_at, HELD, None, disable_reason="endpoint answered 410 Gone")
    delay = policy.delay_after(claimed.cycle_attempts + 1, rng=rng)
    if delay is None:
        return Outcome(claimed, result, attempted_at, FAILED, None)
    if result.status_code in (429, 503):
        delay = policy.retry_after_delay(delay, result.retry_after, now=now)
    return Outcome(claimed, result, attempted_at, PENDING, now + timedelta(seconds=delay))


def storable_result(result: AttemptResult) -> AttemptResult:
    """``result`` with its outside text (error, response excerpt) storable on both databases:
    NUL, invalid UTF-8 and lone surrogates replaced, the error bounded to ERROR_MAX_CHARS and
    the excerpt to RESPONSE_EXCERPT_BYTES characters. Anything that writes an attempt uses it.
    """
    error = _storable(result.error, ERROR_MAX_CHARS)
    excerpt = _storable(result.response_excerpt, RESPONSE_EXCERPT_BYTES)
    if error is result.error and excerpt is result.response_excerpt:
        return result
    return dataclasses.replace(result, error=error, response_excerpt=excerpt)


def _storable(value: str | None, max_chars: int) -> str | None:
    # The hot path: most texts are short ASCII without NUL, already storable (two C scans).
    if value is None or (len(value) <= max_chars and value.isascii() and "\x00" not in value):
        return value
    return storable_text(value, max_chars=max_chars)


def _storable_outcome(o: Outcome) -> Outcome:
    result = storable_result(o.result)
    return o if result is o.result else dataclasses.replace(o, result=result)


def _rows(o: Outcome, now: datetime) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The delivery update (_FINISH) and the attempt row (_RECORD) for one storable outcome."""
    c, r = o.claimed, o.result
    ok = o.status == SUCCEEDED
    update = (
        o.status,
        0 if ok else c.cycle_attempts + 1,
        o.next_attempt_at,
        r.status_code,
        r.error,
        o.attempted_at if ok else None,
        now,
        c.id,
        c.token,
    )
    attempt = (
        new_id("att"),
        c.id,
        c.webhook_id,
        c.attempts + 1,
        c.trigger or TRIGGER_SCHEDULED,
        o.attempted_at,
        r.duration_ms,
        r.status_code,
        r.error,
        r.response_excerpt,
        c.id,
    )
    return update, attempt


def finish(
    engine: Engine,
    outcomes: Sequence[Outcome],
    *,
    disable_after: int,
    now: datetime,
    disable_after_period: float = 0.0,
) -> list[str]:
    """Write a batch of outcomes; return the webhook IDs it disabled.

    ``disable_after`` and ``disable_after_period`` (seconds; ``RetryPolicy.streak_period()``)
    are the auto-disable rule (``queue.health``). Raises a SQLAlchemy error only when the
    database cannot take even the row-by-row fallback (unreachable, say); then nothing of
    the batch was committed and the caller may write it again.
    """
    if not outcomes:
        return []
    # Storable once, for every write below (delivery, attempt, endpoint events, job holds).
    outcomes = [_storable_outcome(o) for o in outcomes]
    rows = [_rows(o, now) for o in outcomes]
    try:
        with engine.begin() as conn:
            streaks = health.load_streaks(conn, outcomes)
            conn.exec_driver_sql(_driver_sql(conn, _FINISH), [u for u, _ in rows])
            conn.exec_driver_sql(_driver_sql(conn, _RECORD), [a for _, a in rows])
            jobs.hold_gone(conn, outcomes, now=now)  # a job answering "gone" holds its kind
            return health.apply_outcomes(
                conn, streaks, outcomes, disable_after=disable_after, period=disable_after_period, now=now
            )
    except _WRITE_ERRORS as exc:
        log.warning("writing a batch of %d results failed (%s); writing them one by one", len(rows), _error_class(exc))
    with engine.begin() as conn:
        streaks = health.load_streaks(conn, outcomes)
        for update, attempt in rows:
            _write_isolated(conn, update, attempt)
        jobs.hold_gone(conn, outcomes, now=now)
        return health.apply_outcomes(
            conn, streaks, outcomes, disable_after=disable_after, period=disable_after_period, now=now
        )


def _error_class(exc: BaseException) -> str:
    """The driver's error class (``DataError``, ``UnicodeEncodeError``…), not SQLAlchemy's wrapper."""
    orig = getattr(exc, "orig", None)
    return type(orig if isinstance(orig, BaseException) else exc).__name__


def _write_isolated(conn: sa.Connection, update: tuple[Any, ...], attempt: tuple[Any, ...]) -> None:
    """Write one result in a savepoint; if the database refuses it, write the attempt again
    with the result replaced by a note saying it could not be stored. If even that fails,
    the error propagates and the whole transaction is rolled back (nothing half-written)."""
    finish_sql, record_sql = _driver_sql(conn, _FINISH), _driver_sql(conn, _RECORD)
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(finish_sql, update)
            conn.exec_driver_sql(record_sql, attempt)
        return
    except _WRITE_ERRORS as exc:
        cls = _error_class(exc)
        # repr() and a bound: the driver's message may quote the receiver's bytes.
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[:1]
        log.warning("the result of delivery %s could not be stored (%s): %r", update[_F_ID], cls, "".join(first)[:200])
    note = f"the attempt's result could not be stored ({cls})"
    if update[_F_CODE] is not None:
        note += f"; it answered HTTP {update[_F_CODE]}"
    # Only our own values are kept: whatever came from outside may be what was refused.
    safe_update = list(update)
    safe_update[_F_CODE], safe_update[_F_ERROR] = None, note
    safe_attempt = list(attempt)
    safe_attempt[_R_CODE], safe_attempt[_R_ERROR], safe_attempt[_R_EXCERPT] = None, note, None
    with conn.begin_nested():
        conn.exec_driver_sql(finish_sql, tuple(safe_update))
        conn.exec_driver_sql(record_sql, tuple(safe_attempt))
