"""Poison messages: a delivery the worker cannot prepare becomes recorded failed attempts.

The payloads are written straight into the store (the API refuses them), as a bug, an
old row or a manual fix-up could leave them: NaN (not JSON), and a lone surrogate (valid
JSON text, but not encodable as UTF-8). Each must follow the retry schedule and end
``failed``, never stay ``delivering``, and never stop the other deliveries.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
import sqlalchemy as sa

from tests.delivery.conftest import fast_config, run_until
from tests.support import factory
from tests.support.receiver import Receiver
from zigznote.delivery.engine import Worker
from zigznote.delivery.retry import RetryPolicy
from zigznote.store.engine import Database
from zigznote.vault import MasterKey, Vault

NAN_ERROR = "internal error building the request body: ValueError: Out of range float values are not JSON compliant"
SURROGATE_ERROR = (
    "internal error building the request body: UnicodeEncodeError: 'utf-8' codec can't encode character "
    "'\\udc00' in position "
)


def set_event_data(db: Database, delivery_id: str, text: str) -> None:
    """Overwrite the JSON text of a delivery's event, bypassing every validation."""
    cast = "CAST(:d AS JSON)" if db.engine.dialect.name == "postgresql" else ":d"
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE event SET data = {cast} WHERE id = (SELECT event_id FROM webhook_delivery WHERE id = :m)"),
            {"d": text, "m": delivery_id},
        )


def finished(db: Database, ids: list[str]) -> bool:
    rows = factory.deliveries(db)
    return all(rows[i].status in ("succeeded", "failed") for i in ids)


def poison_config() -> Any:
    # Two retries, short: the poison delivery ends `failed` after three attempts.
    return fast_config(policy=RetryPolicy(schedule=(0.1, 0.1), jitter=0.0, disable_after=100))


def test_lone_surrogate_fails_its_attempts_and_ends_failed(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    with Receiver() as r:
        wh, _ = factory.add_webhook(engine_db, vault, org, r.url)
        poison, *good = factory.emit(engine_db, org, [wh], 5)
        set_event_data(engine_db, poison, '{"note": "\\udc00 broken"}')
        events: list[dict[str, Any]] = []
        everything = [poison, *good]
        stats = run_until(engine_db, vault, poison_config(), lambda: finished(engine_db, everything), events=events)
        assert r.count == 4  # the poison message never reached the receiver
    rows = factory.deliveries(engine_db)
    assert [rows[m].status for m in good] == ["succeeded"] * 4
    row = rows[poison]
    assert (row.status, row.attempts, row.claim_token) == ("failed", 3, None)
    assert row.last_error.startswith(SURROGATE_ERROR)
    attempts = factory.attempts(engine_db, poison)
    assert [a.attempt_number for a in attempts] == [1, 2, 3]
    assert all(a.status_code is None and a.error.startswith(SURROGATE_ERROR) for a in attempts)
    assert stats.poison == 3
    assert (stats.delivered, stats.failed, stats.retrying) == (4, 1, 2)
    [top] = stats.top_failures()
    assert top["lane"] == wh and top["failures"] == 3
    assert top["reasons"][0]["count"] == 3 and top["reasons"][0]["reason"].startswith(SURROGATE_ERROR)
    outcomes = [e["outcome"] for e in events if e["event"] == "attempt" and e["delivery"] == poison]
    assert outcomes == ["pending", "pending", "failed"]


def test_nan_fails_its_attempts_and_ends_failed(sqlite_db: Database, vault: Vault) -> None:
    # SQLite only: Postgres refuses NaN in a JSON column, so it cannot be stored there.
    org = factory.add_org(sqlite_db)
    with Receiver() as r:
        wh, _ = factory.add_webhook(sqlite_db, vault, org, r.url)
        poison, good = factory.emit(sqlite_db, org, [wh], 2)
        set_event_data(sqlite_db, poison, '{"score": NaN}')
        stats = run_until(sqlite_db, vault, poison_config(), lambda: finished(sqlite_db, [poison, good]))
        assert r.count == 1
    rows = factory.deliveries(sqlite_db)
    assert (rows[poison].status, rows[poison].attempts, rows[poison].last_error) == ("failed", 3, NAN_ERROR)
    assert rows[good].status == "succeeded"
    assert [a.error for a in factory.attempts(sqlite_db, poison)] == [NAN_ERROR] * 3
    assert stats.poison == 3


def test_undecryptable_secret_is_a_recorded_failure_not_a_crash(sqlite_db: Database, vault: Vault) -> None:
    """A worker whose vault lacks the key that encrypted one endpoint's secret keeps
    delivering to the others and records that endpoint's attempts as failures."""
    org = factory.add_org(sqlite_db)
    other = Vault([MasterKey(os.urandom(32), "env")])
    with Receiver() as r:
        good_wh, _ = factory.add_webhook(sqlite_db, vault, org, r.url)
        bad_wh, _ = factory.add_webhook(sqlite_db, other, org, r.url)  # encrypted with a key we lack
        good = factory.emit(sqlite_db, org, [good_wh], 3)
        [bad] = factory.emit(sqlite_db, org, [bad_wh], 1)
        stats = run_until(sqlite_db, vault, poison_config(), lambda: finished(sqlite_db, [*good, bad]))
        assert r.count == 3
    rows = factory.deliveries(sqlite_db)
    assert [rows[m].status for m in good] == ["succeeded"] * 3
    assert (rows[bad].status, rows[bad].attempts) == ("failed", 3)
    errors = [a.error for a in factory.attempts(sqlite_db, bad)]
    assert len(errors) == 3 and len(set(errors)) == 1
    expected = f"cannot decrypt the signing secret: secret was encrypted with master key {other.current.kid}"
    assert errors[0].startswith(expected)
    assert stats.poison == 0  # a configuration problem, reported as such, not a poison payload


def test_endpoint_loading_error_does_not_stop_the_worker(
    sqlite_db: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error loading endpoints gives the claims back and the loop goes on."""
    from zigznote.delivery import cache as cache_module

    real = cache_module.load_endpoints
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom while loading")
        return real(*args, **kwargs)

    monkeypatch.setattr(cache_module, "load_endpoints", flaky)
    org = factory.add_org(sqlite_db)
    with Receiver() as r:
        wh, _ = factory.add_webhook(sqlite_db, vault, org, r.url)
        msgs = factory.emit(sqlite_db, org, [wh], 3)
        events: list[dict[str, Any]] = []
        stats = run_until(sqlite_db, vault, fast_config(), lambda: finished(sqlite_db, msgs), events=events)
    assert [factory.deliveries(sqlite_db)[m].status for m in msgs] == ["succeeded"] * 3
    [error] = [e for e in events if e["event"] == "error"]
    assert (error["stage"], error["error"]) == ("loading endpoints", "RuntimeError: boom while loading")
    assert stats.released == 3 and stats.delivered == 3 and calls["n"] >= 2


def test_a_sweep_reports_poison_in_its_summary(sqlite_db: Database, vault: Vault) -> None:
    org = factory.add_org(sqlite_db)
    with Receiver() as r:
        wh, _ = factory.add_webhook(sqlite_db, vault, org, r.url)
        poison, good = factory.emit(sqlite_db, org, [wh], 2)
        set_event_data(sqlite_db, poison, '{"score": NaN}')

        async def main() -> Any:
            return await Worker(sqlite_db, vault, poison_config()).run(once=True, max_seconds=10)

        stats = asyncio.run(main())
    summary = stats.as_dict()
    assert (summary["delivered"], summary["retrying"], summary["poison"]) == (1, 1, 1)
    assert summary["top_failures"] == [{"lane": wh, "failures": 1, "reasons": [{"reason": NAN_ERROR, "count": 1}]}]
    rows = factory.deliveries(sqlite_db)
    assert (rows[poison].status, rows[good].status) == ("pending", "succeeded")  # retried by the next sweep


NOT_AN_OBJECT = "internal error building the request body: ValueError: the event's data is {kind}, not a JSON object"


@pytest.mark.parametrize(
    ("stored", "kind"),
    [("[1, 2]", "an array"), ('[["a", 1]]', "an array"), ('"text"', "a string"), ("7", "a number"), ("null", "null")],
)
def test_data_that_is_not_an_object_fails_only_its_own_row(
    engine_db: Database, vault: Vault, stored: str, kind: str
) -> None:
    # Valid JSON that is not an object used to fail the whole claim on every pass (and stop
    # the worker's loop); now it is one poison row among good ones in the same claim.
    org = factory.add_org(engine_db)
    with Receiver() as r:
        wh, _ = factory.add_webhook(engine_db, vault, org, r.url)
        good_before, poison, good_after = factory.emit(engine_db, org, [wh], 3)
        set_event_data(engine_db, poison, stored)
        everything = [good_before, poison, good_after]
        stats = run_until(engine_db, vault, poison_config(), lambda: finished(engine_db, everything))
        assert r.count == 2
    rows = factory.deliveries(engine_db)
    assert [rows[m].status for m in (good_before, good_after)] == ["succeeded", "succeeded"]
    error = NOT_AN_OBJECT.format(kind=kind)
    assert (rows[poison].status, rows[poison].attempts, rows[poison].last_error) == ("failed", 3, error)
    assert [a.error for a in factory.attempts(engine_db, poison)] == [error] * 3
    assert (stats.poison, stats.delivered, stats.failed) == (3, 2, 1)


def test_unparseable_data_fails_only_its_own_row(sqlite_db: Database, vault: Vault) -> None:
    # SQLite only: Postgres refuses text that is not JSON in a JSON column.
    org = factory.add_org(sqlite_db)
    with Receiver() as r:
        wh, _ = factory.add_webhook(sqlite_db, vault, org, r.url)
        poison, good = factory.emit(sqlite_db, org, [wh], 2)
        set_event_data(sqlite_db, poison, '{"meeting_id": ')
        stats = run_until(sqlite_db, vault, poison_config(), lambda: finished(sqlite_db, [poison, good]))
        assert r.count == 1
    rows = factory.deliveries(sqlite_db)
    error = (
        "internal error building the request body: ValueError: the event's data is not valid JSON "
        "(JSONDecodeError: Expecting value: line 1 column 16 (char 15))"
    )
    assert (rows[poison].status, rows[poison].last_error, rows[good].status) == ("failed", error, "succeeded")
    assert [a.error for a in factory.attempts(sqlite_db, poison)] == [error] * 3
    assert stats.poison == 3


def test_a_claim_returns_poison_rows_and_parses_each_event_once(engine_db: Database, vault: Vault) -> None:
    from zigznote.delivery import queue
    from zigznote.timeutil import utcnow

    org = factory.add_org(engine_db)
    hooks = [factory.add_webhook(engine_db, vault, org, f"http://127.0.0.1:9/{k}")[0] for k in range(3)]
    fanned = factory.emit(engine_db, org, hooks, 1)  # one event, three deliveries
    [poison] = factory.emit(engine_db, org, hooks[:1], 1)
    set_event_data(engine_db, poison, "[1, 2]")
    claims = queue.claim(engine_db.engine, limit=10, lease_seconds=30, now=utcnow())
    by_id = {c.id: c for c in claims}
    assert sorted(by_id) == sorted([*fanned, poison])
    assert by_id[poison].event_data == [1, 2]
    shared = {id(by_id[m].event_data) for m in fanned}
    assert len(shared) == 1 and isinstance(by_id[fanned[0]].event_data, dict)
    assert {by_id[m].webhook_id for m in fanned} == set(hooks)
