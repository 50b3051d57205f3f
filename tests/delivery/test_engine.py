"""The delivery engine against real HTTP receivers on loopback (no mocks)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.delivery.conftest import fast_config, run_until
from tests.support import factory
from tests.support.receiver import Receiver, Reply
from zigznote.delivery.engine import Worker
from zigznote.delivery.retry import RetryPolicy
from zigznote.store.engine import Database
from zigznote.vault import Vault


def status_of(db: Database, delivery_id: str) -> str:
    return str(factory.deliveries(db)[delivery_id].status)


def test_success_is_signed_recorded_and_final(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    with Receiver() as r:
        wh, secret = factory.add_webhook(engine_db, vault, org, r.url, headers={"X-Tenant": "acme"})
        [msg] = factory.emit(engine_db, org, [wh], 1)
        events: list[dict[str, Any]] = []
        stats = run_until(
            engine_db, vault, fast_config(), lambda: status_of(engine_db, msg) == "succeeded", events=events
        )
        assert r.wait_for(1)
        req = r.requests[0]
    assert stats.delivered == 1
    assert req.headers["webhook-id"] == msg
    assert req.headers["x-tenant"] == "acme"
    assert req.headers["content-type"] == "application/json"
    payload = StandardWebhook(secret).verify(req.body, req.headers)
    assert payload["type"] == "meeting.ended" and payload["org"] == org and payload["data"]["meeting_id"] == "mtg_0"
    row = factory.deliveries(engine_db)[msg]
    assert (row.status, row.attempts, row.last_status_code, row.claim_token) == ("succeeded", 1, 200, None)
    [attempt] = factory.attempts(engine_db, msg)
    assert (attempt.attempt_number, attempt.status_code, attempt.trigger, attempt.response_excerpt) == (
        1,
        200,
        "scheduled",
        "ok",
    )
    assert [e["outcome"] for e in events if e["event"] == "attempt"] == ["succeeded"]


def test_500_then_success_on_retry(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    with Receiver(script=[Reply(500, body=b"boom")]) as r:
        wh, _ = factory.add_webhook(engine_db, vault, org, r.url)
        [msg] = factory.emit(engine_db, org, [wh], 1)
        run_until(engine_db, vault, fast_config(), lambda: status_of(engine_db, msg) == "succeeded")
        ids = [q.headers["webhook-id"] for q in r.requests]
        stamps = [q.headers["webhook-timestamp"] for q in r.requests]
    assert ids == [msg, msg]  # webhook-id is stable across retries
    assert len(stamps) == 2
    first, second = factory.attempts(engine_db, msg)
    assert (first.status_code, first.error, first.response_excerpt) == (500, "HTTP 500", "boom")
    assert (second.status_code, second.attempt_number) == (200, 2)
    assert factory.webhook(engine_db, wh).consecutive_failures == 0


def test_timeout_is_a_failed_attempt(sqlite_db: Database, vault: Vault) -> None:
    org = factory.add_org(sqlite_db)
    with Receiver(script=[Reply(200, delay=1.5)]) as r:
        wh, _ = factory.add_webhook(sqlite_db, vault, org, r.url)
        [msg] = factory.emit(sqlite_db, org, [wh], 1)
        cfg = fast_config(attempt_timeout=0.5, lease_seconds=6.0)
        run_until(sqlite_db, vault, cfg, lambda: len(factory.attempts(sqlite_db, msg)) >= 1)
    [attempt] = factory.attempts(sqlite_db, msg)[:1]
    assert attempt.status_code is None and attempt.error == "timed out"
    assert 400 <= attempt.duration_ms < 1400


def test_connection_refused(sqlite_db: Database, vault: Vault) -> None:
    org = factory.add_org(sqlite_db)
    wh, _ = factory.add_webhook(sqlite_db, vault, org, Receiver.refuse_url())
    [msg] = factory.emit(sqlite_db, org, [wh], 1)
    run_until(sqlite_db, vault, fast_config(), lambda: len(factory.attempts(sqlite_db, msg)) >= 1)
    attempt = factory.attempts(sqlite_db, msg)[0]
    assert attempt.status_code is None and attempt.error.startswith("connection failed")
    row = factory.deliveries(sqlite_db)[msg]
    assert row.status in ("pending", "delivering") and row.attempts >= 1


def test_redirects_are_not_followed(sqlite_db: Database, vault: Vault) -> None:
    org = factory.add_org(sqlite_db)
    with Receiver() as r:
        r.script([Reply(302, headers={"Location": r.url_for("/elsewhere")})])
        wh, _ = factory.add_webhook(sqlite_db, vault, org, r.url)
        [msg] = factory.emit(sqlite_db, org, [wh], 1)
        run_until(sqlite_db, vault, fast_config(), lambda: len(factory.attempts(sqlite_db, msg)) >= 1)
        assert r.requests_for("/elsewhere") == []
    attempt = factory.attempts(sqlite_db, msg)[0]
    assert attempt.status_code == 302 and "not followed" in attempt.error
    assert factory.deliveries(sqlite_db)[msg].status in ("pending", "delivering")


def test_410_disables_the_endpoint_and_holds_its_work(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    with Receiver(default=410) as r:
        wh, _ = factory.add_webhook(engine_db, vault, org, r.url)
        msgs = factory.emit(engine_db, org, [wh], 3)
        cfg = fast_config(per_endpoint=1, batch=1, concurrency=1)
        run_until(engine_db, vault, cfg, lambda: not factory.webhook(engine_db, wh).enabled)
    hook = factory.webhook(engine_db, wh)
    assert hook.enabled is False or hook.enabled == 0
    assert hook.disabled_reason == "endpoint answered 410 Gone" and hook.disabled_at is not None
    rows = factory.deliveries(engine_db)
    assert sorted(rows[m].status for m in msgs) == ["held", "held", "held"]  # nothing dropped


def test_summary_counts_the_attempt_that_disabled_its_endpoint_as_held(sqlite_db: Database, vault: Vault) -> None:
    org = factory.add_org(sqlite_db)
    events: list[dict[str, object]] = []
    # Persistent failure (500s; two in a row and no minimum streak period) disables mid-run.
    policy = RetryPolicy(schedule=(0.05, 0.05, 0.05), jitter=0.0, disable_after=2, disable_after_period=0)
    with Receiver(default=500) as r:
        wh, _ = factory.add_webhook(sqlite_db, vault, org, r.url)
        msg = factory.emit(sqlite_db, org, [wh], 1)[0]
        cfg = fast_config(per_endpoint=1, batch=1, concurrency=1, policy=policy)
        stats = run_until(sqlite_db, vault, cfg, lambda: not factory.webhook(sqlite_db, wh).enabled, events=events)
    assert (stats.attempts, stats.retrying, stats.held, stats.failed) == (2, 1, 1, 0)
    attempts = [e for e in events if e.get("event") == "attempt"]
    assert [(e["delivery"], e["outcome"]) for e in attempts] == [(msg, "pending"), (msg, "held")]
    assert attempts[0]["next_attempt_at"] is not None and attempts[1]["next_attempt_at"] is None
    assert factory.deliveries(sqlite_db)[msg].status == "held"


def test_429_retry_after_is_respected(sqlite_db: Database, vault: Vault) -> None:
    org = factory.add_org(sqlite_db)
    # scheduled delay 0.2 s; the server asks for 1 s; clamped to at most 2x = 0.4 s
    with Receiver(script=[Reply(429, headers={"Retry-After": "1"}), Reply(429, headers={"Retry-After": "0"})]) as r:
        wh, _ = factory.add_webhook(sqlite_db, vault, org, r.url)
        [msg] = factory.emit(sqlite_db, org, [wh], 1)
        cfg = fast_config()
        run_until(sqlite_db, vault, cfg, lambda: status_of(sqlite_db, msg) == "succeeded")
        times = [q.received_at for q in r.requests]
    assert len(times) == 3
    gap1, gap2 = times[1] - times[0], times[2] - times[1]
    # Upper bounds leave room for polling and a loaded machine, yet stay below the 1 s asked for.
    assert 0.4 * 0.8 <= gap1 < 0.95  # asked 1 s → clamped to 2x the 0.2 s step
    assert 0.4 * 0.8 <= gap2 < 0.95  # asked 0 s → at least the 0.4 s step


def test_attempt_times_follow_the_schedule(sqlite_db: Database, vault: Vault) -> None:
    org = factory.add_org(sqlite_db)
    with Receiver(default=500) as r:
        wh, _ = factory.add_webhook(sqlite_db, vault, org, r.url)
        [msg] = factory.emit(sqlite_db, org, [wh], 1)
        run_until(sqlite_db, vault, fast_config(), lambda: status_of(sqlite_db, msg) == "failed")
        times = [q.received_at for q in r.requests]
    assert len(times) == 4  # first attempt + 3 scheduled retries, then failed
    for gap, step in zip([b - a for a, b in itertools.pairwise(times)], (0.2, 0.4, 0.8), strict=True):
        assert step * 0.8 - 0.01 <= gap <= step * 1.2 + 0.25, (gap, step)
    row = factory.deliveries(sqlite_db)[msg]
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 4, None)


def test_ten_consecutive_failures_disable_and_enable_releases(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    with Receiver(default=500) as r:
        wh, _ = factory.add_webhook(engine_db, vault, org, r.url)
        msgs = factory.emit(engine_db, org, [wh], 12)
        # Count only (period 0): tests/delivery/test_persistent_failure.py covers the period.
        count_only = RetryPolicy(schedule=(0.2, 0.4, 0.8), disable_after=10, disable_after_period=0)
        cfg = fast_config(per_endpoint=1, concurrency=1, batch=1, policy=count_only)
        run_until(engine_db, vault, cfg, lambda: not factory.webhook(engine_db, wh).enabled)
        assert r.count == 10
        hook = factory.webhook(engine_db, wh)
        assert hook.consecutive_failures == 10
        assert hook.disabled_reason.startswith("10 consecutive failed attempts")
        rows = factory.deliveries(engine_db)
        assert {rows[m].status for m in msgs} == {"held"}
        # work emitted while disabled is held too, never dropped
        later = factory.emit(engine_db, org, [wh], 2, status="held")
        # `webhooks enable` (the service behind the command) releases everything held
        from zigznote.services import webhooks as webhooks_service

        assert webhooks_service.enable(engine_db, "acme", wh)["released"] == 14
        r.clear()
        r.set_default(200)
        all_msgs = set(msgs + later)
        run_until(
            engine_db,
            vault,
            fast_config(),
            lambda: all(factory.deliveries(engine_db)[m].status == "succeeded" for m in all_msgs),
        )
        assert {q.headers["webhook-id"] for q in r.requests} == all_msgs


def test_slow_endpoint_does_not_stall_fast_ones(sqlite_db: Database, vault: Vault) -> None:
    org = factory.add_org(sqlite_db)
    with Receiver(default=Reply(200, delay=1.0)) as slow, Receiver() as fast:
        slow_wh, _ = factory.add_webhook(sqlite_db, vault, org, slow.url)
        fast_wh, _ = factory.add_webhook(sqlite_db, vault, org, fast.url)
        factory.emit(sqlite_db, org, [slow_wh], 50)  # due first: at the head of the queue
        fast_msgs = factory.emit(sqlite_db, org, [fast_wh], 50)
        cfg = fast_config(concurrency=20, per_endpoint=4, batch=20)
        run_until(
            sqlite_db,
            vault,
            cfg,
            lambda: all(factory.deliveries(sqlite_db)[m].status == "succeeded" for m in fast_msgs),
            timeout=8.0,
        )
        assert fast.count == 50
        assert slow.count <= 4 * 3  # at most per_endpoint in flight at a time, ~1 s each


def test_sweep_delivers_what_is_due_and_exits(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    with Receiver() as r:
        wh, _ = factory.add_webhook(engine_db, vault, org, r.url)
        msgs = factory.emit(engine_db, org, [wh], 30)
        stats = asyncio.run(Worker(engine_db, vault, fast_config()).run(once=True))
        assert r.count == 30
    assert stats.delivered == 30
    assert {factory.deliveries(engine_db)[m].status for m in msgs} == {"succeeded"}


def test_ssrf_guard_applies_at_connect_time(sqlite_db: Database, vault: Vault) -> None:
    org = factory.add_org(sqlite_db)
    with Receiver() as r:
        # The webhook was stored when it was allowed; the engine now runs without the allow-list
        wh, _ = factory.add_webhook(sqlite_db, vault, org, r.url.replace("127.0.0.1", "localhost"))
        [msg] = factory.emit(sqlite_db, org, [wh], 1)
        run_until(sqlite_db, vault, fast_config(allow_nets=None), lambda: len(factory.attempts(sqlite_db, msg)) >= 1)
        assert r.count == 0
    attempt = factory.attempts(sqlite_db, msg)[0]
    assert attempt.error.startswith("refused by SSRF guard")


def test_body_is_identical_across_retries(sqlite_db: Database, vault: Vault) -> None:
    org = factory.add_org(sqlite_db)
    with Receiver(script=[500]) as r:
        wh, _ = factory.add_webhook(sqlite_db, vault, org, r.url)
        [msg] = factory.emit(sqlite_db, org, [wh], 1)
        run_until(sqlite_db, vault, fast_config(), lambda: status_of(sqlite_db, msg) == "succeeded")
        bodies = [q.body for q in r.requests]
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert json.loads(bodies[0])["id"].startswith("evt_")


@pytest.mark.postgres
def test_postgres_notify_wakes_an_idle_worker(pg_url: str, vault: Vault) -> None:
    from zigznote.services import events

    db = factory.migrated(pg_url)
    try:
        factory.add_org(db, "acme")
        with Receiver() as r:
            with db.engine.connect() as conn:
                org_id = conn.execute(sa.text("SELECT id FROM organization")).scalar_one()
            factory.add_webhook(db, vault, org_id, r.url)

            async def main() -> float:
                stop = asyncio.Event()
                # Polling every 30 s: only the NOTIFY sent by `events emit` can wake it in time.
                worker = Worker(db, vault, fast_config(poll_interval=30.0))
                task = asyncio.create_task(worker.run(stop=stop, max_seconds=20))
                await asyncio.sleep(1.0)  # idle, listening
                started = time.monotonic()
                await asyncio.to_thread(events.emit, db, "acme", "meeting.ended", b'{"meeting_id": "m1"}')
                while r.count < 1 and time.monotonic() - started < 10:
                    await asyncio.sleep(0.005)
                latency = time.monotonic() - started
                stop.set()
                await task
                return latency

            latency = asyncio.run(main())
            assert r.count == 1
        assert latency < 1.0, latency
    finally:
        db.dispose()
