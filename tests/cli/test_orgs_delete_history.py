"""`orgs delete --force` removes an organization's whole delivery history: webhook deliveries,
integration jobs (no webhook) with their attempts, and endpoint events."""

from __future__ import annotations

from typing import Any

from tests.cli._webhooks_support import PUBLIC_URL, ago, create_webhook, emit, sql
from tests.conftest import Cli
from zigznote.ids import new_id
from zigznote.timeutil import utcnow


def _count(cli: Cli, table: str) -> int:
    return int(sql(cli.db_url, f"SELECT count(*) FROM {table}")[0][0])


def test_force_delete_takes_jobs_attempts_and_endpoint_events(cli: Cli, org: dict[str, Any]) -> None:
    hook = create_webhook(cli, PUBLIC_URL, "*", "--name", "crm")
    event = emit(cli)
    job_id = new_id("msg")
    sql(
        cli.db_url,
        "INSERT INTO webhook_delivery (id, org_id, event_id, webhook_id, kind, target, dedupe_key, status, attempts, "
        "cycle_attempts, next_trigger, created_at, updated_at) VALUES (:id, :org, :evt, NULL, 'test.echo', 't', "
        ":key, 'failed', 1, 1, 'scheduled', :now, :now)",
        id=job_id,
        org=org["id"],
        evt=event["id"],
        key=f"{event['id']}/test.echo/t",
        now=utcnow(),
    )
    for delivery_id, webhook_id in ((job_id, None), (event["deliveries"][0]["id"], hook["id"])):
        sql(
            cli.db_url,
            'INSERT INTO delivery_attempt (id, delivery_id, webhook_id, attempt_number, "trigger", attempted_at, '
            "duration_ms, status_code) VALUES (:id, :d, :w, 1, 'scheduled', :at, 5, 500)",
            id=new_id("att"),
            d=delivery_id,
            w=webhook_id,
            at=ago(minutes=1),
        )
    cli.ok("--org", "acme", "webhooks", "disable", "crm")  # records an endpoint event
    # Another organization's history stays.
    cli.ok("orgs", "create", "other")
    create_webhook(cli, PUBLIC_URL, "*", "--name", "theirs", org="other")
    theirs = emit(cli, org="other")["deliveries"][0]["id"]

    assert cli.fails(4, "orgs", "delete", "acme")["code"] == "org_not_empty"
    assert _count(cli, "delivery_attempt") == 2
    deleted = cli.ok("orgs", "delete", "acme", "--force")
    assert deleted["deleted"] is True
    assert [r[0] for r in sql(cli.db_url, "SELECT id FROM webhook_delivery")] == [theirs]
    assert (_count(cli, "delivery_attempt"), _count(cli, "endpoint_event"), _count(cli, "webhook")) == (0, 0, 1)
    assert [o["slug"] for o in cli.ok("orgs", "list")] == ["other"]
