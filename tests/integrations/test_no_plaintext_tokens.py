"""No Slack token in plaintext at rest (SQLite): after a real `slack connect` (OAuth with token
rotation, the `--no-browser` paste flow in a subprocess against the loopback fake Slack) and a
refresh (`slack test` after the fake expired the access token), the bytes of the SQLite
database and its WAL hold none of the access and refresh tokens the fake ever issued, nor the
app's client secret. The Postgres variant (a `pg_dump` of the test schema) is
tests/postgres/test_no_plaintext_tokens.py and uses the helpers here."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Cli
from tests.support.fake_slack import FakeSlack

TEAM_ID = "T0FAKE0001"


@pytest.fixture
def rotating_slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """A fake Slack with token rotation, SLACK_* pointing at it (paste flow: https redirect URI)."""
    for name in list(os.environ):
        if name.startswith("SLACK_") or name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
            monkeypatch.delenv(name)
    with FakeSlack(rotation=True) as fake:
        for name, value in fake.env(redirect_uri="https://localhost:8765/callback").items():
            monkeypatch.setenv(name, value)
        yield fake


def connect_by_paste(cli: Cli, fake: FakeSlack, *, timeout: float = 60.0) -> str:
    """`zigznote --org acme slack connect --no-browser` in a subprocess: read the authorize URL
    it prints, "approve" it at the fake (the 302's Location is the final redirect URL a browser
    would show) and paste that back on stdin. Returns the command's stderr."""
    argv = [sys.executable, "-m", "zigznote", "--db", cli.db_url, "--json", "--org", "acme"]
    proc = subprocess.Popen(
        [*argv, "slack", "connect", "--no-browser"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    stderr = proc.stderr

    def read_stderr() -> None:
        for line in stderr:
            lines.put(line)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        url = None
        while url is None:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            seen.append(line)
            if line.startswith(fake.authorize_url + "?"):
                url = line.strip()
        answer = httpx.get(url, follow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        proc.stdin.write(answer.headers["location"] + "\n")
        proc.stdin.close()
        stdout = proc.stdout.read()
        assert proc.wait(timeout=timeout) == 0, "".join(seen) + stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    while not lines.empty():
        seen.append(lines.get())
    return "".join(seen)


def connect_and_refresh(cli: Cli, fake: FakeSlack) -> list[str]:
    """Org `acme`, Slack connected through OAuth (rotation on), then one refresh. Returns every
    secret that must not be stored in plaintext: both access tokens, both refresh tokens, the
    client secret. Asserts that the refresh really happened and the new tokens work."""
    cli.ok("orgs", "create", "acme")
    printed = connect_by_paste(cli, fake)
    [first] = fake.access_tokens
    fake.expire_access_tokens()
    checked = cli.ok("--org", "acme", "slack", "test")  # token_expired → one refresh → retried
    assert checked["team_id"] == TEAM_ID
    assert len(fake.calls("oauth.v2.access", grant_type="refresh_token")) == 1
    assert [t for t in fake.access_tokens if t != first] == fake.valid_access_tokens()
    assert len(fake.access_tokens) == 2 and len(fake.refresh_tokens) == 2
    secrets = [*fake.access_tokens, *fake.refresh_tokens, fake.client_secret]
    for secret in secrets:
        assert secret not in printed
    return secrets


def assert_no_plaintext(stored: bytes, secrets: list[str]) -> None:
    # Positive controls: the scan sees the connection (plaintext account ID, vault ciphertexts).
    assert TEAM_ID.encode() in stored
    assert b"zv1:" in stored
    for secret in secrets:
        assert len(secret) >= 20
        assert secret.encode() not in stored, "a token is stored in plaintext"


def sqlite_bytes(db_url: str) -> bytes:
    """The SQLite database file and, when present, its WAL."""
    path = Path(db_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def test_no_plaintext_token_in_the_sqlite_file_after_connect_and_refresh(
    env: dict[str, str], tmp_path: Path, rotating_slack: FakeSlack
) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'data' / 'zigznote' / 'zigznote.db'}")
    assert cli("db", "upgrade").exit_code == 0
    secrets = connect_and_refresh(cli, rotating_slack)
    assert_no_plaintext(sqlite_bytes(cli.db_url), secrets)
