"""HubSpot auto-sync end to end: `hubspot settings --auto-sync` through the CLI, `summary.ready`
and `action_items.ready` enqueue `hubspot.sync` jobs, `zigznote worker sweep` syncs the meeting
to the loopback fake HubSpot (tests/support/fake_hubspot.py, real HTTP via HUBSPOT_API_BASE).
Partial failures are retried until complete without duplicates; revoked credentials hold the
jobs until `hubspot connect` releases them. SQLite and Postgres (the `cli` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Cli
from tests.support.fake_hubspot import FakeHubSpot
from tests.support.provider_helpers import attempts, import_and_emit, jobs, point_at, sweep_until
from zigznote.delivery import handlers
from zigznote.errors import ConfigError, CredentialsRejected, NotFound, ProviderError
from zigznote.integrations.hubspot import handlers as hubspot_job

KIND = "hubspot.sync"
HUB_ID = "62515"
MEETING: dict[str, Any] = {
    "external_id": "m-1",
    "title": "Planning",
    "started_at": "2026-01-05T10:00:00Z",
    "ended_at": "2026-01-05T11:00:00Z",
    "summary": "We planned.",
    "participants": [{"name": "Ana", "email": "ana@example.com"}],
    "action_items": [{"text": "Ship it", "assignee_email": "ana@example.com"}, {"text": "Tell the team"}],
}


@pytest.fixture
def fake(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHubSpot]:
    """The fake HubSpot with HUBSPOT_* pointing at it, fast retries, org `acme`, HubSpot
    connected with a service key and auto-sync on."""
    with FakeHubSpot() as fake:
        point_at(monkeypatch, fake)
        monkeypatch.setenv("ZIGZNOTE_RETRY_SCHEDULE", "50ms,50ms")  # an attempt and two retries
        fake.add_contact("ana@example.com", "Ana", "Example")
        cli.ok("orgs", "create", "acme")
        connect(cli, fake)
        settings = cli.ok("--org", "acme", "hubspot", "settings", "--auto-sync")
        assert settings["rule"] == {"events": ["summary.ready", "action_items.ready"], "targets": [HUB_ID]}
        yield fake


def connect(cli: Cli, fake: FakeHubSpot) -> dict[str, Any]:
    return dict(cli.ok("--org", "acme", "hubspot", "connect", "--token-stdin", input=fake.service_key()))


def test_both_events_sync_the_meeting_once(cli: Cli, fake: FakeHubSpot) -> None:
    summary = import_and_emit(cli, MEETING)
    import_and_emit(cli, MEETING, "action_items.ready")
    cli.ok("--org", "acme", "events", "emit", "meeting.ended", "--data", '{"meeting_id": "m-1"}')  # no rule
    first, second = jobs(cli)
    assert (first["kind"], first["target"], first["event_id"], first["status"]) == (
        KIND,
        HUB_ID,
        summary["id"],
        "pending",
    )
    assert second["event_type"] == "action_items.ready"

    cli.ok("worker", "sweep")

    assert [j["status"] for j in jobs(cli)] == ["succeeded", "succeeded"]
    assert len(fake.objects["meetings"]) == 1 and len(fake.objects["tasks"]) == 2  # two jobs, one meeting
    # The two jobs ran side by side in the worker: one waited for the other's lease on the
    # meeting, then updated what the first created (which one went first is up to the engine).
    meeting_id = cli.ok("--org", "acme", "meetings", "show", "m-1")["id"]
    assert sorted(attempts(cli, j["id"])[0] for j in jobs(cli)) == [
        (1, 200, None, f"meeting {meeting_id}: created 3, matched 1"),
        (1, 200, None, f"meeting {meeting_id}: matched 1, updated 3"),
    ]


def test_a_partial_failure_is_retried_until_complete_without_duplicates(cli: Cli, fake: FakeHubSpot) -> None:
    fake.reject("tasks", lambda item: item["properties"]["hs_task_subject"] == "Tell the team", times=2)
    import_and_emit(cli, MEETING)
    [job] = jobs(cli)
    sweep_until(cli, lambda: jobs(cli)[0]["status"] == "succeeded")

    history = attempts(cli, job["id"])
    assert [(a[0], a[1]) for a in history] == [(1, None), (2, None), (3, 200)]
    assert history[0][2].startswith("1 item(s) failed (meeting ")
    assert "task 'Tell the team': VALIDATION_ERROR: Property values were not valid" in history[0][2]
    assert len(fake.objects["meetings"]) == 1 and len(fake.objects["tasks"]) == 2
    creates = fake.calls("batch_create", "tasks")
    assert [len(c.json["inputs"]) for c in creates] == [2, 1, 1]  # each retry sends only the missing task


def test_revoked_credentials_hold_the_jobs_until_connect_releases_them(cli: Cli, fake: FakeHubSpot) -> None:
    fake.revoke_all()
    import_and_emit(cli, MEETING)
    cli.ok("worker", "sweep")
    [job] = jobs(cli)
    assert job["status"] == "held"
    [(number, status, error, _)] = attempts(cli, job["id"])
    assert (number, status) == (1, 410)
    assert error.startswith("hubspot credentials_rejected: ")
    assert "hubspot connect" in error
    assert fake.objects["meetings"] == {}

    assert connect(cli, fake)["released_jobs"] == 1
    cli.ok("worker", "sweep")
    assert jobs(cli)[0]["status"] == "succeeded"
    assert len(fake.objects["meetings"]) == 1


def test_a_job_for_another_portal_syncs_nothing(cli: Cli, fake: FakeHubSpot) -> None:
    import_and_emit(cli, MEETING)
    fake.hub_id = "99999"  # connected again, to another portal, after the job was queued
    connect(cli, fake)
    sweep_until(cli, lambda: jobs(cli)[0]["status"] == "failed")
    [job] = jobs(cli)
    errors = {a[2] for a in attempts(cli, job["id"])}
    assert errors == {
        f"this job is for HubSpot portal {HUB_ID}, but the organization is now connected to portal 99999: nothing "
        "was synced (`hubspot settings --auto-sync` sets the rule anew)"
    }
    assert fake.objects["meetings"] == {}
    assert [r for r in cli.ok("--org", "acme", "jobs", "rules", "list") if r["kind"] == KIND] == []


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (CredentialsRejected("HubSpot refused the refresh token", provider="hubspot"), 410),
        (NotFound("hubspot is not connected for this organization", code="not_connected"), 410),
        (ConfigError("the HubSpot token lacks a scope", code="missing_scope"), 410),
        (ConfigError("renewing needs HUBSPOT_CLIENT_ID", code="hubspot_not_configured"), None),
        (ProviderError("HubSpot is rate-limiting", code="ratelimited"), None),
        (NotFound("meeting 'x' not found in this organization", code="meeting_not_found"), None),
    ],
)
def test_outcome_of_each_error(error: Exception, status: int | None) -> None:
    assert isinstance(error, CredentialsRejected | NotFound | ConfigError | ProviderError)
    result = hubspot_job.outcome_of(error, duration_ms=7)
    hint = f" ({error.hint})" if error.hint else ""
    assert (result.status_code, result.error, result.duration_ms) == (
        status,
        f"hubspot {error.code}: {error.message}{hint}",
        7,
    )


def test_the_kind_is_registered_by_factory() -> None:
    assert KIND in handlers.kinds()
    assert KIND not in handlers.handlers()  # a factory kind needs a worker's context
    assert handlers.kinds()[KIND].factory is hubspot_job.factory
