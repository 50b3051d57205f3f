"""Integration jobs end to end through the CLI, on SQLite and Postgres: a rule, `events emit`
fanning out, `worker sweep` running the registered handler, retries, `failed`, `jobs retry`,
a "gone" answer holding the kind until `jobs release`, and the dedupe key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from tests.cli._webhooks_support import sql
from tests.conftest import Cli
from zigznote.delivery import handlers
from zigznote.delivery.queue import Claimed
from zigznote.delivery.result import AttemptResult
from zigznote.services import jobs
from zigznote.store.engine import Database

KIND = "test.echo"


@dataclass
class Echo:
    """The test-only handler: answers what ``answer`` says and records every claim."""

    answer: str = "ok"  # ok | fail | raise | gone
    calls: list[Claimed] = field(default_factory=list)

    async def __call__(self, claim: Claimed) -> AttemptResult:
        self.calls.append(claim)
        if self.answer == "fail":
            return AttemptResult(500, "echo: upstream 500", 2)
        if self.answer == "raise":
            raise RuntimeError("echo exploded")
        if self.answer == "gone":
            return handlers.gone("echo: token revoked")
        return AttemptResult(200, None, 1, response_excerpt=f"echo {claim.event_id} to {claim.kind}")


@pytest.fixture
def echo(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[Echo]:
    handler = Echo()
    handlers.register(KIND, handler)
    # Short retries: an attempt and two retries, 50 ms apart.
    monkeypatch.setenv("ZIGZNOTE_RETRY_SCHEDULE", "50ms,50ms")
    cli.ok("orgs", "create", "acme")
    yield handler
    handlers.unregister(KIND)


def job_rows(cli: Cli) -> list[Any]:
    return sql(cli.db_url, "SELECT * FROM webhook_delivery WHERE webhook_id IS NULL ORDER BY created_at, id")


def sweep_until(cli: Cli, done: Any, *, timeout: float = 15.0) -> None:
    """Run `worker sweep` until ``done()`` (retries are due 50 ms after a failure)."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the jobs did not reach the expected state in time"
        cli.ok("worker", "sweep")
        time.sleep(0.06)


def test_emit_fan_out_worker_retries_failed_then_retry_by_hand(cli: Cli, echo: Echo) -> None:
    rule = cli.ok("--org", "acme", "jobs", "rules", "set", KIND, "--events", "summary.ready", "--target", "chan-1")
    assert rule == {
        "kind": KIND,
        "events": ["summary.ready"],
        "targets": ["chan-1"],
        "held": False,
        "held_reason": None,
        "held_since": None,
    }
    assert cli.ok("--org", "acme", "jobs", "rules", "list") == [rule]
    event = cli.ok("--org", "acme", "events", "emit", "summary.ready", "--data", '{"meeting_id": "m-1"}')
    cli.ok("--org", "acme", "events", "emit", "meeting.ended", "--data", '{"meeting_id": "m-2"}')  # no rule

    [job] = cli.ok("--org", "acme", "jobs", "list")
    assert (job["kind"], job["target"], job["event_id"], job["event_type"], job["status"]) == (
        KIND,
        "chan-1",
        event["id"],
        "summary.ready",
        "pending",
    )
    [row] = job_rows(cli)
    assert (row.dedupe_key, row.webhook_id) == (f"{event['id']}/{KIND}/chan-1", None)

    echo.answer = "fail"
    sweep_until(cli, lambda: job_rows(cli)[0].status == "failed")
    attempts = cli.ok("--org", "acme", "jobs", "attempts", job["id"])
    assert [(a["attempt_number"], a["status_code"], a["error"], a["trigger"]) for a in attempts] == [
        (1, 500, "echo: upstream 500", "scheduled"),
        (2, 500, "echo: upstream 500", "scheduled"),
        (3, 500, "echo: upstream 500", "scheduled"),
    ]
    assert echo.calls[0].event_data == {"meeting_id": "m-1"} and echo.calls[0].event_type == "summary.ready"
    assert {c.id for c in echo.calls} == {job["id"]}  # the same job, retried

    echo.answer = "ok"
    retried = cli.ok("--org", "acme", "jobs", "retry", job["id"])
    assert (retried["previous_status"], retried["status"], retried["held"]) == ("failed", "pending", False)
    sweep_until(cli, lambda: job_rows(cli)[0].status == "succeeded")
    shown = cli.ok("--org", "acme", "jobs", "show", job["id"])
    assert (shown["status"], shown["attempts"], shown["last_status_code"], shown["last_error"]) == (
        "succeeded",
        4,
        200,
        None,
    )
    last = cli.ok("--org", "acme", "jobs", "attempts", job["id"])[-1]
    assert (last["attempt_number"], last["trigger"], last["status_code"]) == (4, "manual", 200)

    err = cli.fails(4, "--org", "acme", "jobs", "retry", job["id"])
    assert err["code"] == "job_succeeded"
    assert len(cli.ok("--org", "acme", "jobs", "attempts", job["id"])) == 4  # nothing ran again


def test_a_raising_handler_is_a_failed_attempt_and_replay_requeues(cli: Cli, echo: Echo) -> None:
    cli.ok("--org", "acme", "jobs", "rules", "set", KIND, "--events", "*", "--target", "a", "--target", "b")
    cli.ok("--org", "acme", "events", "emit", "bot.error", "--data", '{"meeting_id": "m", "error": {"code": "x"}}')
    echo.answer = "raise"
    sweep_until(cli, lambda: [r.status for r in job_rows(cli)] == ["failed", "failed"])
    for row in job_rows(cli):
        errors = [a["error"] for a in cli.ok("--org", "acme", "jobs", "attempts", row.id)]
        # The engine words the prefix; the exception's type and message are what matter.
        assert len(errors) == 3 and all(e.endswith("RuntimeError: echo exploded") for e in errors), errors

    echo.answer = "ok"
    replayed = cli.ok("--org", "acme", "jobs", "replay", "--kind", KIND, "--since", "1h")
    assert (replayed["replayed"], replayed["status"], replayed["selected"]) == (2, "pending", "failed")
    sweep_until(cli, lambda: [r.status for r in job_rows(cli)] == ["succeeded", "succeeded"])
    assert sorted(r.target for r in job_rows(cli)) == ["a", "b"]
    # Nothing finished is left to replay with --status failed.
    assert cli.ok("--org", "acme", "jobs", "replay", "--kind", KIND, "--since", "1h")["replayed"] == 0


def test_gone_holds_the_kind_until_its_fix_releases_it(cli: Cli, echo: Echo) -> None:
    cli.ok("--org", "acme", "jobs", "rules", "set", KIND, "--events", "summary.ready", "--target", "chan-1")
    for n in range(3):
        cli.ok("--org", "acme", "events", "emit", "summary.ready", "--data", f'{{"meeting_id": "m-{n}"}}')
    echo.answer = "gone"
    sweep_until(cli, lambda: all(r.status == "held" for r in job_rows(cli)))
    # At least one job answered "gone"; the others were held with it, not tried one by one.
    assert 1 <= len(echo.calls) <= 3
    [rule] = cli.ok("--org", "acme", "jobs", "rules", "list")
    assert (rule["held"], rule["held_reason"]) == (True, "echo: token revoked")

    # While held, new jobs of the kind are queued held, and a sweep leaves them alone.
    calls = len(echo.calls)
    cli.ok("--org", "acme", "events", "emit", "summary.ready", "--data", '{"meeting_id": "m-9"}')
    assert [r.status for r in job_rows(cli)] == ["held"] * 4
    cli.ok("worker", "sweep")
    assert len(echo.calls) == calls
    retried = cli.ok("--org", "acme", "jobs", "retry", job_rows(cli)[0].id)
    assert (retried["status"], retried["held"]) == ("held", True)

    # The fix (a re-connect) releases them; here via the service API the connect flows call.
    echo.answer = "ok"
    db = Database(cli.db_url)
    try:
        assert jobs.release_held(db, "acme", KIND) == 4
        assert jobs.release_held(db, "acme", KIND) == 0  # nothing left held
    finally:
        db.dispose()
    assert cli.ok("--org", "acme", "jobs", "rules", "list")[0]["held"] is False
    sweep_until(cli, lambda: all(r.status == "succeeded" for r in job_rows(cli)))
    assert len(job_rows(cli)) == 4  # none dropped


def test_jobs_release_command_for_operators(cli: Cli, echo: Echo) -> None:
    cli.ok("--org", "acme", "jobs", "rules", "set", KIND, "--events", "summary.ready", "--target", "c")
    cli.ok("--org", "acme", "events", "emit", "summary.ready", "--data", '{"meeting_id": "m"}')
    echo.answer = "gone"
    sweep_until(cli, lambda: job_rows(cli)[0].status == "held")
    released = cli.ok("--org", "acme", "jobs", "release", KIND)
    assert {k: released[k] for k in ("kind", "was_held", "held_reason", "released")} == {
        "kind": KIND,
        "was_held": True,
        "held_reason": "echo: token revoked",
        "released": 1,
    }
    row = job_rows(cli)[0]
    assert (row.status, row.cycle_attempts, row.next_trigger, row.claim_token) == ("pending", 0, "manual", None)
    again = cli.ok("--org", "acme", "jobs", "release", KIND)
    assert (again["was_held"], again["released"]) == (False, 0)


def test_duplicate_enqueue_is_refused_by_the_unique_index(cli: Cli, echo: Echo) -> None:
    event = cli.ok("--org", "acme", "events", "emit", "summary.ready", "--data", '{"meeting_id": "m"}')
    db = Database(cli.db_url)
    try:
        org_id = cli.ok("orgs", "show", "acme")["id"]
        with db.session() as session:
            first = jobs.enqueue(session, org_id=org_id, event_id=event["id"], kind=KIND, target="chan-1")
            assert first is not None and first.startswith("msg_")
            assert jobs.enqueue(session, org_id=org_id, event_id=event["id"], kind=KIND, target="chan-1") is None
            other = jobs.enqueue(session, org_id=org_id, event_id=event["id"], kind=KIND, target="chan-2")
            assert other is not None and other != first
        # At the database level: a second row with the same key is refused outright.
        [row] = [r for r in job_rows(cli) if r.id == first]
        duplicate = {k: getattr(row, k) for k in row._fields} | {"id": "msg_duplicate"}
        with pytest.raises(sa.exc.IntegrityError, match=r"(?i)unique|duplicate"), db.engine.begin() as conn:
            conn.execute(sa.insert(sa.table("webhook_delivery", *map(sa.column, duplicate))), [duplicate])
    finally:
        db.dispose()
    assert sorted(r.target for r in job_rows(cli)) == ["chan-1", "chan-2"]
