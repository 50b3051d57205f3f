"""`zigznote worker sweep` / `worker run --once` end to end: summaries, -q, JSON lines, flags."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli._webhooks_support import allow_loopback, create_webhook, emit, sql
from tests.conftest import Cli
from tests.support.receiver import Receiver


@pytest.fixture
def receivers(cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """Two endpoints: one answers 200, the other 500; two events each. Yields (good, bad) IDs."""
    allow_loopback(monkeypatch)
    monkeypatch.setenv("ZIGZNOTE_RETRY_SCHEDULE", "1h")  # a failure waits: the sweep sees it once
    with Receiver() as ok, Receiver(default=500) as broken:
        good = create_webhook(cli, ok.url, "*", "--name", "good")["id"]
        bad = create_webhook(cli, broken.url, "*", "--name", "bad")["id"]
        emit(cli)
        emit(cli)
        yield good, bad


def poison_one(db_url: str) -> None:
    """Give the newest event a lone surrogate: valid JSON text that cannot be sent as UTF-8."""
    cast = "CAST(:d AS JSON)" if db_url.startswith("postgresql") else ":d"
    [row] = sql(db_url, "SELECT id FROM event ORDER BY created_at DESC, id DESC LIMIT 1")
    sql(db_url, f"UPDATE event SET data = {cast} WHERE id = :id", d='{"note": "\\udc00"}', id=row.id)


def test_sweep_json_summary_counts_failures_and_reasons(cli: Cli, receivers: tuple[str, str]) -> None:
    good, bad = receivers
    summary = cli.ok("worker", "sweep")
    assert {k: summary[k] for k in ("delivered", "retrying", "failed", "held", "poison", "attempts")} == {
        "delivered": 2,
        "retrying": 2,
        "failed": 0,
        "held": 0,
        "poison": 0,
        "attempts": 4,
    }
    assert summary["top_failures"] == [{"lane": bad, "failures": 2, "reasons": [{"reason": "HTTP 500", "count": 2}]}]
    assert good not in json.dumps(summary["top_failures"])


def test_quiet_sweep_prints_only_the_summary_line(cli: Cli, receivers: tuple[str, str]) -> None:
    ran = cli("-q", "worker", "sweep")
    assert ran.exit_code == 0, ran.stderr
    assert ran.stderr == ""
    assert re.fullmatch(
        r"sweep: 2 delivered, 2 retrying, 0 failed, 0 held, 0 poison, 0 endpoints disabled in [0-9.]+s\n", ran.stdout
    ), ran.stdout


def test_sweep_table_shows_top_failure_reasons(cli: Cli, receivers: tuple[str, str]) -> None:
    _, bad = receivers
    ran = cli("worker", "sweep")
    assert ran.exit_code == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert any(re.fullmatch(r"\s*delivered\s+2\s*", line) for line in lines), ran.stdout
    assert any(re.fullmatch(r"\s*poison\s+0\s*", line) for line in lines), ran.stdout
    assert "top failure reasons" in ran.stdout
    [row] = [line for line in lines if bad in line]
    assert re.search(rf"{bad}\W+2\W+HTTP 500\W+2", row), row


def test_sweep_with_a_poison_message_says_so_and_exits_0(cli: Cli, receivers: tuple[str, str]) -> None:
    poison_one(cli.db_url)
    summary = cli.ok("worker", "sweep")
    # The poisoned event's two deliveries failed inside the worker; nothing was sent for them.
    assert (summary["delivered"], summary["retrying"], summary["poison"]) == (1, 3, 2)
    reasons = [r["reason"] for top in summary["top_failures"] for r in top["reasons"]]
    assert sum(r.startswith("internal error building the request body: UnicodeEncodeError") for r in reasons) == 2
    ran = cli("-q", "worker", "sweep")  # nothing due any more: the retries wait an hour
    assert ran.exit_code == 0
    assert ran.stdout.startswith("sweep: 0 delivered, 0 retrying, 0 failed, 0 held, 0 poison,")


def test_quiet_sweep_warns_about_poison_on_stderr(cli: Cli, receivers: tuple[str, str]) -> None:
    poison_one(cli.db_url)
    ran = cli("-q", "worker", "sweep")
    assert ran.exit_code == 0
    assert ran.stdout.startswith("sweep: 1 delivered, 3 retrying, 0 failed, 0 held, 2 poison,")
    assert ran.stderr.startswith("warning: 2 attempts failed inside the worker")


def test_run_once_streams_json_lines_with_a_final_summary(cli: Cli, receivers: tuple[str, str]) -> None:
    _, bad = receivers
    ran = cli("worker", "run", "--once")
    assert ran.exit_code == 0, ran.stderr
    events = [json.loads(line) for line in ran.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "worker_started" and kinds[-1] == "worker_stopped"
    assert events[0]["concurrency"] == 256 and events[0]["per_endpoint"] == 10 and events[0]["per_endpoint_max"] == 100
    attempts = [e for e in events if e["event"] == "attempt"]
    assert sorted(e["outcome"] for e in attempts) == ["pending", "pending", "succeeded", "succeeded"]
    stopped = events[-1]
    assert stopped["delivered"] == 2 and stopped["top_failures"][0]["lane"] == bad


def test_quiet_run_once_leaves_out_attempt_lines(cli: Cli, receivers: tuple[str, str]) -> None:
    ran = cli("-q", "worker", "run", "--once")
    assert ran.exit_code == 0, ran.stderr
    kinds = [json.loads(line)["event"] for line in ran.stdout.splitlines()]
    assert "attempt" not in kinds and kinds[0] == "worker_started" and kinds[-1] == "worker_stopped"


def test_per_endpoint_above_its_max_is_refused(cli: Cli) -> None:
    # Flags that contradict each other are a usage error (exit 2) naming them.
    error = cli.fails(2, "worker", "sweep", "--per-endpoint", "20", "--per-endpoint-max", "10")
    assert error["code"] == "invalid_option"
    assert error["message"] == "--per-endpoint (20) must not exceed --per-endpoint-max (10)"


def test_per_endpoint_max_setting_lowers_the_default_start(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIGZNOTE_PER_ENDPOINT_MAX", "5")
    ran = cli("worker", "run", "--once")
    assert ran.exit_code == 0, ran.stderr
    started = json.loads(ran.stdout.splitlines()[0])
    assert (started["per_endpoint"], started["per_endpoint_max"]) == (5, 5)
    error = cli.fails(2, "worker", "sweep", "--per-endpoint", "6")  # an explicit start above it is refused
    assert error["message"] == "--per-endpoint (6) must not exceed per_endpoint_max (5)"


def test_per_endpoint_max_setting_must_be_positive(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIGZNOTE_PER_ENDPOINT_MAX", "0")
    error = cli.fails(6, "worker", "sweep")
    assert error["message"] == "ZIGZNOTE_PER_ENDPOINT_MAX: expected a number of at least 1, got 0"
