"""`webhooks` management: create, list, show, update, delete, enable, disable, rotate-secret."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from tests.cli._webhooks_support import (
    LOOPBACK_URL,
    PUBLIC_URL,
    WEBHOOK_KEYS,
    ago,
    allow_loopback,
    close_to_now,
    create_webhook,
    deliveries_of,
    emit,
    parse_iso,
    set_delivery,
    set_webhook,
    sql,
)
from tests.conftest import Cli
from tests.support.snapshot import rows
from zigznote.timeutil import utcnow


def test_create_prints_the_secret_once(cli: Cli, org: dict[str, Any]) -> None:
    created = cli.ok(
        "--org", "acme", "webhooks", "create",
        "--url", PUBLIC_URL,
        "--events", "summary.ready,meeting.ended",
        "--name", "prod",
        "--description", "Production receiver",
        "--header", "X-Api-Key: k1",
    )  # fmt: skip
    assert set(created) == WEBHOOK_KEYS | {"secret"}
    assert created["id"].startswith("wh_")
    assert created["org_id"] == org["id"]
    assert (created["name"], created["description"], created["url"]) == ("prod", "Production receiver", PUBLIC_URL)
    assert created["events"] == ["meeting.ended", "summary.ready"]  # sorted, validated
    assert created["enabled"] is True and created["consecutive_failures"] == 0
    assert created["has_headers"] is True and created["has_previous_secret"] is False
    assert created["disabled_reason"] is None and created["disabled_at"] is None
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 24

    listed = cli.ok("--org", "acme", "webhooks", "list")
    assert listed == [{k: v for k, v in created.items() if k != "secret"}]
    shown = cli.ok("--org", "acme", "webhooks", "show", created["id"])
    assert "secret" not in shown and "headers" not in shown
    assert shown["deliveries"] == {"pending": 0, "delivering": 0, "succeeded": 0, "failed": 0, "held": 0}
    assert cli.ok("--org", "acme", "webhooks", "show", "prod")["id"] == created["id"]  # a unique name works too

    revealed = cli.ok("--org", "acme", "webhooks", "show", created["id"], "--show-secret")
    assert revealed["secret"] == secret
    assert revealed["previous_secret"] is None
    assert revealed["headers"] == {"X-Api-Key": "k1"}


def test_create_human_output_and_defaults(cli: Cli, org: dict[str, Any]) -> None:
    ran = cli("--org", "acme", "webhooks", "create", "--url", "HTTPS://93.184.215.14:443", "--events", " * ")
    assert ran.exit_code == 0, ran.stderr
    assert "whsec_" in ran.stdout
    assert "not shown again" in ran.stderr
    [hook] = cli.ok("--org", "acme", "webhooks", "list")
    assert hook["url"] == "https://93.184.215.14/"  # normalised
    assert hook["name"] == "93.184.215.14"  # default: the host
    assert hook["events"] == ["*"]
    listed = cli("--org", "acme", "webhooks", "list")
    assert hook["id"] in listed.stdout and "whsec_" not in listed.stdout
    shown = cli("--org", "acme", "webhooks", "show", hook["id"])
    assert "consecutive failures" in shown.stdout and "whsec_" not in shown.stdout
    assert cli("--org", "acme", "webhooks", "list").exit_code == 0


def test_empty_list(cli: Cli, org: dict[str, Any]) -> None:
    assert cli.ok("--org", "acme", "webhooks", "list") == []
    ran = cli("--org", "acme", "webhooks", "list")
    assert ran.exit_code == 0 and "no webhooks yet" in ran.stderr


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "https://127.0.0.1:8443/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.1.2.3/",
        "https://192.168.1.10/",
        "http://[::1]/",
        "https://0.0.0.0/",
        "https://2130706433/",  # 127.0.0.1 as a number
    ],
)
def test_ssrf_guard_refuses_internal_urls(cli: Cli, org: dict[str, Any], url: str) -> None:
    before = rows(cli.db_url)
    err = cli.fails(2, "--org", "acme", "webhooks", "create", "--url", url, "--events", "*")
    assert err["code"] == "url_not_allowed", err
    assert "ZIGZNOTE_WEBHOOK_ALLOW_NETS" in err["message"] + (err["hint"] or "")
    assert rows(cli.db_url) == before


def test_allow_list_opens_loopback(cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    allow_loopback(monkeypatch)
    created = create_webhook(cli, "http://127.0.0.1:8080/hook")
    assert created["url"] == "http://127.0.0.1:8080/hook"
    # Only the allow-listed network: other private ranges stay closed.
    assert (
        cli.fails(2, "--org", "acme", "webhooks", "create", "--url", "https://10.0.0.1/", "--events", "*")["code"]
        == "url_not_allowed"
    )


def test_plain_http_needs_allow_http(cli: Cli, org: dict[str, Any]) -> None:
    err = cli.fails(2, "--org", "acme", "webhooks", "create", "--url", "http://93.184.215.14/h", "--events", "*")
    assert err["code"] == "url_not_allowed" and "https" in err["message"]
    created = cli.ok(
        "--org", "acme", "webhooks", "create", "--url", "http://93.184.215.14/h", "--events", "*", "--allow-http"
    )
    assert created["url"] == "http://93.184.215.14/h"


def test_bad_allow_list_is_a_configuration_error(
    cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZIGZNOTE_WEBHOOK_ALLOW_NETS", "not-a-cidr")
    err = cli.fails(6, "--org", "acme", "webhooks", "create", "--url", PUBLIC_URL, "--events", "*")
    assert err["code"] == "invalid_allow_nets"


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["--url", "not a url", "--events", "*"], "invalid_url", "is invalid"),
        (["--url", "ftp://93.184.215.14/x", "--events", "*"], "invalid_url", "ftp"),
        (["--url", "https://user:pw@93.184.215.14/", "--events", "*"], "invalid_url", "credentials"),
        (["--url", PUBLIC_URL, "--events", "meeting.endd"], "unknown_event_type", "did you mean 'meeting.ended'"),
        (["--url", PUBLIC_URL, "--events", " , "], "invalid_input", "at least one event type"),
        (["--url", PUBLIC_URL, "--events", "*", "--header", "NoColon"], "invalid_header", "Name: value"),
        (["--url", PUBLIC_URL, "--events", "*", "--header", "Bad Name: x"], "invalid_header", "invalid header name"),
        (["--url", PUBLIC_URL, "--events", "*", "--header", "Content-Type: text/plain"], "reserved_header", "reserved"),
        (["--url", PUBLIC_URL, "--events", "*", "--header", "webhook-signature: x"], "reserved_header", "reserved"),
        (["--url", PUBLIC_URL, "--events", "*", "--header", "Webhook-Extra: x"], "reserved_header", "reserved"),
        (["--url", PUBLIC_URL, "--events", "*", "--name", "  "], "invalid_name", "1-200"),
    ],
)
def test_bad_create_input_writes_nothing(
    cli: Cli, org: dict[str, Any], args: list[str], code: str, fragment: str
) -> None:
    before = rows(cli.db_url)
    err = cli.fails(2, "--org", "acme", "webhooks", "create", *args)
    assert err["code"] == code, err
    assert fragment in err["message"], err
    assert rows(cli.db_url) == before


def test_org_is_required(cli: Cli, org: dict[str, Any]) -> None:
    assert cli.fails(2, "webhooks", "list")["code"] == "org_required"
    assert cli.fails(3, "--org", "nope", "webhooks", "list")["code"] == "org_not_found"


@pytest.mark.parametrize(
    "command",
    [
        ["show"], ["update", "--name", "x"], ["delete"], ["enable"], ["disable"], ["rotate-secret"], ["test"],
        ["deliveries"], ["stats"], ["replay", "--since", "1h"],
    ],
)  # fmt: skip
def test_unknown_webhook_is_not_found(cli: Cli, org: dict[str, Any], command: list[str]) -> None:
    before = rows(cli.db_url)
    name, *rest = command
    err = cli.fails(3, "--org", "acme", "webhooks", name, "wh_01JD3Q8Z4W6X7Y8Z9A0B1C2D3E", *rest)
    assert err["code"] == "webhook_not_found"
    assert err["message"] == "webhook 'wh_01JD3Q8Z4W6X7Y8Z9A0B1C2D3E' not found in this organization"
    assert rows(cli.db_url) == before


def test_names_are_unique_per_org(cli: Cli, org: dict[str, Any]) -> None:
    first = create_webhook(cli, PUBLIC_URL, "*", "--name", "twin")
    before = cli.ok("--org", "acme", "webhooks", "list")
    err = cli.fails(4, "--org", "acme", "webhooks", "create", "--url", PUBLIC_URL, "--events", "*", "--name", "twin")
    assert err["code"] == "duplicate_name" and "'twin'" in err["message"]
    assert cli.ok("--org", "acme", "webhooks", "list") == before
    other = create_webhook(cli, PUBLIC_URL, "*", "--name", "other")
    err = cli.fails(4, "--org", "acme", "webhooks", "update", other["id"], "--name", "twin")
    assert err["code"] == "duplicate_name"
    assert cli.ok("--org", "acme", "webhooks", "show", "twin")["id"] == first["id"]
    # Without --name the host is the name, suffixed when taken.
    assert create_webhook(cli, PUBLIC_URL, "*")["name"] == "93.184.215.14"
    assert create_webhook(cli, PUBLIC_URL, "*")["name"] == "93.184.215.14-2"
    # Another org may use the same name.
    cli.ok("orgs", "create", "beta")
    again = cli.ok("--org", "beta", "webhooks", "create", "--url", PUBLIC_URL, "--events", "*", "--name", "twin")
    assert again["name"] == "twin"


def test_update(cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    hook = create_webhook(cli, PUBLIC_URL, "meeting.ended", "--header", "X-One: 1", "--description", "d")
    wid = hook["id"]
    updated = cli.ok(
        "--org", "acme", "webhooks", "update", wid,
        "--events", "bot.error,bot.joined", "--name", "renamed", "--description", "",
        "--header", "x-one: uno", "--header", "X-Two: 2",
    )  # fmt: skip
    assert set(updated) == WEBHOOK_KEYS
    assert updated["events"] == ["bot.error", "bot.joined"]
    assert updated["name"] == "renamed" and updated["description"] is None
    assert parse_iso(updated["updated_at"]) > parse_iso(hook["updated_at"])
    shown = cli.ok("--org", "acme", "webhooks", "show", wid, "--show-secret")
    assert shown["headers"] == {"x-one": "uno", "X-Two": "2"}  # merged; same name (any case) replaced
    assert shown["secret"] == hook["secret"]  # an update never touches the secret

    cli.ok("--org", "acme", "webhooks", "update", wid, "--clear-headers", "--header", "X-Three: 3")
    assert cli.ok("--org", "acme", "webhooks", "show", wid, "--show-secret")["headers"] == {"X-Three": "3"}
    cleared = cli.ok("--org", "acme", "webhooks", "update", wid, "--clear-headers")
    assert cleared["has_headers"] is False

    # The URL is re-checked on update, and a refusal changes nothing.
    before = rows(cli.db_url)
    assert cli.fails(2, "--org", "acme", "webhooks", "update", wid, "--url", "http://127.0.0.1/")["code"] == (
        "url_not_allowed"
    )
    assert cli.fails(2, "--org", "acme", "webhooks", "update", wid, "--events", "nope")["code"] == (
        "unknown_event_type"
    )
    assert cli.fails(2, "--org", "acme", "webhooks", "update", wid)["code"] == "nothing_to_update"
    assert cli.fails(2, "--org", "acme", "webhooks", "update", wid, "--header", "Host: x")["code"] == (
        "reserved_header"
    )
    assert rows(cli.db_url) == before
    allow_loopback(monkeypatch)
    moved = cli.ok("--org", "acme", "webhooks", "update", wid, "--url", "http://127.0.0.1:9000/new")
    assert moved["url"] == "http://127.0.0.1:9000/new"

    ran = cli("--org", "acme", "webhooks", "update", wid, "--name", "human")
    assert ran.exit_code == 0 and f"updated {wid} (human)" in ran.stderr


def test_disable_holds_queued_deliveries_and_enable_releases_them(
    cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    allow_loopback(monkeypatch)
    hook = create_webhook(cli)
    wid = hook["id"]
    first = emit(cli)["deliveries"][0]["id"]
    second = emit(cli)["deliveries"][0]["id"]
    done = emit(cli)["deliveries"][0]["id"]
    lease = utcnow() + timedelta(seconds=30)
    set_delivery(cli.db_url, second, status="delivering", claim_token="tok", next_attempt_at=lease)
    set_delivery(cli.db_url, done, status="succeeded")

    disabled = cli.ok("--org", "acme", "webhooks", "disable", wid)
    assert set(disabled) == WEBHOOK_KEYS | {"held"}
    assert disabled["held"] == 2
    assert disabled["enabled"] is False
    assert disabled["disabled_reason"] == "disabled by operator"
    assert close_to_now(disabled["disabled_at"])
    statuses = {d.id: (d.status, d.claim_token) for d in deliveries_of(cli.db_url, wid)}
    assert statuses == {first: ("held", None), second: ("held", None), done: ("succeeded", None)}

    # A disabled endpoint's new deliveries are held too, never dropped.
    late = emit(cli)["deliveries"]
    assert [d["status"] for d in late] == ["held"]
    shown = cli.ok("--org", "acme", "webhooks", "show", wid)
    assert shown["deliveries"] == {"pending": 0, "delivering": 0, "succeeded": 1, "failed": 0, "held": 3}

    set_webhook(cli.db_url, wid, consecutive_failures=7)
    enabled = cli.ok("--org", "acme", "webhooks", "enable", wid)
    assert set(enabled) == WEBHOOK_KEYS | {"released"}
    assert enabled["released"] == 3
    assert enabled["enabled"] is True and enabled["consecutive_failures"] == 0
    assert enabled["disabled_reason"] is None and enabled["disabled_at"] is None
    for d in deliveries_of(cli.db_url, wid):
        if d.id == done:
            assert d.status == "succeeded"
        else:
            assert d.status == "pending" and d.claim_token is None
            assert close_to_now(d.next_attempt_at)

    ran = cli("--org", "acme", "webhooks", "disable", wid, "--reason", "endpoint migration")
    assert ran.exit_code == 0 and "endpoint migration" in ran.stderr and "3 deliveries held" in ran.stderr
    assert cli.ok("--org", "acme", "webhooks", "show", wid)["disabled_reason"] == "endpoint migration"
    ran = cli("--org", "acme", "webhooks", "enable", wid)
    assert ran.exit_code == 0 and "3 held deliveries released" in ran.stderr
    assert cli.fails(2, "--org", "acme", "webhooks", "disable", wid, "--reason", " ")["code"] == "invalid_reason"


def test_delete_refuses_while_deliveries_are_queued(
    cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    allow_loopback(monkeypatch)
    idle = create_webhook(cli, LOOPBACK_URL, "summary.ready")
    busy = create_webhook(cli, LOOPBACK_URL, "meeting.ended")
    delivery_id = emit(cli)["deliveries"][0]["id"]
    sql(
        cli.db_url,
        "INSERT INTO delivery_attempt (id, delivery_id, webhook_id, attempt_number, trigger, attempted_at, "
        "duration_ms) VALUES ('att_1', :d, :w, 1, 'scheduled', :at, 5)",
        d=delivery_id,
        w=busy["id"],
        at=utcnow(),
    )
    for status in ("pending", "delivering", "held"):
        set_delivery(cli.db_url, delivery_id, status=status)
        before = rows(cli.db_url)
        err = cli.fails(4, "--org", "acme", "webhooks", "delete", busy["id"])
        assert err["code"] == "webhook_has_pending", status
        assert "1 queued delivery (" in err["message"] and "--force" in err["hint"]
        assert rows(cli.db_url) == before

    deleted = cli.ok("--org", "acme", "webhooks", "delete", busy["id"], "--force")
    assert deleted == {"id": busy["id"], "name": busy["name"], "deleted": True, "deliveries": 1, "attempts": 1}
    assert deliveries_of(cli.db_url, busy["id"]) == []
    assert sql(cli.db_url, "SELECT id FROM delivery_attempt") == []
    assert len(sql(cli.db_url, "SELECT id FROM event")) == 1  # events belong to the org, not the webhook
    ran = cli("--org", "acme", "webhooks", "delete", idle["id"])  # nothing queued: no --force needed
    assert ran.exit_code == 0 and f"deleted {idle['id']}" in ran.stderr
    assert cli.ok("--org", "acme", "webhooks", "list") == []


def test_delete_allows_finished_deliveries(cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    allow_loopback(monkeypatch)
    hook = create_webhook(cli)
    set_delivery(cli.db_url, emit(cli)["deliveries"][0]["id"], status="failed")
    set_delivery(cli.db_url, emit(cli)["deliveries"][0]["id"], status="succeeded")
    assert cli.ok("--org", "acme", "webhooks", "delete", hook["id"])["deliveries"] == 2


def test_rotate_secret_keeps_the_old_one_for_the_grace_period(cli: Cli, org: dict[str, Any]) -> None:
    hook = create_webhook(cli, PUBLIC_URL)
    rotated = cli.ok("--org", "acme", "webhooks", "rotate-secret", hook["id"])
    assert set(rotated) == {"id", "secret", "grace_seconds", "previous_secret_expires_at"}
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != hook["secret"]
    assert rotated["grace_seconds"] == 86400
    expires = parse_iso(rotated["previous_secret_expires_at"])
    assert abs((expires - utcnow() - timedelta(hours=24)).total_seconds()) < 30
    shown = cli.ok("--org", "acme", "webhooks", "show", hook["id"], "--show-secret")
    assert (shown["secret"], shown["previous_secret"]) == (rotated["secret"], hook["secret"])
    assert shown["has_previous_secret"] is True
    assert shown["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]

    # Once the grace period is over the previous secret is gone from the output (and from signing).
    set_webhook(cli.db_url, hook["id"], previous_secret_expires_at=ago(seconds=1))
    shown = cli.ok("--org", "acme", "webhooks", "show", hook["id"], "--show-secret")
    assert shown["has_previous_secret"] is False and shown["previous_secret"] is None
    assert shown["previous_secret_expires_at"] is None

    again = cli.ok("--org", "acme", "webhooks", "rotate-secret", hook["id"], "--grace", "0")
    assert again["previous_secret_expires_at"] is None and again["grace_seconds"] == 0
    shown = cli.ok("--org", "acme", "webhooks", "show", hook["id"], "--show-secret")
    assert (shown["secret"], shown["previous_secret"]) == (again["secret"], None)

    before = rows(cli.db_url)
    assert cli.fails(2, "--org", "acme", "webhooks", "rotate-secret", hook["id"], "--grace", "forever")["code"] == (
        "invalid_input"
    )
    assert cli.fails(2, "--org", "acme", "webhooks", "rotate-secret", hook["id"], "--grace", "31d")["code"] == (
        "invalid_grace"
    )
    assert rows(cli.db_url) == before

    ran = cli("--org", "acme", "webhooks", "rotate-secret", hook["id"], "--grace", "1h")
    assert ran.exit_code == 0 and "whsec_" in ran.stdout and "not shown again" in ran.stderr
