"""Headless Chromium as the "browser" of OAuth tests, through Python's ``webbrowser``.

``webbrowser`` runs the program named by ``BROWSER`` with the URL as its only argument and, for a
program it does not recognise (``GenericBrowser``), *waits for it to exit*. The wrapper written
here therefore returns at once: it forks a supervisor into a new session, which runs

    chromium --headless=new --no-sandbox --disable-gpu --user-data-dir=<fresh dir>
             [--ignore-certificate-errors] --dump-dom <url>

in its own process group, kills that group after ``timeout`` seconds, and deletes the profile.
``--dump-dom`` makes Chromium load the page, follow redirects (the fake authorize endpoint's 302 to
the loopback callback), print the final document and exit by itself, so a normal run leaves
nothing behind and the test can read the page the callback server answered.

    wrapper = ChromiumWrapper(tmp_path / "browser", chromium=chromium_or_skip())   # or the fixture below
    env = {"BROWSER": str(wrapper.script)}    # zigznote reads BROWSER from the env mapping it is given
    ...                                       # code under test opens the URL through webbrowser
    [launch] = wrapper.wait_for_launches(1)
    assert wrapper.wait_until_exited(30)
    assert "close this tab" in wrapper.final_page(launch)

Chromium runs with ``HOME`` inside its profile, so every process it starts names the profile in its
command line, crashpad handlers included (they leave Chromium's process group and session): that
is how the supervisor, :meth:`ChromiumWrapper.surviving_pids` and :meth:`ChromiumWrapper.kill_all`
find them, without ever signalling a process that is not provably ours.

Every launch is logged as JSON lines in ``<dir>/launches.jsonl``: ``{"event": "launch", "n", "url",
"supervisor", "pgid", "profile"}`` when Chromium starts and ``{"event": "exit", "n", "returncode",
"timed_out", "left"}`` when it ended and its processes are gone (``left``: ids of processes that
outlived Chromium's main process, which the supervisor then killed). Chromium's stderr goes to
``<dir>/chromium-<n>.log`` and the final DOM to ``<dir>/dom-<n>.html``.

Availability: :func:`find_chromium` (``ZIGZNOTE_CHROMIUM`` or ``chromium`` on ``PATH``);
:func:`chromium_or_skip` skips with a reason, unless ``ZIGZNOTE_REQUIRE_BROWSER`` is set (CI),
where a missing Chromium fails the test instead. The ``headless_chromium`` fixture gives a wrapper per
test and fails the test if any of its processes outlived it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "CHROMIUM_MISSING",
    "ChromiumWrapper",
    "Launch",
    "browser_required",
    "chromium_or_skip",
    "find_chromium",
    "headless_chromium",
]

CHROMIUM_MISSING = (
    "headless browser tests need Chromium (Debian: apt-get install chromium; or set ZIGZNOTE_CHROMIUM "
    "to its path); CI installs it and sets ZIGZNOTE_REQUIRE_BROWSER=1, which turns this skip into a failure"
)


# Read when this module is imported (test collection), before any fixture runs: the shared ``env``
# fixture removes every ZIGZNOTE_* variable from the environment of the test it sets up.
_AT_IMPORT = {name: os.environ.get(name, "") for name in ("ZIGZNOTE_CHROMIUM", "ZIGZNOTE_REQUIRE_BROWSER")}


def _setting(name: str) -> str:
    return os.environ.get(name) or _AT_IMPORT[name]


def find_chromium() -> str | None:
    """The Chromium executable: ``$ZIGZNOTE_CHROMIUM`` if set (``None`` when that is not an
    executable), else ``chromium`` (or ``chromium-browser``) on ``PATH``; ``None`` when there is none."""
    explicit = _setting("ZIGZNOTE_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browser_required() -> bool:
    """True when ``ZIGZNOTE_REQUIRE_BROWSER`` is set to something other than ``""``/``0`` (now, or
    when the test session started)."""
    return _setting("ZIGZNOTE_REQUIRE_BROWSER") not in ("", "0")


def chromium_or_skip() -> str:
    """The Chromium path; skips the test when there is none, fails it when a browser is required."""
    path = find_chromium()
    if path is None:
        if browser_required():
            pytest.fail("ZIGZNOTE_REQUIRE_BROWSER is set but Chromium was not found: " + CHROMIUM_MISSING)
        pytest.skip(CHROMIUM_MISSING)
    return path


@dataclass(frozen=True)
class Launch:
    """One start of Chromium by the wrapper."""

    n: int
    url: str
    #: Process id of the supervisor (the session leader that waits for Chromium).
    supervisor: int
    #: Process group of Chromium and every child it starts (renderer, GPU, zygote, crashpad).
    pgid: int
    profile: str


# The wrapper is a stand-alone Python script (stdlib only, run with -I so no test environment
# variable or site package changes it). Values are filled in with repr() so paths are quoted safely.
_SCRIPT = """#!{python} -I
\"\"\"zigznote test browser: headless Chromium in the background (written by tests/support/chromium.py).\"\"\"
import json, os, shutil, signal, subprocess, sys, tempfile, time

DIRECTORY = {directory!r}
CHROMIUM = {chromium!r}
TIMEOUT = {timeout!r}
FLAGS = {flags!r}
LOG = os.path.join(DIRECTORY, "launches.jsonl")


def log(record):
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\\n")


def marked(marker):
    # Chromium's helpers (crashpad handlers) leave its process group and session, but every
    # process it starts names the profile directory (--user-data-dir, or --database under HOME).
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    if marker in f.read():
                        found.append(int(name))
            except OSError:
                pass
    return found


def supervise(n, url):
    profile = tempfile.mkdtemp(prefix="profile-%d-" % n, dir=DIRECTORY)
    args = [CHROMIUM, *FLAGS, "--user-data-dir=" + profile, "--dump-dom", url]
    # HOME inside the profile: crashpad's database (and its command line) then name the profile too.
    env = dict(os.environ, HOME=profile, XDG_CONFIG_HOME=profile + "/.config", XDG_CACHE_HOME=profile + "/.cache")
    with open(os.path.join(DIRECTORY, "dom-%d.html" % n), "wb") as out, \\
            open(os.path.join(DIRECTORY, "chromium-%d.log" % n), "wb") as err:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, process_group=0)
        log({{"event": "launch", "n": n, "url": url, "supervisor": os.getpid(), "pgid": proc.pid, "profile": profile}})
        timed_out = False
        try:
            returncode = proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            timed_out = True
            returncode = None
    if returncode is None:
        # Chromium is not reaped yet, so its process group id cannot have been reused.
        os.killpg(proc.pid, signal.SIGKILL)
        returncode = proc.wait()
    # Anything still naming the profile (children that outlived Chromium, crashpad handlers).
    stragglers = left = marked(profile.encode())
    deadline = time.monotonic() + 10
    while left and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
        left = marked(profile.encode())
    shutil.rmtree(profile, ignore_errors=True)
    log({{"event": "exit", "n": n, "returncode": returncode, "timed_out": timed_out, "left": stragglers}})


def main():
    url = sys.argv[-1]
    with open(os.path.join(DIRECTORY, "counter"), "a", encoding="utf-8") as f:
        f.write("x")
        f.flush()
        n = f.tell()
    if os.fork():
        return  # webbrowser waits for this process: answer at once while Chromium runs on
    os.setsid()  # away from the caller's session, terminal and signals
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)  # never hold the caller's pipes open
    try:
        supervise(n, url)
    finally:
        os._exit(0)


main()
"""


class ChromiumWrapper:
    """Writes ``<directory>/zigznote-test-browser`` (executable) for ``BROWSER=<script>``.

    The name must not be one ``webbrowser`` knows (``chromium``…), or it would run its own command
    line instead of ours. ``timeout`` (seconds) bounds each Chromium run; ``ignore_certificate_errors``
    lets the https loopback callback with a self-signed certificate load (harmless for http).
    The directory must not contain ``os.pathsep`` or spaces (``BROWSER`` is split on ``:`` and
    ``webbrowser`` takes the whole value as the program's path).
    """

    def __init__(
        self,
        directory: Path,
        *,
        chromium: str,
        timeout: float = 60.0,
        ignore_certificate_errors: bool = True,
    ) -> None:
        if os.pathsep in str(directory) or " " in str(directory):
            raise ValueError(f"wrapper directory must not contain {os.pathsep!r} or spaces: {directory}")
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.log = directory / "launches.jsonl"
        flags = [
            "--headless=new",
            "--no-sandbox",  # CI runs as root, where the sandbox cannot start
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",  # no calls to Google services from a test
            "--disable-component-update",
            "--disable-dev-shm-usage",
        ]
        if ignore_certificate_errors:
            flags.append("--ignore-certificate-errors")
        self.script = directory / "zigznote-test-browser"
        self.script.write_text(
            _SCRIPT.format(
                python=sys.executable,
                directory=str(directory),
                chromium=chromium,
                timeout=timeout,
                flags=flags,
            ),
            encoding="utf-8",
        )
        self.script.chmod(0o755)

    def _records(self) -> list[dict[str, object]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def launches(self) -> list[Launch]:
        """Every Chromium start so far, in order."""
        return [
            Launch(
                n=int(str(r["n"])),
                url=str(r["url"]),
                supervisor=int(str(r["supervisor"])),
                pgid=int(str(r["pgid"])),
                profile=str(r["profile"]),
            )
            for r in self._records()
            if r["event"] == "launch"
        ]

    def exits(self) -> dict[int, dict[str, object]]:
        """Launch number → its exit record (``returncode``, ``timed_out``) for finished runs."""
        return {int(str(r["n"])): r for r in self._records() if r["event"] == "exit"}

    def wait_for_launches(self, count: int, timeout: float = 15.0) -> list[Launch]:
        """Waits until at least ``count`` launches are logged; returns them all (maybe fewer on timeout)."""
        deadline = time.monotonic() + timeout
        while len(found := self.launches()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def wait_until_exited(self, timeout: float = 30.0) -> bool:
        """True once every logged launch has its exit record (Chromium ended and was cleaned up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.exits()) >= len(self.launches()):
                return True
            time.sleep(0.05)
        return len(self.exits()) >= len(self.launches())

    def final_page(self, launch: Launch) -> str:
        """The DOM Chromium printed for the last page it loaded (``""`` if it printed none)."""
        path = self.directory / f"dom-{launch.n}.html"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def surviving_pids(self) -> list[int]:
        """Live processes started by this wrapper: every process whose command line names this
        wrapper's script (the supervisors) or one of its profile directories (Chromium, its children,
        and its crashpad handlers, which leave Chromium's process group)."""
        markers = (str(self.directory / "profile-").encode(), str(self.script).encode())
        found: list[int] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue  # exited meanwhile
            if state == "Z":
                continue  # a zombie holds no resources; its parent reaps it
            if any(marker in cmdline for marker in markers):
                found.append(int(entry.name))
        return sorted(found)

    def kill_all(self) -> None:
        """SIGKILL every process of this wrapper still alive (see :meth:`surviving_pids`), then wait
        up to 5 s for them to go. Only processes whose command line proves they are ours are
        signalled, so a recycled process id can never hit an unrelated process."""
        deadline = time.monotonic() + 5
        while (left := self.surviving_pids()) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)


@pytest.fixture
def headless_chromium(tmp_path: Path) -> Iterator[ChromiumWrapper]:
    """A :class:`ChromiumWrapper` in ``tmp_path/"browser"`` (skips, or fails under
    ``ZIGZNOTE_REQUIRE_BROWSER``, without Chromium). Afterwards every process it started is killed,
    and the test fails if one had to be: a flow must leave no browser behind."""
    wrapper = ChromiumWrapper(tmp_path / "browser", chromium=chromium_or_skip())
    try:
        yield wrapper
    finally:
        wrapper.wait_until_exited(timeout=10)
        left = wrapper.surviving_pids()
        wrapper.kill_all()
        assert wrapper.surviving_pids() == [], "Chromium processes survived kill_all"
    assert left == [], f"Chromium processes outlived the test: {left}"
