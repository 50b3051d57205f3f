"""Receiver-side tools: `webhooks verify` and `webhooks listen` (no database involved).

Messages are signed with the `standardwebhooks` reference library, so `verify` is judged
against an independent implementation.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.conftest import Cli

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER = "whsec_c2VjcmV0LXR3by1zZWNyZXQtdHdvLXNlY3JldA=="
BODY = b'{"id":"evt_1","type":"meeting.ended","data":{"meeting_id":"m1"}}'


def signed(body: bytes = BODY, *, secret: str = SECRET, msg_id: str = "msg_1", ts: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    signature = StandardWebhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


@pytest.fixture
def tool(env: dict[str, str]) -> Cli:
    # verify and listen need no database: point --db at a path that does not exist.
    return Cli("sqlite:////nonexistent/zigznote.db")


def _files(tmp_path: Path, headers: dict[str, str], body: bytes = BODY, *, as_json: bool = False) -> list[str]:
    hfile, bfile = tmp_path / "headers.txt", tmp_path / "body.json"
    if as_json:
        hfile.write_text(json.dumps(headers))
    else:
        lines = ["POST /hook HTTP/1.1", "Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
        hfile.write_text("\n".join(lines) + "\n")
    bfile.write_bytes(body)
    return ["--headers-file", str(hfile), "--body-file", str(bfile)]


def test_verify_valid_message(tool: Cli, tmp_path: Path) -> None:
    headers = signed()
    result = tool.ok("webhooks", "verify", "--secret", SECRET, *_files(tmp_path, headers))
    ts = int(headers["webhook-timestamp"])
    assert result == {"valid": True, "webhook_id": "msg_1", "timestamp": ts, "size": len(BODY)}
    assert tool.ok("webhooks", "verify", "--secret", SECRET, *_files(tmp_path, headers, as_json=True))["valid"]
    flags = ["--id", "msg_1", "--timestamp", headers["webhook-timestamp"], "--signature", headers["webhook-signature"]]
    ran = tool("webhooks", "verify", "--secret", SECRET, *flags, input=BODY)  # body from stdin
    assert (ran.exit_code, ran.stdout) == (0, "valid\n")
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    assert tool.ok("webhooks", "verify", "--secret", f"@{secret_file}", *flags, input=BODY)["valid"]
    # Rotation: a header carrying two signatures verifies with either secret.
    other = signed(secret=OTHER, ts=ts)["webhook-signature"]
    both = dict(headers, **{"webhook-signature": f"{other} {headers['webhook-signature']}"})
    for secret in (SECRET, OTHER):
        assert tool.ok("webhooks", "verify", "--secret", secret, *_files(tmp_path, both))["valid"]


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("tampered", "no v1 signature matches"),
        ("wrong-secret", "no v1 signature matches"),
        ("old", "too old"),
        ("future", "too far in the future"),
        ("missing", "missing required header(s): webhook-signature"),
    ],
)
def test_verify_rejects(tool: Cli, tmp_path: Path, case: str, fragment: str) -> None:
    headers, body, secret = signed(), BODY, SECRET
    if case == "tampered":
        body = BODY.replace(b"m1", b"m2")
    elif case == "wrong-secret":
        secret = OTHER
    elif case == "old":
        headers = signed(ts=int(time.time()) - 600)
    elif case == "future":
        headers = signed(ts=int(time.time()) + 600)
    elif case == "missing":
        del headers["webhook-signature"]
    err = tool.fails(7, "webhooks", "verify", "--secret", secret, *_files(tmp_path, headers, body))
    assert err["code"] == "signature_invalid"
    assert fragment in err["message"], err
    ran = tool("webhooks", "verify", "--secret", secret, *_files(tmp_path, headers, body))
    assert ran.exit_code == 7 and ran.stdout == "" and fragment in ran.stderr


def test_verify_tolerance(tool: Cli, tmp_path: Path) -> None:
    headers = signed(ts=int(time.time()) - 600)
    assert tool.ok("webhooks", "verify", "--secret", SECRET, "--tolerance", "900", *_files(tmp_path, headers))["valid"]
    err = tool.fails(
        7,
        "webhooks",
        "verify",
        "--secret",
        SECRET,
        "--tolerance",
        "60",
        *_files(tmp_path, signed(ts=int(time.time()) - 120)),
    )
    assert "tolerance is 60 s" in err["message"]


def test_verify_usage_errors(tool: Cli, tmp_path: Path) -> None:
    files = _files(tmp_path, signed())
    assert tool.fails(2, "webhooks", "verify", "--secret", SECRET, "--body-file", files[3])["code"] == (
        "missing_headers"
    )
    assert tool.fails(2, "webhooks", "verify", "--secret", SECRET, "--id", "x", *files)["code"] == "usage"
    assert tool.fails(2, "webhooks", "verify", "--secret", "whsec_!!!", *files)["code"] == "invalid_input"
    bad = tmp_path / "bad-headers.txt"
    bad.write_text("webhook-id msg_1\n")
    err = tool.fails(2, "webhooks", "verify", "--secret", SECRET, "--headers-file", str(bad), "--body-file", files[3])
    assert err["code"] == "invalid_headers_file" and "line 1" in err["message"]
    err = tool.fails(2, "webhooks", "verify", "--secret", SECRET, "--headers-file", str(tmp_path / "nope"), *files[2:])
    assert err["code"] == "file_not_found"


# ---------------------------------------------------------------------------------------------
# listen: a real process, a real socket, a real signal
# ---------------------------------------------------------------------------------------------


class Listening:
    def __init__(self, tmp_path: Path, *args: str, json_mode: bool = True) -> None:
        self.out_path, self.err_path = tmp_path / "listen.out", tmp_path / "listen.err"
        self._out, self._err = self.out_path.open("wb"), self.err_path.open("wb")
        argv = [
            sys.executable,
            "-m",
            "zigznote",
            *(["--json"] if json_mode else []),
            "webhooks",
            "listen",
            "--port",
            "0",
            *args,
        ]
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=self._err, env=dict(os.environ))
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = self.err_path.read_text()
            if "listening on " in text:
                return text.split("listening on ", 1)[1].split()[0]
            if self.proc.poll() is not None:
                raise AssertionError(f"listen exited {self.proc.returncode}: {text}")
            time.sleep(0.05)
        raise AssertionError("listen did not start")

    def lines(self, count: int) -> list[str]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = self.out_path.read_text().splitlines()
            if len(lines) >= count:
                return lines
            time.sleep(0.05)
        raise AssertionError(f"expected {count} lines, got {self.out_path.read_text()!r}")

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=15)
        finally:
            self._out.close()
            self._err.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._out.close()
        self._err.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_listen_reports_requests_and_stops_cleanly(env: dict[str, str], tmp_path: Path, sig: int) -> None:
    listener = Listening(tmp_path, "--secret", SECRET, "--path", "/hook")
    try:
        assert listener.url.startswith("http://127.0.0.1:") and listener.url.endswith("/hook")
        good = httpx.post(listener.url, content=BODY, headers=signed(msg_id="msg_good"), timeout=10)
        assert (good.status_code, good.text) == (200, "ok\n")
        bad = httpx.post(listener.url, content=BODY, headers=signed(secret=OTHER, msg_id="msg_bad"), timeout=10)
        assert bad.status_code == 200  # observe only, unless --reject-invalid
        elsewhere = httpx.post(listener.url.replace("/hook", "/other"), content=b"x", timeout=10)
        assert elsewhere.status_code == 404
        events = [json.loads(line) for line in listener.lines(3)]
    finally:
        code = listener.stop(sig) if listener.proc.poll() is None else listener.proc.returncode
    assert code == 0, listener.err_path.read_text()
    first, second, third = events
    assert set(first) == {"time", "method", "path", "webhook_id", "event_type", "size", "signature", "reason", "status"}
    assert (first["webhook_id"], first["event_type"], first["signature"], first["status"]) == (
        "msg_good", "meeting.ended", "valid", 200,
    )  # fmt: skip
    assert (first["method"], first["path"], first["size"], first["reason"]) == ("POST", "/hook", len(BODY), None)
    assert (second["signature"], second["webhook_id"]) == ("invalid", "msg_bad")
    assert "no v1 signature matches" in second["reason"]
    assert (third["path"], third["status"]) == ("/other", 404)
    assert "stopped" in listener.err_path.read_text()


def test_listen_human_lines_and_failure_simulation(env: dict[str, str], tmp_path: Path) -> None:
    listener = Listening(
        tmp_path, "--secret", SECRET, "--reject-invalid", "--fail-rate", "1", "--fail-status", "503", json_mode=False
    )
    try:
        failed = httpx.post(listener.url + "hook", content=BODY, headers=signed(msg_id="msg_h"), timeout=10)
        assert failed.status_code == 503
        rejected = httpx.post(listener.url + "hook", content=BODY, headers=signed(secret=OTHER), timeout=10)
        assert rejected.status_code == 401
        lines = listener.lines(2)
    finally:
        code = listener.stop()
    assert code == 0
    assert "POST /hook msg_h meeting.ended" in lines[0] and "sig=valid → 503" in lines[0]
    assert "sig=invalid → 401" in lines[1]


def test_listen_bad_options(tool: Cli) -> None:
    assert tool.fails(2, "webhooks", "listen", "--fail-rate", "2")["code"] == "invalid_input"
    assert tool.fails(2, "webhooks", "listen", "--path", "hook")["code"] == "invalid_input"
    assert tool.fails(2, "webhooks", "listen", "--secret", "whsec_!!")["code"] == "invalid_input"
    assert tool.fails(2, "webhooks", "listen", "--delay", "soon")["code"] == "invalid_input"


def test_listen_port_in_use(tool: Cli) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        err = tool.fails(2, "webhooks", "listen", "--port", str(port))
    assert "cannot listen" in err["message"]
