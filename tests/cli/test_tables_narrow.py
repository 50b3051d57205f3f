"""On an 80-column pipe, list tables never split an ID or a timestamp over lines (issue 8):
IDs and times stay whole, other columns fold, and when even that is too wide the layout turns
compact and the rightmost columns are left out, with a notice saying which."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli._webhooks_support import allow_loopback, create_webhook, emit
from tests.conftest import Cli
from tests.support.receiver import Receiver, Reply
from zigznote.delivery import handlers
from zigznote.delivery.queue import Claimed
from zigznote.delivery.result import AttemptResult

WIDTH = 80
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


JOB_KIND = "test.narrow"


async def _job_done(claim: Claimed) -> AttemptResult:
    return AttemptResult(200, None, 0)


@pytest.fixture
def job_kind() -> Iterator[str]:
    handlers.register(JOB_KIND, _job_done)
    yield JOB_KIND
    handlers.unregister(JOB_KIND)


@pytest.fixture
def populated(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, job_kind: str) -> dict[str, Any]:
    """One org with long names and URLs, webhooks with deliveries and attempts, integration
    jobs, meetings."""
    cli = Cli(f"sqlite:///{tmp_path / 'data' / 'zigznote' / 'zigznote.db'}")
    assert cli("db", "upgrade").exit_code == 0
    cli.ok("orgs", "create", "acme", "--name", "Acme Corporation International Holdings Limited")
    target = "#a-channel-with-a-rather-long-name-for-the-summaries"
    cli.ok("--org", "acme", "jobs", "rules", "set", job_kind, "--events", "meeting.ended", "--target", target)
    allow_loopback(monkeypatch)
    with Receiver() as receiver:
        receiver.set_default(Reply(status=500, body=b"upstream database unavailable, try later " * 4))
        hook = create_webhook(
            cli,
            receiver.url + "/a/rather/long/path/that/needs/folding/somewhere",
            "*",
            "--name",
            "the webhook with a long, long display name",
        )
        for i in range(3):
            emit(cli, data={"meeting_id": f"mtg-{i}", "title": "quarterly planning " * 3})
        test = cli.fails(5, "--org", "acme", "webhooks", "test", hook["id"])
    meetings = [
        {
            "external_id": f"ext-{i}-with-a-long-external-identifier-" + "x" * 100,  # text from outside: folds
            "title": "Weekly sync " * 5,
            "started_at": "2026-11-01T10:00:00.123456Z",
            "ended_at": "2026-11-01T11:00:00Z",
        }
        for i in range(2)
    ]
    cli.ok("--org", "acme", "meetings", "import", "-", input=json.dumps(meetings))
    delivery_id = test["hint"].split("attempts ")[1].split("`")[0]
    events = cli.ok("--org", "acme", "events", "list")
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    return {"cli": cli, "hook": hook["id"], "delivery": delivery_id, "event": events[0]["id"]}


Rows = Callable[[Any], list[dict[str, Any]]]


def _same(doc: Any) -> list[dict[str, Any]]:
    return list(doc)


# Per command: the table's ID and time columns as (key, label), first column first.
DELIVERIES = [("id", "id"), ("next_attempt_at", "next attempt"), ("created_at", "created")]
CASES: list[tuple[str, tuple[str, ...], Rows, list[tuple[str, str]]]] = [
    ("orgs list", ("orgs", "list"), _same, [("id", "id"), ("created_at", "created")]),
    ("webhooks list", ("--org", "acme", "webhooks", "list"), _same, [("id", "id")]),
    ("webhooks deliveries", ("--org", "acme", "webhooks", "deliveries", "{hook}"), _same, DELIVERIES),
    ("webhooks attempts", ("--org", "acme", "webhooks", "attempts", "{delivery}"), _same, [("attempted_at", "time")]),
    ("events list", ("--org", "acme", "events", "list"), _same, [("id", "id"), ("created_at", "created")]),
    (
        "events show",
        ("--org", "acme", "events", "show", "{event}"),
        lambda doc: list(doc["deliveries"]),
        [("id", "delivery"), ("webhook_id", "webhook"), ("delivered_at", "delivered")],
    ),
    (
        "meetings list",
        ("--org", "acme", "meetings", "list"),
        _same,
        [("id", "id"), ("started_at", "started"), ("ended_at", "ended")],
    ),
    ("db history", ("db", "history"), _same, [("revision", "revision")]),
    ("jobs list", ("--org", "acme", "jobs", "list"), _same, DELIVERIES),
]


@pytest.mark.parametrize(("name", "argv", "rows_of", "columns"), CASES, ids=[c[0] for c in CASES])
def test_ids_and_times_are_never_split(
    populated: dict[str, Any],
    name: str,
    argv: tuple[str, ...],
    rows_of: Rows,
    columns: list[tuple[str, str]],
) -> None:
    cli: Cli = populated["cli"]
    args = tuple(a.format(**populated) for a in argv)
    rows = rows_of(cli.ok(*args))
    assert rows, f"{name}: nothing to show"
    ran = cli(*args)
    assert ran.exit_code == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert max(len(line) for line in lines) <= WIDTH, ran.stdout
    hidden = ran.stderr.split("not showing ", 1)[1].split(" (")[0].split(", ") if "not showing" in ran.stderr else []
    whole = 0
    for row in rows:
        for key, label in columns:
            value = row.get(key)
            if value is None:
                continue
            if label in hidden:
                assert key not in ("id", "revision"), f"{name}: the ID column was left out"
                continue
            forms = (value, re.sub(r"\.\d+Z$", "Z", value))
            assert any(any(f in line for f in forms) for line in lines), f"{name}: {key} {value} split:\n{ran.stdout}"
            whole += 1
    assert whole >= len(rows), f"{name}: no ID or time checked"


def test_a_wide_terminal_shows_every_column_boxed(populated: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    cli: Cli = populated["cli"]
    ran = cli("--org", "acme", "webhooks", "deliveries", populated["hook"])
    assert ran.exit_code == 0 and ran.stderr == ""
    assert ran.stdout.splitlines()[0].startswith("┏")
    for label in ("id", "event", "status", "attempts", "last code", "next attempt", "created"):
        assert label in ran.stdout


def test_narrow_says_which_columns_it_left_out(populated: dict[str, Any]) -> None:
    cli: Cli = populated["cli"]
    ran = cli("--org", "acme", "webhooks", "deliveries", populated["hook"])
    assert ran.exit_code == 0
    assert ran.stderr == (
        "80 columns wide: not showing next attempt, created (widen the terminal, set COLUMNS, or use --json)\n"
    )
    header = ran.stdout.splitlines()[0].split()
    assert header == ["id", "event", "status", "attempts", "last", "code"]


def test_jobs_list_keeps_kinds_and_targets_whole(
    cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newcomer's Slack auto-send job on an 80-column pipe: ID, kind and target whole (they
    were `slack.s`/`ummary` and `C0GENER`/`AL1`), status and attempts before the event type."""
    cli.ok(
        "--org", "acme", "jobs", "rules", "set", "slack.summary", "--events", "summary.ready", "--target", "C0GENERAL1"
    )
    emitted = cli.ok("--org", "acme", "events", "emit", "summary.ready", "--data", '{"meeting_id": "m-123"}')
    [job] = emitted["jobs"]
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    ran = cli("--org", "acme", "jobs", "list")
    assert ran.exit_code == 0
    assert ran.stdout == (
        "id                              kind           target      status   attempts\n"
        "────────────────────────────────────────────────────────────────────────────\n"
        f"{job['id']}  slack.summary  C0GENERAL1  pending  0       \n"
    )
    assert ran.stderr == (
        "80 columns wide: not showing event, last code, next attempt, created "
        "(widen the terminal, set COLUMNS, or use --json)\n"
    )


def test_a_text_column_folds_between_words_and_is_shown_when_it_can_be(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Words stay whole while the room allows; when it does not, the column is still shown
    (at least 8 characters), folding its longer words, rather than left out."""
    from zigznote.cli._output import Output

    rows = [
        {"id": "wh_01M8NV2S6G0XBDD9A9ZN0TP5CY", "kind": "slack.summary", "note": "an uncharacteristically long note"}
    ]
    columns = [("id", "id"), ("kind", "kind"), ("note", "note")]
    monkeypatch.setenv("COLUMNS", "72")
    Output().items(rows, columns)
    assert capsys.readouterr().out == (
        "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━┓\n"
        "┃ id                            ┃ kind          ┃ note                 ┃\n"
        "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━┩\n"
        "│ wh_01M8NV2S6G0XBDD9A9ZN0TP5CY │ slack.summary │ an                   │\n"
        "│                               │               │ uncharacteristically │\n"
        "│                               │               │ long note            │\n"
        "└───────────────────────────────┴───────────────┴──────────────────────┘\n"
    )
    monkeypatch.setenv("COLUMNS", "60")
    Output().items(rows, columns)
    assert capsys.readouterr().out == (
        "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━┓\n"
        "┃ id                            ┃ kind          ┃ note     ┃\n"
        "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━┩\n"
        "│ wh_01M8NV2S6G0XBDD9A9ZN0TP5CY │ slack.summary │ an       │\n"
        "│                               │               │ uncharac │\n"
        "│                               │               │ teristic │\n"
        "│                               │               │ ally     │\n"
        "│                               │               │ long     │\n"
        "│                               │               │ note     │\n"
        "└───────────────────────────────┴───────────────┴──────────┘\n"
    )
