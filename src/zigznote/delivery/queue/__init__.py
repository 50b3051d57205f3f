"""The delivery queue: the engine's only SQL, and the one home of delivery-row writes.

- ``claims``: leasing due deliveries (``claim``, ``hold``, ``release``, ``due_count``).
- ``outcomes``: what became of an attempt (``decide``, pure) and writing a batch of results
  (``finish``; one bad row never fails a batch; outside text made storable).
- ``health``: failure streaks, auto-disable, ``disable``/``enable`` and endpoint events.
- ``notify``: the receiving side of Postgres LISTEN (``notify.listen``); the sending side is
  ``queue.notify(conn)`` below.
- ``admin`` (enqueue, requeue, release held rows, test attempts), ``jobs`` (integration-job
  rows and holds), ``retention`` (pruning) and ``views`` (read queries) are imported by name.

Everything here is batch-shaped: one claim statement and one event fetch per batch, one
executemany for the delivery updates and one for the attempt rows, so the statement count
per delivered event stays well under one.
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa

NOTIFY_CHANNEL = "zigznote_deliveries"

# The submodule `queue/notify.py` (LISTEN) shares its name with the function `queue.notify`
# (NOTIFY). Importing a submodule sets it as an attribute of its package, which would replace
# the function for every later caller; importing it here, before the function is defined,
# means the import system never sets that attribute again.
importlib.import_module(f"{__name__}.notify")

from zigznote.delivery.queue.claims import Claimed, claim, due_count, hold, release  # noqa: E402
from zigznote.delivery.queue.health import disable, enable, record_event  # noqa: E402
from zigznote.delivery.queue.outcomes import Outcome, decide, finish, storable_result  # noqa: E402

__all__ = [
    "NOTIFY_CHANNEL",
    "Claimed",
    "Outcome",
    "claim",
    "decide",
    "disable",
    "due_count",
    "enable",
    "finish",
    "hold",
    "notify",
    "record_event",
    "release",
    "storable_result",
]


def notify(conn: sa.Connection) -> None:
    """Wake idle Postgres workers (LISTEN); a no-op elsewhere. Call inside the
    transaction that created the work: NOTIFY is delivered on commit."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"NOTIFY {NOTIFY_CHANNEL}"))
