"""The output contract: one JSON document on stdout, errors on stderr, no colour codes in pipes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Cli, Ran

ANSI = "\x1b["


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _boom(*_: object, **__: object) -> None:
    raise RuntimeError("kaboom")


# Each case: (name, expected exit code, expected error code or None, setup, argv).
# `setup(cli, monkeypatch)` prepares the situation and may return another Cli to run against.
Setup = Callable[[Cli, pytest.MonkeyPatch], Cli | None]


def _nothing(cli: Cli, mp: pytest.MonkeyPatch) -> None:
    return None


def _duplicate(cli: Cli, mp: pytest.MonkeyPatch) -> None:
    cli.ok("orgs", "create", "acme")


def _bad_env(cli: Cli, mp: pytest.MonkeyPatch) -> None:
    mp.setenv("ZIGZNOTE_DISABLE_AFTER", "zero")


def _no_key(cli: Cli, mp: pytest.MonkeyPatch) -> None:
    mp.delenv("ZIGZNOTE_MASTER_KEY")


def _no_schema(cli: Cli, mp: pytest.MonkeyPatch) -> Cli:
    return Cli(f"sqlite:///{Path(cli.db_url.removeprefix('sqlite:///')).with_name('empty.db')}")


def _unreachable(cli: Cli, mp: pytest.MonkeyPatch) -> Cli:
    return Cli(f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/test")


def _bug(cli: Cli, mp: pytest.MonkeyPatch) -> None:
    mp.setattr("zigznote.services.orgs.list_orgs", _boom)


def _interrupt(cli: Cli, mp: pytest.MonkeyPatch) -> None:
    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    mp.setattr("zigznote.services.orgs.list_orgs", interrupted)


CASES: list[tuple[str, int, str | None, Setup, tuple[str, ...]]] = [
    ("not found", 3, "org_not_found", _nothing, ("orgs", "show", "nope")),
    ("invalid input", 2, "invalid_slug", _nothing, ("orgs", "create", "Not A Slug")),
    ("org required", 2, "org_required", _nothing, ("meetings", "list")),
    ("conflict", 4, "duplicate_slug", _duplicate, ("orgs", "create", "acme")),
    ("bad setting", 6, "config_error", _bad_env, ("orgs", "list")),
    ("no master key", 6, "vault_error", _no_key, ("keys", "rotate")),
    ("no schema", 6, "schema_out_of_date", _no_schema, ("orgs", "list")),
    ("database unreachable", 5, "database_unavailable", _unreachable, ("orgs", "list")),
    ("bug", 1, "internal_error", _bug, ("orgs", "list")),
    ("interrupted", 130, "interrupted", _interrupt, ("orgs", "list")),
    ("unknown root option", 2, "usage_error", _nothing, ("--bogus", "orgs", "list")),
    ("unknown option", 2, "usage_error", _nothing, ("orgs", "list", "--nope")),
    ("unknown command", 2, "usage_error", _nothing, ("nosuch",)),
    ("missing argument", 2, "usage_error", _nothing, ("orgs", "show")),
]
USAGE = {"unknown root option", "unknown option", "unknown command", "missing argument"}
NOT_USAGE = [c for c in CASES if c[0] not in USAGE]


@pytest.fixture
def sqlite_cli(env: dict[str, str], tmp_path: Path) -> Cli:
    runner = Cli(f"sqlite:///{tmp_path / 'data' / 'zigznote' / 'zigznote.db'}")
    assert runner("db", "upgrade").exit_code == 0
    return runner


def _prepare(case: tuple[str, int, str | None, Setup, tuple[str, ...]], cli: Cli, mp: pytest.MonkeyPatch) -> Cli:
    return case[3](cli, mp) or cli


def _argv(json_flag: bool, args: tuple[str, ...]) -> list[str]:
    # --json is a root option: it goes before the command (and before --bogus).
    return [*(["--json"] if json_flag else []), *args]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_json_errors_are_one_line_on_stderr(
    case: tuple[str, int, str | None, Setup, tuple[str, ...]], sqlite_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, exit_code, code, _, args = case
    runner = _prepare(case, sqlite_cli, monkeypatch)
    ran = runner(*_argv(True, args))
    assert ran.exit_code == exit_code, ran.stderr
    assert ran.stdout == ""
    lines = ran.stderr.splitlines()
    assert len(lines) == 1, ran.stderr
    doc = json.loads(lines[0])
    assert list(doc) == ["error"]
    assert set(doc["error"]) == {"code", "message", "hint"}
    assert doc["error"]["code"] == code
    assert doc["error"]["message"] and "\n" not in doc["error"]["message"]
    assert "Traceback" not in ran.stderr
    if name == "bug":
        assert "bug" in doc["error"]["hint"] and "kaboom" in doc["error"]["message"]


@pytest.mark.parametrize("case", NOT_USAGE, ids=[c[0] for c in NOT_USAGE])
def test_human_errors_are_error_and_hint_lines(
    case: tuple[str, int, str | None, Setup, tuple[str, ...]], sqlite_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, exit_code, _, _, args = case
    runner = _prepare(case, sqlite_cli, monkeypatch)
    ran = runner(*_argv(False, args))
    assert ran.exit_code == exit_code
    assert ran.stdout == ""
    lines = ran.stderr.splitlines()
    if name == "interrupted":
        assert lines == ["interrupted"]
        return
    assert lines[0].startswith("error: ")
    assert len(lines) in (1, 2), ran.stderr
    if len(lines) == 2:
        assert lines[1].startswith("hint: ")
    assert "Traceback" not in ran.stderr
    assert ANSI not in ran.stderr


@pytest.mark.parametrize(
    ("args", "message", "command"),
    [
        (("--bogus", "orgs", "list"), "error: no such option: --bogus", "zigznote"),
        (("orgs", "list", "--nope"), "error: no such option: --nope", "zigznote orgs list"),
        (("orgs", "show"), "error: missing argument 'SLUG|ID'", "zigznote orgs show"),
        (("nosuch",), "error: no such command 'nosuch'", "zigznote"),
    ],
)
def test_human_usage_errors_exit_2(args: tuple[str, ...], message: str, command: str, sqlite_cli: Cli) -> None:
    """Typer's usage errors read like every other error: `error: …` then `hint: …`."""
    ran = sqlite_cli(*args)
    assert ran.exit_code == 2
    assert ran.stdout == ""
    lines = ran.stderr.splitlines()
    assert len(lines) == 2, ran.stderr
    assert lines[0].startswith(message)
    assert lines[1] == f"hint: run `{command} --help`"
    assert ANSI not in ran.stderr


def test_output_json_env_applies_to_usage_errors(sqlite_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIGZNOTE_OUTPUT", "json")
    for args in (("--bogus",), ("orgs", "list", "--nope")):
        ran = sqlite_cli(*args)
        assert ran.exit_code == 2 and ran.stdout == ""
        assert json.loads(ran.stderr)["error"]["code"] == "usage_error"


def test_a_bug_says_so_and_hides_the_traceback_unless_verbose(sqlite_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("zigznote.services.orgs.list_orgs", _boom)
    ran = sqlite_cli("orgs", "list")
    assert ran.exit_code == 1
    assert ran.stderr.splitlines() == [
        "error: unexpected error (RuntimeError): kaboom",
        "hint: this is a bug in zigznote; rerun with -v for the traceback and report it",
    ]
    verbose = sqlite_cli("-v", "orgs", "list")
    assert verbose.exit_code == 1
    assert "Traceback (most recent call last)" in verbose.stderr
    assert "RuntimeError: kaboom" in verbose.stderr
    assert verbose.stdout == ""


def test_help_without_arguments_still_shows_help(sqlite_cli: Cli) -> None:
    for args in (("orgs",), ("--json", "keys")):
        ran = sqlite_cli(*args)
        assert "Usage:" in ran.stdout + ran.stderr
        assert '"error"' not in ran.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("orgs", "list"),
        ("orgs", "show", "acme"),
        ("keys", "status"),
        ("keys", "generate"),
        ("config", "show"),
        ("status",),
        ("doctor",),
        ("db", "current"),
    ],
)
def test_json_stdout_is_exactly_one_document(args: tuple[str, ...], sqlite_cli: Cli) -> None:
    sqlite_cli.ok("orgs", "create", "acme")
    ran = sqlite_cli("--json", *args)
    assert ran.exit_code == 0, ran.stderr
    json.loads(ran.stdout)  # raises on prose or a second document
    assert ANSI not in ran.stdout + ran.stderr


@pytest.mark.parametrize("no_color", [True, False], ids=["NO_COLOR", "not-a-tty"])
@pytest.mark.parametrize(
    "args",
    [
        ("orgs", "list"),
        ("orgs", "create", "beta"),
        ("orgs", "show", "acme"),
        ("orgs", "show", "nope"),
        ("keys", "status"),
        ("doctor",),
        ("status",),
        ("config", "show"),
        ("--bogus",),
    ],
)
def test_no_ansi_codes_when_not_a_terminal(
    args: tuple[str, ...], no_color: bool, sqlite_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite_cli.ok("orgs", "create", "acme")
    if not no_color:
        monkeypatch.delenv("NO_COLOR")
    ran = sqlite_cli(*args)
    assert ANSI not in ran.stdout
    assert ANSI not in ran.stderr


def test_colour_detection_is_real(sqlite_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Control for the test above: forcing colour does produce codes, so their absence means something."""
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    ran = sqlite_cli("orgs", "show", "nope")
    assert ANSI in ran.stderr


def test_no_ansi_codes_through_a_real_pipe(sqlite_cli: Cli, tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if k not in {"NO_COLOR", "FORCE_COLOR"}}
    environment["TERM"] = "xterm-256color"
    for args in (["orgs", "list"], ["orgs", "show", "nope"], ["doctor"]):
        proc = subprocess.run(
            [sys.executable, "-m", "zigznote", "--db", sqlite_cli.db_url, *args],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
        )
        assert ANSI not in proc.stdout and ANSI not in proc.stderr, args


def test_json_error_then_nothing_else(sqlite_cli: Cli) -> None:
    """The error line is the whole of stderr: scripts can `2> err.json` and parse it."""
    ran: Ran = sqlite_cli("--json", "orgs", "show", "nope")
    assert json.loads(ran.stderr) == {
        "error": {
            "code": "org_not_found",
            "message": "organization 'nope' not found",
            "hint": "`zigznote orgs list` shows the organizations",
        }
    }
