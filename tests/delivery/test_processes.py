"""Worker processes: SIGKILL crash recovery, SIGTERM shutdown, many workers on Postgres."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import factory
from tests.support.receiver import Receiver, Reply
from zigznote.store.engine import Database
from zigznote.vault import Vault

# Real worker processes, killed and restarted: tens of seconds each.
pytestmark = pytest.mark.slow


def _env(db: Database, master_key: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZIGZNOTE_")}
    env.update(
        {
            "ZIGZNOTE_DB": db.engine.url.render_as_string(hide_password=False),
            "ZIGZNOTE_MASTER_KEY": master_key,
            "ZIGZNOTE_KEYRING": "0",
            "ZIGZNOTE_WEBHOOK_ALLOW_NETS": "127.0.0.0/8",
            "ZIGZNOTE_ATTEMPT_TIMEOUT": "2s",
            "ZIGZNOTE_LEASE_SECONDS": "7s",
            "ZIGZNOTE_RETRY_SCHEDULE": "0.2s,0.5s,1s",
        }
    )
    env.update(extra)
    return env


def _worker(env: dict[str, str], tmp: Path, *args: str) -> subprocess.Popen[bytes]:
    log = open(tmp / f"worker-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        [sys.executable, "-m", "zigznote", "-q", "worker", "run", *args], env=env, stdout=log, stderr=subprocess.STDOUT
    )


def _log_tail(tmp: Path) -> str:
    logs = sorted(tmp.glob("worker-*.log"))
    return logs[-1].read_text()[-2000:] if logs else "(no log)"


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _status_counts(db: Database) -> Counter[str]:
    return Counter(r.status for r in factory.deliveries(db).values())


def test_sigkill_twice_loses_nothing(sqlite_db: Database, vault: Vault, master_key: str, tmp_path: Path) -> None:
    org = factory.add_org(sqlite_db)
    concurrency = 50
    with Receiver() as r:
        wh, _ = factory.add_webhook(sqlite_db, vault, org, r.url)
        msgs = factory.emit(sqlite_db, org, [wh], 5000)
        env = _env(sqlite_db, master_key)
        args = ("--concurrency", str(concurrency), "--per-endpoint", str(concurrency))
        for kill_at in (1000, 3000):
            proc = _worker(env, tmp_path, *args)
            assert _wait(functools.partial(lambda n: r.count >= n, kill_at), 90), (
                f"worker stalled at {r.count}: {_status_counts(sqlite_db)}; log: {_log_tail(tmp_path)}"
            )
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        final = _worker(env, tmp_path, *args)
        try:
            # killed workers' leases (7 s) expire and their claims are delivered again
            assert _wait(lambda: _status_counts(sqlite_db)["succeeded"] == 5000, 90), _status_counts(sqlite_db)
        finally:
            final.send_signal(signal.SIGTERM)
            assert final.wait(30) == 0
        received = Counter(q.headers["webhook-id"] for q in r.requests)
    assert set(received) == set(msgs)  # all 5,000 distinct webhook-ids arrived
    rows = factory.deliveries(sqlite_db)
    assert all(rows[m].status == "succeeded" and m in received for m in msgs)
    duplicates = sum(received.values()) - len(received)
    assert duplicates <= 2 * concurrency  # at most what was in flight at each kill


def test_sigterm_exits_0_and_leaves_nothing_leased(
    sqlite_db: Database, vault: Vault, master_key: str, tmp_path: Path
) -> None:
    org = factory.add_org(sqlite_db)
    with Receiver(default=Reply(200, delay=0.3)) as r:
        wh, _ = factory.add_webhook(sqlite_db, vault, org, r.url)
        factory.emit(sqlite_db, org, [wh], 300)
        proc = _worker(
            _env(sqlite_db, master_key), tmp_path, "--concurrency", "20", "--per-endpoint", "20", "--grace", "5s"
        )
        assert _wait(lambda: r.count >= 40, 30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    counts = _status_counts(sqlite_db)
    assert counts["delivering"] == 0, counts  # in-flight finished or released, none left leased
    assert counts["succeeded"] + counts["pending"] == 300
    assert counts["succeeded"] >= 40


@pytest.mark.postgres
def test_four_workers_drain_20000_on_postgres(pg_url: str, vault: Vault, master_key: str, tmp_path: Path) -> None:
    db = factory.migrated(pg_url)
    try:
        org = factory.add_org(db)
        with Receiver() as r:
            hooks = [factory.add_webhook(db, vault, org, r.url)[0] for _ in range(4)]
            msgs = factory.emit(db, org, hooks, 5000)
            assert len(msgs) == 20000
            # A generous attempt timeout: on a loaded 2-core machine the in-process receiver can take
            # seconds to answer, and a timed-out attempt is (rightly) sent again.
            env = _env(db, master_key, ZIGZNOTE_LEASE_SECONDS="60s", ZIGZNOTE_ATTEMPT_TIMEOUT="30s")
            procs = [_worker(env, tmp_path, "--concurrency", "50", "--per-endpoint", "25") for _ in range(4)]
            try:
                assert _wait(lambda: _status_counts(db)["succeeded"] == 20000, 240), _status_counts(db)
            finally:
                for p in procs:
                    p.send_signal(signal.SIGTERM)
                assert [p.wait(30) for p in procs] == [0, 0, 0, 0]
            received = Counter(q.headers["webhook-id"] for q in r.requests)
        assert set(received) == set(msgs)  # none lost
        # no delivery was ever held by two live leases: each was sent and attempted exactly once
        assert max(received.values()) == 1
        attempts = Counter(a.delivery_id for a in factory.attempts(db))
        assert len(attempts) == 20000 and max(attempts.values()) == 1
    finally:
        db.dispose()
