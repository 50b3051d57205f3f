from __future__ import annotations

import json
from typing import Any

from tests.conftest import Cli
from tests.support.snapshot import file_digest, rows

M1 = {
    "external_id": "m1",
    "title": "Kickoff",
    "started_at": "2026-11-20T10:00:00Z",
    "ended_at": "2026-11-20T11:00:00+01:00",
    "participants": [{"name": "Ann", "email": "Ann@Example.com"}],
    "summary": "We agreed on the plan.",
    "action_items": [{"text": "Send deck", "assignee_email": "ann@example.com", "due": "2026-11-27"}],
    "url": "https://meet.example.com/m1",
}
M2 = {"external_id": "m2", "title": "Retro", "started_at": "2026-11-21T09:00:00Z"}


def test_import_object_array_and_jsonl(cli: Cli, org: dict[str, Any]) -> None:
    one = cli.ok("--org", "acme", "meetings", "import", "-", input=json.dumps(M1))
    assert (one["created"], one["updated"]) == (1, 0)
    both = cli.ok("--org", "acme", "meetings", "import", "-", input=json.dumps([M1, M2]))
    assert (both["created"], both["updated"]) == (1, 1)
    again = cli.ok("--org", "acme", "meetings", "import", "-", input=json.dumps(M1) + "\n" + json.dumps(M2) + "\n")
    assert (again["created"], again["updated"]) == (0, 2)
    listed = cli.ok("--org", "acme", "meetings", "list")
    assert [m["external_id"] for m in listed] == ["m2", "m1"]  # newest first


def test_show_normalises_fields(cli: Cli, org: dict[str, Any]) -> None:
    cli.ok("--org", "acme", "meetings", "import", "-", input=json.dumps(M1))
    shown = cli.ok("--org", "acme", "meetings", "show", "m1")
    assert shown["ended_at"] == "2026-11-20T10:00:00Z"  # +01:00 converted to UTC
    assert shown["participants"] == [{"name": "Ann", "email": "ann@example.com"}]
    assert shown["action_items"] == [
        {"text": "Send deck", "assignee_email": "ann@example.com", "due": "2026-11-27T00:00:00Z"}
    ]
    assert cli.ok("--org", "acme", "meetings", "show", shown["id"]) == shown


def test_import_from_file(cli: Cli, org: dict[str, Any], tmp_path: Any) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps([M1, M2]))
    assert cli.ok("--org", "acme", "meetings", "import", str(path))["created"] == 2
    err = cli.fails(2, "--org", "acme", "meetings", "import", str(tmp_path / "missing.json"))
    assert err["code"] == "file_not_found"


def _assert_rejected(cli: Cli, data: str | bytes, code: str, fragment: str) -> None:
    before, digest = rows(cli.db_url), file_digest(cli.db_url)
    err = cli.fails(2, "--org", "acme", "meetings", "import", "-", input=data)
    assert err["code"] == code, err
    assert fragment in err["message"], err
    assert rows(cli.db_url) == before
    assert file_digest(cli.db_url) == digest


def test_bad_record_names_its_line_and_writes_nothing(cli: Cli, org: dict[str, Any]) -> None:
    bad = dict(M2, external_id="m3", started_at="yesterday")
    data = json.dumps(M1) + "\n" + json.dumps(M2) + "\n" + json.dumps(bad) + "\n"
    _assert_rejected(cli, data, "invalid_meeting", "line 3")
    assert cli.ok("--org", "acme", "meetings", "list") == []


def test_bad_array_item_names_its_index(cli: Cli, org: dict[str, Any]) -> None:
    _assert_rejected(
        cli,
        json.dumps([M1, {"title": "no id", "started_at": "2026-11-01"}]),
        "invalid_meeting",
        "index 1: missing required field 'external_id'",
    )


def test_malformed_inputs(cli: Cli, org: dict[str, Any]) -> None:
    _assert_rejected(cli, "{not json", "invalid_json", "not valid JSON")
    _assert_rejected(cli, json.dumps(M1) + "\n{broken\n", "invalid_json", "line 2")
    _assert_rejected(cli, b"\xff\xfe{}", "invalid_encoding", "not UTF-8")
    _assert_rejected(cli, "", "empty_input", "empty")
    _assert_rejected(cli, json.dumps(dict(M1, colour="red")), "invalid_meeting", "unknown field")
    _assert_rejected(cli, json.dumps(dict(M1, ended_at="2026-11-20T09:00:00Z")), "invalid_meeting", "before started_at")
    _assert_rejected(
        cli, json.dumps(dict(M1, participants=[{"name": "x", "email": "nope"}])), "invalid_meeting", "not an email"
    )


def test_an_unknown_meeting_says_how_to_list_and_import_them(cli: Cli, org: dict[str, Any]) -> None:
    assert cli.fails(3, "--org", org["id"], "meetings", "show", "m-404") == {
        "code": "meeting_not_found",
        "message": "meeting 'm-404' not found in this organization",
        "hint": "`zigznote --org acme meetings list` shows them; `meetings import` adds them",
    }
    ran = cli("--org", "acme", "meetings", "show", "m-404")
    assert (ran.exit_code, ran.stderr) == (
        3,
        "error: meeting 'm-404' not found in this organization\n"
        "hint: `zigznote --org acme meetings list` shows them; `meetings import` adds them\n",
    )


def test_org_is_required(cli: Cli) -> None:
    err = cli.fails(2, "meetings", "list")
    assert err["code"] == "org_required"


def test_org_isolation(cli: Cli) -> None:
    cli.ok("orgs", "create", "a")
    cli.ok("orgs", "create", "b")
    cli.ok("--org", "b", "meetings", "import", "-", input=json.dumps(M1))
    b_meeting = cli.ok("--org", "b", "meetings", "show", "m1")
    assert cli.ok("--org", "a", "meetings", "list") == []
    for ref in (b_meeting["id"], "m1"):
        assert cli.fails(3, "--org", "a", "meetings", "show", ref)["code"] == "meeting_not_found"
    # importing the same external_id under org a creates a separate meeting
    assert cli.ok("--org", "a", "meetings", "import", "-", input=json.dumps(M1))["created"] == 1
    assert cli.ok("--org", "b", "meetings", "show", "m1") == b_meeting
