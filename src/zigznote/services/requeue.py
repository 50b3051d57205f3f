"""The rules shared by `webhooks retry|replay|deliveries` and `jobs retry|replay|list`: which
statuses a listing or a replay accepts, when a manual retry is refused, and whether a job's
kind is held. Webhook deliveries and integration jobs are rows of the same table, retried the
same way; only the words of the errors differ (``job …`` or ``delivery …``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from zigznote.delivery.queue import admin
from zigznote.delivery.queue import jobs as qjobs
from zigznote.errors import Conflict, InvalidInput
from zigznote.store.models.delivery import DELIVERING, FAILED, STATUSES, SUCCEEDED
from zigznote.timeutil import iso

# What `replay --status` selects. "all" means every *finished* row: pending, held and
# in-flight ones are already queued, and resetting an in-flight one would send it twice.
REPLAY_STATUSES: dict[str, tuple[str, ...]] = {
    "failed": (FAILED,),
    "succeeded": (SUCCEEDED,),
    "all": (FAILED, SUCCEEDED),
}


@dataclass(frozen=True)
class Wording:
    """How a refused retry names its row. ``noun`` ("job", "delivery") starts the messages
    and the error codes (``<noun>_in_flight``, ``<noun>_succeeded``, ``<noun>_changed``)."""

    noun: str
    in_flight: str  # what a row in flight is doing, e.g. "is running right now"
    again_hint: str  # the hint when the row already succeeded


def check_status(status: str | None, noun: str) -> None:
    """InvalidInput (exit 2) unless ``status`` is None or a delivery status."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            f"unknown {noun} status {status!r}", hint=f"one of {', '.join(STATUSES)}", code="invalid_status"
        )


def check_replay_status(status: str) -> None:
    """InvalidInput (exit 2) unless ``status`` is a key of :data:`REPLAY_STATUSES`."""
    if status not in REPLAY_STATUSES:
        raise InvalidInput(
            f"unknown replay status {status!r}", hint=f"one of {', '.join(REPLAY_STATUSES)}", code="invalid_status"
        )


def kind_held(conn: sa.Connection, org_id: str, kind: str) -> bool:
    """Whether job ``kind`` is held for the organization (its cause, e.g. a revoked
    integration, is not fixed: its jobs wait, see ``delivery/queue/jobs.py``)."""
    settings = qjobs.read_settings(conn, org_id) or {}
    return kind in qjobs.held_kinds(settings)


def requeue_one(conn: sa.Connection, d: Any, *, now: datetime, force: bool, hold: bool, wording: Wording) -> None:
    """Queue row ``d`` (a ``views.find_delivery`` row) again with a fresh retry cycle, held
    if ``hold``.

    Conflict (exit 4) if it already succeeded or is in flight (leased past ``now``) unless
    ``force``, and when a worker claimed or finished it while we looked (never overwrites a
    result).
    """
    noun = wording.noun
    if not force:
        if d.status == DELIVERING and d.next_attempt_at is not None and d.next_attempt_at > now:
            raise Conflict(
                f"{noun} {d.id} {wording.in_flight} (lease until {iso(d.next_attempt_at)})",
                hint="wait for the attempt to finish, or pass --force to queue it again anyway",
                code=f"{noun}_in_flight",
            )
        if d.status == SUCCEEDED:
            raise Conflict(f"{noun} {d.id} already succeeded", hint=wording.again_hint, code=f"{noun}_succeeded")
    version = admin.RowVersion(d.id, d.status, d.attempts, d.claim_token)
    if not admin.requeue_if_unchanged(conn, version, now=now, hold=hold):
        raise Conflict(
            f"{noun} {d.id} changed while it was being queued (a worker picked it up)",
            hint="run the command again",
            code=f"{noun}_changed",
        )
