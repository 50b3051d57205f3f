"""Endpoint health for operators: the failure streak, adaptive level and last failure in
`webhooks show` and `status`, `webhooks list --failing`, and `webhooks health` (the
endpoint events: disabled, enabled, recovered)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.cli._webhooks_support import (
    PUBLIC_URL,
    add_attempt,
    ago,
    create_webhook,
    emit,
    parse_iso,
    set_webhook,
    sql,
)
from tests.conftest import Cli
from zigznote.delivery.queue import health as queue_health
from zigznote.ids import new_id
from zigznote.store.engine import normalize_url
from zigznote.timeutil import iso, utcnow

SSRF_ERROR = "refused by SSRF guard: 10.0.0.7 is a private address"
EVENT_KEYS = {"id", "webhook_id", "webhook_name", "type", "reason", "failures", "streak_since", "created_at"}


def _fail(cli: Cli, webhook_id: str, error: str, *, minutes_ago: float) -> None:
    """A recorded failed attempt with no HTTP status (what the connect-time SSRF guard leaves)."""
    delivery_id = emit(cli)["deliveries"][0]["id"]
    sql(
        cli.db_url,
        'INSERT INTO delivery_attempt (id, delivery_id, webhook_id, attempt_number, "trigger", attempted_at, '
        "duration_ms, status_code, error) VALUES (:id, :d, :w, 1, 'scheduled', :at, 3, NULL, :err)",
        id=new_id("att"),
        d=delivery_id,
        w=webhook_id,
        at=ago(minutes=minutes_ago),
        err=error,
    )


def _record(cli: Cli, webhook_id: str, org_id: str, type_: str, reason: str, **kwargs: Any) -> None:
    engine = sa.create_engine(normalize_url(cli.db_url))
    try:
        with engine.begin() as conn:
            queue_health.record_event(
                conn,
                org_id=org_id,
                webhook_id=webhook_id,
                type=type_,
                reason=reason,
                failures=kwargs.get("failures", 0),
                streak_since=kwargs.get("streak_since"),
                now=kwargs.get("now", utcnow()),
            )
    finally:
        engine.dispose()


@pytest.fixture
def hooks(cli: Cli, org: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Three webhooks: healthy, failing for 30 minutes, and one we will disable."""
    return {name: create_webhook(cli, PUBLIC_URL, "*", "--name", name) for name in ("healthy", "failing", "paused")}


def test_a_healthy_webhook_shows_no_streak(cli: Cli, hooks: dict[str, dict[str, Any]]) -> None:
    shown = cli.ok("--org", "acme", "webhooks", "show", "healthy")
    assert (shown["consecutive_failures"], shown["failing_since"], shown["concurrency_level"]) == (0, None, None)
    assert (shown["last_failure"], shown["endpoint_events"]) == (None, [])
    # An old failure of an endpoint that has since recovered is history, not its state.
    _fail(cli, hooks["healthy"]["id"], "HTTP 500", minutes_ago=60)
    assert cli.ok("--org", "acme", "webhooks", "show", "healthy")["last_failure"] is None


def test_show_reports_the_streak_level_and_last_failure(cli: Cli, hooks: dict[str, dict[str, Any]]) -> None:
    wh = hooks["failing"]["id"]
    since = ago(minutes=30)
    _fail(cli, wh, "HTTP 502", minutes_ago=20)
    _fail(cli, wh, SSRF_ERROR, minutes_ago=1)
    set_webhook(cli.db_url, wh, consecutive_failures=7, failing_since=since, concurrency_level=1)
    shown = cli.ok("--org", "acme", "webhooks", "show", "failing")
    assert (shown["consecutive_failures"], shown["concurrency_level"], shown["enabled"]) == (7, 1, True)
    assert abs((parse_iso(shown["failing_since"]) - since).total_seconds()) < 0.01
    assert shown["last_failure"]["error"] == SSRF_ERROR
    assert shown["last_failure"]["status_code"] is None
    assert abs((parse_iso(shown["last_failure"]["at"]) - ago(minutes=1)).total_seconds()) < 30

    ran = cli("--org", "acme", "webhooks", "show", "failing")
    assert ran.exit_code == 0
    lines = {line.split("  ")[0].strip(): line for line in ran.stdout.splitlines() if line.strip()}
    assert lines["consecutive failures"].split()[-1] == "7"
    assert lines["failing since"].split()[-1] == iso(since)
    assert lines["concurrency level"].split()[-1] == "1"
    assert "refused by SSRF guard: 10.0.0.7" in ran.stdout


def test_list_failing_shows_disabled_and_streaking_webhooks_with_why(
    cli: Cli, hooks: dict[str, dict[str, Any]]
) -> None:
    assert cli.ok("--org", "acme", "webhooks", "list", "--failing") == []
    ran = cli("--org", "acme", "webhooks", "list", "--failing")
    assert ran.exit_code == 0 and "no webhook is disabled or failing" in ran.stderr

    failing = hooks["failing"]["id"]
    _fail(cli, failing, SSRF_ERROR, minutes_ago=2)
    set_webhook(cli.db_url, failing, consecutive_failures=3, failing_since=ago(minutes=10))
    cli.ok("--org", "acme", "webhooks", "disable", "paused", "--reason", "endpoint migration")

    rows = cli.ok("--org", "acme", "webhooks", "list", "--failing")
    assert [r["name"] for r in rows] == ["paused", "failing"]  # disabled first, then longest failing
    paused, streaking = rows
    assert (paused["enabled"], paused["disabled_reason"], paused["last_failure"]) == (False, "endpoint migration", None)
    assert (streaking["consecutive_failures"], streaking["last_failure"]["error"]) == (3, SSRF_ERROR)

    ran = cli("--org", "acme", "webhooks", "list", "--failing")
    assert ran.exit_code == 0
    assert "disabled: endpoint migration" in ran.stdout
    assert "refused by SSRF guard" in ran.stdout
    assert "healthy" not in ran.stdout


def test_disable_and_enable_are_recorded_as_endpoint_events(cli: Cli, hooks: dict[str, dict[str, Any]]) -> None:
    wh = hooks["paused"]["id"]
    set_webhook(cli.db_url, wh, consecutive_failures=4, failing_since=ago(minutes=5))
    cli.ok("--org", "acme", "webhooks", "disable", "paused", "--reason", "maintenance")
    cli.ok("--org", "acme", "webhooks", "disable", "paused", "--reason", "again")  # already disabled: no event
    released = cli.ok("--org", "acme", "webhooks", "enable", "paused")
    assert (released["enabled"], released["consecutive_failures"], released["failing_since"]) == (True, 0, None)

    events = cli.ok("--org", "acme", "webhooks", "health", "paused")
    assert [e["type"] for e in events] == ["enabled", "disabled"]
    enabled, disabled = events
    assert set(disabled) == EVENT_KEYS
    assert (disabled["webhook_id"], disabled["webhook_name"], disabled["failures"]) == (wh, "paused", 4)
    assert "maintenance" in disabled["reason"]
    assert disabled["streak_since"] is not None
    assert "0 held deliveries released" in enabled["reason"]

    shown = cli.ok("--org", "acme", "webhooks", "show", "paused")
    assert [e["type"] for e in shown["endpoint_events"]] == ["enabled", "disabled"]


def test_health_lists_the_orgs_events_newest_first_and_filters(
    cli: Cli, hooks: dict[str, dict[str, Any]], org: dict[str, Any]
) -> None:
    failing = hooks["failing"]["id"]
    _record(cli, failing, org["id"], "disabled", "10 consecutive failed attempts", failures=10, now=ago(days=3))
    _record(cli, failing, org["id"], "recovered", "succeeded after 4 failures", failures=4, now=ago(hours=2))
    cli.ok("--org", "acme", "webhooks", "disable", "paused")
    # Another organization's endpoint events are not this organization's business.
    cli.ok("orgs", "create", "other")
    theirs = create_webhook(cli, PUBLIC_URL, "*", "--name", "theirs", org="other")
    cli.ok("--org", "other", "webhooks", "disable", "theirs")
    assert [e["webhook_id"] for e in cli.ok("--org", "other", "webhooks", "health")] == [theirs["id"]]

    every = cli.ok("--org", "acme", "webhooks", "health")
    assert [(e["webhook_name"], e["type"]) for e in every] == [
        ("paused", "disabled"),
        ("failing", "recovered"),
        ("failing", "disabled"),
    ]
    recent = cli.ok("--org", "acme", "webhooks", "health", "--since", "1d")
    assert [e["type"] for e in recent] == ["disabled", "recovered"]
    assert [e["type"] for e in cli.ok("--org", "acme", "webhooks", "health", "failing", "--limit", "1")] == [
        "recovered"
    ]
    assert cli.ok("--org", "acme", "webhooks", "health", "healthy") == []

    assert cli.fails(3, "--org", "acme", "webhooks", "health", "theirs")["code"] == "webhook_not_found"
    assert cli.fails(2, "--org", "acme", "webhooks", "health", "--since", "yesterday-ish")["code"] == "invalid_input"

    ran = cli("--org", "acme", "webhooks", "health")
    assert ran.exit_code == 0
    assert "recovered" in ran.stdout and "succeeded after 4 failures" in ran.stdout


def test_show_lists_only_the_last_five_endpoint_events(
    cli: Cli, hooks: dict[str, dict[str, Any]], org: dict[str, Any]
) -> None:
    wh = hooks["failing"]["id"]
    for n in range(7):
        _record(cli, wh, org["id"], "recovered", f"recovery {n}", now=ago(minutes=10 - n))
    shown = cli.ok("--org", "acme", "webhooks", "show", "failing")
    assert [e["reason"] for e in shown["endpoint_events"]] == [f"recovery {n}" for n in (6, 5, 4, 3, 2)]


def test_deleting_a_webhook_takes_its_endpoint_events(cli: Cli, hooks: dict[str, dict[str, Any]]) -> None:
    cli.ok("--org", "acme", "webhooks", "disable", "paused")
    cli.ok("--org", "acme", "webhooks", "enable", "paused")
    assert cli.ok("--org", "acme", "webhooks", "delete", "paused")["deleted"] is True
    assert [e["webhook_name"] for e in cli.ok("--org", "acme", "webhooks", "health")] == []
    assert sql(cli.db_url, "SELECT count(*) FROM endpoint_event")[0][0] == 0


def test_status_shows_failing_endpoints_and_recent_events(cli: Cli, hooks: dict[str, dict[str, Any]]) -> None:
    failing = hooks["failing"]["id"]
    _fail(cli, failing, SSRF_ERROR, minutes_ago=1)
    set_webhook(cli.db_url, failing, consecutive_failures=2, failing_since=ago(minutes=3), concurrency_level=1)
    cli.ok("--org", "acme", "webhooks", "update", "failing", "--max-concurrency", "4")
    cli.ok("--org", "acme", "webhooks", "disable", "paused", "--reason", "customer asked")

    data = cli.ok("status")
    assert data["webhooks_failing"] == 2
    assert [w["name"] for w in data["failing_webhooks"]] == ["paused", "failing"]
    streak = data["failing_webhooks"][1]
    assert (streak["consecutive_failures"], streak["concurrency_level"], streak["max_concurrency"]) == (2, 1, 4)
    assert streak["failing_since"] is not None and streak["last_failure"]["error"] == SSRF_ERROR
    assert [(e["webhook_name"], e["type"]) for e in data["endpoint_events"]] == [("paused", "disabled")]


def test_last_failure_with_a_status_code(cli: Cli, hooks: dict[str, dict[str, Any]]) -> None:
    wh = hooks["failing"]["id"]
    delivery_id = emit(cli)["deliveries"][0]["id"]
    add_attempt(cli.db_url, delivery_id, wh, at=ago(minutes=2), duration_ms=40, status_code=503)
    add_attempt(cli.db_url, delivery_id, wh, at=ago(minutes=1), duration_ms=40, status_code=200, number=2)
    set_webhook(cli.db_url, wh, consecutive_failures=1, failing_since=ago(minutes=2))
    failure = cli.ok("--org", "acme", "webhooks", "show", "failing")["last_failure"]
    assert (failure["status_code"], failure["error"]) == (503, "failed")


def test_list_failing_orders_disabled_then_longest_streak_on_every_backend(
    cli: Cli, hooks: dict[str, dict[str, Any]]
) -> None:
    # Two disabled (one still in a streak), one enabled with an older streak than the other.
    set_webhook(cli.db_url, hooks["failing"]["id"], consecutive_failures=1, failing_since=ago(hours=3))
    set_webhook(cli.db_url, hooks["healthy"]["id"], consecutive_failures=9, failing_since=ago(hours=1))
    cli.ok("--org", "acme", "webhooks", "disable", "healthy")
    cli.ok("--org", "acme", "webhooks", "disable", "paused")
    extra = create_webhook(cli, PUBLIC_URL, "*", "--name", "newer")
    set_webhook(cli.db_url, extra["id"], consecutive_failures=2, failing_since=ago(minutes=5))
    rows = cli.ok("--org", "acme", "webhooks", "list", "--failing")
    assert [r["name"] for r in rows] == ["healthy", "paused", "failing", "newer"]
