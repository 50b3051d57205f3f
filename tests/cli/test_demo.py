"""`zigznote demo`: the main job on a throw-away installation, leaving nothing behind."""

from __future__ import annotations

import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, Ran
from zigznote.errors import ProviderError
from zigznote.services import demo

EVENT_TYPES = ["meeting.started", "meeting.ended", "summary.ready"]


def run(*args: str) -> Ran:
    """zigznote with exactly these arguments (no --db)."""
    return Cli("unused")(*args, db=False)


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the demo's temporary directory goes (so a test can see it is removed)."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def refused(url: str) -> bool:
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) != 0


def test_demo_delivers_with_one_retry_and_leaves_nothing(env: dict[str, str], temp_root: Path) -> None:
    threads = threading.active_count()
    ran = run("--json", "demo")
    assert ran.exit_code == 0, ran.stderr
    doc: dict[str, Any] = ran.json

    assert [e["type"] for e in doc["events"]] == EVENT_TYPES
    deliveries = doc["deliveries"]
    assert [d["event_type"] for d in deliveries] == EVENT_TYPES
    assert [d["status"] for d in deliveries] == ["succeeded"] * 3
    # The receiver fails exactly its first request: one delivery needs its retry, the others do not.
    assert sorted(d["attempts"] for d in deliveries) == [1, 1, 2]
    [retried] = [d for d in deliveries if d["attempts"] == 2]
    assert [(a["attempt_number"], a["status_code"]) for a in retried["attempts_log"]] == [(1, 500), (2, 200)]
    for d in deliveries:
        assert d["attempts_log"][-1]["status_code"] == 200
    # Every request arrived signed with the webhook's secret, the retry with the same webhook-id.
    received = doc["received"]
    assert len(received) == 4
    assert {r["signature"] for r in received} == {"valid"}
    assert [r["status"] for r in received].count(500) == 1
    assert sorted(r["webhook_id"] for r in received) == sorted([d["id"] for d in deliveries] + [retried["id"]])
    assert "secret" not in doc["webhook"]
    assert (doc["org"]["slug"], doc["webhook"]["name"]) == ("demo", "receiver")

    # Nothing left: no directory, no listening socket, no thread.
    assert doc["workdir"] is None and doc["config"] is None
    assert list(temp_root.iterdir()) == []
    assert refused(doc["receiver_url"])
    assert threading.active_count() == threads


def test_demo_human_output(env: dict[str, str], temp_root: Path) -> None:
    ran = run("demo")
    assert ran.exit_code == 0, ran.stderr
    for title in ("deliveries to receiver (http://127.0.0.1:", "attempts", "what the receiver saw"):
        assert title in ran.stdout
    assert ran.stdout.count("succeeded") == 3
    assert "3 events delivered, 1 after a retry; the receiver checked 4 of 4 signatures as valid" in ran.stderr
    assert "answering the first request with 500" in ran.stderr
    assert "try next:" in ran.stderr and "zigznote demo --keep" in ran.stderr
    assert list(temp_root.iterdir()) == []


def test_demo_never_touches_the_operators_store(
    env: dict[str, str], temp_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_db = tmp_path / "real" / "zigznote.db"
    monkeypatch.setenv("ZIGZNOTE_DB", f"sqlite:///{real_db}")
    monkeypatch.setenv("ZIGZNOTE_RETRY_SCHEDULE", "not a schedule")  # would break a worker here
    config = tmp_path / "config" / "zigznote" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("this is = = not toml")  # the operator's config is not even read
    ran = run("--json", "demo")
    assert ran.exit_code == 0, ran.stderr
    assert not real_db.parent.exists()
    assert config.read_text() == "this is = = not toml"


def test_demo_refuses_db(env: dict[str, str], temp_root: Path, tmp_path: Path) -> None:
    ran = run("--json", "--db", f"sqlite:///{tmp_path / 'x.db'}", "demo")
    assert ran.exit_code == 2
    assert ran.error["code"] == "usage"
    assert "throw-away database" in ran.error["message"]
    assert list(temp_root.iterdir()) == []


def test_demo_keep(env: dict[str, str], temp_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = run("--json", "demo", "--keep")
    assert ran.exit_code == 0, ran.stderr
    doc = ran.json
    [kept] = list(temp_root.iterdir())
    assert doc["workdir"] == str(kept)
    assert doc["config"] == str(kept / "config.toml")
    assert sorted(p.name for p in kept.iterdir() if not p.name.startswith("zigznote.db-")) == [
        "config.toml",
        "master.key",
        "zigznote.db",
    ]
    # The printed way to look at it works: the kept config names the database and the key.
    for name in ("ZIGZNOTE_DB", "ZIGZNOTE_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZIGZNOTE_CONFIG", doc["config"])
    listed = run("--json", "--org", "demo", "webhooks", "deliveries", "receiver")
    assert listed.exit_code == 0, listed.stderr
    assert sorted(d["id"] for d in listed.json) == sorted(d["id"] for d in doc["deliveries"])
    human = run("demo", "--keep")
    assert f"ZIGZNOTE_CONFIG={temp_root}" in human.stderr
    # Already kept: "try next" does not suggest --keep again.
    assert "try next:" in human.stderr and "zigznote demo --keep" not in human.stderr


def test_demo_that_cannot_finish_is_exit_5_and_still_cleans_up(env: dict[str, str], temp_root: Path) -> None:
    threads = threading.active_count()
    # Half a second: the retry of the failed first request (due after about 1 s) cannot happen.
    with pytest.raises(ProviderError, match=r"did not all succeed within 0\.5 s") as exc:
        demo.run(timeout=0.5)
    assert exc.value.code == "demo_incomplete"
    assert exc.value.exit_code == 5
    assert "pending" in exc.value.message or "delivering" in exc.value.message
    assert list(temp_root.iterdir()) == []
    assert threading.active_count() == threads
