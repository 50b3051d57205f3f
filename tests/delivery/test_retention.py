"""Retention: `events prune` and the pruning in `worker run` remove old finished history in
batches and never an event with pending, delivering or held work."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.cli._webhooks_support import sql
from tests.conftest import Cli
from tests.support import factory
from zigznote.delivery.queue import retention as qret
from zigznote.ids import new_id
from zigznote.services import retention
from zigznote.store.engine import Database
from zigznote.timeutil import utcnow
from zigznote.vault import MasterKey, Vault

DAY = 86400.0


def _vault() -> Vault:
    return Vault([MasterKey(os.urandom(32), "test")])


def _age(db: Database, delivery_ids: list[str], days: float) -> None:
    """Make deliveries (their events, rows and attempts) ``days`` old."""
    when = utcnow() - timedelta(days=days)
    with db.engine.begin() as conn:
        for delivery_id in delivery_ids:
            conn.execute(
                sa.text("UPDATE webhook_delivery SET created_at = :t, updated_at = :t WHERE id = :id"),
                {"t": when, "id": delivery_id},
            )
            conn.execute(
                sa.text(
                    "UPDATE event SET created_at = :t WHERE id = (SELECT event_id FROM webhook_delivery WHERE id = :id)"
                ),
                {"t": when, "id": delivery_id},
            )


def _attempt(db: Database, delivery_id: str, webhook_id: str | None) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                'INSERT INTO delivery_attempt (id, delivery_id, webhook_id, attempt_number, "trigger", attempted_at, '
                "duration_ms) VALUES (:id, :d, :w, 1, 'scheduled', :t, 5)"
            ),
            {"id": new_id("att"), "d": delivery_id, "w": webhook_id, "t": utcnow()},
        )


@pytest.fixture
def store(engine_db: Database) -> dict[str, Any]:
    """One org, one webhook, and 40-day-old deliveries in every state, plus fresh ones."""
    vault = _vault()
    org = factory.add_org(engine_db)
    webhook, _ = factory.add_webhook(engine_db, vault, org, "https://example.com/hook")
    rows: dict[str, list[str]] = {}
    for status in ("succeeded", "failed", "pending", "delivering", "held"):
        rows[status] = factory.emit(engine_db, org, [webhook], 3, status=status)
        _age(engine_db, rows[status], 40)
        for delivery_id in rows[status]:
            _attempt(engine_db, delivery_id, webhook)
    rows["ancient_failed"] = factory.emit(engine_db, org, [webhook], 2, status="failed")
    _age(engine_db, rows["ancient_failed"], 100)
    rows["recent"] = factory.emit(engine_db, org, [webhook], 2, status="succeeded")
    # An old event with one finished and one pending delivery (a job) stays whole.
    [mixed] = factory.emit(engine_db, org, [webhook], 1, status="succeeded")
    _age(engine_db, [mixed], 40)
    with engine_db.engine.begin() as conn:
        event_id = conn.execute(sa.text("SELECT event_id FROM webhook_delivery WHERE id = :id"), {"id": mixed}).scalar()
        conn.execute(
            sa.text(
                "INSERT INTO webhook_delivery (id, org_id, event_id, kind, status, attempts, cycle_attempts, "
                "next_trigger, next_attempt_at, created_at, updated_at) "
                "VALUES (:id, :org, :e, 'test.echo', 'pending', 0, 0, 'scheduled', :t, :t, :t)"
            ),
            {"id": new_id("msg"), "org": org, "e": event_id, "t": utcnow()},
        )
    rows["mixed"] = [mixed]
    return rows


def _statuses(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT status, count(*) FROM webhook_delivery GROUP BY status")).all())


def test_prune_removes_only_finished_expired_history(engine_db: Database, store: dict[str, Any]) -> None:
    before = qret.row_counts(engine_db.engine)
    pol = retention.RetentionPolicy(30 * DAY, 90 * DAY)

    dry = retention.prune_engine(engine_db.engine, pol, batch=2, dry_run=True)
    assert (dry.events, dry.deliveries, dry.attempts) == (5, 5, 3)  # 3 succeeded (with attempts) + 2 ancient failed
    assert qret.row_counts(engine_db.engine) == before  # a dry run changes nothing

    totals = retention.prune_engine(engine_db.engine, pol, batch=2)
    assert (totals.events, totals.deliveries, totals.attempts) == (5, 5, 3)
    # Old events kept: 3 failed (within 90 d) + 3 pending + 3 delivering + 3 held + the mixed one.
    assert totals.kept == 13
    assert _statuses(engine_db) == {"failed": 3, "pending": 4, "delivering": 3, "held": 3, "succeeded": 3}
    remaining = set(factory.deliveries(engine_db))
    for status in ("failed", "pending", "delivering", "held", "recent", "mixed"):
        assert set(store[status]) <= remaining, status
    assert not (set(store["succeeded"]) | set(store["ancient_failed"])) & remaining
    after = qret.row_counts(engine_db.engine)
    assert after["event"] == before["event"] - 5
    assert after["delivery_attempt"] == before["delivery_attempt"] - 3
    # Nothing left to do: a second run removes nothing.
    assert retention.prune_engine(engine_db.engine, pol, batch=2).events == 0


def test_failed_deliveries_go_once_past_the_failed_retention(engine_db: Database, store: dict[str, Any]) -> None:
    totals = retention.prune_engine(engine_db.engine, retention.RetentionPolicy(30 * DAY, 30 * DAY), batch=100)
    assert (totals.events, totals.deliveries) == (8, 8)
    assert not set(store["failed"]) & set(factory.deliveries(engine_db))


def test_events_prune_command(cli: Cli) -> None:
    cli.ok("orgs", "create", "acme")
    event = cli.ok("--org", "acme", "events", "emit", "meeting.ended", "--data", '{"meeting_id": "m"}')
    old = utcnow() - timedelta(days=45)
    sql(cli.db_url, "UPDATE event SET created_at = :t", t=old)

    dry = cli.ok("events", "prune", "--dry-run")
    assert {k: dry[k] for k in ("dry_run", "events", "deliveries", "attempts", "kept")} == {
        "dry_run": True,
        "events": 1,
        "deliveries": 0,
        "attempts": 0,
        "kept": 0,
    }
    assert cli.ok("events", "prune", "--older-than", "60d")["events"] == 0
    done = cli.ok("events", "prune")
    assert (done["events"], done["dry_run"], done["batches"]) == (1, False, 1)
    assert cli.fails(3, "--org", "acme", "events", "show", event["id"])["code"] == "event_not_found"

    err = cli.fails(2, "events", "prune", "--older-than", "soon")
    assert "duration" in err["message"].lower()
    assert cli.fails(2, "events", "prune", "--older-than", "30")["code"] == "retention_too_short"
    assert cli.fails(2, "events", "prune", "--failed-older-than", "59m")["code"] == "retention_too_short"
    ran = cli("events", "prune", "--batch", "0")
    assert ran.exit_code == 2


def test_background_pruning_runs_beside_the_worker(engine_db: Database, store: dict[str, Any]) -> None:
    seen: list[dict[str, Any]] = []

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            retention.background(
                engine_db,
                retention.RetentionPolicy(30 * DAY, 90 * DAY),
                stop,
                batch=2,
                duty=0.5,
                on_event=seen.append,
            )
        )
        for _ in range(200):
            if sum(e["events"] for e in seen) >= 5:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    asyncio.run(main())
    assert sum(e["events"] for e in seen) == 5 and all(e["event"] == "pruned" for e in seen)
    assert _statuses(engine_db)["held"] == 3 and _statuses(engine_db)["pending"] == 4


def _pragma(db: Database, name: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql(f"PRAGMA {name}").scalar() or 0)


def test_sqlite_incremental_vacuum_gives_pages_back(tmp_path: Path) -> None:
    path = tmp_path / "incr.db"
    raw = sa.create_engine(f"sqlite:///{path}")
    with raw.connect() as conn:  # must precede the first table
        conn.exec_driver_sql("PRAGMA auto_vacuum = INCREMENTAL")
    raw.dispose()
    db = factory.migrated(f"sqlite:///{path}")
    try:
        org = factory.add_org(db)
        factory.emit(db, org, [None], 3000, kind="test.echo", status="succeeded")
        with db.engine.begin() as conn:
            old = utcnow() - timedelta(days=40)
            conn.execute(sa.text("UPDATE webhook_delivery SET updated_at = :t"), {"t": old})
            conn.execute(sa.text("UPDATE event SET created_at = :t"), {"t": old})
        assert qret.sqlite_auto_vacuum(db.engine) == "incremental"
        pages = _pragma(db, "page_count")
        totals = retention.prune_engine(db.engine, retention.RetentionPolicy(30 * DAY, 90 * DAY), batch=1000)
        assert totals.events == 3000 and totals.reclaimed_pages > 100
        # The file's page count shrank by exactly what was given back, and no free page is left.
        assert _pragma(db, "page_count") == pages - totals.reclaimed_pages
        assert _pragma(db, "freelist_count") == 0
    finally:
        db.dispose()


def test_policy_keeps_failed_at_least_as_long_as_finished() -> None:
    now = utcnow()
    cut = retention.RetentionPolicy(30 * DAY, 7 * DAY).cutoffs(now)
    assert cut.finished == cut.failed == now - timedelta(days=30)


@pytest.mark.slow
def test_worker_run_prunes_in_the_background(cli: Cli) -> None:
    cli.ok("orgs", "create", "acme")
    old = cli.ok("--org", "acme", "events", "emit", "meeting.ended", "--data", '{"meeting_id": "old"}')
    new = cli.ok("--org", "acme", "events", "emit", "meeting.ended", "--data", '{"meeting_id": "new"}')
    sql(cli.db_url, "UPDATE event SET created_at = :t WHERE id = :id", t=utcnow() - timedelta(days=45), id=old["id"])
    ran = cli("--json", "worker", "run", "--max-seconds", "8")
    assert ran.exit_code == 0, ran.stderr
    pruned = [json.loads(line) for line in ran.stdout.splitlines() if '"pruned"' in line]
    assert [(p["event"], p["events"]) for p in pruned] == [("pruned", 1)]
    assert [r.id for r in sql(cli.db_url, "SELECT id FROM event")] == [new["id"]]


def test_retention_settings_drive_events_prune(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.ok("orgs", "create", "acme")
    cli.ok("--org", "acme", "events", "emit", "meeting.ended", "--data", '{"meeting_id": "m"}')
    sql(cli.db_url, "UPDATE event SET created_at = :t", t=utcnow() - timedelta(days=40))
    monkeypatch.setenv("ZIGZNOTE_RETENTION", "45d")
    assert cli.ok("events", "prune", "--dry-run")["events"] == 0
    monkeypatch.setenv("ZIGZNOTE_RETENTION", "35d")
    assert cli.ok("events", "prune", "--dry-run")["events"] == 1
    for bad in ("a while", "30"):
        monkeypatch.setenv("ZIGZNOTE_RETENTION", bad)
        err = cli.fails(6, "events", "prune", "--dry-run")
        assert "ZIGZNOTE_RETENTION" in err["message"]
    assert len(sql(cli.db_url, "SELECT id FROM event")) == 1
