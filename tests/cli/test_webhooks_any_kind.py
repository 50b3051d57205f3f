"""`webhooks retry`, `webhooks attempts` and `events show` work for every kind of delivery
row: an integration job has no webhook (``webhook_id`` NULL) and used to end in an
AssertionError."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.cli._webhooks_support import DELIVERY_KEYS, ago, close_to_now, delivery, emit, sql
from tests.conftest import Cli
from zigznote.delivery.queue import jobs
from zigznote.ids import new_id
from zigznote.store.engine import normalize_url
from zigznote.timeutil import utcnow

KIND = "test.echo"


def _job(cli: Cli, org_id: str, *, status: str = "failed", attempts: int = 4) -> tuple[str, str]:
    """An event and one failed job of it (as the engine leaves one after its last retry)."""
    event_id = emit(cli)["id"]
    job_id = new_id("msg")
    now = utcnow()
    sql(
        cli.db_url,
        "INSERT INTO webhook_delivery (id, org_id, event_id, webhook_id, kind, target, dedupe_key, status, attempts, "
        "cycle_attempts, next_trigger, next_attempt_at, last_error, created_at, updated_at) VALUES "
        "(:id, :org, :evt, NULL, :kind, 'C0123', :key, :status, :n, :n, 'scheduled', NULL, 'slack: timeout', "
        ":now, :now)",
        id=job_id,
        org=org_id,
        evt=event_id,
        kind=KIND,
        key=f"{event_id}/{KIND}/C0123",
        status=status,
        n=attempts,
        now=now,
    )
    return event_id, job_id


def test_retry_and_attempts_of_a_job(cli: Cli, org: dict[str, Any]) -> None:
    event_id, job_id = _job(cli, org["id"])
    for number, code in ((1, None), (2, 500)):
        sql(
            cli.db_url,
            'INSERT INTO delivery_attempt (id, delivery_id, webhook_id, attempt_number, "trigger", attempted_at, '
            "duration_ms, status_code, error) VALUES (:id, :d, NULL, :n, 'scheduled', :at, 7, :code, 'slack: timeout')",
            id=new_id("att"),
            d=job_id,
            n=number,
            at=ago(minutes=5 - number),
            code=code,
        )

    attempts = cli.ok("--org", "acme", "webhooks", "attempts", job_id)
    assert [(a["attempt_number"], a["webhook_id"], a["status_code"]) for a in attempts] == [
        (1, None, None),
        (2, None, 500),
    ]

    result = cli.ok("--org", "acme", "webhooks", "retry", job_id)
    assert result == {
        "id": job_id,
        "webhook_id": None,
        "kind": KIND,
        "previous_status": "failed",
        "status": "pending",
        "held": False,
        "next_attempt_at": result["next_attempt_at"],
    }
    assert close_to_now(result["next_attempt_at"])
    row = delivery(cli.db_url, job_id)
    assert (row.status, row.cycle_attempts, row.attempts, row.next_trigger, row.claim_token) == (
        "pending",
        0,
        4,
        "manual",
        None,
    )

    [shown] = [d for d in cli.ok("--org", "acme", "events", "show", event_id)["deliveries"] if d["id"] == job_id]
    assert set(shown) == DELIVERY_KEYS
    assert (shown["kind"], shown["target"], shown["webhook_id"], shown["status"]) == (KIND, "C0123", None, "pending")

    ran = cli("--org", "acme", "webhooks", "retry", job_id)
    assert ran.exit_code == 0 and f"queued {job_id} (was pending)" in ran.stderr


def test_a_job_of_a_kind_held_for_the_org_is_retried_held(cli: Cli, org: dict[str, Any]) -> None:
    _, job_id = _job(cli, org["id"])
    engine = sa.create_engine(normalize_url(cli.db_url))
    try:
        with engine.begin() as conn:
            jobs.hold(conn, org["id"], KIND, reason="integration revoked", now=utcnow())
    finally:
        engine.dispose()
    result = cli.ok("--org", "acme", "webhooks", "retry", job_id)
    assert (result["status"], result["held"]) == ("held", True)
    assert delivery(cli.db_url, job_id).status == "held"
    ran = cli("--org", "acme", "webhooks", "retry", job_id)
    assert ran.exit_code == 0 and f"job kind {KIND} is held for this organization" in ran.stderr


def test_retry_of_a_succeeded_job_needs_force(cli: Cli, org: dict[str, Any]) -> None:
    _, job_id = _job(cli, org["id"], status="succeeded", attempts=1)
    assert cli.fails(4, "--org", "acme", "webhooks", "retry", job_id)["code"] == "delivery_succeeded"
    assert delivery(cli.db_url, job_id).status == "succeeded"
    assert cli.ok("--org", "acme", "webhooks", "retry", job_id, "--force")["status"] == "pending"


def test_another_orgs_job_is_not_found(cli: Cli, org: dict[str, Any]) -> None:
    _, job_id = _job(cli, org["id"])
    cli.ok("orgs", "create", "other")
    assert cli.fails(3, "--org", "other", "webhooks", "retry", job_id)["code"] == "delivery_not_found"
    assert cli.fails(3, "--org", "other", "webhooks", "attempts", job_id)["code"] == "delivery_not_found"
    assert delivery(cli.db_url, job_id).status == "failed"
