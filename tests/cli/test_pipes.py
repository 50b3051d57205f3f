"""A closed stdout or stderr (`| head`, `| true`, a pager quitting) ends the command quietly
with status 141 (128 + SIGPIPE, what a shell reports), never "unexpected error" (issue 8,
fault 9). Real processes, real pipes whose reading end is closed before anything is written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.cli._webhooks_support import allow_loopback, create_webhook, emit
from tests.conftest import Cli
from tests.support.receiver import Receiver

BROKEN_PIPE = 141


@pytest.fixture
def sqlite_cli(env: dict[str, str], tmp_path: Path) -> Cli:
    runner = Cli(f"sqlite:///{tmp_path / 'data' / 'zigznote' / 'zigznote.db'}")
    assert runner("db", "upgrade").exit_code == 0
    runner.ok("orgs", "create", "acme")
    return runner


@pytest.fixture
def closed_pipe() -> Iterator[int]:
    """The writing end of a pipe nobody reads any more: every write to it fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        yield write_end
    finally:
        os.close(write_end)


def _run(argv: list[str], *, stdout: int | IO[Any], stderr: int | IO[Any], timeout: float = 60) -> int:
    proc = subprocess.run(
        [sys.executable, "-m", "zigznote", *argv],
        stdout=stdout,
        stderr=stderr,
        env=dict(os.environ),
        timeout=timeout,
        check=False,
    )
    return proc.returncode


def _webhooks(cli: Cli, count: int = 3) -> None:
    for i in range(count):
        create_webhook(cli, f"https://93.184.215.{i + 1}/hook")


def test_list_into_a_closed_stdout(sqlite_cli: Cli, closed_pipe: int, tmp_path: Path) -> None:
    _webhooks(sqlite_cli)
    err = tmp_path / "err"
    with err.open("wb") as stderr:
        code = _run(["--db", sqlite_cli.db_url, "--org", "acme", "webhooks", "list"], stdout=closed_pipe, stderr=stderr)
    assert code == BROKEN_PIPE
    assert err.read_text() == ""
    json_code = _run(
        ["--db", sqlite_cli.db_url, "--json", "--org", "acme", "webhooks", "list"],
        stdout=closed_pipe,
        stderr=subprocess.DEVNULL,
    )
    assert json_code == BROKEN_PIPE


def test_list_with_stdout_and_stderr_closed(sqlite_cli: Cli, closed_pipe: int) -> None:
    """`zigznote --org acme webhooks list 2>&1 | true` (it exited 1 with "unexpected error")."""
    _webhooks(sqlite_cli)
    argv = ["--db", sqlite_cli.db_url, "--org", "acme", "webhooks", "list"]
    assert _run(argv, stdout=closed_pipe, stderr=closed_pipe) == BROKEN_PIPE


def test_an_error_into_a_closed_stderr(sqlite_cli: Cli, closed_pipe: int, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with out.open("wb") as stdout:
        code = _run(
            ["--db", sqlite_cli.db_url, "--org", "nosuch", "webhooks", "list"], stdout=stdout, stderr=closed_pipe
        )
    assert code == BROKEN_PIPE
    assert out.read_text() == ""


def test_help_and_usage_errors_into_closed_pipes(closed_pipe: int, env: dict[str, str]) -> None:
    assert _run(["webhooks", "--help"], stdout=closed_pipe, stderr=subprocess.DEVNULL) == BROKEN_PIPE
    assert _run(["orgs", "list", "--nope"], stdout=subprocess.DEVNULL, stderr=closed_pipe) == BROKEN_PIPE


def test_worker_run_stops_when_its_json_lines_reader_goes_away(
    sqlite_cli: Cli, closed_pipe: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    allow_loopback(monkeypatch)
    with Receiver() as receiver:
        create_webhook(sqlite_cli, receiver.url)
        for i in range(20):
            emit(sqlite_cli, data={"meeting_id": f"m{i}"})
        err = tmp_path / "err"
        started = time.monotonic()
        with err.open("wb") as stderr:
            code = _run(
                ["--db", sqlite_cli.db_url, "worker", "run", "--max-seconds", "120"],
                stdout=closed_pipe,
                stderr=stderr,
                timeout=100,
            )
        elapsed = time.monotonic() - started
    assert code == BROKEN_PIPE
    assert err.read_text() == ""
    assert elapsed < 60, f"the worker ran on for {elapsed:.0f} s after its reader went away"
    # It stopped like on SIGTERM: nothing left leased, nothing lost.
    deliveries = sqlite_cli.ok("--org", "acme", "events", "list", "--limit", "100")
    assert len(deliveries) == 20
    statuses = [
        d["status"]
        for hook in sqlite_cli.ok("--org", "acme", "webhooks", "list")
        for d in sqlite_cli.ok("--org", "acme", "webhooks", "deliveries", hook["id"], "--limit", "100")
    ]
    assert len(statuses) == 20
    assert set(statuses) <= {"succeeded", "pending"} and "succeeded" in statuses


@pytest.mark.parametrize("json_mode", [True, False], ids=["json", "human"])
def test_listen_stops_when_its_reader_goes_away(
    env: dict[str, str], closed_pipe: int, tmp_path: Path, json_mode: bool
) -> None:
    import httpx

    err = tmp_path / "err"
    with err.open("wb") as stderr:
        argv = [
            sys.executable,
            "-m",
            "zigznote",
            *(["--json"] if json_mode else []),
            "webhooks",
            "listen",
            "--port",
            "0",
        ]
        proc = subprocess.Popen(argv, stdout=closed_pipe, stderr=stderr, env=dict(os.environ))
        try:
            deadline = time.monotonic() + 20
            while "listening on " not in err.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
                time.sleep(0.05)
            url = err.read_text().split("listening on ", 1)[1].split()[0]
            # Nobody reads the listener's report of this request any more: it stops.
            assert httpx.post(url + "hook", content=b"{}", timeout=10).status_code == 200
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert code == BROKEN_PIPE
    assert err.read_text().count("\n") == 1  # only "listening on …": nothing after the pipe closed
