"""Pending operations: every create sent to a payment provider, written down before it is sent.

The rule (DESIGN.md, Idempotency): a create carries an idempotency key derived from our own IDs
and the operation, and a retry after a lost response sends the *same key with the same
parameters* (Stripe answers a reused key with the first result, and refuses a reused key with
other parameters: https://docs.stripe.com/api/idempotent_requests). So :func:`run`:

1. looks for an operation still ``pending`` for (provider, operation, scope), ``scope`` naming
   what is created in our IDs (``org_…``; ``pro:<fingerprint>``). Found and younger than
   :data:`KEY_TTL`: it is resumed, its key and **frozen parameters** sent again, whatever the
   caller passed this time. Otherwise a new row (``bop_…``) with a new key and the caller's
   parameters, committed *before* the call;
2. calls the provider;
3. on an answer, marks the row ``completed`` with the object's ID and lets the caller write its
   own rows, in one transaction; on a refusal (InvalidInput, Conflict, NotFound, and
   ``ProviderRefused``: a provider error whose answer says nothing was done, such as
   Flutterwave's insufficient balance) marks it ``failed`` (Stripe replays a refusal for the
   same key, so the next attempt needs a new one); on a failure whose outcome is unknown (any
   other ProviderError: a timeout, a dropped connection, a 5xx) or missing credentials it stays
   ``pending`` for the next attempt, which resends it: only then did it "get no answer".

Stripe keeps keys at least 24 hours; a pending operation older than :data:`KEY_TTL` is marked
``expired`` and a new one starts (its key might otherwise create a second object unnoticed;
callers such as refunds re-check the provider's state before starting one).

Keys and parameters come from :mod:`zigznote.billing.idempotency` (the one implementation):
:func:`~zigznote.billing.idempotency.idempotency_key` names the row's key, callers pass the
neutral request made JSON by ``idempotency.freeze`` and rebuild it with ``idempotency.thaw``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlmodel import Session, col, select

from zigznote.billing.idempotency import idempotency_key
from zigznote.billing.providers.base import ProviderRefused
from zigznote.errors import ConfigError, ProviderError, ZigznoteError
from zigznote.ids import new_id
from zigznote.store.models import PendingOperation
from zigznote.store.models.billing import OP_COMPLETED, OP_EXPIRED, OP_FAILED, OP_PENDING
from zigznote.timeutil import iso, utcnow
from zigznote.untrusted import storable_text

if TYPE_CHECKING:
    from zigznote.store.engine import Database

__all__ = ["KEY_TTL", "Outcome", "Started", "begin", "find_pending", "pending", "resume", "run"]

T = TypeVar("T")
R = TypeVar("R")

#: How long a pending operation may be resumed with its key: Stripe removes keys "after they're
#: at least 24 hours old"; an hour of margin for clocks and slow retries.
KEY_TTL = timedelta(hours=23)


@dataclass(frozen=True)
class Started:
    """An operation about to be sent: its row, key and the parameters to send. ``resumed``: an
    earlier attempt's; ``differs``: its frozen parameters are not what the caller asked now;
    ``expired``: an older unanswered attempt of the same scope was given up (see KEY_TTL)."""

    op_id: str
    key: str
    params: dict[str, Any]
    resumed: bool
    started_at: datetime
    differs: bool = False
    expired: str | None = None


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """What :func:`run` returns: the caller's result and what happened to the operation."""

    value: R
    started: Started

    def notes(self, operation: str) -> list[str]:
        """Sentences for people: a resumed operation, parameters not taken, an expired key."""
        s = self.started
        notes = []
        if s.expired:
            notes.append(
                f"an earlier {operation} ({s.expired}) never got an answer and its idempotency key has "
                "expired at the provider: this is a new request"
            )
        if s.resumed:
            tail = ": with its original parameters, not this command's (run it again for a new one)"
            notes.append(
                f"finished an earlier {operation} that got no answer (started {iso(s.started_at)}), "
                "with the same idempotency key" + (tail if s.differs else "")
            )
        return notes


def begin(
    db: Database,
    *,
    provider: str,
    operation: str,
    scope: str,
    params: Mapping[str, Any],
    org_id: str | None = None,
) -> Started:
    """Resume the pending operation of (provider, operation, scope), or write a new one; in its
    own committed transaction, before anything is sent."""
    now = utcnow()
    with db.session() as session:
        pending = session.exec(
            select(PendingOperation)
            .where(
                PendingOperation.provider == provider,
                PendingOperation.operation == operation,
                PendingOperation.scope == scope,
                PendingOperation.status == OP_PENDING,
            )
            .order_by(col(PendingOperation.created_at).desc())
        ).all()
        expired: str | None = None
        for row in pending:
            if now - row.created_at < KEY_TTL:
                row.attempts += 1
                row.updated_at = now
                session.add(row)
                return Started(
                    row.id, row.idempotency_key, dict(row.params), True, row.created_at, dict(row.params) != params
                )
            row.status, row.updated_at = OP_EXPIRED, now
            expired = f"started {iso(row.created_at)}"
            session.add(row)
        op_id = new_id("bop")
        row = PendingOperation(
            id=op_id,
            org_id=org_id,
            provider=provider,
            operation=operation,
            scope=scope,
            idempotency_key=idempotency_key(operation, scope, op_id),
            params=dict(params),
            attempts=1,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        return Started(op_id, row.idempotency_key, dict(params), False, now, expired=expired)


def _finish(
    session: Session, op_id: str, status: str, *, result_id: str | None = None, error: str | None = None
) -> None:
    row = session.get(PendingOperation, op_id)
    if row is None or row.status != OP_PENDING:  # another process finished it meanwhile
        return
    now = utcnow()
    row.status, row.updated_at, row.result_id = status, now, result_id
    row.error = storable_text(error, max_chars=2000)
    if status == OP_COMPLETED:
        row.completed_at = now
    session.add(row)


def _note_error(db: Database, op_id: str, error: str) -> None:
    """Keep the operation pending (the next attempt resends it) with the reason it was not
    finished this time."""
    with db.session() as session:
        row = session.get(PendingOperation, op_id)
        if row is not None and row.status == OP_PENDING:
            row.error, row.updated_at = storable_text(error, max_chars=2000), utcnow()
            session.add(row)


def run(
    db: Database,
    *,
    provider: str,
    operation: str,
    scope: str,
    params: Mapping[str, Any],
    call: Callable[[dict[str, Any], str], T],
    result_id: Callable[[T], str],
    record: Callable[[Session, T], R],
    org_id: str | None = None,
) -> Outcome[R]:
    """Send one create through a pending operation (module docstring).

    ``params``: the frozen request (``idempotency.freeze``); ``call(params, key)`` sends it (with the
    resumed operation's params when one is resumed); ``result_id`` names the created object;
    ``record(session, result)`` writes our rows in the transaction that completes the
    operation and returns what the caller returns. Raises what ``call`` raises.
    """
    started = begin(db, provider=provider, operation=operation, scope=scope, params=params, org_id=org_id)
    return Outcome(_send(db, started.op_id, started.params, started.key, call, result_id, record), started)


def resume(db: Database, op: PendingOperation, *, call: Callable[[dict[str, Any], str], T]) -> T:
    """Send a pending operation found by :func:`pending` again, as it was first sent, and
    complete it; the caller records the result itself (its rows may not exist yet)."""
    with db.session() as session:
        row = session.get(PendingOperation, op.id)
        if row is not None:
            row.attempts += 1
            row.updated_at = utcnow()
            session.add(row)
    return _send(db, op.id, dict(op.params), op.idempotency_key, call, lambda r: _object_id(r), lambda s, r: r)


def _object_id(result: Any) -> str:
    return str(result.id)


def _send(
    db: Database,
    op_id: str,
    params: dict[str, Any],
    key: str,
    call: Callable[[dict[str, Any], str], T],
    result_id: Callable[[T], str],
    record: Callable[[Session, T], R],
) -> R:
    try:
        result = call(params, key)
    except ProviderRefused as exc:  # answered: nothing was done, so nothing to resend
        with db.session() as session:
            _finish(session, op_id, OP_FAILED, error=exc.message)
        raise
    except (ProviderError, ConfigError) as exc:
        # Not refused: maybe never sent, maybe sent and the answer lost. Resend as is next time.
        _note_error(db, op_id, exc.message)
        raise
    except ZigznoteError as exc:
        with db.session() as session:
            _finish(session, op_id, OP_FAILED, error=exc.message)
        raise
    with db.session() as session:
        _finish(session, op_id, OP_COMPLETED, result_id=result_id(result))
        return record(session, result)


def find_pending(db: Database, *, provider: str, operation: str, scope: str) -> PendingOperation | None:
    """The operation :func:`run` would resume for (provider, operation, scope), if any."""
    cutoff = utcnow() - KEY_TTL
    with db.session() as session:
        return session.exec(
            select(PendingOperation).where(
                PendingOperation.provider == provider,
                PendingOperation.operation == operation,
                PendingOperation.scope == scope,
                PendingOperation.status == OP_PENDING,
                col(PendingOperation.created_at) > cutoff,
            )
        ).first()


def pending(db: Database, *, provider: str, operations: tuple[str, ...]) -> list[PendingOperation]:
    """Operations of these kinds still pending at ``provider``, oldest first (``plans sync``
    finishes them before it compares)."""
    with db.session() as session:
        return list(
            session.exec(
                select(PendingOperation)
                .where(
                    PendingOperation.provider == provider,
                    col(PendingOperation.operation).in_(operations),
                    PendingOperation.status == OP_PENDING,
                )
                .order_by(col(PendingOperation.created_at), col(PendingOperation.id))
            ).all()
        )
