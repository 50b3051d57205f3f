"""Every input path refuses what it cannot store or send: exit 2 with the position, store
unchanged (issue 8, fault 4).

Paths: `events emit --data` (inline, @file, stdin), `events emit --jsonl` (file, stdin),
`meetings import` (file, stdin), `webhooks create --header`, `webhooks verify --headers-file`
and any command-line argument holding bytes that are not UTF-8.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli._webhooks_support import PUBLIC_URL
from tests.conftest import Cli
from tests.support.snapshot import rows

DEEP = "[" * 40_000  # 40 KB of nesting: once a RecursionError, exit 1
NESTED_65 = '{"meeting_id": "m", "x": ' + "[" * 64 + "]" * 64 + "}"  # 65 levels with the object


@pytest.fixture
def subscribed(cli: Cli, org: dict[str, Any]) -> dict[str, Any]:
    """An org with a webhook taking every event, so a wrongly accepted event would write rows."""
    return cli.ok("--org", "acme", "webhooks", "create", "--url", PUBLIC_URL, "--events", "*")


def _refused(cli: Cli, code: str, *args: str, input: str | bytes | None = None) -> dict[str, Any]:
    """Run, expect exit 2 with ``code``, and prove that nothing in the database changed."""
    before = rows(cli.db_url)
    err = cli.fails(2, *args, input=input)
    assert err["code"] == code, err
    assert rows(cli.db_url) == before
    return err


# -- events emit --data ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        (
            '{"meeting_id":"\\udc00"}',
            "invalid_encoding",
            "event data has a string with a lone surrogate (\\ud800-\\udfff not in a pair) at line 1 column 15",
        ),
        (DEEP, "json_too_deep", "event data is nested deeper than 64 levels at line 1 column 65"),
        (NESTED_65, "json_too_deep", "event data is nested deeper than 64 levels at line 1 column 89"),
        ('{"meeting_id": "m", "n": NaN}', "invalid_json", "event data is not valid JSON: NaN is not a JSON number"),
        ('{"meeting_id": "m", "n": 1e999}', "invalid_json", "event data is not valid JSON: number 1e999 is out"),
        ('{"meeting_id": \n "m",}', "invalid_json", "event data is not valid JSON: Expecting property name"),
    ],
)
def test_emit_data_refused_inline(subscribed: dict[str, Any], cli: Cli, data: str, code: str, message: str) -> None:
    err = _refused(cli, code, "--org", "acme", "events", "emit", "meeting.ended", "--data", data)
    assert err["message"].startswith(message)


def test_emit_data_refused_from_a_file_and_stdin(subscribed: dict[str, Any], cli: Cli, tmp_path: Path) -> None:
    bad_utf8 = tmp_path / "bad.json"
    bad_utf8.write_bytes(b'{"meeting_id": "m\xff"}')
    err = _refused(
        cli, "invalid_encoding", "--org", "acme", "events", "emit", "meeting.ended", "--data", f"@{bad_utf8}"
    )
    assert err["message"] == "event data is not UTF-8 (byte 0xff at offset 17)"

    err = _refused(cli, "json_too_deep", "--org", "acme", "events", "emit", "meeting.ended", "--data", "-", input=DEEP)
    assert err["message"] == "event data is nested deeper than 64 levels at line 1 column 65"

    err = _refused(
        cli,
        "invalid_encoding",
        "--org",
        "acme",
        "events",
        "emit",
        "meeting.ended",
        "--data",
        "-",
        input=b'{"meeting_id": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 (CESU): not UTF-8
    )
    assert err["message"] == "event data is not UTF-8 (byte 0xed at offset 16)"


def test_emit_accepts_the_depth_limit_and_the_worker_can_send_it(subscribed: dict[str, Any], cli: Cli) -> None:
    """The limit is inclusive, and what emit accepts serialises for a delivery body."""
    from zigznote.timeutil import parse_timestamp
    from zigznote.webhooks.envelope import body_bytes

    at_limit = '{"meeting_id": "m", "x": ' + "[" * 63 + "]" * 63 + "}"
    event = cli.ok("--org", "acme", "events", "emit", "meeting.ended", "--data", at_limit)
    assert len(event["deliveries"]) == 1
    stored = cli.ok("--org", "acme", "events", "show", event["id"])
    assert stored["data"] == json.loads(at_limit)
    created = parse_timestamp(stored["created_at"])
    body = body_bytes(event["id"], "meeting.ended", created, stored["org_id"], stored["data"])  # no ValueError
    assert json.loads(body)["data"] == json.loads(at_limit)


# -- events emit --jsonl --------------------------------------------------------------------


def test_emit_jsonl_refuses_a_bad_line_and_writes_nothing(subscribed: dict[str, Any], cli: Cli, tmp_path: Path) -> None:
    good = json.dumps({"type": "meeting.ended", "data": {"meeting_id": "m"}})
    lines = [good, '{"type": "meeting.ended", "data": {"meeting_id": "\\udfff"}}', good]
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n")
    err = _refused(cli, "invalid_encoding", "--org", "acme", "events", "emit", "--jsonl", str(source))
    assert err["message"].startswith("event input line 2 has a string with a lone surrogate")
    assert err["message"].endswith("at line 1 column 50")

    deep = "\n".join([good, good, '{"type": "meeting.ended", "data": ' + "[" * 100 + "]" * 100 + "}"])
    err = _refused(cli, "json_too_deep", "--org", "acme", "events", "emit", "--jsonl", "-", input=deep)
    assert err["message"] == "event input line 3 is nested deeper than 64 levels at line 1 column 98"

    err = _refused(cli, "invalid_encoding", "--org", "acme", "events", "emit", "--jsonl", "-", input=b"\n\n\xc0\n")
    assert err["message"] == "event input is not UTF-8 (byte 0xc0 at offset 2)"


def test_emit_jsonl_keeps_u2028_inside_a_line(subscribed: dict[str, Any], cli: Cli) -> None:
    """JSON Lines are split on newlines only: U+2028 inside a string is text, not a line break."""
    line = json.dumps({"type": "meeting.ended", "data": {"meeting_id": "a\u2028b\x85c"}}, ensure_ascii=False)
    assert cli.ok("--org", "acme", "events", "emit", "--jsonl", "-", input=line.encode())["events"] == 1
    [event] = cli.ok("--org", "acme", "events", "list")
    assert event["data"]["meeting_id"] == "a\u2028b\x85c"


# -- meetings import ------------------------------------------------------------------------


def test_meetings_import_refuses_bad_unicode_and_depth(cli: Cli, org: dict[str, Any], tmp_path: Path) -> None:
    record = {"external_id": "m1", "title": "t", "started_at": "2026-11-01T10:00:00Z"}
    source = tmp_path / "meetings.json"
    source.write_bytes(json.dumps([record]).encode()[:-2] + b', "\xfe"]')
    err = _refused(cli, "invalid_encoding", "--org", "acme", "meetings", "import", str(source))
    assert err["message"] == f"meeting input is not UTF-8 (byte 0xfe at offset {source.stat().st_size - 3})"

    titled = json.dumps({**record, "title": "x"}).replace('"x"', '"\\ud800"')
    err = _refused(cli, "invalid_encoding", "--org", "acme", "meetings", "import", "-", input=titled)
    assert err["message"].startswith("meeting input has a string with a lone surrogate")

    lines = "\n".join([json.dumps(record), json.dumps({**record, "summary": "s"}).replace('"s"', "[" * 80)])
    err = _refused(cli, "json_too_deep", "--org", "acme", "meetings", "import", "-", input=lines)
    assert err["message"] == "meeting input is nested deeper than 64 levels at line 2 column 149"

    err = _refused(cli, "json_too_deep", "--org", "acme", "meetings", "import", "-", input=DEEP)
    assert err["message"] == "meeting input is nested deeper than 64 levels at line 1 column 65"


# -- arguments: headers, names, any option ---------------------------------------------------


def test_undecodable_argument_bytes_are_refused(cli: Cli, org: dict[str, Any]) -> None:
    # Python hands the argument bytes b"X-Team: \xff" to the program as "X-Team: \udcff".
    err = _refused(
        cli,
        "invalid_encoding",
        "--org",
        "acme",
        "webhooks",
        "create",
        "--url",
        PUBLIC_URL,
        "--events",
        "*",
        "--header",
        "X-Team: \udcff",
    )
    assert err["message"] == (
        "command-line argument 13 ('X-Team: \\udcff') contains byte 0xff that is not UTF-8 at character 8"
    )
    err = _refused(cli, "invalid_encoding", "--org", "acme\udce9", "orgs", "list")
    assert "contains byte 0xe9 that is not UTF-8" in err["message"]
    ran = cli("--org", "acme", "events", "emit", "meeting.ended", "--data", '{"meeting_id": "\udcff"}')
    assert ran.exit_code == 2
    assert ran.stderr.startswith("error: command-line argument 9 (")


def test_verify_headers_file_json_is_parsed_safely(cli: Cli, tmp_path: Path) -> None:
    headers = tmp_path / "headers.json"
    headers.write_text('{"webhook-id": ' + "[" * 1000)
    body = tmp_path / "body"
    body.write_bytes(b"{}")
    err = cli.fails(
        2,
        "webhooks",
        "verify",
        "--secret",
        "whsec_" + "A" * 44,
        "--headers-file",
        str(headers),
        "--body-file",
        str(body),
    )
    assert (err["code"], err["message"]) == (
        "json_too_deep",
        "headers file is nested deeper than 64 levels at line 1 column 79",
    )


def test_undecodable_environment_is_a_configuration_error(
    cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ZIGZNOTE_ORG=$'ac\\xffme' used to crash (exit 1) deep in the SQL driver."""
    monkeypatch.setenv("ZIGZNOTE_ORG", "ac\udcffme")
    before = rows(cli.db_url)
    err = cli.fails(6, "webhooks", "list")
    assert err == {
        "code": "invalid_encoding",
        "message": "environment variable ZIGZNOTE_ORG contains byte 0xff that is not UTF-8 at character 2",
        "hint": "set ZIGZNOTE_ORG to UTF-8 text, or unset it",
    }
    assert rows(cli.db_url) == before


def test_nul_in_stored_text_fields_is_refused_on_both_databases(cli: Cli, org: dict[str, Any]) -> None:
    """Postgres text cannot hold NUL: a meeting title or an org reference with one crashed (exit 1)."""
    record = {"external_id": "m1", "title": "a\x00b", "started_at": "2026-11-01T10:00:00Z"}
    err = _refused(cli, "invalid_meeting", "--org", "acme", "meetings", "import", "-", input=json.dumps(record))
    assert err["message"] == (
        "meeting input record 1: field 'title' contains a NUL character (\\u0000), which cannot be stored"
    )
    nested = {**record, "title": "ok", "participants": [{"name": "x\x00", "email": "x@example.com"}]}
    err = _refused(cli, "invalid_meeting", "--org", "acme", "meetings", "import", "-", input=json.dumps([nested]))
    assert "field 'participants[0].name' contains a NUL character" in err["message"]

    line = json.dumps({"type": "meeting.ended", "data": {"meeting_id": "m"}, "org": "ac\x00me"})
    err = _refused(cli, "invalid_event", "events", "emit", "--jsonl", "-", input=line)
    assert err["message"] == "event input line 1: 'org' must be an organization slug or ID"


def test_nul_in_a_config_file_string_is_a_configuration_error(
    cli: Cli, org: dict[str, Any], env: dict[str, str]
) -> None:
    config = Path(env["XDG_CONFIG_HOME"]) / "zigznote" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('org = "ac\\u0000me"\n')
    before = rows(cli.db_url)
    err = cli.fails(6, "webhooks", "list")
    assert err == {
        "code": "invalid_setting",
        "message": "setting org (from file) contains a NUL character",
        "hint": f"fix org in {config}",
    }
    assert rows(cli.db_url) == before
