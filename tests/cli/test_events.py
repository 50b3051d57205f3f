"""`events types | emit | list | show`: the catalog, fan-out to subscribers, history."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.cli._webhooks_support import (
    DELIVERY_KEYS,
    allow_loopback,
    create_webhook,
    emit,
    set_delivery,
    sql,
)
from tests.conftest import Cli
from tests.support.snapshot import file_digest, rows
from zigznote.delivery.queue import jobs as qjobs
from zigznote.store.engine import normalize_url
from zigznote.timeutil import utcnow
from zigznote.webhooks.events import CATALOG

EVENT_KEYS = {"id", "type", "org_id", "created_at", "data"}


@pytest.fixture
def hooks(cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Three endpoints of acme with different subscriptions."""
    allow_loopback(monkeypatch)
    return {
        "all": create_webhook(cli, "http://127.0.0.1:9/all", "*")["id"],
        "ended": create_webhook(cli, "http://127.0.0.1:9/ended", "meeting.ended")["id"],
        "summary": create_webhook(cli, "http://127.0.0.1:9/summary", "summary.ready,bot.error")["id"],
    }


def test_types_needs_no_database(tool_cli: Cli) -> None:
    listed = tool_cli.ok("events", "types")
    assert [t["name"] for t in listed] == list(CATALOG)
    assert len(listed) == 11
    by_name = {t["name"]: t for t in listed}
    assert set(by_name["bot.error"]) == {"name", "description", "required", "example"}
    assert by_name["bot.error"]["required"] == ["meeting_id", "error"]
    assert by_name["meeting.ended"]["required"] == ["meeting_id"]
    assert by_name["webhook.test"]["required"] == []
    assert by_name["summary.ready"]["example"]["meeting_id"].startswith("mtg_")
    ran = tool_cli("events", "types")
    assert ran.exit_code == 0 and "action_items.ready" in ran.stdout and "meeting_id, error" in ran.stdout


@pytest.fixture
def tool_cli(env: dict[str, str]) -> Cli:
    return Cli("sqlite:////nonexistent/zigznote.db")


def test_emit_fans_out_to_subscribers(cli: Cli, hooks: dict[str, str]) -> None:
    data = {"meeting_id": "mtg_1", "title": "Kickoff", "nested": {"ü": [1, 2]}}
    event = emit(cli, "meeting.ended", data)
    assert set(event) == EVENT_KEYS | {"deliveries", "jobs"}
    assert event["jobs"] == []  # acme has no job rules
    assert event["id"].startswith("evt_") and event["type"] == "meeting.ended"
    assert event["data"] == data
    assert sorted(d["webhook_id"] for d in event["deliveries"]) == sorted([hooks["all"], hooks["ended"]])
    assert {d["status"] for d in event["deliveries"]} == {"pending"}
    assert all(d["id"].startswith("msg_") for d in event["deliveries"])
    assert cli.ok("--org", "acme", "events", "show", event["id"])["data"] == data  # stored as sent

    stored = sql(cli.db_url, "SELECT * FROM webhook_delivery WHERE event_id = :e", e=event["id"])
    assert len(stored) == 2
    for row in stored:
        assert (row.kind, row.status, row.attempts, row.cycle_attempts, row.next_trigger) == (
            "webhook", "pending", 0, 0, "scheduled",
        )  # fmt: skip
        assert row.claim_token is None and row.next_attempt_at == row.created_at
        assert row.org_id == event["org_id"]

    summary = emit(cli, "bot.error", {"meeting_id": "m", "error": {"code": "x"}})
    assert sorted(d["webhook_id"] for d in summary["deliveries"]) == sorted([hooks["all"], hooks["summary"]])
    # `*` does not include webhook.test: a test message is never fanned out.
    assert emit(cli, "webhook.test", {})["deliveries"] == []

    cli.ok("--org", "acme", "webhooks", "disable", hooks["ended"])
    held = emit(cli, "meeting.ended", {"meeting_id": "mtg_2"})
    statuses = {d["webhook_id"]: d["status"] for d in held["deliveries"]}
    assert statuses == {hooks["all"]: "pending", hooks["ended"]: "held"}

    ran = cli("--org", "acme", "events", "emit", "meeting.ended", "--data", '{"meeting_id": "m3"}')
    assert ran.exit_code == 0 and ran.stderr.endswith("(meeting.ended) → 2 deliveries (1 held)\n")
    ran = cli("--org", "acme", "events", "emit", "summary.ready", "--data", '{"meeting_id": "m4"}')
    assert ran.exit_code == 0 and ran.stderr.endswith("(summary.ready) → 2 deliveries\n")  # no "(0 held)"


def test_emit_data_from_file_and_stdin(cli: Cli, hooks: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text('{"meeting_id": "from-file"}')
    assert cli.ok("--org", "acme", "events", "emit", "summary.ready", "--data", f"@{path}")["data"] == {
        "meeting_id": "from-file"
    }
    piped = cli.ok("--org", "acme", "events", "emit", "summary.ready", "--data", "-", input='{"meeting_id": "stdin"}')
    assert piped["data"] == {"meeting_id": "stdin"}


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["meeting.endd", "--data", '{"meeting_id": "m"}'], "unknown_event_type", "did you mean 'meeting.ended'"),
        (["meeting.ended", "--data", '{"meeting_id": '], "invalid_json", "not valid JSON"),
        (["meeting.ended", "--data", "[]"], "invalid_event", "must be a JSON object"),
        (["meeting.ended"], "invalid_event", "missing required field(s): meeting_id"),
        (["bot.error", "--data", '{"meeting_id": "m"}'], "invalid_event", "missing required field(s): error"),
        (["meeting.ended", "--data", '{"meeting_id": ""}'], "invalid_event", "non-empty string"),
        (["meeting.ended", "--data", "@/nonexistent/file.json"], "file_not_found", "not found"),
        ([], "usage", "either an event TYPE or --jsonl"),
        (["meeting.ended", "--jsonl", "-"], "usage", "either an event TYPE or --jsonl"),
    ],
)
def test_bad_emit_writes_nothing(cli: Cli, hooks: dict[str, str], args: list[str], code: str, fragment: str) -> None:
    before, digest = rows(cli.db_url), file_digest(cli.db_url)
    err = cli.fails(2, "--org", "acme", "events", "emit", *args)
    assert err["code"] == code, err
    assert fragment in err["message"], err
    assert rows(cli.db_url) == before
    assert file_digest(cli.db_url) == digest


def test_payload_over_256kb_is_refused(cli: Cli, hooks: dict[str, str]) -> None:
    before = rows(cli.db_url)
    big = json.dumps({"meeting_id": "m", "blob": "x" * (256 * 1024)})
    err = cli.fails(2, "--org", "acme", "events", "emit", "meeting.ended", "--data", "-", input=big)
    assert err["code"] == "payload_too_large" and "256 KB" in err["message"]
    line = json.dumps({"type": "meeting.ended", "data": {"meeting_id": "m", "blob": "x" * (256 * 1024)}})
    err = cli.fails(2, "--org", "acme", "events", "emit", "--jsonl", "-", input=line + "\n")
    assert err["code"] == "payload_too_large" and "line 1" in err["message"]
    assert rows(cli.db_url) == before
    fits = json.dumps({"meeting_id": "m", "blob": "x" * (200 * 1024)})
    assert cli.ok("--org", "acme", "events", "emit", "meeting.ended", "--data", "-", input=fits)["type"]


def test_emit_jsonl(cli: Cli, hooks: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cli.ok("orgs", "create", "globex")
    other = create_webhook(cli, "http://127.0.0.1:9/globex", "*", org="globex")["id"]
    lines = [
        {"type": "meeting.ended", "data": {"meeting_id": "a"}},
        {"type": "summary.ready", "data": {"meeting_id": "b"}},
        {"type": "meeting.started", "data": {"meeting_id": "c"}, "org": "globex"},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n\n"  # blank lines are skipped
    result = cli.ok("--org", "acme", "events", "emit", "--jsonl", "-", input=text)
    assert result == {
        "events": 3,
        "deliveries": 5,
        "held": 0,
        "jobs": 0,
        "jobs_held": 0,
        "job_kinds": {},
        "orgs": ["acme", "globex"],
    }
    counts = dict(sql(cli.db_url, "SELECT webhook_id, COUNT(*) FROM webhook_delivery GROUP BY webhook_id"))
    assert counts == {hooks["all"]: 2, hooks["ended"]: 1, hooks["summary"]: 1, other: 1}

    # Without --org every line must name its org.
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(dict(lines[0], org="acme")) + "\n")
    assert cli.ok("events", "emit", "--jsonl", str(path))["events"] == 1
    ran = cli("--org", "acme", "events", "emit", "--jsonl", str(path))
    assert ran.exit_code == 0 and ran.stderr.endswith("emitted 1 event → 2 deliveries\n")


@pytest.mark.parametrize(
    ("bad_line", "exit_code", "code", "fragment"),
    [
        ('{"type": "meeting.ended", "data": {}}', 2, "invalid_event", "line 3: meeting.ended: data is missing"),
        ('{"type": "nope", "data": {"meeting_id": "m"}}', 2, "unknown_event_type", "line 3: unknown event type"),
        ("{not json", 2, "invalid_json", "line 3 is not valid JSON"),
        ('["meeting.ended"]', 2, "invalid_event", "line 3: expected a JSON object"),
        ('{"type": "meeting.ended", "dat": {"meeting_id": "m"}}', 2, "invalid_event", "line 3: unknown field(s) 'dat'"),
        ('{"type": "meeting.ended", "data": {"meeting_id": "m"}, "org": "ghost"}', 3, "org_not_found", "line 3"),
    ],
)
def test_emit_jsonl_bad_line_writes_nothing(
    cli: Cli, hooks: dict[str, str], bad_line: str, exit_code: int, code: str, fragment: str
) -> None:
    good = json.dumps({"type": "meeting.ended", "data": {"meeting_id": "m"}})
    before, digest = rows(cli.db_url), file_digest(cli.db_url)
    err = cli.fails(exit_code, "--org", "acme", "events", "emit", "--jsonl", "-", input=f"{good}\n{good}\n{bad_line}\n")
    assert err["code"] == code, err
    assert fragment in err["message"], err
    assert rows(cli.db_url) == before
    assert file_digest(cli.db_url) == digest


def test_emit_jsonl_needs_an_org_per_line(cli: Cli, hooks: dict[str, str]) -> None:
    good = json.dumps({"type": "meeting.ended", "data": {"meeting_id": "m"}, "org": "acme"})
    orphan = json.dumps({"type": "meeting.ended", "data": {"meeting_id": "m"}})
    before = rows(cli.db_url)
    err = cli.fails(2, "events", "emit", "--jsonl", "-", input=f"{good}\n{orphan}\n")
    assert err["code"] == "org_required" and "line 2" in err["message"]
    assert cli.fails(2, "--org", "acme", "events", "emit", "--jsonl", "-", input="\n\n")["code"] == "empty_input"
    assert rows(cli.db_url) == before


def test_list_and_show(cli: Cli, hooks: dict[str, str]) -> None:
    first = emit(cli, "meeting.ended", {"meeting_id": "1"})
    second = emit(cli, "summary.ready", {"meeting_id": "2"})
    third = emit(cli, "meeting.ended", {"meeting_id": "3"})
    sql(cli.db_url, "UPDATE event SET created_at = :at WHERE id = :id", at=datetime(2020, 1, 1), id=first["id"])

    listed = cli.ok("--org", "acme", "events", "list")
    assert [e["id"] for e in listed] == [third["id"], second["id"], first["id"]]
    assert set(listed[0]) == EVENT_KEYS and listed[0]["data"] == {"meeting_id": "3"}
    assert [e["id"] for e in cli.ok("--org", "acme", "events", "list", "--type", "meeting.ended")] == [
        third["id"], first["id"],
    ]  # fmt: skip
    assert [e["id"] for e in cli.ok("--org", "acme", "events", "list", "--since", "1d")] == [third["id"], second["id"]]
    assert [e["id"] for e in cli.ok("--org", "acme", "events", "list", "--limit", "1")] == [third["id"]]
    assert cli.fails(2, "--org", "acme", "events", "list", "--type", "meeting.endd")["code"] == "unknown_event_type"

    ran = cli("--org", "acme", "events", "list", "--jsonl")
    assert ran.exit_code == 0
    assert [json.loads(line)["id"] for line in ran.stdout.splitlines()] == [third["id"], second["id"], first["id"]]
    ran = cli("--org", "acme", "events", "list")
    assert ran.exit_code == 0 and second["id"] in ran.stdout and "summary.ready" in ran.stdout

    shown = cli.ok("--org", "acme", "events", "show", third["id"])
    assert set(shown) == EVENT_KEYS | {"deliveries"}
    assert {d["webhook_id"] for d in shown["deliveries"]} == {hooks["all"], hooks["ended"]}
    assert all(set(d) == DELIVERY_KEYS and d["event_type"] == "meeting.ended" for d in shown["deliveries"])
    set_delivery(cli.db_url, shown["deliveries"][0]["id"], status="failed")
    assert cli.ok("--org", "acme", "events", "show", third["id"])["deliveries"][0]["status"] == "failed"
    ran = cli("--org", "acme", "events", "show", third["id"])
    assert ran.exit_code == 0 and hooks["all"] in ran.stdout and "deliveries" in ran.stdout

    err = cli.fails(3, "--org", "acme", "events", "show", "evt_01JD3Q8Z4W6X7Y8Z9A0B1C2D3E")
    assert err["code"] == "event_not_found"
    assert cli.fails(2, "--org", "acme", "events", "show", "wh_01JD3Q8Z4W6X7Y8Z9A0B1C2D3E")["code"] == "invalid_id"


def test_events_without_org(cli: Cli, org: dict[str, Any]) -> None:
    assert cli.fails(2, "events", "list")["code"] == "org_required"
    assert cli.fails(2, "events", "emit", "meeting.ended", "--data", '{"meeting_id": "m"}')["code"] == "org_required"
    assert cli.ok("--org", "acme", "events", "list") == []


# ---------------------------------------------------------------------------------------------
# Integration jobs queued by an emit are reported (Slack auto-send, HubSpot auto-sync)
# ---------------------------------------------------------------------------------------------


def _hold(db_url: str, org_id: str, kind: str) -> None:
    engine = sa.create_engine(normalize_url(db_url))
    try:
        with engine.begin() as conn:
            qjobs.hold(conn, org_id, kind, reason="test", now=utcnow())
    finally:
        engine.dispose()


def test_emit_reports_the_jobs_it_queued(cli: Cli, org: dict[str, Any]) -> None:
    # What `slack settings --channel C0GENERAL1 --auto-send` writes.
    cli.ok(
        "--org", "acme", "jobs", "rules", "set", "slack.summary", "--events", "summary.ready", "--target", "C0GENERAL1"
    )
    event = emit(cli, "summary.ready", {"meeting_id": "m-123"})
    assert set(event) == EVENT_KEYS | {"deliveries", "jobs"}
    assert event["deliveries"] == []
    [job] = event["jobs"]
    assert job["id"].startswith("msg_")
    assert job == {"id": job["id"], "kind": "slack.summary", "target": "C0GENERAL1", "status": "pending"}
    [stored] = sql(
        cli.db_url, "SELECT id, kind, target, status FROM webhook_delivery WHERE event_id = :e", e=event["id"]
    )
    assert tuple(stored) == (job["id"], "slack.summary", "C0GENERAL1", "pending")
    # No rule for this type: nothing queued, and the line says nothing of jobs.
    assert emit(cli, "meeting.ended", {"meeting_id": "m-123"})["jobs"] == []

    ran = cli("--org", "acme", "events", "emit", "summary.ready", "--data", '{"meeting_id": "m-123"}')
    assert ran.exit_code == 0
    assert ran.stderr.endswith("(summary.ready) → 0 deliveries, 1 job (slack.summary)\n"), ran.stderr
    ran = cli("--org", "acme", "events", "emit", "meeting.ended", "--data", '{"meeting_id": "m-123"}')
    assert ran.exit_code == 0 and ran.stderr.endswith("(meeting.ended) → 0 deliveries\n"), ran.stderr

    # Two targets, then held (the connection broke): still reported, with the hold.
    cli.ok(
        "--org", "acme", "jobs", "rules", "set", "slack.summary", "--events", "summary.ready",
        "--target", "C0GENERAL1", "--target", "C0RANDOM22",
    )  # fmt: skip
    _hold(cli.db_url, org["id"], "slack.summary")
    held = emit(cli, "summary.ready", {"meeting_id": "m-123"})
    assert [(j["kind"], j["target"], j["status"]) for j in held["jobs"]] == [
        ("slack.summary", "C0GENERAL1", "held"),
        ("slack.summary", "C0RANDOM22", "held"),
    ]
    ran = cli("--org", "acme", "events", "emit", "summary.ready", "--data", '{"meeting_id": "m-123"}')
    assert ran.stderr.endswith("(summary.ready) → 0 deliveries, 2 jobs (slack.summary; 2 held)\n"), ran.stderr


def test_emit_jsonl_reports_the_jobs_it_queued(cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    allow_loopback(monkeypatch)
    create_webhook(cli, "http://127.0.0.1:9/all", "*")
    cli.ok(
        "--org", "acme", "jobs", "rules", "set", "slack.summary", "--events", "summary.ready", "--target", "C0GENERAL1"
    )
    cli.ok(
        "--org", "acme", "jobs", "rules", "set", "hubspot.sync", "--events", "summary.ready,action_items.ready",
        "--target", "portal-42",
    )  # fmt: skip
    lines = [
        {"type": "summary.ready", "data": {"meeting_id": "a"}},
        {"type": "action_items.ready", "data": {"meeting_id": "a"}},
        {"type": "meeting.ended", "data": {"meeting_id": "a"}},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n"
    result = cli.ok("--org", "acme", "events", "emit", "--jsonl", "-", input=text)
    assert result == {
        "events": 3,
        "deliveries": 3,
        "held": 0,
        "jobs": 3,
        "jobs_held": 0,
        "job_kinds": {"hubspot.sync": 2, "slack.summary": 1},
        "orgs": ["acme"],
    }
    ran = cli("--org", "acme", "events", "emit", "--jsonl", "-", input=text)
    assert ran.exit_code == 0
    assert ran.stderr.endswith("emitted 3 events → 3 deliveries, 3 jobs (2 hubspot.sync, 1 slack.summary)\n"), (
        ran.stderr
    )
    _hold(cli.db_url, org["id"], "hubspot.sync")
    result = cli.ok("--org", "acme", "events", "emit", "--jsonl", "-", input=json.dumps(lines[1]))
    assert (result["jobs"], result["jobs_held"], result["job_kinds"]) == (1, 1, {"hubspot.sync": 1})
    ran = cli("--org", "acme", "events", "emit", "--jsonl", "-", input=json.dumps(lines[1]))
    assert ran.stderr.endswith("emitted 1 event → 1 delivery, 1 job (hubspot.sync; 1 held)\n"), ran.stderr
