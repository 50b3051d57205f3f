"""`delivery/queue/admin.py`: the delivery writes made outside the engine's claim/finish loop
(enqueue, requeue, release, delete, the test attempt), on SQLite and Postgres."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support import factory
from zigznote.delivery.queue import admin, jobs
from zigznote.delivery.result import AttemptResult
from zigznote.ids import new_id
from zigznote.store.engine import Database
from zigznote.timeutil import utcnow
from zigznote.vault import Vault

URL = "http://127.0.0.1:9/hook"


def _set(db: Database, delivery_id: str, **values: Any) -> None:
    assignments = ", ".join(f"{k} = :{k}" for k in values)
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE webhook_delivery SET {assignments} WHERE id = :id"), {"id": delivery_id, **values}
        )


def _disable(db: Database, webhook_id: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE webhook SET enabled = :f WHERE id = :id"), {"f": False, "id": webhook_id})


def _event(db: Database, org_id: str) -> str:
    event_id = new_id("evt")
    with db.engine.begin() as conn:
        admin.insert_events(
            conn,
            [
                {
                    "id": event_id,
                    "org_id": org_id,
                    "type": "meeting.ended",
                    "data": {"meeting_id": "m"},
                    "created_at": utcnow(),
                }
            ],
        )
    return event_id


def test_enqueue_rows_fills_defaults_and_refuses_malformed_rows(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    wh, _ = factory.add_webhook(engine_db, vault, org, URL)
    event_id = _event(engine_db, org)
    now = utcnow()
    base = {"org_id": org, "event_id": event_id, "next_attempt_at": now, "created_at": now, "updated_at": now}
    first, second = new_id("msg"), new_id("msg")
    with engine_db.engine.begin() as conn:
        admin.enqueue_rows(
            conn,
            [
                {"id": first, "webhook_id": wh, **base},
                # Keys in another order and a job's extra columns: still one uniform batch.
                {**base, "id": second, "kind": "test.echo", "target": "t1", "dedupe_key": f"{event_id}/test.echo/t1"},
            ],
        )
    rows = factory.deliveries(engine_db)
    assert (rows[first].status, rows[first].kind, rows[first].webhook_id, rows[first].attempts) == (
        "pending",
        "webhook",
        wh,
        0,
    )
    assert (rows[second].kind, rows[second].target, rows[second].webhook_id, rows[second].next_trigger) == (
        "test.echo",
        "t1",
        None,
        "scheduled",
    )
    with engine_db.engine.begin() as conn:
        with pytest.raises(ValueError, match=r"missing \['event_id'\]"):
            admin.enqueue_rows(
                conn,
                [{"id": new_id("msg"), "org_id": org, "next_attempt_at": now, "created_at": now, "updated_at": now}],
            )
        with pytest.raises(ValueError, match=r"unknown \['colour'\]"):
            admin.enqueue_rows(conn, [{**base, "id": new_id("msg"), "colour": "red"}])
    assert len(factory.deliveries(engine_db)) == 2


def test_requeue_holds_a_disabled_endpoints_work_and_queues_jobs(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    live, _ = factory.add_webhook(engine_db, vault, org, URL)
    paused, _ = factory.add_webhook(engine_db, vault, org, URL)
    a, b = factory.emit(engine_db, org, [live, paused], 1, status="failed")
    [job] = factory.emit(engine_db, org, [None], 1, status="failed", kind="test.echo")
    [ok] = factory.emit(engine_db, org, [live], 1, status="succeeded")
    _disable(engine_db, paused)
    for d in (a, b, job):
        _set(engine_db, d, cycle_attempts=6, claim_token="stale", next_trigger="scheduled")
    now = utcnow()
    with engine_db.engine.begin() as conn:
        assert admin.requeue(conn, [a, b, job, ok], now=now, statuses=("failed",)) == 3
    rows = factory.deliveries(engine_db)
    assert [rows[d].status for d in (a, b, job, ok)] == ["pending", "held", "pending", "succeeded"]
    for d in (a, b, job):
        assert (rows[d].cycle_attempts, rows[d].claim_token, rows[d].next_trigger) == (0, None, "manual")
    with engine_db.engine.begin() as conn:
        assert admin.requeue(conn, [a], now=now, hold=True) == 1
        assert admin.requeue(conn, [], now=now) == 0
    assert factory.deliveries(engine_db)[a].status == "held"


def test_requeue_if_unchanged_never_overwrites_a_workers_result(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    wh, _ = factory.add_webhook(engine_db, vault, org, URL)
    [d] = factory.emit(engine_db, org, [wh], 1, status="failed")
    read = admin.RowVersion(d, "failed", 0, None)
    _set(engine_db, d, attempts=1)  # a worker finished another attempt meanwhile
    with engine_db.engine.begin() as conn:
        assert admin.requeue_if_unchanged(conn, read, now=utcnow()) is False
    assert factory.deliveries(engine_db)[d].status == "failed"
    with engine_db.engine.begin() as conn:
        assert admin.requeue_if_unchanged(conn, admin.RowVersion(d, "failed", 1, None), now=utcnow()) is True
    assert factory.deliveries(engine_db)[d].status == "pending"


def test_requeue_matching_selects_by_webhook_kind_age_and_state(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    wh, _ = factory.add_webhook(engine_db, vault, org, URL)
    old, new = factory.emit(engine_db, org, [wh], 2, status="failed")
    [done] = factory.emit(engine_db, org, [wh], 1, status="succeeded")
    [job] = factory.emit(engine_db, org, [None], 1, status="failed", kind="test.echo")
    _set(engine_db, old, created_at=utcnow() - timedelta(days=2))
    since = utcnow() - timedelta(hours=1)
    with engine_db.engine.begin() as conn:
        assert admin.requeue_matching(conn, now=utcnow(), statuses=("failed",), since=since, webhook_id=wh) == 1
        assert admin.requeue_matching(conn, now=utcnow(), statuses=("failed",), kind="test.echo", jobs_only=True) == 1
    rows = factory.deliveries(engine_db)
    assert [rows[d].status for d in (old, new, done, job)] == ["failed", "pending", "succeeded", "pending"]


def test_release_held_never_releases_a_disabled_endpoints_rows(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    live, _ = factory.add_webhook(engine_db, vault, org, URL)
    paused, _ = factory.add_webhook(engine_db, vault, org, URL)
    a, b = factory.emit(engine_db, org, [live, paused], 1, status="held")
    echo, other = (
        factory.emit(engine_db, org, [None], 1, status="held", kind="test.echo")[0],
        factory.emit(engine_db, org, [None], 1, status="held", kind="test.other")[0],
    )
    _disable(engine_db, paused)
    with engine_db.engine.begin() as conn:
        assert admin.release_held(conn, now=utcnow(), org_id=org, kind="test.echo") == 1
        assert admin.release_held(conn, now=utcnow(), org_id=org) == 2  # live's row and test.other
        assert admin.release_held(conn, now=utcnow(), webhook_id=paused) == 0
    rows = factory.deliveries(engine_db)
    assert [rows[d].status for d in (a, b, echo, other)] == ["pending", "held", "pending", "pending"]


def test_delete_webhook_rows_takes_deliveries_and_attempts(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    wh, _ = factory.add_webhook(engine_db, vault, org, URL)
    keep, _ = factory.add_webhook(engine_db, vault, org, URL)
    mine = factory.emit(engine_db, org, [wh], 3)
    [theirs] = factory.emit(engine_db, org, [keep], 1)
    with engine_db.engine.begin() as conn:
        for d in mine[:2]:
            conn.execute(
                sa.text(
                    'INSERT INTO delivery_attempt (id, delivery_id, webhook_id, attempt_number, "trigger", '
                    "attempted_at, duration_ms) VALUES (:id, :d, :w, 1, 'scheduled', :at, 5)"
                ),
                {"id": new_id("att"), "d": d, "w": wh, "at": utcnow()},
            )
        assert admin.delete_webhook_rows(conn, wh) == (3, 2)
    assert list(factory.deliveries(engine_db)) == [theirs]
    assert factory.attempts(engine_db) == []


def test_record_test_attempt_needs_the_token_and_stores_untrusted_text(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    wh, _ = factory.add_webhook(engine_db, vault, org, URL)
    [d] = factory.emit(engine_db, org, [wh], 1, status="delivering")
    _set(engine_db, d, claim_token="tok")
    result = AttemptResult(200, "odd\x00error", 12, response_excerpt="ok\x00" + "x" * 5000)
    now = utcnow()
    with engine_db.engine.begin() as conn:
        status = admin.record_test_attempt(
            conn, delivery_id=d, token="other", webhook_id=wh, result=result, attempted_at=now, now=now
        )
    assert status == "succeeded"
    assert factory.deliveries(engine_db)[d].status == "delivering"  # wrong token: the row is not ours
    with engine_db.engine.begin() as conn:
        admin.record_test_attempt(
            conn, delivery_id=d, token="tok", webhook_id=wh, result=result, attempted_at=now, now=now
        )
    row = factory.deliveries(engine_db)[d]
    assert (row.status, row.attempts, row.claim_token, row.last_status_code, row.last_error) == (
        "succeeded",
        1,
        None,
        200,
        "odd\ufffderror",
    )
    attempts = factory.attempts(engine_db, d)
    assert [(a.trigger, a.status_code, a.duration_ms) for a in attempts] == [("test", 200, 12), ("test", 200, 12)]
    assert attempts[0].response_excerpt == ("ok\ufffd" + "x" * 5000)[:1024]


def test_a_job_kind_held_for_the_org_is_requeued_held(engine_db: Database, vault: Vault) -> None:
    """`webhooks retry` on a job asks the queue to hold it while its kind is held."""
    org = factory.add_org(engine_db)
    [job] = factory.emit(engine_db, org, [None], 1, status="failed", kind="test.echo")
    with engine_db.engine.begin() as conn:
        jobs.hold(conn, org, "test.echo", reason="integration revoked", now=utcnow())
        held = "test.echo" in jobs.held_kinds(jobs.read_settings(conn, org) or {})
        assert admin.requeue(conn, [job], now=utcnow(), hold=held) == 1
    assert factory.deliveries(engine_db)[job].status == "held"
