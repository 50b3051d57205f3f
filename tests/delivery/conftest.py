from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support import factory
from zigznote.delivery.engine import EngineConfig, JobHandler, Stats, Worker
from zigznote.delivery.retry import RetryPolicy
from zigznote.store.engine import Database
from zigznote.vault import MasterKey, Vault
from zigznote.webhooks.ssrf import parse_allow_nets


@pytest.fixture
def master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def vault(master_key: str) -> Vault:
    return Vault([MasterKey(base64.b64decode(master_key), "env")])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'engine.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    db = factory.migrated(url)
    yield db
    db.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = factory.migrated(f"sqlite:///{tmp_path / 'engine.db'}")
    yield db
    db.dispose()


def fast_config(**overrides: object) -> EngineConfig:
    """Short schedules so retry behaviour is observable in well under a second."""
    values: dict[str, Any] = {
        "policy": RetryPolicy(schedule=(0.2, 0.4, 0.8), jitter=0.2, disable_after=10),
        "lease_seconds": 10.0,
        "attempt_timeout": 2.0,
        "poll_interval": 0.05,
        "grace_seconds": 2.0,
        "allow_nets": parse_allow_nets("127.0.0.0/8"),
    }
    values.update(overrides)
    return EngineConfig(**values)


def run_until(
    db: Database,
    vault: Vault,
    config: EngineConfig,
    done: Callable[[], bool],
    *,
    timeout: float = 10.0,
    events: list[dict[str, Any]] | None = None,
    handlers: Mapping[str, JobHandler] | None = None,
) -> Stats:
    """Run a worker until ``done()`` holds (checked every 50 ms) or ``timeout``."""

    async def main() -> Stats:
        stop = asyncio.Event()
        worker = Worker(db, vault, config, on_event=events.append if events is not None else None, handlers=handlers)

        async def watch() -> None:
            while not stop.is_set():
                if await asyncio.to_thread(done):
                    stop.set()
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        stats = await worker.run(stop=stop, max_seconds=timeout)
        watcher.cancel()
        return stats

    return asyncio.run(main())
