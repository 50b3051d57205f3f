"""What a newcomer following the README ran into: timestamps wrapped in tables, hints that
could not be copied, unclear errors and wording (one test per finding)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.cli._webhooks_support import PUBLIC_URL, ago, create_webhook, set_webhook
from tests.conftest import Cli, Ran
from zigznote.errors import InvalidInput
from zigznote.ids import new_id
from zigznote.store.migrations.revisions import HEAD_REVISION
from zigznote.timeutil import parse_duration, parse_since
from zigznote.webhooks.listen import ListenOptions

TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")


@pytest.fixture
def failing(cli: Cli, org: dict[str, Any]) -> dict[str, Any]:
    """A webhook in a failure streak, one disabled, and endpoint events for both."""
    hook = create_webhook(cli, PUBLIC_URL, "*", "--name", "crm")
    set_webhook(cli.db_url, hook["id"], consecutive_failures=4, failing_since=ago(minutes=30))
    cli.ok("--org", "acme", "webhooks", "disable", "crm", "--reason", "endpoint migration")
    return hook


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("command", ["list", "status", "health", "show"])
def test_timestamps_in_health_tables_are_never_wrapped(
    cli: Cli, failing: dict[str, Any], monkeypatch: pytest.MonkeyPatch, width: int, command: str
) -> None:
    args = {
        "list": ("webhooks", "list", "--failing"),
        "status": ("status",),
        "health": ("webhooks", "health"),
        "show": ("webhooks", "show", "crm"),
    }[command]
    event_time = cli.ok("--org", "acme", "webhooks", "health")[0]["created_at"]
    since = cli.ok("--org", "acme", "webhooks", "list", "--failing")[0]["failing_since"]
    expected = {"list": [since], "status": [since, event_time], "health": [event_time], "show": [event_time]}
    monkeypatch.setenv("COLUMNS", str(width))
    ran = cli("--org", "acme", *args)
    assert ran.exit_code == 0, ran.stderr
    # Every time that starts on a line ends on it (a cut one would not match the whole shape).
    assert len(re.findall(r"\d{4}-\d{2}-\d{2}T", ran.stdout)) == len(TIME_RE.findall(ran.stdout))
    for value in expected[command]:
        # At 80 columns the compact layout shows times to the second.
        assert value[:19] in ran.stdout, (value, ran.stdout)
    if command in ("list", "status"):
        # The last reason is not a column left out on a narrow terminal.
        assert "not showing" not in ran.stderr or "last reason" not in ran.stderr
        assert "endpoint" in ran.stdout


def _run_hint(cli: Cli, hint: str) -> Ran:
    """Run the command a hint quotes between backticks, as a user would paste it."""
    command = shlex.split(hint.split("`")[1])
    assert command[0] == "zigznote"
    return cli(*command[1:])


def test_hints_name_the_organization_so_they_can_be_copied(cli: Cli, org: dict[str, Any]) -> None:
    err = cli.fails(3, "--org", "acme", "webhooks", "show", "nope")
    assert err["hint"] == "`zigznote --org acme webhooks list` shows this organization's webhooks"
    assert _run_hint(cli, err["hint"]).exit_code == 0

    err = cli.fails(3, "--org", "acme", "webhooks", "attempts", new_id("msg"))
    assert err["hint"] == "`zigznote --org acme webhooks deliveries WEBHOOK` lists a webhook's deliveries"

    err = cli.fails(3, "--org", "acme", "events", "show", new_id("evt"))
    assert err["hint"] == "`zigznote --org acme events list` shows recent events"
    assert _run_hint(cli, err["hint"]).exit_code == 0


def test_the_data_hint_is_a_whole_example_that_works(cli: Cli, org: dict[str, Any]) -> None:
    err = cli.fails(2, "--org", "acme", "events", "emit", "meeting.ended", "--data", "[]")
    assert err["message"] == "meeting.ended: data must be a JSON object, got an array"
    assert err["hint"] == """for example --data '{"meeting_id": "mtg_01JD3Q8Z4W6X7Y8Z9A0B1C2D3E"}'"""
    data = shlex.split(err["hint"])[-1]
    assert cli.ok("--org", "acme", "events", "emit", "meeting.ended", "--data", data)["type"] == "meeting.ended"


@pytest.mark.parametrize("length", [2001, 100_000])
def test_webhook_urls_over_2000_characters_are_refused(cli: Cli, org: dict[str, Any], length: int) -> None:
    url = PUBLIC_URL + "?q=" + "a" * (length - len(PUBLIC_URL) - 3)
    assert len(url) == length
    err = cli.fails(2, "--org", "acme", "webhooks", "create", "--url", url, "--events", "*")
    assert err["code"] == "url_too_long"
    assert err["message"] == f"webhook URL is {length:,} characters long; the limit is 2,000"
    assert cli.ok("--org", "acme", "webhooks", "list") == []
    longest = url[:2000]
    assert cli.ok("--org", "acme", "webhooks", "create", "--url", longest, "--events", "*")["url"] == longest


def _table(stdout: str) -> dict[str, list[str]]:
    """`config show`'s human table: setting -> [value, source] (cells split on the box bars)."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 3 and cells[0]:
            rows[cells[0]] = cells[1:]
    return rows


def test_config_show_prints_durations_and_the_effective_disable_period(env: dict[str, str], tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'x.db'}")
    ran = cli("config", "show", db=False)
    assert ran.exit_code == 0, ran.stderr
    table = _table(ran.stdout)
    assert table["lease_seconds"] == ["30s", "default"]
    assert table["attempt_timeout"] == ["15s", "default"]
    assert table["retention"] == ["30d", "default"]
    assert table["retention_failed"] == ["90d", "default"]
    assert table["disable_after_period"] == ["1h5m36s", "default (the retry_schedule's span)"]
    settings = cli.ok("config", "show")["settings"]
    assert settings["lease_seconds"] == {"value": 30.0, "source": "default"}
    assert settings["disable_after_period"] == {"value": 3936.0, "source": "default (the retry_schedule's span)"}


def test_a_global_option_after_the_command_says_where_it_goes(cli: Cli, org: dict[str, Any]) -> None:
    ran = cli("webhooks", "deliveries", "local", "--json")
    assert ran.exit_code == 2
    assert ran.stderr.splitlines() == [
        "error: --json is a global option: it goes before the command group",
        f"hint: for example `zigznote --json --db {shlex.quote(cli.db_url)} webhooks deliveries local`",
    ]
    ran = cli("webhooks", "list", "--org", "acme")
    assert ran.exit_code == 2
    db = shlex.quote(cli.db_url)
    assert ran.stderr.splitlines()[1] == f"hint: for example `zigznote --org acme --db {db} webhooks list`"
    assert _run_hint(cli, ran.stderr.splitlines()[1]).exit_code == 0
    # Not every unknown option is a global one.
    assert cli("webhooks", "list", "--bogus").stderr.startswith("error: no such option: --bogus")


def test_bad_worker_flags_are_usage_errors(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    err = cli.fails(2, "worker", "run", "--once", "--per-endpoint", "200")
    assert err["code"] == "invalid_option"
    assert err["message"] == "--per-endpoint (200) must not exceed per_endpoint_max (100)"
    # The same conflict from settings stays a configuration error.
    monkeypatch.setenv("ZIGZNOTE_PER_ENDPOINT_MAX", "5")
    monkeypatch.setenv("ZIGZNOTE_LEASE_SECONDS", "5s")
    assert cli.fails(6, "worker", "run", "--once")["code"] == "config_error"


def test_retention_errors_explain_the_minimum_and_config_show_still_works(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    err = cli.fails(2, "events", "prune", "--older-than", "1s")
    assert err["message"] == "--older-than '1s' is too short: the minimum is 1 hour"
    assert "still being retried" in err["hint"]

    monkeypatch.setenv("ZIGZNOTE_RETENTION", "bogus")
    err = cli.fails(6, "orgs", "list")
    assert err["message"].startswith("ZIGZNOTE_RETENTION: invalid duration 'bogus'")
    assert err["hint"] == "set ZIGZNOTE_RETENTION to a valid value (for example ZIGZNOTE_RETENTION=30d), or unset it"
    shown = cli.ok("config", "show")["settings"]["retention"]
    assert (shown["value"], shown["source"]) == ("bogus", "env:ZIGZNOTE_RETENTION")
    assert shown["error"].startswith("ZIGZNOTE_RETENTION: invalid duration 'bogus'")
    ran = cli("config", "show")
    assert ran.exit_code == 0
    assert _table(ran.stdout)["retention"] == ["bogus", "env:ZIGZNOTE_RETENTION"]
    assert "warning: ZIGZNOTE_RETENTION: invalid duration 'bogus'" in ran.stderr
    assert "ZIGZNOTE_RETENTION=30d" in ran.stderr


def test_counts_and_articles_read_as_english(cli: Cli, org: dict[str, Any]) -> None:
    hook = create_webhook(cli, PUBLIC_URL, "*", "--name", "crm")
    cli.ok("--org", "acme", "webhooks", "disable", "crm")
    ran = cli("--org", "acme", "events", "emit", "meeting.ended", "--data", '{"meeting_id": "m-1"}')
    assert re.search(r"→ 1 delivery \(1 held\)$", ran.stderr.strip())
    ran = cli("--org", "acme", "webhooks", "enable", "crm")
    assert ran.stderr.strip() == f"✓ enabled {hook['id']}; 1 held delivery released"
    assert (
        cli.fails(2, "--org", "acme", "events", "show", "wh_x")["message"]
        == "'wh_x' is not an event ID (expected evt_…)"
    )
    ran = cli("--org", "acme", "webhooks", "delete", "crm", "--force")
    assert ran.stderr.strip() == f"✓ deleted {hook['id']} with 1 delivery and 0 attempts"


def test_doctor_marks_a_check_with_warnings_warn(
    cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZIGZNOTE_WEBHOOK_ALLOW_NETS", "127.0.0.0/8")
    cli.ok(
        "--org", "acme", "webhooks", "create", "--name", "local", "--url", "http://127.0.0.1:9/hook", "--events", "*"
    )
    cli.ok("--org", "acme", "events", "emit", "meeting.ended", "--data", '{"meeting_id": "m-1"}')
    monkeypatch.delenv("ZIGZNOTE_WEBHOOK_ALLOW_NETS")
    ran = cli("doctor")
    assert ran.exit_code == 0
    assert "warn webhooks: 1 webhook, 1 warning" in ran.stdout.splitlines()
    assert not any(line.startswith("ok   webhooks") for line in ran.stdout.splitlines())


def test_db_upgrade_when_current_says_so(cli: Cli) -> None:
    ran = cli("db", "upgrade")
    assert ran.exit_code == 0
    assert ran.stderr.strip() == f"✓ already at the newest schema ({HEAD_REVISION})"


def test_messages_start_lowercase_without_a_trailing_period() -> None:
    with pytest.raises(
        InvalidInput, match=r"^invalid duration 'soon': cannot read 'soon' \(known units: ms, s, m, h, d\)$"
    ) as raised:
        parse_duration("soon")
    assert raised.value.hint == "use a number with a unit: 500ms, 1s, 5m, 1h, 2d, or combinations like 1h30m"
    with pytest.raises(InvalidInput, match=r"^invalid --since value 'whenever'$"):
        parse_since("whenever")
    with pytest.raises(InvalidInput, match=r"^invalid port 70000: must be between 0 and 65535$"):
        ListenOptions(port=70000).validate()


def test_a_named_config_file_must_exist(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'x.db'}")
    default = tmp_path / "config" / "zigznote" / "config.toml"
    doc = cli.ok("config", "show")
    assert (doc["config_file"], doc["config_file_found"]) == (str(default), False)  # the default may be missing
    assert f"config file: {default} (not found: none read)" in cli("config", "show").stdout

    missing = tmp_path / "nonexistent.toml"
    monkeypatch.setenv("ZIGZNOTE_CONFIG", str(missing))
    err = cli.fails(6, "config", "show")
    assert (err["code"], err["message"]) == (
        "config_not_found",
        f"config file {missing} (named by ZIGZNOTE_CONFIG) does not exist",
    )
    assert cli.fails(6, "orgs", "list")["code"] == "config_not_found"

    missing.write_text('org = "acme"\n')
    doc = cli.ok("config", "show")
    assert (doc["config_file"], doc["config_file_found"]) == (str(missing), True)
    assert f"config file: {missing} (read)" in cli("config", "show").stdout


def test_init_creates_the_config_file_zigznote_config_names(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = tmp_path / "elsewhere" / "zigznote.toml"
    monkeypatch.setenv("ZIGZNOTE_CONFIG", str(named))
    report = Cli(f"sqlite:///{tmp_path / 'x.db'}").ok("init")
    assert (report["config"]["path"], report["config"]["created"]) == (str(named), True)
    assert named.is_file()
