"""Through the commands an operator runs: auto-disable settings reach the worker, its notice and
`webhooks show` say how many attempts failed over how long; a sweep stores what receivers send."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.cli._webhooks_support import LOOPBACK_URL, allow_loopback, create_webhook, emit, sql
from tests.conftest import Cli
from tests.support.receiver import Receiver, Reply

REASON = re.compile(r"^3 consecutive failed attempts over \S+ \(since \S+Z; last: HTTP 500\)$")


def run_once_against_a_failing_endpoint(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[Any]]:
    """Three events to an endpoint answering 500, each tried once (the retry waits an hour)."""
    allow_loopback(monkeypatch)
    monkeypatch.setenv("ZIGZNOTE_RETRY_SCHEDULE", "1h")
    monkeypatch.setenv("ZIGZNOTE_DISABLE_AFTER", "3")
    with Receiver(default=500) as broken:
        webhook_id = create_webhook(cli, broken.url, "*", "--name", "broken")["id"]
        for _ in range(3):
            emit(cli)
        ran = cli("worker", "run", "--once")
        assert ran.exit_code == 0, ran.stderr
        assert broken.count == 3
    return webhook_id, [json.loads(line) for line in ran.stdout.splitlines()]


def test_count_only_setting_disables_and_the_notice_says_why(
    cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZIGZNOTE_DISABLE_AFTER_PERIOD", "0")
    webhook_id, events = run_once_against_a_failing_endpoint(cli, monkeypatch)
    [notice] = [e for e in events if e["event"] == "webhook_disabled"]
    assert notice["webhook"] == webhook_id
    assert REASON.match(notice["reason"]), notice["reason"]
    shown = cli.ok("--org", "acme", "webhooks", "show", "broken")
    assert (shown["enabled"], shown["disabled_reason"], shown["consecutive_failures"]) == (
        False,
        notice["reason"],
        3,
    )
    assert shown["failing_since"] is not None


def test_default_period_keeps_a_fresh_streak_enabled(
    cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unset: the streak must last the schedule's span (1 h here) before the count counts.
    webhook_id, events = run_once_against_a_failing_endpoint(cli, monkeypatch)
    assert [e for e in events if e["event"] == "webhook_disabled"] == []
    shown = cli.ok("--org", "acme", "webhooks", "show", webhook_id)
    assert (shown["enabled"], shown["disabled_reason"], shown["consecutive_failures"]) == (True, None, 3)
    assert shown["failing_since"] is not None


def test_a_bad_period_setting_stops_the_worker_with_exit_6(
    cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZIGZNOTE_DISABLE_AFTER_PERIOD", "-5m")
    error = cli.fails(6, "worker", "sweep")
    assert error["message"].startswith("ZIGZNOTE_DISABLE_AFTER_PERIOD: invalid duration '-5m'")


def test_endpoint_history_goes_with_its_organization(
    cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    allow_loopback(monkeypatch)
    create_webhook(cli, LOOPBACK_URL, "*", "--name", "paused")
    cli.ok("--org", "acme", "webhooks", "disable", "paused")  # records a `disabled` event
    assert sql(cli.db_url, "SELECT type FROM endpoint_event")[0].type == "disabled"
    deleted = cli.ok("orgs", "delete", "acme", "--force")
    assert deleted["deleted"] is True
    assert sql(cli.db_url, "SELECT count(*) AS n FROM endpoint_event")[0].n == 0


def test_sweep_stores_a_nul_body_beside_a_healthy_endpoint(
    cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reported fault: `ok\x00` made `worker sweep` exit 1 on Postgres and lost the batch.
    allow_loopback(monkeypatch)
    with Receiver(default=Reply(200, body=b"ok\x00\xff")) as odd, Receiver() as healthy:
        create_webhook(cli, odd.url, "*", "--name", "odd")
        create_webhook(cli, healthy.url, "*", "--name", "healthy")
        emit(cli)
        summary = cli.ok("worker", "sweep")
    assert (summary["delivered"], summary["attempts"], summary["retrying"]) == (2, 2, 0)
    excerpts = {}
    for name in ("odd", "healthy"):
        [d] = cli.ok("--org", "acme", "webhooks", "deliveries", name)
        [attempt] = cli.ok("--org", "acme", "webhooks", "attempts", d["id"])
        excerpts[name] = (d["status"], attempt["response_excerpt"])
    assert excerpts == {"odd": ("succeeded", "ok\ufffd\ufffd"), "healthy": ("succeeded", "ok")}
