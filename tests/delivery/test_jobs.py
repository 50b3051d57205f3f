"""Integration jobs (Slack auto-send, HubSpot auto-sync) run through the same engine:
claims, leases, retries with the same schedule, and the same attempt history."""

from __future__ import annotations

from tests.delivery.conftest import fast_config, run_until
from tests.support import factory
from zigznote.delivery.queue import Claimed
from zigznote.delivery.result import AttemptResult
from zigznote.store.engine import Database
from zigznote.vault import Vault


def test_a_job_kind_runs_with_retries_and_history(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    [job] = factory.emit(engine_db, org, [None], 1, type_="summary.ready", kind="slack.summary")
    calls: list[Claimed] = []

    async def post_to_slack(claim: Claimed) -> AttemptResult:
        calls.append(claim)
        if len(calls) == 1:
            return AttemptResult(None, "slack: ratelimited", 3)
        return AttemptResult(200, None, 4, response_excerpt='{"ok": true}')

    run_until(
        engine_db,
        vault,
        fast_config(),
        lambda: factory.deliveries(engine_db)[job].status == "succeeded",
        handlers={"slack.summary": post_to_slack},
    )
    assert [c.kind for c in calls] == ["slack.summary", "slack.summary"]
    assert calls[0].event_type == "summary.ready" and calls[0].event_data["meeting_id"] == "mtg_0"
    first, second = factory.attempts(engine_db, job)
    assert (first.error, first.webhook_id, second.status_code, second.attempt_number) == (
        "slack: ratelimited",
        None,
        200,
        2,
    )


def test_a_kind_without_handler_is_retried_then_failed_never_dropped(sqlite_db: Database, vault: Vault) -> None:
    org = factory.add_org(sqlite_db)
    [job] = factory.emit(sqlite_db, org, [None], 1, kind="hubspot.sync")

    run_until(sqlite_db, vault, fast_config(), lambda: factory.deliveries(sqlite_db)[job].status == "failed")
    attempts = factory.attempts(sqlite_db, job)
    assert len(attempts) == 4  # first + the 3 scheduled retries
    assert all("no handler for job kind 'hubspot.sync'" in a.error for a in attempts)
