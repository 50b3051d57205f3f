"""Retention while a worker delivers: does pruning slow claims or deliveries down?

For each backend (SQLite always; Postgres with --postgres URL):

1. a fresh database (SQLite: ``auto_vacuum=INCREMENTAL``) with ``--finished`` old finished
   deliveries (event + succeeded delivery + one attempt each, 40 days old), made with
   set-based SQL (a recursive CTE on SQLite, ``generate_series`` on Postgres);
2. ``--rounds`` interleaved pairs of runs, each starting from ``--pending`` due jobs of a
   no-op kind and lasting ``--seconds``: A, one worker alone; B, the same worker with
   ``worker run``'s background pruner (services/retention.background, its defaults: a child
   process, batches of 200, 3 % duty) beside it. Medians are reported;
3. then the rest is pruned with ``events prune``'s code path alone, for its throughput.

Jobs with a no-op handler, not HTTP: without a receiver the worker is bound by the database,
the resource pruning competes for, so this is the harsher test of interference. Claim
latency is the wall time of each ``queue.claim`` call in the worker. After run B the
bench checks after every run that each due job was delivered or is still queued (nothing
pending removed).

    python bench/prune.py [--finished 1000000] [--pending 100000] [--seconds 20] [--rounds 3]
                          [--postgres URL [--no-sqlite]]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from zigznote.delivery import queue
from zigznote.delivery.engine import EngineConfig, Worker
from zigznote.delivery.queue import Claimed
from zigznote.delivery.queue import jobs as qjobs
from zigznote.delivery.queue import retention as qret
from zigznote.delivery.result import AttemptResult
from zigznote.ids import new_id
from zigznote.services import retention
from zigznote.store import migrate
from zigznote.store.engine import Database
from zigznote.timeutil import utcnow
from zigznote.vault import MasterKey, Vault

KIND = "bench.noop"
# Far older than the 30-day retention; written as SQLAlchemy writes SQLite datetimes (with
# microseconds), because SQLite compares them as text.
OLD = "2026-01-01 00:00:00.000000"

_FILL_SQLITE = [
    """INSERT INTO event (id, org_id, type, data, created_at)
       WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :total)
       SELECT printf('evt_old%019d', i), :org, 'meeting.ended', '{"meeting_id": "m"}',
              datetime(:old, '+' || (i / 100) || ' seconds') || '.000000' FROM n""",
    """INSERT INTO webhook_delivery (id, org_id, event_id, kind, target, dedupe_key, status, attempts,
              cycle_attempts, next_trigger, created_at, updated_at, delivered_at, last_status_code)
       WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :total)
       SELECT printf('msg_old%019d', i), :org, printf('evt_old%019d', i), :kind, 't',
              printf('evt_old%019d/bench.noop/t', i), 'succeeded', 1, 0, 'scheduled',
              :old, :old, :old, 200 FROM n""",
    """INSERT INTO delivery_attempt (id, delivery_id, attempt_number, "trigger", attempted_at, duration_ms,
              status_code)
       WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :total)
       SELECT printf('att_old%019d', i), printf('msg_old%019d', i), 1, 'scheduled', :old, 3, 200 FROM n""",
]
_FILL_POSTGRES = [
    """INSERT INTO event (id, org_id, type, data, created_at)
       SELECT 'evt_old' || lpad(i::text, 19, '0'), :org, 'meeting.ended', '{"meeting_id": "m"}',
              CAST(:old AS timestamp) + (i / 100) * interval '1 second' FROM generate_series(1, :total) i""",
    """INSERT INTO webhook_delivery (id, org_id, event_id, kind, target, dedupe_key, status, attempts,
              cycle_attempts, next_trigger, created_at, updated_at, delivered_at, last_status_code)
       SELECT 'msg_old' || lpad(i::text, 19, '0'), :org, 'evt_old' || lpad(i::text, 19, '0'), :kind, 't',
              'evt_old' || lpad(i::text, 19, '0') || '/bench.noop/t', 'succeeded', 1, 0, 'scheduled',
              CAST(:old AS timestamp), CAST(:old AS timestamp), CAST(:old AS timestamp), 200
         FROM generate_series(1, :total) i""",
    """INSERT INTO delivery_attempt (id, delivery_id, attempt_number, "trigger", attempted_at, duration_ms,
              status_code)
       SELECT 'att_old' || lpad(i::text, 19, '0'), 'msg_old' || lpad(i::text, 19, '0'), 1, 'scheduled',
              CAST(:old AS timestamp), 3, 200 FROM generate_series(1, :total) i""",
]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


async def noop(claim: Claimed) -> AttemptResult:
    return AttemptResult(200, None, 0)


def open_db(backend: str, tmp: Path, pg_base: str | None) -> tuple[Database, str | None]:
    if backend == "sqlite":
        path = tmp / "prune.db"
        raw = sqlite3.connect(path)
        raw.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes effect before the first table
        raw.execute("VACUUM")
        raw.close()
        db = Database(f"sqlite:///{path}", create=True, check=False)
        migrate.upgrade(db.engine)
        return db, None
    assert pg_base is not None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in pg_base else "?"
    db = Database(f"{pg_base}{sep}options=-csearch_path%3D{schema}", check=False)
    migrate.upgrade(db.engine)
    return db, schema


def fill(db: Database, total: int) -> str:
    org = new_id("org")
    with db.engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO organization (id, slug, name, settings, created_at, updated_at) "
                    "VALUES (:id, 'bench', 'bench', '{}', :now, :now)"),
            {"id": org, "now": utcnow()},
        )  # fmt: skip
        sqls = _FILL_SQLITE if db.engine.dialect.name == "sqlite" else _FILL_POSTGRES
        for statement in sqls:
            conn.execute(sa.text(statement), {"total": total, "org": org, "kind": KIND, "old": OLD})
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
    return org


def add_due(db: Database, org: str, count: int) -> None:
    now = utcnow()
    events, jobs = [], []
    for _ in range(count):
        event_id = new_id("evt")
        events.append({"id": event_id, "org_id": org, "type": "summary.ready", "data": {"meeting_id": "m"},
                       "created_at": now})  # fmt: skip
        jobs.append(qjobs.job_row(org_id=org, event_id=event_id, kind=KIND, target="t", now=now))
    from zigznote.store.models import Delivery, Event, table_of

    with db.engine.begin() as conn:
        for start in range(0, count, 5000):
            conn.execute(sa.insert(table_of(Event)), events[start : start + 5000])
            conn.execute(sa.insert(table_of(Delivery)), jobs[start : start + 5000])


def run_worker(db: Database, seconds: float, *, prune: bool) -> dict[str, Any]:
    """One worker for ``seconds`` (with the background pruner if ``prune``); rates and latencies."""
    latencies: list[float] = []
    original = queue.claim

    def timed_claim(*args: Any, **kwargs: Any) -> list[Claimed]:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            latencies.append(time.perf_counter() - started)

    pruned: list[dict[str, Any]] = []
    before = qret.row_counts(db.engine)

    async def main() -> Any:
        stop = asyncio.Event()
        config = EngineConfig(per_endpoint=100, lease_seconds=30.0, attempt_timeout=15.0)
        worker = Worker(db, Vault([MasterKey(os.urandom(32), "bench")]), config, handlers={KIND: noop})
        pruner = None
        if prune:
            policy = retention.RetentionPolicy(30 * 86400.0, 90 * 86400.0)
            pruner = asyncio.create_task(retention.background(db, policy, stop, on_event=pruned.append))
        started = time.monotonic()
        stats = await worker.run(max_seconds=seconds)
        elapsed = time.monotonic() - started
        stop.set()
        if pruner is not None:
            await pruner
        return stats, elapsed

    queue.claim = timed_claim
    try:
        stats, elapsed = asyncio.run(main())
    finally:
        queue.claim = original
    after = qret.row_counts(db.engine)
    ms = sorted(x * 1000 for x in latencies)
    return {
        "delivered": stats.delivered,
        "rate": stats.delivered / elapsed,
        "claims": len(ms),
        "claim_p50": statistics.median(ms) if ms else 0.0,
        "claim_p95": ms[int(0.95 * (len(ms) - 1))] if ms else 0.0,
        "pruned_events": sum(p["events"] for p in pruned),
        "events_before": before["event"],
        "events_after": after["event"],
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def bench_backend(backend: str, args: argparse.Namespace, tmp: Path) -> list[str]:
    db, schema = open_db(backend, tmp, args.postgres)
    try:
        started = time.perf_counter()
        org = fill(db, args.finished)
        log(f"{backend}: {args.finished:,} finished deliveries in {time.perf_counter() - started:.1f} s")
        runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
        # Interleaved (A, B, A, B, …) so the shared machine's load hits both alike.
        for _ in range(args.rounds):
            for prune in (False, True):
                add_due(db, org, max(0, args.pending - _queued(db)))  # each run starts from the same queue
                queued = _queued(db)
                result = run_worker(db, args.seconds, prune=prune)
                left = _queued(db)
                # Nothing due went missing: every job was delivered or is still queued.
                assert result["delivered"] + left == queued, (result, queued, left)
                result["pruned"] = result["events_before"] - result["events_after"]
                runs[prune].append(result)
                log(f"{backend}: {'B (pruning)' if prune else 'A'} {result}")
        a, b = runs[False], runs[True]
        started = time.perf_counter()
        rest = retention.prune_engine(db.engine, retention.RetentionPolicy(30 * 86400.0, 90 * 86400.0))
        rest_s = time.perf_counter() - started
        log(f"{backend}: pruned the rest ({rest.events:,} events) in {rest_s:.1f} s")
        row = [
            backend,
            f"{args.finished:,}",
            f"{_median(a, 'rate'):,.0f}",
            f"{_median(b, 'rate'):,.0f}",
            f"{_median(b, 'rate') / _median(a, 'rate'):.2f}",
            f"{_median(a, 'claim_p50'):.1f} / {_median(a, 'claim_p95'):.1f}",
            f"{_median(b, 'claim_p50'):.1f} / {_median(b, 'claim_p95'):.1f}",
            f"{_median(b, 'claim_p50') / _median(a, 'claim_p50'):.2f}",
            f"{sum(r['pruned'] for r in b):,} in {len(b) * args.seconds:g} s",
            f"{rest.events / rest_s:,.0f}",
            f"{rest.reclaimed_pages:,}",
        ]
        return ["| " + " | ".join(row) + " |"]
    finally:
        db.dispose()
        if schema is not None and args.postgres:
            admin = sa.create_engine(args.postgres)
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def _queued(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM webhook_delivery WHERE status IN ('pending', 'delivering', 'held')")
            ).scalar_one()
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--finished", type=int, default=1_000_000, help="old finished deliveries to create")
    parser.add_argument("--pending", type=int, default=100_000, help="due jobs at the start of each run")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each worker run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved pairs of runs (without, with pruning)")
    parser.add_argument("--postgres", metavar="URL", help="also run on this Postgres (a private schema)")
    parser.add_argument("--no-sqlite", action="store_true", help="only the Postgres backend (needs --postgres)")
    args = parser.parse_args(argv)
    print(
        f"`python bench/prune.py {' '.join(argv or sys.argv[1:])}`, {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}"
    )
    print(f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}")  # fmt: skip
    print()
    print(
        "| backend | finished rows | del/s without pruning | del/s while pruning | ratio | claim ms p50/p95 "
        "without | claim ms p50/p95 while pruning | claim p50 ratio | pruned during the runs "
        "| prune alone, events/s | SQLite pages given back |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        backends = ([] if args.no_sqlite else ["sqlite"]) + (["postgres"] if args.postgres else [])
        for backend in backends:
            for line in bench_backend(backend, args, Path(tmp)):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
