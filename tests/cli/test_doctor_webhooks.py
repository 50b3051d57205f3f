"""`doctor` warns about stored webhooks that need a look: queued deliveries to an address the
SSRF guard refuses now, and names migration 0003 changed."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Cli
from zigznote.store.engine import normalize_url

LOCAL_URL = "http://127.0.0.1:9/hook"


def webhooks_check(cli: Cli) -> dict[str, Any]:
    ran = cli("--json", "doctor")
    assert ran.exit_code == 0, ran.stdout + ran.stderr  # warnings do not fail doctor
    report = ran.json
    assert report["ok"] is True
    return next(c for c in report["checks"] if c["check"] == "webhooks")


def test_no_webhooks_no_warnings(cli: Cli) -> None:
    check = webhooks_check(cli)
    assert check == {"check": "webhooks", "ok": True, "detail": "0 webhooks, 0 warnings"}


def test_queued_deliveries_to_a_refused_address(cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIGZNOTE_WEBHOOK_ALLOW_NETS", "127.0.0.0/8")
    hook = cli.ok("--org", "acme", "webhooks", "create", "--name", "local", "--url", LOCAL_URL, "--events", "*")
    # Allowed: nothing to say, even with a delivery queued.
    cli.ok("--org", "acme", "events", "emit", "meeting.ended", "--data", '{"meeting_id": "m-1"}')
    assert webhooks_check(cli)["detail"] == "1 webhook, 0 warnings"

    # The allow-list no longer covers it: every queued delivery would be refused at connect time.
    monkeypatch.delenv("ZIGZNOTE_WEBHOOK_ALLOW_NETS")
    check = webhooks_check(cli)
    assert check["detail"] == "1 webhook, 1 warning"
    [warning] = check["warnings"]
    assert warning["message"] == (
        f"webhook local ({hook['id']}, org acme) has 1 queued delivery, but its URL is refused: "
        f"webhook URL {LOCAL_URL} resolves to 127.0.0.1, a loopback address; "
        "set ZIGZNOTE_WEBHOOK_ALLOW_NETS to allow it"
    )
    assert warning["hint"] == (
        f"point it at a reachable receiver with `zigznote --org acme webhooks update {hook['id']} --url URL`, "
        "or fix the allow-list (ZIGZNOTE_WEBHOOK_ALLOW_NETS)"
    )
    human = cli("doctor")
    assert human.exit_code == 0
    assert f"warn webhook local ({hook['id']}, org acme) has 1 queued delivery" in human.stdout


def test_a_refused_webhook_with_nothing_queued_is_not_reported(
    cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZIGZNOTE_WEBHOOK_ALLOW_NETS", "127.0.0.0/8")
    cli.ok("--org", "acme", "webhooks", "create", "--name", "local", "--url", LOCAL_URL, "--events", "*")
    monkeypatch.delenv("ZIGZNOTE_WEBHOOK_ALLOW_NETS")
    assert webhooks_check(cli)["detail"] == "1 webhook, 0 warnings"


def test_an_invalid_allow_list_skips_the_url_part(
    cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZIGZNOTE_WEBHOOK_ALLOW_NETS", "not-a-network")
    ran = cli("--json", "doctor")
    assert ran.exit_code == 6  # the allow-list check fails, the webhooks check only says so
    failing = [c["check"] for c in ran.json["checks"] if not c["ok"]]
    assert failing == ["webhook allow-list"]
    check = next(c for c in ran.json["checks"] if c["check"] == "webhooks")
    assert check["detail"] == "0 webhooks, 0 warnings (refused URLs not checked: the allow-list is invalid)"


def test_webhooks_renamed_by_the_migration(cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIGZNOTE_WEBHOOK_ALLOW_NETS", "127.0.0.0/8")
    hook = cli.ok("--org", "acme", "webhooks", "create", "--name", "local-2", "--url", LOCAL_URL, "--events", "*")
    # What migration 0003 leaves behind for the second of two webhooks named "local".
    engine = sa.create_engine(normalize_url(cli.db_url))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE webhook SET renamed_from = 'local' WHERE id = :id"), {"id": hook["id"]})
    engine.dispose()

    [warning] = webhooks_check(cli)["warnings"]
    assert warning == {
        "message": f"webhook {hook['id']} (org acme) was renamed from 'local' to 'local-2' by the upgrade "
        "that made names unique per organization",
        "hint": f"rename it with `zigznote --org acme webhooks update {hook['id']} --name NAME`",
    }
    # Following the hint clears the warning.
    cli.ok("--org", "acme", "webhooks", "update", hook["id"], "--name", "staging")
    assert "warnings" not in webhooks_check(cli)


def test_unreadable_secrets_hint_works(cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIGZNOTE_WEBHOOK_ALLOW_NETS", "127.0.0.0/8")
    cli.ok("--org", "acme", "webhooks", "create", "--name", "local", "--url", LOCAL_URL, "--events", "*")
    old_key = os.environ["ZIGZNOTE_MASTER_KEY"]
    monkeypatch.setenv("ZIGZNOTE_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    ran = cli("--json", "doctor")
    assert ran.exit_code == 6
    check = next(c for c in ran.json["checks"] if c["check"] == "master key")
    assert check["detail"] == "1 secret(s) were encrypted with a key that is not loaded"
    assert "ZIGZNOTE_MASTER_KEY_PREVIOUS" in check["hint"]
    # following the hint: the old key beside the new one
    monkeypatch.setenv("ZIGZNOTE_MASTER_KEY_PREVIOUS", old_key)
    assert cli("--json", "doctor").exit_code == 0
