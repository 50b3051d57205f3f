"""Per-webhook caps: `webhooks create|update --max-concurrency N --rate-limit N/s`, clearing
them, and refusing bad values (exit 2, store unchanged)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli._webhooks_support import PUBLIC_URL, create_webhook
from tests.conftest import Cli


@pytest.fixture
def hook(cli: Cli, org: dict[str, Any]) -> dict[str, Any]:
    return create_webhook(cli, PUBLIC_URL)


def _caps(cli: Cli, webhook_id: str) -> tuple[Any, Any]:
    shown = cli.ok("--org", "acme", "webhooks", "show", webhook_id)
    return shown["max_concurrency"], shown["rate_limit"]


def test_create_with_caps(cli: Cli, org: dict[str, Any]) -> None:
    made = create_webhook(cli, PUBLIC_URL, "*", "--max-concurrency", "5", "--rate-limit", "20/s")
    assert (made["max_concurrency"], made["rate_limit"], made["concurrency_level"]) == (5, 20.0, None)
    assert _caps(cli, made["id"]) == (5, 20.0)
    plain = create_webhook(cli, PUBLIC_URL)
    assert _caps(cli, plain["id"]) == (None, None)


@pytest.mark.parametrize(
    ("spec", "per_second"),
    [("7", 7.0), ("0.5/s", 0.5), ("120/m", 2.0), ("90/min", 1.5), ("3600/h", 1.0), (" 10 / sec ", 10.0)],
)
def test_rate_limit_spellings(cli: Cli, hook: dict[str, Any], spec: str, per_second: float) -> None:
    updated = cli.ok("--org", "acme", "webhooks", "update", hook["id"], "--rate-limit", spec)
    assert updated["rate_limit"] == per_second


def test_update_sets_and_clears_caps(cli: Cli, hook: dict[str, Any]) -> None:
    updated = cli.ok("--org", "acme", "webhooks", "update", hook["id"], "--max-concurrency", "3")
    assert (updated["max_concurrency"], updated["rate_limit"]) == (3, None)
    cli.ok("--org", "acme", "webhooks", "update", hook["id"], "--rate-limit", "50/s")
    assert _caps(cli, hook["id"]) == (3, 50.0)
    # Changing something else leaves the caps alone.
    cli.ok("--org", "acme", "webhooks", "update", hook["id"], "--events", "meeting.ended")
    assert _caps(cli, hook["id"]) == (3, 50.0)
    cli.ok("--org", "acme", "webhooks", "update", hook["id"], "--no-max-concurrency")
    assert _caps(cli, hook["id"]) == (None, 50.0)
    cli.ok("--org", "acme", "webhooks", "update", hook["id"], "--no-rate-limit")
    assert _caps(cli, hook["id"]) == (None, None)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--max-concurrency", "0"], "invalid_max_concurrency"),
        (["--max-concurrency", "-2"], "invalid_max_concurrency"),
        (["--max-concurrency", "10001"], "invalid_max_concurrency"),
        (["--rate-limit", "0"], "invalid_rate_limit"),
        (["--rate-limit", "0/s"], "invalid_rate_limit"),
        (["--rate-limit", "-1/s"], "invalid_rate_limit"),
        (["--rate-limit", "fast"], "invalid_rate_limit"),
        (["--rate-limit", "5/d"], "invalid_rate_limit"),
        (["--rate-limit", "nan"], "invalid_rate_limit"),
        (["--rate-limit", "inf"], "invalid_rate_limit"),
        (["--rate-limit", "1e9"], "invalid_rate_limit"),
        (["--rate-limit", "100001/s"], "invalid_rate_limit"),
        (["--max-concurrency", "2", "--no-max-concurrency"], "usage"),
        (["--rate-limit", "2/s", "--no-rate-limit"], "usage"),
    ],
)
def test_bad_caps_exit_2_and_change_nothing(cli: Cli, hook: dict[str, Any], args: list[str], code: str) -> None:
    cli.ok("--org", "acme", "webhooks", "update", hook["id"], "--max-concurrency", "4", "--rate-limit", "8/s")
    before = cli.ok("--org", "acme", "webhooks", "show", hook["id"])
    err = cli.fails(2, "--org", "acme", "webhooks", "update", hook["id"], "--url", PUBLIC_URL + "/v2", *args)
    assert err["code"] == code
    assert cli.ok("--org", "acme", "webhooks", "show", hook["id"]) == before


def test_bad_caps_on_create_write_nothing(cli: Cli, org: dict[str, Any]) -> None:
    err = cli.fails(
        2, "--org", "acme", "webhooks", "create", "--url", PUBLIC_URL, "--events", "*", "--max-concurrency", "0"
    )
    assert err["code"] == "invalid_max_concurrency"
    assert "--no-max-concurrency" in err["hint"]
    err = cli.fails(2, "--org", "acme", "webhooks", "create", "--url", PUBLIC_URL, "--events", "*", "--rate-limit", "x")
    assert err["code"] == "invalid_rate_limit"
    assert cli.ok("--org", "acme", "webhooks", "list") == []


def test_a_non_integer_concurrency_is_a_usage_error(cli: Cli, hook: dict[str, Any]) -> None:
    ran = cli("--org", "acme", "webhooks", "update", hook["id"], "--max-concurrency", "lots")
    assert ran.exit_code == 2
    assert _caps(cli, hook["id"]) == (None, None)


def test_show_prints_caps_and_level_for_people(cli: Cli, hook: dict[str, Any]) -> None:
    ran = cli("--org", "acme", "webhooks", "show", hook["id"])
    assert ran.exit_code == 0
    lines = {line.split("  ")[0].strip(): line for line in ran.stdout.splitlines() if line.strip()}
    assert lines["max concurrency"].split()[-1] == "-"
    assert lines["rate limit"].split()[-1] == "-"
    assert lines["concurrency level"].split()[-1] == "-"
    cli.ok("--org", "acme", "webhooks", "update", hook["id"], "--max-concurrency", "6", "--rate-limit", "120/m")
    ran = cli("--org", "acme", "webhooks", "show", hook["id"])
    lines = {line.split("  ")[0].strip(): line for line in ran.stdout.splitlines() if line.strip()}
    assert lines["max concurrency"].split()[-1] == "6"
    assert lines["rate limit"].split()[-1] == "2/s"
