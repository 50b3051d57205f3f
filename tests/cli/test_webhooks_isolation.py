"""Org isolation: another organization's webhook, delivery or event is *not found*, even by
its exact ID, and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cli._webhooks_support import LOOPBACK_URL, allow_loopback, create_webhook, emit, set_delivery, sql
from tests.conftest import Cli
from tests.support.snapshot import rows


@pytest.fixture
def two_orgs(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    allow_loopback(monkeypatch)
    cli.ok("orgs", "create", "acme")
    cli.ok("orgs", "create", "globex")
    mine = create_webhook(cli, LOOPBACK_URL, "*", org="acme")
    theirs = create_webhook(cli, LOOPBACK_URL, "*", org="globex")
    event = emit(cli, org="globex")
    [delivery] = event["deliveries"]
    set_delivery(cli.db_url, delivery["id"], status="failed")
    sql(
        cli.db_url,
        "INSERT INTO delivery_attempt (id, delivery_id, webhook_id, attempt_number, trigger, attempted_at, "
        "duration_ms, status_code) VALUES ('att_x', :d, :w, 1, 'scheduled', CURRENT_TIMESTAMP, 12, 500)",
        d=delivery["id"],
        w=theirs["id"],
    )
    return {"mine": mine, "theirs": theirs, "event": event, "delivery": delivery["id"]}


WEBHOOK_COMMANDS = [
    ["show"],
    ["show", "--show-secret"],
    ["update", "--name", "stolen"],
    ["update", "--url", "http://127.0.0.1:9/evil"],
    ["delete", "--force"],
    ["enable"],
    ["disable"],
    ["rotate-secret"],
    ["test"],
    ["deliveries"],
    ["stats"],
    ["replay", "--since", "1h", "--status", "all"],
]


@pytest.mark.parametrize("command", WEBHOOK_COMMANDS, ids=lambda c: " ".join(c))
def test_other_orgs_webhook_is_not_found(cli: Cli, two_orgs: dict[str, Any], command: list[str]) -> None:
    before = rows(cli.db_url)
    name, *rest = command
    err = cli.fails(3, "--org", "acme", "webhooks", name, two_orgs["theirs"]["id"], *rest)
    assert err["code"] == "webhook_not_found"
    assert rows(cli.db_url) == before


@pytest.mark.parametrize("command", [["retry"], ["retry", "--force"], ["attempts"]])
def test_other_orgs_delivery_is_not_found(cli: Cli, two_orgs: dict[str, Any], command: list[str]) -> None:
    before = rows(cli.db_url)
    err = cli.fails(3, "--org", "acme", "webhooks", *command, two_orgs["delivery"])
    assert err["code"] == "delivery_not_found"
    assert rows(cli.db_url) == before
    # The owner sees it.
    assert cli.ok("--org", "globex", "webhooks", "attempts", two_orgs["delivery"])[0]["status_code"] == 500


def test_lists_are_per_org(cli: Cli, two_orgs: dict[str, Any]) -> None:
    assert [w["id"] for w in cli.ok("--org", "acme", "webhooks", "list")] == [two_orgs["mine"]["id"]]
    assert [w["id"] for w in cli.ok("--org", "globex", "webhooks", "list")] == [two_orgs["theirs"]["id"]]
    assert cli.ok("--org", "acme", "events", "list") == []
    assert [e["id"] for e in cli.ok("--org", "globex", "events", "list")] == [two_orgs["event"]["id"]]


def test_other_orgs_event_is_not_found(cli: Cli, two_orgs: dict[str, Any]) -> None:
    err = cli.fails(3, "--org", "acme", "events", "show", two_orgs["event"]["id"])
    assert err["code"] == "event_not_found"
    assert cli.ok("--org", "globex", "events", "show", two_orgs["event"]["id"])["type"] == "meeting.ended"


def test_emit_reaches_only_the_orgs_own_webhooks(cli: Cli, two_orgs: dict[str, Any]) -> None:
    event = emit(cli, org="acme")
    assert [d["webhook_id"] for d in event["deliveries"]] == [two_orgs["mine"]["id"]]
    lines = "\n".join(json.dumps({"type": "meeting.ended", "data": {"meeting_id": str(i)}}) for i in range(3))
    result = cli.ok("--org", "acme", "events", "emit", "--jsonl", "-", input=lines)
    assert (result["deliveries"], result["orgs"]) == (3, ["acme"])
    theirs = sql(cli.db_url, "SELECT COUNT(*) FROM webhook_delivery WHERE webhook_id = :w", w=two_orgs["theirs"]["id"])
    assert theirs[0][0] == 1  # only the fixture's own globex event


def test_same_name_in_two_orgs_resolves_within_the_org(cli: Cli, two_orgs: dict[str, Any]) -> None:
    # Both webhooks are named after their host; by name each org finds its own.
    assert cli.ok("--org", "acme", "webhooks", "show", "127.0.0.1")["id"] == two_orgs["mine"]["id"]
    assert cli.ok("--org", "globex", "webhooks", "show", "127.0.0.1")["id"] == two_orgs["theirs"]["id"]
