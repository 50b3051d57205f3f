"""Writing results (queue.finish): what receivers send is stored safely on both databases, one bad
row never fails a batch, and concurrent batches keep endpoint health exact."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.delivery.conftest import fast_config, run_until
from tests.support import factory
from tests.support.receiver import Receiver, Reply
from zigznote.delivery import queue
from zigznote.delivery.queue import outcomes as outcomes_module
from zigznote.delivery.result import AttemptResult
from zigznote.delivery.retry import RetryPolicy
from zigznote.store.engine import Database
from zigznote.timeutil import utcnow
from zigznote.vault import Vault


def test_nul_and_invalid_utf8_bodies_are_stored_with_a_healthy_endpoint_in_the_batch(
    engine_db: Database, vault: Vault
) -> None:
    org = factory.add_org(engine_db)
    with (
        Receiver(default=Reply(200, body=b"ok\x00")) as nul,
        Receiver(default=Reply(200, body=b"caf\xe9 \xff\xfe\x00end")) as latin,
        Receiver(default=Reply(500, body=b"down\x00\xc3")) as failing,
        Receiver() as healthy,
    ):
        hooks = [factory.add_webhook(engine_db, vault, org, r.url)[0] for r in (nul, latin, failing, healthy)]
        msgs = factory.emit(engine_db, org, hooks, 1)
        # One flush for all four results: they are written in the same batch.
        cfg = fast_config(flush_interval=0.5)

        def attempted() -> bool:
            return all(factory.attempts(engine_db, m) for m in msgs)

        stats = run_until(engine_db, vault, cfg, attempted)
    rows = factory.deliveries(engine_db)
    assert [(rows[m].status, rows[m].claim_token) for m in msgs] == [
        ("succeeded", None),
        ("succeeded", None),
        ("pending", None),
        ("succeeded", None),
    ]
    excerpts = [factory.attempts(engine_db, m)[0].response_excerpt for m in msgs]
    assert excerpts == ["ok\ufffd", "caf\ufffd \ufffd\ufffd\ufffdend", "down\ufffd\ufffd", "ok"]
    assert (rows[msgs[2]].last_status_code, rows[msgs[2]].last_error) == (500, "HTTP 500")
    assert stats.delivered == 3


def _claims(db: Database, vault: Vault, count: int) -> list[queue.Claimed]:
    org = factory.add_org(db)
    wh, _ = factory.add_webhook(db, vault, org, "http://127.0.0.1:9/hook")
    factory.emit(db, org, [wh], count)
    claims = queue.claim(db.engine, limit=count, lease_seconds=30, now=utcnow())
    assert len(claims) == count
    return sorted(claims, key=lambda c: c.id)


def _outcomes(claims: list[queue.Claimed], results: list[AttemptResult]) -> list[queue.Outcome]:
    policy = RetryPolicy(schedule=(60.0,), jitter=0.0)
    now = utcnow()
    return [queue.decide(c, r, policy=policy, attempted_at=now, now=now) for c, r in zip(claims, results, strict=True)]


@pytest.mark.parametrize(
    ("bad", "error_class"),
    [("bad \udc80 bytes", "UnicodeEncodeError"), ("bad \x00 bytes", "DataError")],
    ids=["surrogate", "nul"],
)
def test_a_row_the_database_refuses_is_isolated_and_recorded(
    engine_db: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch, bad: str, error_class: str
) -> None:
    if "\x00" in bad and engine_db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite stores NUL in text; only Postgres refuses it")
    # Force a write error: let a value the driver or database refuses through.
    monkeypatch.setattr(outcomes_module, "storable_result", lambda result: result)
    claims = _claims(engine_db, vault, 3)
    results = [
        AttemptResult(200, None, 5, "first"),
        AttemptResult(500, "HTTP 500", 5, bad),
        AttemptResult(200, None, 5, "third"),
    ]
    disabled = queue.finish(engine_db.engine, _outcomes(claims, results), disable_after=10, now=utcnow())
    assert disabled == []
    rows = factory.deliveries(engine_db)
    good, refused, other = (rows[c.id] for c in claims)
    assert [(r.status, r.claim_token, r.attempts) for r in (good, refused, other)] == [
        ("succeeded", None, 1),
        ("pending", None, 1),
        ("succeeded", None, 1),
    ]
    [attempt] = factory.attempts(engine_db, refused.id)
    note = f"the attempt's result could not be stored ({error_class}); it answered HTTP 500"
    assert (attempt.error, attempt.status_code, attempt.response_excerpt) == (note, None, None)
    assert (refused.last_error, refused.last_status_code) == (note, None)
    assert [factory.attempts(engine_db, c.id)[0].response_excerpt for c in (claims[0], claims[2])] == [
        "first",
        "third",
    ]
    # Endpoint health saw all three outcomes in order: a failure between two successes.
    hook = factory.webhook(engine_db, claims[0].webhook_id or "")
    assert (hook.consecutive_failures, hook.failing_since, hook.enabled) == (0, None, True)


def test_nothing_is_committed_when_even_the_fallback_cannot_be_written(
    engine_db: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    claims = _claims(engine_db, vault, 2)
    outcomes = _outcomes(claims, [AttemptResult(200, None, 5, "ok"), AttemptResult(200, None, 5, "ok")])
    real_execute = outcomes_module.sa.Connection.exec_driver_sql
    calls: list[Any] = []

    def broken(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if statement == outcomes_module._driver_sql(self, outcomes_module._RECORD):
            calls.append(statement)
            raise outcomes_module.sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real_execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(outcomes_module.sa.Connection, "exec_driver_sql", broken)
    with pytest.raises(outcomes_module.sa.exc.OperationalError, match="disk I/O error"):
        queue.finish(engine_db.engine, outcomes, disable_after=10, now=utcnow())
    monkeypatch.undo()
    assert len(calls) == 3  # the batch, then the first row and its fallback
    rows = factory.deliveries(engine_db)
    # Still leased to this worker, so its caller can write the batch again; nothing half-written.
    assert [(rows[c.id].status, rows[c.id].claim_token) for c in claims] == [("delivering", c.token) for c in claims]
    assert factory.attempts(engine_db) == []
    assert queue.finish(engine_db.engine, outcomes, disable_after=10, now=utcnow()) == []
    assert [factory.deliveries(engine_db)[c.id].status for c in claims] == ["succeeded", "succeeded"]
    assert len(factory.attempts(engine_db)) == 2


def test_concurrent_batches_never_lose_a_failure(engine_db: Database, vault: Vault) -> None:
    # Two writers finishing failures of one endpoint at once: the streak is read and written
    # under the endpoint's row lock (Postgres) or the database lock (SQLite), so no count is lost.
    claims = _claims(engine_db, vault, 160)
    outcomes = _outcomes(claims, [AttemptResult(500, "HTTP 500", 5, "down")] * len(claims))
    halves = [outcomes[0::2], outcomes[1::2]]
    errors: list[BaseException] = []

    def write(part: list[queue.Outcome]) -> None:
        try:
            for start in range(0, len(part), 8):
                queue.finish(engine_db.engine, part[start : start + 8], disable_after=10_000, now=utcnow())
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(half,)) for half in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    hook = factory.webhook(engine_db, claims[0].webhook_id or "")
    assert hook.consecutive_failures == 160
    assert len(factory.attempts(engine_db)) == 160
