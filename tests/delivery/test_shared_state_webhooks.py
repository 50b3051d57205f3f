"""Webhooks and organizations changed by other processes while `worker run` runs (issue 8).

A worker caches each endpoint for ``WEBHOOK_CACHE_SECONDS``; every change below must be in
effect once that window has passed, and none of them may stop the worker or lose a row.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.cli._webhooks_support import allow_loopback, create_webhook, deliveries_of, emit, sql
from tests.conftest import Cli
from tests.delivery._worker_process import WorkerProcess, wait
from tests.support import factory
from tests.support.receiver import ReceivedRequest, Receiver, Reply
from zigznote.delivery.engine import WEBHOOK_CACHE_SECONDS
from zigznote.errors import SignatureInvalid
from zigznote.store.engine import Database
from zigznote.webhooks.signing import verify

pytestmark = pytest.mark.slow

# How long after a change the test waits before relying on it: the cache window, plus a
# margin for a loaded machine (the worker polls every 0.25 s).
SETTLE = WEBHOOK_CACHE_SECONDS + 1.0


def _statuses(db_url: str, webhook_id: str) -> list[str]:
    return sorted(d.status for d in deliveries_of(db_url, webhook_id))


def _signed_by(secret: str, request: ReceivedRequest) -> bool:
    try:
        verify(secret, request.headers, request.body)
    except SignatureInvalid:
        return False
    return True


def _assert_clean(worker: WorkerProcess) -> None:
    """Still running, then a graceful stop, and nothing went wrong on the way."""
    assert worker.alive(), worker.log()
    assert worker.stop() == 0, worker.log()
    err = worker.stderr()
    assert "Traceback" not in err and "recording results failed" not in err, err[-3000:]


@pytest.fixture
def acme(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    allow_loopback(monkeypatch)
    cli.ok("orgs", "create", "acme")
    return cli


def test_rotate_secret_signs_with_both_during_the_grace_then_the_new_one(acme: Cli, tmp_path: Path) -> None:
    cli = acme
    with Receiver() as r, WorkerProcess(cli.db_url, tmp_path) as worker:
        hook = create_webhook(cli, r.url, "meeting.ended")
        emit(cli)
        assert r.wait_for(1, 20), worker.log()
        first = cli.ok("--org", "acme", "webhooks", "rotate-secret", hook["id"], "--grace", "1h")
        time.sleep(SETTLE)
        emit(cli)
        assert r.wait_for(2, 20), worker.log()
        second = cli.ok("--org", "acme", "webhooks", "rotate-secret", hook["id"], "--grace", "0s")
        time.sleep(SETTLE)
        emit(cli)
        assert r.wait_for(3, 20), worker.log()
        _assert_clean(worker)
        signers = [
            [
                name
                for name, s in (("original", hook["secret"]), ("first", first["secret"]), ("second", second["secret"]))
                if _signed_by(s, req)
            ]
            for req in r.requests
        ]
    assert signers == [["original"], ["original", "first"], ["second"]]
    assert _statuses(cli.db_url, hook["id"]) == ["succeeded"] * 3


def test_update_url_and_headers_apply_to_new_deliveries(acme: Cli, tmp_path: Path) -> None:
    cli = acme
    with Receiver() as old, Receiver() as new, WorkerProcess(cli.db_url, tmp_path) as worker:
        hook = create_webhook(cli, old.url, "meeting.ended")
        emit(cli)
        assert old.wait_for(1, 20), worker.log()
        cli.ok("--org", "acme", "webhooks", "update", hook["id"], "--url", new.url, "--header", "X-Api-Key: k-2")
        time.sleep(SETTLE)
        for _ in range(3):
            emit(cli)
        assert new.wait_for(3, 20), worker.log()
        _assert_clean(worker)
        assert (old.count, new.count) == (1, 3)
        assert all(_signed_by(hook["secret"], req) for req in new.requests)
        assert [req.headers.get("x-api-key") for req in [*old.requests, *new.requests]] == [None, "k-2", "k-2", "k-2"]
    assert _statuses(cli.db_url, hook["id"]) == ["succeeded"] * 4


def _sent_after(receiver: Receiver, moment: float) -> int:
    """How many requests ``receiver`` got later than ``moment`` (a time.monotonic() value)."""
    return sum(1 for req in receiver.requests if req.received_at > moment)


def _queue(db_url: str, org_id: str, webhook_id: str, count: int) -> None:
    """``count`` events for one webhook, due now, written directly (fast; no NOTIFY: the worker polls)."""
    db = Database(db_url)
    try:
        factory.emit(db, org_id, [webhook_id], count)
    finally:
        db.dispose()


def test_disable_holds_the_backlog_and_enable_releases_it(acme: Cli, tmp_path: Path) -> None:
    cli = acme
    org_id = cli.ok("orgs", "show", "acme")["id"]
    # Each request takes 1 s and the endpoint starts at one in flight: most of the work is
    # still queued (in the worker's backlog, or not yet claimed) at the disable.
    with (
        Receiver(default=Reply(delay=1.0)) as r,
        WorkerProcess(cli.db_url, tmp_path, "--per-endpoint", "1") as worker,
    ):
        hook = create_webhook(cli, r.url, "meeting.ended")
        _queue(cli.db_url, org_id, hook["id"], 30)
        assert r.wait_for(1, 20), worker.log()
        disabled = cli.ok("--org", "acme", "webhooks", "disable", hook["id"], "--reason", "maintenance")
        assert disabled["enabled"] is False and disabled["held"] >= 20
        time.sleep(SETTLE)
        statuses = _statuses(cli.db_url, hook["id"])
        assert statuses.count("held") == disabled["held"] and set(statuses) <= {"held", "succeeded"}, statuses
        assert cli.ok("--org", "acme", "webhooks", "enable", hook["id"])["enabled"] is True
        assert wait(lambda: _statuses(cli.db_url, hook["id"]) == ["succeeded"] * 30, 60), worker.log()
        _assert_clean(worker)
    ids = {req.headers["webhook-id"] for req in r.requests}
    assert sorted(ids) == sorted(d.id for d in deliveries_of(cli.db_url, hook["id"]))  # each at least once


def test_delete_force_with_deliveries_in_flight(acme: Cli, tmp_path: Path) -> None:
    cli = acme
    org_id = cli.ok("orgs", "show", "acme")["id"]
    with (
        Receiver(default=Reply(delay=1.0)) as slow,
        Receiver() as fast,
        WorkerProcess(cli.db_url, tmp_path, "--per-endpoint", "1") as worker,
    ):
        doomed = create_webhook(cli, slow.url, "meeting.ended", "--name", "doomed")
        kept = create_webhook(cli, fast.url, "meeting.ended", "--name", "kept")
        _queue(cli.db_url, org_id, doomed["id"], 30)
        emit(cli)
        assert slow.wait_for(1, 20), worker.log()
        deleted = cli.ok("--org", "acme", "webhooks", "delete", doomed["id"], "--force")
        assert deleted["deleted"] is True and deleted["deliveries"] == 31
        time.sleep(SETTLE)  # requests in flight at the delete finish; their results have no row left
        emit(cli)
        assert wait(lambda: _statuses(cli.db_url, kept["id"]) == ["succeeded"] * 2, 20), worker.log()
        _assert_clean(worker)
    for table in ("webhook_delivery", "delivery_attempt"):
        assert sql(cli.db_url, f"SELECT id FROM {table} WHERE webhook_id = :w", w=doomed["id"]) == []
    assert sql(cli.db_url, "SELECT id FROM webhook WHERE id = :w", w=doomed["id"]) == []
    assert fast.count == 2


def test_org_delete_force_while_running(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    allow_loopback(monkeypatch)
    acme = cli.ok("orgs", "create", "acme")
    cli.ok("orgs", "create", "beta")
    with (
        Receiver(default=Reply(delay=1.0)) as slow,
        Receiver() as fast,
        WorkerProcess(cli.db_url, tmp_path, "--per-endpoint", "1") as worker,
    ):
        doomed = create_webhook(cli, slow.url, "meeting.ended", org="acme")
        kept = create_webhook(cli, fast.url, "meeting.ended", org="beta")
        _queue(cli.db_url, acme["id"], doomed["id"], 30)
        emit(cli, org="beta")
        assert slow.wait_for(1, 20), worker.log()
        deleted = cli.ok("orgs", "delete", "acme", "--force")
        assert deleted["deleted"] is True and deleted["counts"]["webhooks"] == 1
        time.sleep(SETTLE)
        emit(cli, org="beta")
        assert wait(lambda: _statuses(cli.db_url, kept["id"]) == ["succeeded"] * 2, 20), worker.log()
        _assert_clean(worker)
    for table in ("webhook", "webhook_delivery", "event"):
        assert sql(cli.db_url, f"SELECT id FROM {table} WHERE org_id = :o", o=acme["id"]) == []
    orphans = "SELECT id FROM delivery_attempt WHERE delivery_id NOT IN (SELECT id FROM webhook_delivery)"
    assert sql(cli.db_url, orphans) == []
    assert fast.count == 2


@pytest.mark.parametrize("change", ["disable", "delete", "org-delete"])
def test_sending_stops_within_the_cache_window(change: str, acme: Cli, tmp_path: Path) -> None:
    cli = acme
    org_id = cli.ok("orgs", "show", "acme")["id"]
    # 60 requests of 1 s each, starting one at a time: far more than the cache window's worth.
    with (
        Receiver(default=Reply(delay=1.0)) as r,
        WorkerProcess(cli.db_url, tmp_path, "--per-endpoint", "1") as worker,
    ):
        hook = create_webhook(cli, r.url, "meeting.ended")
        _queue(cli.db_url, org_id, hook["id"], 60)
        assert r.wait_for(1, 20), worker.log()
        if change == "disable":
            cli.ok("--org", "acme", "webhooks", "disable", hook["id"])
        elif change == "delete":
            cli.ok("--org", "acme", "webhooks", "delete", hook["id"], "--force")
        else:
            cli.ok("orgs", "delete", "acme", "--force")
        changed_at = time.monotonic()
        time.sleep(SETTLE + 2.0)
        late = _sent_after(r, changed_at + SETTLE)
        if change == "disable":
            cli.ok("--org", "acme", "webhooks", "enable", hook["id"])
            assert wait(lambda: _statuses(cli.db_url, hook["id"]) == ["succeeded"] * 60, 90), worker.log()
        _assert_clean(worker)
    assert late == 0, f"{late} request(s) sent after {change} + {SETTLE:g} s"
    if change == "disable":
        # At least once: what was in flight at the disable, or sent before the worker could
        # notice it, is sent again after the enable; nothing else.
        ids = [req.headers["webhook-id"] for req in r.requests]
        noticing = _sent_after(r, changed_at - 1.5) - _sent_after(r, changed_at + SETTLE)
        assert len(ids) - len(set(ids)) <= noticing
