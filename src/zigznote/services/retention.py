"""Retention: prune finished history older than ``ZIGZNOTE_RETENTION`` (events with a failed
delivery after ``ZIGZNOTE_RETENTION_FAILED``), for cron (`events prune`) and in the
background of `worker run`.

Never removes an event with pending, delivering or held work. Runs in small batches, one
short transaction each, so workers keep claiming and finishing meanwhile. SQLite gives
the freed pages back to the file system when the database uses
``auto_vacuum=INCREMENTAL``; Postgres leaves the space to autovacuum.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from zigznote.config import Settings
from zigznote.delivery.queue import retention as qret
from zigznote.errors import InvalidInput
from zigznote.store.engine import Database
from zigznote.timeutil import iso, parse_duration, utcnow

log = logging.getLogger(__name__)

DEFAULT_BATCH = 1000
MIN_AGE = 3600.0  # seconds: anything shorter is a typo (a bare number is seconds), not a policy
BACKGROUND_BATCH = 200  # small: a claim that meets a batch waits for it (SQLite's write lock)
BACKGROUND_INTERVAL = 300.0  # seconds between background rounds once caught up
# Share of wall time the background pruner may spend inside its transactions: after a batch
# that held the database for t seconds it rests t * (1 - duty) / duty, however fast or slow
# the database is today. Measured (docs/benchmarks.md): a busy SQLite worker lost ~27 % of its
# delivery rate at 0.1 (a batch holding the write lock also costs the worker the busy
# handler's back-off and CPU on 2 cores) and nothing measurable at 0.03.
BACKGROUND_DUTY = 0.03
VACUUM_PAGES = 2000  # pages (4 KiB) given back per batch with incremental auto_vacuum


@dataclass(frozen=True)
class RetentionPolicy:
    """How long finished history is kept, in seconds."""

    retention: float
    retention_failed: float

    def cutoffs(self, now: Any = None) -> qret.Cutoffs:
        now = now or utcnow()
        # A failed delivery is kept at least as long as a succeeded one.
        return qret.Cutoffs(
            finished=now - timedelta(seconds=self.retention),
            failed=now - timedelta(seconds=max(self.retention, self.retention_failed)),
        )


def policy(
    settings: Settings, *, older_than: str | None = None, failed_older_than: str | None = None
) -> RetentionPolicy:
    """The configured policy, with the command line's overrides (InvalidInput, exit 2, if
    malformed or under an hour: a bare ``--older-than 30`` means seconds, not days)."""
    retention = _age(older_than, "--older-than") if older_than is not None else float(settings.retention)
    failed = (
        _age(failed_older_than, "--failed-older-than")
        if failed_older_than is not None
        else float(settings.retention_failed)
    )
    return RetentionPolicy(retention, failed)


def _age(text: str, option: str) -> float:
    value = parse_duration(text)
    if value < MIN_AGE:
        raise InvalidInput(
            f"{option} {text!r} is too short: the minimum is 1 hour",
            hint="a shorter age would delete the history of deliveries still being retried; for example 30d",
            code="retention_too_short",
        )
    return value


@dataclass
class Totals:
    events: int = 0
    deliveries: int = 0
    attempts: int = 0
    endpoint_events: int = 0
    kept: int = 0
    batches: int = 0
    reclaimed_pages: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "deliveries": self.deliveries,
            "attempts": self.attempts,
            "endpoint_events": self.endpoint_events,
            "kept": self.kept,
            "batches": self.batches,
            "reclaimed_pages": self.reclaimed_pages,
        }


def prune_engine(
    engine: Engine, pol: RetentionPolicy, *, batch: int = DEFAULT_BATCH, dry_run: bool = False, duty: float = 1.0
) -> Totals:
    """Prune in batches until nothing expired is left, then give SQLite's freed pages back.

    With ``duty`` below 1, rest after each step so the steps hold the database for at most
    that share of the wall time. InvalidInput for a batch outside [1, MAX_BATCH] or a duty
    outside (0, 1].
    """
    if not 1 <= batch <= qret.MAX_BATCH:
        raise InvalidInput(f"--batch must be between 1 and {qret.MAX_BATCH}", code="invalid_batch")
    if not 0 < duty <= 1:
        raise InvalidInput(f"duty must be in (0, 1], not {duty}", code="invalid_duty")

    def rest(busy: float) -> None:
        if duty < 1:
            time.sleep(busy * (1 - duty) / duty)

    cutoffs = pol.cutoffs()
    totals = Totals()
    cursor = None
    while True:
        result = qret.prune_batch(engine, cutoffs=cutoffs, limit=batch, after=cursor, dry_run=dry_run)
        totals.batches += 1
        totals.events += result.events
        totals.deliveries += result.deliveries
        totals.attempts += result.attempts
        totals.kept += result.kept
        if result.cursor is None or result.scanned < batch:
            break
        cursor = result.cursor
        rest(result.busy_seconds)  # not the wait for the lock: that costs nobody anything
    while True:
        removed = qret.prune_endpoint_events(engine, before=cutoffs.finished, limit=batch, dry_run=dry_run)
        totals.endpoint_events += removed
        if dry_run or removed < batch:
            break
    # Freed pages are reused by new rows anyway; giving them back moves pages from the end of
    # the file, so it is done once at the end, in paced steps, not after every batch.
    while totals.events and not dry_run:
        started = time.perf_counter()
        freed = qret.incremental_vacuum(engine, pages=VACUUM_PAGES)
        totals.reclaimed_pages += freed
        if freed < VACUUM_PAGES:
            break
        rest(time.perf_counter() - started)
    return totals


def prune(
    db: Database,
    settings: Settings,
    *,
    older_than: str | None = None,
    failed_older_than: str | None = None,
    batch: int = DEFAULT_BATCH,
    dry_run: bool = False,
    duty: float = 1.0,
) -> dict[str, Any]:
    """`zigznote events prune`: remove (or count) everything expired; a summary for output.

    ``duty`` below 1 paces the batches (see :func:`prune_engine`). InvalidInput (exit 2)
    for a malformed age, batch size or duty.
    """
    pol = policy(settings, older_than=older_than, failed_older_than=failed_older_than)
    cutoffs = pol.cutoffs()
    totals = prune_engine(db.engine, pol, batch=batch, dry_run=dry_run, duty=duty)
    data = {
        "dry_run": dry_run,
        "older_than": iso(cutoffs.finished),
        "failed_older_than": iso(cutoffs.failed),
        **totals.as_dict(),
    }
    mode = qret.sqlite_auto_vacuum(db.engine)
    if mode is not None:
        data["sqlite_auto_vacuum"] = mode
    return data


def _child_command(pol: RetentionPolicy, *, batch: int, duty: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "zigznote",
        "--json",
        "events",
        "prune",
        "--older-than",
        f"{pol.retention:.3f}s",
        "--failed-older-than",
        f"{pol.retention_failed:.3f}s",
        "--batch",
        str(batch),
        "--duty",
        f"{duty:.3f}",
    ]


async def _prune_in_child(db: Database, pol: RetentionPolicy, stop: asyncio.Event, *, batch: int, duty: float) -> Any:
    """One `events prune` in a child process; its JSON summary, or None if it failed or was
    stopped (a killed child's open batch is rolled back: nothing half-deleted)."""
    # The URL (maybe with a password) goes by environment, never on a command line others can read.
    env = dict(os.environ, ZIGZNOTE_DB=db.url)
    proc = await asyncio.create_subprocess_exec(
        *_child_command(pol, batch=batch, duty=duty),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    talk = asyncio.create_task(proc.communicate())
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({talk, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not talk.done():
            proc.terminate()
            await talk
            return None
    finally:
        stopped.cancel()
    out, err = talk.result()
    if proc.returncode != 0:
        log.warning("background pruning failed (exit %s): %s", proc.returncode, err.decode(errors="replace")[-2000:])
        return None
    return json.loads(out)


async def background(
    db: Database,
    pol: RetentionPolicy,
    stop: asyncio.Event,
    *,
    interval: float = BACKGROUND_INTERVAL,
    batch: int = BACKGROUND_BATCH,
    duty: float = BACKGROUND_DUTY,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """`worker run`'s pruner: every ``interval`` seconds, an `events prune` with small batches
    and a ``duty`` share of the time, in a child process, until ``stop`` is set.

    A child process, not a thread: the worker's event loop keeps the GIL busy, and a thread
    that holds SQLite's write lock while it waits for the GIL makes every claim wait too
    (measured: a 20 ms batch took 360 ms in a thread beside a busy worker). Failures are
    logged and retried next round: retention must never stop deliveries.
    """
    while not stop.is_set():
        try:
            summary = await _prune_in_child(db, pol, stop, batch=batch, duty=duty)
        except Exception:
            log.exception("background pruning could not start; trying again next round")
            summary = None
        if summary and (summary.get("events") or summary.get("endpoint_events")) and on_event is not None:
            try:
                on_event({"event": "pruned", **summary, "at": iso(utcnow())})
            except Exception:  # a broken renderer must not stop pruning (nor deliveries)
                log.exception("event handler failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
