"""A `zigznote worker run` in a subprocess, for tests that change shared state under it.

The worker is a separate process on purpose: the changes under test (``keys rotate``,
``webhooks update``, ``orgs delete`` …) are made by other processes in production, and
"the worker is still running" is only a real claim about a real process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

# Short enough that a delivery exhausts its schedule in about two seconds.
RETRY_SCHEDULE = "0.2s,0.5s,1s"


def wait(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class WorkerProcess:
    """``zigznote worker run`` against ``db_url`` with the test's environment (os.environ)."""

    def __init__(self, db_url: str, tmp_path: Path, *args: str, **env: str) -> None:
        self.db_url = db_url
        self.args = args
        self.stdout_path = tmp_path / f"worker-{time.monotonic_ns()}.out"
        self.stderr_path = self.stdout_path.with_suffix(".err")
        self.env = {k: v for k, v in os.environ.items() if k != "ZIGZNOTE_TEST_POSTGRES_URL"}
        self.env.update(
            {
                "ZIGZNOTE_WEBHOOK_ALLOW_NETS": "127.0.0.0/8",
                "ZIGZNOTE_ATTEMPT_TIMEOUT": "3s",
                # The default lease: how long claimed work may wait in a worker's backlog
                # depends on it, and so does how long stale state could be acted upon.
                "ZIGZNOTE_LEASE_SECONDS": "30s",
                "ZIGZNOTE_RETRY_SCHEDULE": RETRY_SCHEDULE,
                **env,
            }
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> WorkerProcess:
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "zigznote", "--db", self.db_url, "worker", "run", *self.args],
                env=self.env,
                stdout=out,
                stderr=err,
            )
        assert wait(lambda: any(e["event"] == "worker_started" for e in self.events()) or not self.alive(), 60)
        assert self.alive(), f"worker did not start: {self.log()}"
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.alive():
            self.stop()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int:
        """SIGTERM (graceful: in-flight work finishes or is released); the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"worker ignored SIGTERM for 30 s: {self.log()}") from None

    def events(self) -> list[dict[str, Any]]:
        """The JSON lines the worker printed so far (a half-written last line is skipped)."""
        events = []
        for line in self.stdout_path.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    def attempts(self) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["event"] == "attempt"]

    def log(self) -> str:
        """The tail of both output streams, for assertion messages."""
        return f"stdout: {self.stdout_path.read_text()[-3000:]}\nstderr: {self.stderr_path.read_text()[-3000:]}"

    def stderr(self) -> str:
        return self.stderr_path.read_text()
