"""Text from outside reaches the terminal escaped, never interpreted (issue 8, fault 1).

A receiver's response body, request paths and bodies seen by `webhooks listen`, provider
error messages, webhook names and meeting titles are data: control characters show as
visible escapes (``\\x1b``), Rich markup shows literally, and ``--json`` keeps the exact value.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli._webhooks_support import allow_loopback, create_webhook
from tests.conftest import Cli
from tests.support.receiver import Receiver, Reply

ESC = "\x1b"
FAKE = "\x1b[2J\x1b[31mFAKE"
FAKE_SHOWN = "\\x1b[2J\\x1b[31mFAKE"
MARKUP = "[red]x[/red]"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Any:
    allow_loopback(monkeypatch)
    with Receiver() as r:
        yield r


def test_webhooks_test_shows_a_hostile_response_body_escaped(cli: Cli, org: dict[str, Any], receiver: Receiver) -> None:
    receiver.set_default(Reply(status=200, body=FAKE.encode()))
    hook = create_webhook(cli, receiver.url)

    ran = cli("--org", "acme", "webhooks", "test", hook["id"])
    assert ran.exit_code == 0, ran.stderr
    assert ESC not in ran.stdout + ran.stderr
    assert FAKE_SHOWN in ran.stdout

    result = cli.ok("--org", "acme", "webhooks", "test", hook["id"])
    assert result["response_excerpt"] == FAKE  # --json is exact


def test_a_failed_test_quotes_the_body_escaped_in_the_error(cli: Cli, org: dict[str, Any], receiver: Receiver) -> None:
    receiver.set_default(Reply(status=500, body="\x1b]0;pwned\x07[bold]down[/bold]\x9b2J".encode()))
    hook = create_webhook(cli, receiver.url)

    ran = cli("--org", "acme", "webhooks", "test", hook["id"])
    assert ran.exit_code == 5
    assert ran.stdout == ""
    first = ran.stderr.splitlines()[0]
    assert first.startswith("error: test delivery msg_")
    assert first.endswith("HTTP 500 (response: \\x1b]0;pwned\\x07[bold]down[/bold]\\x9b2J)")
    assert ESC not in ran.stderr and "\x07" not in ran.stderr and "\x9b" not in ran.stderr

    err = cli.fails(5, "--org", "acme", "webhooks", "test", hook["id"])
    assert err["message"].endswith("(response: \x1b]0;pwned\x07[bold]down[/bold]\x9b2J)")


def test_attempt_errors_and_excerpts_are_escaped_in_tables(cli: Cli, org: dict[str, Any], receiver: Receiver) -> None:
    receiver.set_default(Reply(status=500, body=FAKE.encode()))
    hook = create_webhook(cli, receiver.url)
    failed = cli.fails(5, "--org", "acme", "webhooks", "test", hook["id"])
    delivery_id = failed["hint"].split("attempts ")[1].split("`")[0]
    shown = cli("--org", "acme", "webhooks", "show", hook["id"])
    attempts = cli("--org", "acme", "webhooks", "attempts", delivery_id)
    assert (shown.exit_code, attempts.exit_code) == (0, 0)
    assert ESC not in shown.stdout + attempts.stdout


def test_markup_in_names_descriptions_and_titles_shows_literally(cli: Cli, org: dict[str, Any]) -> None:
    created = cli.ok(
        "--org",
        "acme",
        "webhooks",
        "create",
        "--url",
        "https://93.184.215.14/h",
        "--events",
        "*",
        "--name",
        MARKUP,
        "--description",
        f"[bold]d[/bold]{FAKE}",
    )
    listed = cli("--org", "acme", "webhooks", "list")
    shown = cli("--org", "acme", "webhooks", "show", created["id"])
    assert MARKUP in listed.stdout
    assert MARKUP in shown.stdout and f"[bold]d[/bold]{FAKE_SHOWN}" in shown.stdout
    assert ESC not in listed.stdout + shown.stdout
    assert cli.ok("--org", "acme", "webhooks", "show", created["id"])["description"] == f"[bold]d[/bold]{FAKE}"

    meetings = json.dumps(
        [{"external_id": "m1", "title": f"{MARKUP} \u202eevil{FAKE}", "started_at": "2026-11-01T10:00:00Z"}]
    )
    assert cli.ok("--org", "acme", "meetings", "import", "-", input=meetings)["created"] == 1
    table = cli("--org", "acme", "meetings", "list")
    one = cli("--org", "acme", "meetings", "show", "m1")
    for ran in (table, one):
        assert ran.exit_code == 0
        assert f"{MARKUP} \\u202eevil{FAKE_SHOWN}" in ran.stdout
        assert ESC not in ran.stdout and "\u202e" not in ran.stdout
    assert cli.ok("--org", "acme", "meetings", "show", "m1")["title"] == f"{MARKUP} \u202eevil{FAKE}"


def test_error_messages_quoting_input_are_escaped(cli: Cli, org: dict[str, Any]) -> None:
    ran = cli("--org", "acme", "meetings", "show", f"{MARKUP}{FAKE}")
    assert ran.exit_code == 3
    assert ran.stderr.splitlines()[0] == f"error: meeting '{MARKUP}{FAKE_SHOWN}' not found in this organization"
    # The service quotes the reference with repr(), itself an escaped form; JSON carries that.
    assert cli.fails(3, "--org", "acme", "meetings", "show", f"{MARKUP}{FAKE}")["message"] == (
        f"meeting {MARKUP + FAKE!r} not found in this organization"
    )


def test_json_escapes_c1_controls_and_bidi_but_keeps_the_value(cli: Cli, org: dict[str, Any]) -> None:
    title = "a\x9b2J b\u202ec \u2066d\u2069"
    meetings = json.dumps([{"external_id": "m2", "title": title, "started_at": "2026-11-01T10:00:00Z"}])
    cli.ok("--org", "acme", "meetings", "import", "-", input=meetings)
    ran = cli("--json", "--org", "acme", "meetings", "show", "m2")
    assert ran.exit_code == 0
    assert "\x9b" not in ran.stdout and "\u202e" not in ran.stdout and "\\u009b" in ran.stdout
    assert json.loads(ran.stdout)["title"] == title


# ---------------------------------------------------------------------------------------------
# webhooks listen: request paths and bodies from the network
# ---------------------------------------------------------------------------------------------


def _start_listen(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, Path, int]:
    out, err = tmp_path / "listen.out", tmp_path / "listen.err"
    proc = subprocess.Popen(
        [sys.executable, "-m", "zigznote", "webhooks", "listen", "--port", "0"],
        stdout=out.open("wb"),
        stderr=err.open("wb"),
        env=dict(os.environ),
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = err.read_text()
        if "listening on " in text:
            port = int(text.split("listening on ", 1)[1].split()[0].rsplit(":", 1)[1].split("/")[0])
            return proc, out, err, port
        if proc.poll() is not None:
            raise AssertionError(f"listen exited {proc.returncode}: {text}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("listen did not start")


def _raw_post(port: int, target: str, body: bytes) -> bytes:
    request = (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    return reply


def test_listen_prints_hostile_paths_and_bodies_escaped(env: dict[str, str], tmp_path: Path) -> None:
    proc, out, err, port = _start_listen(tmp_path)
    try:
        # The path arrives percent-encoded; aiohttp decodes it to ESC and a newline.
        body = json.dumps({"type": "evil\x1b[31m[red]t[/red]\nforged line"}).encode()
        assert _raw_post(port, "/a%1b%5b2J%20%e2%80%aex", body).startswith(b"HTTP/1.1 200")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not out.read_text():
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    text = out.read_text()
    lines = text.splitlines()
    assert len(lines) == 1, text  # a newline in the event type cannot forge a second line
    assert " POST /a\\x1b[2J \\u202ex - evil\\x1b[31m[red]t[/red]\\nforged line " in lines[0]
    assert ESC not in text + err.read_text()


def test_the_live_panel_shows_receiver_errors_escaped() -> None:
    from io import StringIO

    from rich.console import Console

    from zigznote.cli._live import LivePanel

    console = Console(file=StringIO(), width=150, color_system=None)
    panel = LivePanel(console, db=None)
    panel.handle(
        {
            "event": "attempt",
            "outcome": "failed",
            "delivery": "msg_1",
            "webhook": "wh_1",
            "error": f"HTTP 500: {FAKE} {MARKUP}",
            "status_code": 500,
        }
    )
    console.print(panel._render())
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert f"msg_1 → HTTP 500: {FAKE_SHOWN} {MARKUP} (failed)" in text
    assert ESC not in text
