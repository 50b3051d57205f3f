"""Auto-disable on persistent failure, against real loopback receivers.

An endpoint is disabled after ZIGZNOTE_DISABLE_AFTER consecutive failed attempts AND a
streak lasting ZIGZNOTE_DISABLE_AFTER_PERIOD (default: the retry schedule's span); a burst
of first-attempt failures must never disable an endpoint that answers its retries.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from tests.delivery.conftest import run_until
from tests.support import factory
from tests.support.receiver import ReceivedRequest, Receiver
from zigznote.config import load_settings
from zigznote.delivery import queue
from zigznote.delivery.engine import EngineConfig
from zigznote.services.worker import engine_config
from zigznote.store.engine import Database
from zigznote.store.models import EndpointEvent, table_of
from zigznote.timeutil import parse_duration, utcnow
from zigznote.vault import Vault


def config_from(env: dict[str, str], **overrides: Any) -> EngineConfig:
    """The engine configuration a worker builds from these settings (the real path)."""
    base = {"XDG_CONFIG_HOME": "/nonexistent", "ZIGZNOTE_WEBHOOK_ALLOW_NETS": "127.0.0.0/8"}
    values: dict[str, Any] = {"poll_interval": 0.05, "grace_seconds": 2.0, "attempt_timeout": 2.0}
    values.update(overrides)
    return engine_config(load_settings(env=base | env), **values)


def endpoint_events(db: Database, webhook_id: str) -> list[Any]:
    table = table_of(EndpointEvent)
    with db.engine.connect() as conn:
        query = sa.select(table).where(table.c.webhook_id == webhook_id).order_by(table.c.created_at, table.c.id)
        return list(conn.execute(query))


def typed_webhook(db: Database, webhook_id: str) -> Any:
    query = sa.text("SELECT * FROM webhook WHERE id = :id").columns(
        failing_since=sa.DateTime(), disabled_at=sa.DateTime()
    )
    with db.engine.connect() as conn:
        return conn.execute(query, {"id": webhook_id}).one()


REASON = re.compile(r"^(\d+) consecutive failed attempts over (\S+) \(since \S+Z; last: HTTP 500\)$")


class FirstAttemptFails(Receiver):
    """Answers 500 to the first request of each webhook-id and 200 to every later one."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        msg = request.headers.get("webhook-id", "")
        with self._cond:  # the base class's lock guards the record and wakes wait_for
            status = 200 if msg in self.seen else 500
            self.seen.add(msg)
            headers = {k.lower(): v for k, v in request.headers.items()}
            self._requests.append(
                ReceivedRequest(request.path, headers, body, time.monotonic(), time.time(), status=status)
            )
            self._cond.notify_all()
        return web.Response(status=status, body=b"ok" if status == 200 else b"boom")


def burst(db: Database, vault: Vault, env: dict[str, str]) -> tuple[str, list[str], Receiver]:
    org = factory.add_org(db)
    with FirstAttemptFails() as r:
        wh, _ = factory.add_webhook(db, vault, org, r.url)
        msgs = factory.emit(db, org, [wh], 20)

        def settled() -> bool:
            rows = factory.deliveries(db)
            return all(rows[m].status == "succeeded" for m in msgs) or not factory.webhook(db, wh).enabled

        run_until(db, vault, config_from(env), settled, timeout=30.0)
    return wh, msgs, r


def test_a_burst_of_first_attempt_failures_does_not_disable(engine_db: Database, vault: Vault) -> None:
    # Default period: the schedule's span (1.5 s), far longer than the burst.
    wh, msgs, r = burst(engine_db, vault, {"ZIGZNOTE_RETRY_SCHEDULE": "0.5s,0.5s,0.5s"})
    rows = factory.deliveries(engine_db)
    assert [rows[m].status for m in msgs] == ["succeeded"] * 20
    assert [rows[m].attempts for m in msgs] == [2] * 20  # 500, then 200 on the first retry
    assert sorted(q.status for q in r.requests) == [200] * 20 + [500] * 20
    hook = typed_webhook(engine_db, wh)
    assert (bool(hook.enabled), hook.consecutive_failures, hook.failing_since, hook.disabled_reason) == (
        True,
        0,
        None,
        None,
    )
    assert {e.type for e in endpoint_events(engine_db, wh)} <= {"recovered"}


def test_the_same_burst_disables_under_the_count_only_rule(engine_db: Database, vault: Vault) -> None:
    # The control: period 0 restores the old rule, and this burst reaches the count.
    env = {"ZIGZNOTE_RETRY_SCHEDULE": "0.5s,0.5s,0.5s", "ZIGZNOTE_DISABLE_AFTER_PERIOD": "0"}
    wh, msgs, _ = burst(engine_db, vault, env)
    hook = typed_webhook(engine_db, wh)
    assert not hook.enabled
    match = REASON.match(hook.disabled_reason)
    assert match is not None, hook.disabled_reason
    # Requests in flight when it was disabled still count (their attempts are recorded).
    assert 10 <= int(match.group(1)) <= hook.consecutive_failures
    assert {factory.deliveries(engine_db)[m].status for m in msgs} <= {"held", "succeeded"}


def test_failing_longer_than_the_period_disables_and_holds_the_backlog(engine_db: Database, vault: Vault) -> None:
    env = {
        "ZIGZNOTE_RETRY_SCHEDULE": ",".join(["0.25s"] * 8),  # 2 s of retries: nothing exhausts first
        "ZIGZNOTE_DISABLE_AFTER": "5",
        "ZIGZNOTE_DISABLE_AFTER_PERIOD": "1s",
    }
    org = factory.add_org(engine_db)
    events: list[dict[str, Any]] = []
    with Receiver(default=500) as r:
        wh, _ = factory.add_webhook(engine_db, vault, org, r.url)
        msgs = factory.emit(engine_db, org, [wh], 5)
        run_until(engine_db, vault, config_from(env), lambda: not factory.webhook(engine_db, wh).enabled, events=events)
    hook = typed_webhook(engine_db, wh)
    assert not hook.enabled
    match = REASON.match(hook.disabled_reason)
    assert match is not None, hook.disabled_reason
    failures = int(match.group(1))
    assert 5 <= failures <= hook.consecutive_failures  # in-flight attempts still count after
    assert parse_duration(match.group(2)) >= 1.0
    # Held, never dropped: every message still had retries left.
    rows = factory.deliveries(engine_db)
    assert [rows[m].status for m in msgs] == ["held"] * 5
    # The count was reached well before the period ended; only the period held it back.
    assert hook.failing_since is not None
    early = [
        a for a in factory.attempts(engine_db) if _at(a.attempted_at) < hook.failing_since + timedelta(seconds=0.9)
    ]
    assert len(early) >= 5
    [event] = endpoint_events(engine_db, wh)
    assert (event.type, event.reason, event.failures) == ("disabled", hook.disabled_reason, failures)
    assert event.streak_since == hook.failing_since
    assert event.created_at - event.streak_since >= timedelta(seconds=1)
    notices = [e for e in events if e["event"] == "webhook_disabled"]
    assert [(n["webhook"], n["reason"]) for n in notices] == [(wh, hook.disabled_reason)]


def _at(value: Any) -> Any:
    from datetime import datetime

    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def test_a_success_after_a_long_streak_records_a_recovery(engine_db: Database, vault: Vault) -> None:
    env = {"ZIGZNOTE_RETRY_SCHEDULE": ",".join(["0.1s"] * 8), "ZIGZNOTE_DISABLE_AFTER": "10"}
    org = factory.add_org(engine_db)
    with Receiver(script=[500] * 6) as r:
        wh, _ = factory.add_webhook(engine_db, vault, org, r.url)
        [msg] = factory.emit(engine_db, org, [wh], 1)
        run_until(engine_db, vault, config_from(env), lambda: factory.deliveries(engine_db)[msg].status == "succeeded")
    attempts = factory.attempts(engine_db, msg)
    assert [a.status_code for a in attempts] == [500] * 6 + [200]
    hook = typed_webhook(engine_db, wh)
    assert (bool(hook.enabled), hook.consecutive_failures, hook.failing_since) == (True, 0, None)
    [event] = endpoint_events(engine_db, wh)
    assert (event.type, event.failures, event.streak_since) == ("recovered", 6, _at(attempts[0].attempted_at))
    assert event.created_at == _at(attempts[-1].attempted_at)
    assert re.fullmatch(r"delivered again after 6 consecutive failed attempts over \S+", event.reason)


def test_operator_disable_and_enable_record_events_once(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    wh, _ = factory.add_webhook(engine_db, vault, org, "http://127.0.0.1:9/hook")
    msgs = factory.emit(engine_db, org, [wh], 3)
    now = utcnow()
    with engine_db.engine.begin() as conn:
        assert queue.disable(conn, wh, reason="maintenance", now=now, by_operator=True) == 3
        assert queue.disable(conn, wh, reason="still down", now=now, by_operator=True) == 0
    assert {factory.deliveries(engine_db)[m].status for m in msgs} == {"held"}
    assert typed_webhook(engine_db, wh).disabled_reason == "still down"
    later = now + timedelta(seconds=1)
    with engine_db.engine.begin() as conn:
        assert queue.enable(conn, wh, now=later) == 3
        assert queue.enable(conn, wh, now=later) == 0
    hook = typed_webhook(engine_db, wh)
    assert (bool(hook.enabled), hook.disabled_reason, hook.disabled_at, hook.failing_since) == (True, None, None, None)
    rows = factory.deliveries(engine_db)
    assert {(rows[m].status, rows[m].claim_token) for m in msgs} == {("pending", None)}
    assert [(e.type, e.reason) for e in endpoint_events(engine_db, wh)] == [
        ("disabled", "operator: maintenance"),
        ("enabled", "enabled by an operator; 3 held deliveries released"),
    ]
    with engine_db.engine.begin() as conn:
        assert queue.disable(conn, "wh_unknown", reason="x", now=now) == 0
        assert queue.enable(conn, "wh_unknown", now=now) == 0
