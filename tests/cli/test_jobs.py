"""`zigznote jobs`: bad input gets its exit code and leaves the store unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli._webhooks_support import allow_loopback, create_webhook, emit, sql
from tests.conftest import Cli
from zigznote.delivery import handlers
from zigznote.delivery.queue import Claimed
from zigznote.delivery.result import AttemptResult

KIND = "test.echo"


async def _ok(claim: Claimed) -> AttemptResult:
    return AttemptResult(200, None, 0)


@pytest.fixture
def acme(cli: Cli) -> Iterator[dict[str, Any]]:
    handlers.register(KIND, _ok)
    yield cli.ok("orgs", "create", "acme")
    handlers.unregister(KIND)


def settings(cli: Cli) -> Any:
    return sql(cli.db_url, "SELECT settings FROM organization WHERE slug = 'acme'")[0][0]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["set", "Bad Kind", "--events", "*", "--target", "c"], "invalid_job_kind"),
        (["set", "nobody.knows", "--events", "*", "--target", "c"], "unknown_job_kind"),
        (["set", KIND, "--events", "meeting.endd", "--target", "c"], "unknown_event_type"),
        (["set", KIND, "--events", "*", "--target", "   "], "invalid_target"),
        (["set", KIND, "--events", "*", "--target", "a\x1b[31m"], "invalid_target"),
        (["set", KIND, "--events", "*", "--target", "x" * 201], "invalid_target"),
    ],
)
def test_bad_rules_are_refused(cli: Cli, acme: dict[str, Any], args: list[str], code: str) -> None:
    before = settings(cli)
    err = cli.fails(2, "--org", "acme", "jobs", "rules", *args)
    assert err["code"] == code, err
    assert settings(cli) == before


def test_rules_set_replace_and_unset(cli: Cli, acme: dict[str, Any]) -> None:
    cli.ok("--org", "acme", "jobs", "rules", "set", KIND, "--events", "summary.ready", "--target", "a")
    rule = cli.ok(
        "--org", "acme", "jobs", "rules", "set", KIND, "--events", "meeting.ended,summary.ready",
        "--target", "b", "--target", "b", "--target", "c",
    )  # fmt: skip
    assert (rule["events"], rule["targets"]) == (["meeting.ended", "summary.ready"], ["b", "c"])
    assert cli.ok("--org", "acme", "jobs", "rules", "unset", KIND)["removed"] is True
    assert cli.ok("--org", "acme", "jobs", "rules", "list") == []
    err = cli.fails(3, "--org", "acme", "jobs", "rules", "unset", KIND)
    assert err["code"] == "job_rule_not_found"
    assert cli.fails(3, "--org", "nobody", "jobs", "rules", "list")["code"] == "org_not_found"


def test_unknown_and_wrong_ids(cli: Cli, acme: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    allow_loopback(monkeypatch)
    create_webhook(cli, "http://127.0.0.1:9/hook", "*")
    event = emit(cli, "meeting.ended", {"meeting_id": "m"})
    [delivery] = event["deliveries"]
    for command in ("show", "attempts", "retry"):
        err = cli.fails(3, "--org", "acme", "jobs", command, delivery["id"])
        assert err["code"] == "job_not_found" and "webhooks" in err["hint"]
        err = cli.fails(3, "--org", "acme", "jobs", command, "msg_01JD0000000000000000000000")
        assert err["code"] == "job_not_found"
        assert cli.fails(2, "--org", "acme", "jobs", command, "wh_nope")["code"] == "invalid_id"
    [row] = sql(cli.db_url, "SELECT status, next_trigger FROM webhook_delivery")
    assert tuple(row) == ("pending", "scheduled")


def test_list_and_replay_input_errors(cli: Cli, acme: dict[str, Any]) -> None:
    assert cli.fails(2, "--org", "acme", "jobs", "list", "--status", "done")["code"] == "invalid_status"
    assert cli.fails(2, "--org", "acme", "jobs", "list", "--kind", "NOPE")["code"] == "invalid_job_kind"
    err = cli.fails(2, "--org", "acme", "jobs", "replay", "--kind", KIND, "--since", "1h", "--status", "pending")
    assert err["code"] == "invalid_status"
    assert cli.fails(2, "--org", "acme", "jobs", "replay", "--kind", KIND, "--since", "yesterday-ish")
    assert cli.fails(2, "--org", "acme", "jobs", "release", "not a kind")["code"] == "invalid_job_kind"
    assert cli.ok("--org", "acme", "jobs", "list") == []


def test_human_output(cli: Cli, acme: dict[str, Any]) -> None:
    cli.ok("--org", "acme", "jobs", "rules", "set", KIND, "--events", "summary.ready", "--target", "chan-1")
    emit(cli, "summary.ready", {"meeting_id": "m"})
    ran = cli("--org", "acme", "jobs", "list")
    assert ran.exit_code == 0 and KIND in ran.stdout and "chan-1" in ran.stdout and "pending" in ran.stdout
    ran = cli("--org", "acme", "jobs", "release", KIND)
    assert ran.exit_code == 0 and "was not held" in ran.stderr


def test_jsonl_emit_fans_out_jobs_per_org_rules(cli: Cli, acme: dict[str, Any]) -> None:
    cli.ok("orgs", "create", "globex")
    cli.ok("--org", "acme", "jobs", "rules", "set", KIND, "--events", "summary.ready", "--target", "a", "--target", "b")
    lines = [
        {"type": "summary.ready", "data": {"meeting_id": "m1"}},
        {"type": "meeting.ended", "data": {"meeting_id": "m2"}},
        {"type": "summary.ready", "data": {"meeting_id": "m3"}, "org": "globex"},  # globex has no rule
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n"
    assert cli.ok("--org", "acme", "events", "emit", "--jsonl", "-", input=text)["events"] == 3
    rows = sql(
        cli.db_url,
        "SELECT o.slug, d.kind, d.target, d.status, e.type FROM webhook_delivery d "
        "JOIN organization o ON o.id = d.org_id JOIN event e ON e.id = d.event_id ORDER BY d.target",
    )
    assert [tuple(r) for r in rows] == [
        ("acme", KIND, "a", "pending", "summary.ready"),
        ("acme", KIND, "b", "pending", "summary.ready"),
    ]
    # A bad line writes nothing: no event, no job.
    bad = text + '{"type": "summary.ready", "data": {}}\n'
    cli.fails(2, "--org", "acme", "events", "emit", "--jsonl", "-", input=bad)
    assert len(sql(cli.db_url, "SELECT id FROM webhook_delivery")) == 2


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--kind", "slack.summry"],
        ["replay", "--kind", "slack.summry", "--since", "2h"],
        ["release", "slack.summry"],
        ["rules", "set", "slack.summry", "--events", "*", "--target", "c"],
    ],
)
def test_every_jobs_command_refuses_an_unknown_kind(cli: Cli, acme: dict[str, Any], args: list[str]) -> None:
    """A typo in a kind is an error everywhere, never a silent "nothing to do"."""
    before = settings(cli)
    err = cli.fails(2, "--org", "acme", "jobs", *args)
    assert err["code"] == "unknown_job_kind"
    assert err["message"] == "unknown job kind 'slack.summry'"
    assert "test.echo" in err["hint"]
    assert settings(cli) == before


def test_history_of_a_kind_without_a_handler_stays_reachable(cli: Cli, acme: dict[str, Any]) -> None:
    """Rows of a kind this build no longer runs can still be listed and replayed."""
    cli.ok("--org", "acme", "jobs", "rules", "set", KIND, "--events", "summary.ready", "--target", "c")
    emit(cli, "summary.ready")
    handlers.unregister(KIND)
    try:
        rows = cli.ok("--org", "acme", "jobs", "list", "--kind", KIND)
        assert [r["kind"] for r in rows] == [KIND]
        assert cli.ok("--org", "acme", "jobs", "replay", "--kind", KIND, "--since", "1h")["replayed"] == 0
    finally:
        handlers.register(KIND, _ok)
