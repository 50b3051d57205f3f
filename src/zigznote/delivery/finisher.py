"""Writing results back: batches of outcomes, one transaction each, in the DB thread.

Results wait in memory for at most ``flush_interval`` so one transaction records many
attempts; they are written at once when unwritten results are what keeps the worker
from claiming more. A failed write keeps every result for the next flush (nothing is
dropped; leases keep the deliveries ours meanwhile, and if they lapse the work is
redone). The endpoints' adaptive levels are saved here too, every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from zigznote.delivery import queue
from zigznote.delivery.config import EngineConfig
from zigznote.delivery.endpoints import save_levels
from zigznote.delivery.queue import Outcome
from zigznote.delivery.stats import Stats
from zigznote.store.engine import Database
from zigznote.store.models.delivery import FAILED, HELD, PENDING, SUCCEEDED
from zigznote.timeutil import iso, utcnow

log = logging.getLogger(__name__)

# How often changed adaptive levels are written to webhook.concurrency_level.
LEVEL_SAVE_SECONDS = 5.0

_COUNTERS = {SUCCEEDED: "delivered", PENDING: "retrying", FAILED: "failed", HELD: "held"}

RunDb = Callable[..., Awaitable[Any]]


class Finisher:
    """The results buffer of one worker and the task that writes it."""

    def __init__(
        self,
        db: Database,
        config: EngineConfig,
        stats: Stats,
        run_db: RunDb,
        *,
        emit: Callable[[dict[str, Any]], None] | None,
        on_disabled: Callable[[str], None],
        levels: Callable[[], dict[str, int]],
        wake: Callable[[], None],
        on_batch_end: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.stats = stats
        self._run_db = run_db
        self._emit = emit
        self._on_disabled = on_disabled
        self._levels = levels
        self._wake = wake
        self._on_batch_end = on_batch_end
        self.results: list[Outcome] = []
        self.writing = 0
        self.ready = asyncio.Event()
        self.now = asyncio.Event()
        self._levels_saved = time.monotonic()

    def pending(self) -> int:
        """Results not yet written (buffered or being written)."""
        return len(self.results) + self.writing

    def add(self, outcome: Outcome) -> None:
        """Buffer one outcome; a full batch is written without lingering."""
        self.results.append(outcome)
        self.ready.set()
        if len(self.results) >= self.config.batch:
            self.now.set()

    async def flush(self) -> None:
        """Write everything buffered now (one transaction). Raises on a DB error after
        putting the batch back; a cancelled flush still lets its write land."""
        if not self.results:
            return
        batch, self.results = self.results, []
        self.ready.clear()
        self.now.clear()
        self.writing += len(batch)
        now = utcnow()
        fut = asyncio.ensure_future(
            self._run_db(
                queue.finish,
                self.db.engine,
                batch,
                disable_after=self.config.policy.disable_after,
                disable_after_period=self.config.policy.streak_period(),
                now=now,
            )
        )
        cancelled = False
        try:
            try:
                disabled = await asyncio.shield(fut)
            except asyncio.CancelledError:
                # The write is queued or running in the DB thread; let it land, or its
                # results would be lost (and their deliveries sent again after the lease).
                cancelled = True
                disabled = await fut
        except Exception:
            self.results[:0] = batch
            self.ready.set()
            raise
        finally:
            self.writing -= len(batch)
            self._wake()  # written results free capacity: claim more now
        self._account(batch, disabled, now)
        if cancelled:
            raise asyncio.CancelledError

    def _account(self, batch: list[Outcome], disabled: list[str], now: datetime) -> None:
        stats = self.stats
        stats.attempts += len(batch)
        emit = self._emit
        # A retry whose endpoint this batch disabled is held, not retrying: the disable
        # held every active row of that endpoint in the same transaction.
        gone = set(disabled)
        for o in batch:
            status = HELD if o.status == PENDING and o.claimed.webhook_id in gone else o.status
            name = _COUNTERS.get(status)
            if name:
                setattr(stats, name, getattr(stats, name) + 1)
            r = o.result
            if status != SUCCEEDED:
                stats.failure(o.claimed.lane, r.error or f"HTTP {r.status_code}")
            if emit is not None:
                c = o.claimed
                emit(
                    {
                        "event": "attempt",
                        "delivery": c.id,
                        "webhook": c.webhook_id,
                        "kind": c.kind,
                        "event_id": c.event_id,
                        "type": c.event_type,
                        "attempt": c.attempts + 1,
                        "trigger": c.trigger,
                        "status_code": r.status_code,
                        "error": r.error,
                        "duration_ms": r.duration_ms,
                        "outcome": status,
                        "next_attempt_at": None if status == HELD else iso(o.next_attempt_at),
                        "at": iso(o.attempted_at),
                    }
                )
        for webhook_id in disabled:
            stats.disabled_webhooks += 1
            self._on_disabled(webhook_id)
            if emit is not None:
                # The reason says how long the streak lasted and how many attempts failed.
                reason = getattr(webhook_id, "reason", None)
                emit({"event": "webhook_disabled", "webhook": webhook_id, "reason": reason, "at": iso(now)})
        if self._on_batch_end is not None:
            self._on_batch_end()

    async def save_levels(self, *, force: bool = False) -> None:
        """Write changed adaptive levels, at most every LEVEL_SAVE_SECONDS (display only:
        a failure is logged and the next save tries again)."""
        if not force and time.monotonic() - self._levels_saved < LEVEL_SAVE_SECONDS:
            return
        self._levels_saved = time.monotonic()
        changed = self._levels()
        if changed and self._emit is not None:
            self._emit({"event": "concurrency", "levels": changed, "at": iso(utcnow())})
        if changed:
            try:
                await self._run_db(save_levels, self.db.engine, changed)
            except Exception:
                log.warning("saving adaptive concurrency levels failed", exc_info=True)

    async def run(self) -> None:
        """Write results as they come, until cancelled."""
        interval = self.config.flush_interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ready.wait(), timeout=LEVEL_SAVE_SECONDS)
            if self.ready.is_set() and not self.now.is_set():
                # Linger briefly so one transaction records many attempts, unless unwritten
                # results are already what keeps the loop from claiming more.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.now.wait(), timeout=interval)
            try:
                await self.flush()
                await self.save_levels()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("recording results failed; retrying")
                await asyncio.sleep(1.0)
