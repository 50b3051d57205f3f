"""Adaptive per-endpoint concurrency and the operator caps, against real loopback receivers."""

from __future__ import annotations

import itertools

import sqlalchemy as sa

from tests.delivery._capacity import CapacityReceiver
from tests.delivery.conftest import fast_config, run_until
from tests.support import factory
from zigznote.delivery.retry import RetryPolicy
from zigznote.store.engine import Database
from zigznote.vault import Vault

# Failures must not disable the endpoint here: 429s are the point of the test.
POLICY = RetryPolicy(schedule=(0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1), jitter=0.0, disable_after=1000)


def all_succeeded(db: Database, ids: list[str]) -> bool:
    with db.engine.connect() as conn:
        left = conn.execute(sa.text("SELECT count(*) FROM webhook_delivery WHERE status <> 'succeeded'")).scalar_one()
    return int(left) == 0 and len(ids) > 0


def set_caps(db: Database, webhook_id: str, *, max_concurrency: int | None = None, rate: float | None = None) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE webhook SET max_concurrency = :m, rate_limit = :r WHERE id = :id"),
            {"m": max_concurrency, "r": rate, "id": webhook_id},
        )


def test_settles_near_the_capacity_of_a_receiver_that_answers_429(engine_db: Database, vault: Vault) -> None:
    capacity = 6
    org = factory.add_org(engine_db)
    # 50 ms answers: the latency rule (2x the unloaded latency + 5 ms) holds on a loaded machine.
    with CapacityReceiver(capacity=capacity, delay=0.05) as r:
        wh, _ = factory.add_webhook(engine_db, vault, org, r.url)
        msgs = factory.emit(engine_db, org, [wh], 400)
        cfg = fast_config(policy=POLICY, per_endpoint=2, per_endpoint_max=50, concurrency=100, batch=100)
        run_until(engine_db, vault, cfg, lambda: all_succeeded(engine_db, msgs), timeout=60)
    assert all_succeeded(engine_db, msgs)
    level = factory.webhook(engine_db, wh).concurrency_level
    # AIMD saw-tooth: it probes one above the capacity, halves, climbs back.
    assert capacity // 2 <= level <= capacity + 1
    assert r.peak == capacity  # it found the capacity ...
    assert r.rejected <= 0.15 * (r.accepted + r.rejected)  # ... without hammering it


def test_a_fast_receiver_climbs_to_the_cap(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    with CapacityReceiver(capacity=None, delay=0.05) as r:
        wh, _ = factory.add_webhook(engine_db, vault, org, r.url)
        msgs = factory.emit(engine_db, org, [wh], 300)
        cfg = fast_config(policy=POLICY, per_endpoint=1, per_endpoint_max=8, concurrency=100, batch=100)
        run_until(engine_db, vault, cfg, lambda: all_succeeded(engine_db, msgs), timeout=60)
    assert all_succeeded(engine_db, msgs)
    assert factory.webhook(engine_db, wh).concurrency_level == 8
    assert r.peak == 8  # reached, never exceeded
    assert r.rejected == 0


def test_max_concurrency_caps_an_endpoint(sqlite_db: Database, vault: Vault) -> None:
    org = factory.add_org(sqlite_db)
    with CapacityReceiver(capacity=None, delay=0.02) as r:
        wh, _ = factory.add_webhook(sqlite_db, vault, org, r.url)
        set_caps(sqlite_db, wh, max_concurrency=3)
        msgs = factory.emit(sqlite_db, org, [wh], 150)
        cfg = fast_config(policy=POLICY, per_endpoint=10, per_endpoint_max=50, concurrency=100)
        run_until(sqlite_db, vault, cfg, lambda: all_succeeded(sqlite_db, msgs), timeout=60)
    assert r.peak == 3


def test_rate_limit_is_an_upper_bound(engine_db: Database, vault: Vault) -> None:
    rate = 20.0
    org = factory.add_org(engine_db)
    with CapacityReceiver(capacity=None, delay=0.0) as r:
        wh, _ = factory.add_webhook(engine_db, vault, org, r.url)
        set_caps(engine_db, wh, rate=rate)
        msgs = factory.emit(engine_db, org, [wh], 30)
        cfg = fast_config(policy=POLICY, per_endpoint=10, concurrency=100)
        run_until(engine_db, vault, cfg, lambda: all_succeeded(engine_db, msgs), timeout=30)
    starts = sorted(r.starts)
    assert len(starts) == 30
    # Starts are paced 1/rate apart by the worker; network jitter may bunch two
    # arrivals a little, so allow 20 ms per gap, never a burst.
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 1 / rate - 0.02
    assert starts[-1] - starts[0] >= 29 / rate * 0.95
    # And in any one-second window, at most rate + 1 requests.
    assert max(sum(1 for t in starts if s <= t < s + 1.0) for s in starts) <= rate + 1
