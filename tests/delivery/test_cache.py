"""The worker's endpoint cache: what it re-reads, and when.

The race it must not lose: a worker caches an endpoint as disabled; an operator runs
`webhooks enable` (which releases the held rows) within the cache window; the worker claims
those rows again. Parking them on the stale "disabled" view would hold them again, stuck
until the next enable. So a cached disabled endpoint is re-read whenever work is claimed
for it, while an enabled one is trusted for the whole window.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from tests.support import factory
from zigznote.delivery import queue
from zigznote.delivery.cache import EndpointCache
from zigznote.store.engine import Database
from zigznote.timeutil import utcnow
from zigznote.vault import Vault
from zigznote.webhooks.ssrf import parse_allow_nets


def _cache(db: Database, vault: Vault, loads: list[list[str]]) -> EndpointCache:
    async def run_db(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # The worker runs these in its DB thread; inline is the same call.
        loads.append(list(args[2]))  # load_endpoints(engine, vault, ids, …)
        return fn(*args, **kwargs)

    return EndpointCache(db, vault, parse_allow_nets("127.0.0.0/8"), run_db)


def _set_enabled(db: Database, webhook_id: str, enabled: bool) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE webhook SET enabled = :e WHERE id = :w"), {"e": enabled, "w": webhook_id})


def test_a_cached_disabled_endpoint_is_reread_when_work_is_claimed_for_it(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    wh, _ = factory.add_webhook(engine_db, vault, org, "http://127.0.0.1:9/hook")
    factory.emit(engine_db, org, [wh], 2)
    loads: list[list[str]] = []
    cache = _cache(engine_db, vault, loads)

    async def scenario() -> tuple[bool, bool]:
        _set_enabled(engine_db, wh, False)
        await cache.load([wh])
        seen_disabled = cache.endpoints[wh].enabled
        _set_enabled(engine_db, wh, True)  # `webhooks enable`, well within the cache window
        claims = queue.claim(engine_db.engine, limit=10, lease_seconds=30, now=utcnow())
        assert [c.webhook_id for c in claims] == [wh, wh]
        await cache.ensure(claims)
        return seen_disabled, cache.endpoints[wh].enabled

    assert asyncio.run(scenario()) == (False, True)
    assert loads == [[wh], [wh]]


def test_a_cached_enabled_endpoint_is_trusted_within_the_window(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    wh, _ = factory.add_webhook(engine_db, vault, org, "http://127.0.0.1:9/hook")
    factory.emit(engine_db, org, [wh], 2)
    loads: list[list[str]] = []
    cache = _cache(engine_db, vault, loads)

    async def scenario() -> bool:
        claims = queue.claim(engine_db.engine, limit=1, lease_seconds=30, now=utcnow())
        await cache.ensure(claims)
        more = queue.claim(engine_db.engine, limit=1, lease_seconds=30, now=utcnow())
        await cache.ensure(more)  # fresh and enabled: no second read
        return cache.endpoints[wh].enabled

    assert asyncio.run(scenario()) is True
    assert loads == [[wh]]
