"""`webhooks test | deliveries | attempts | retry | replay | stats`, against a real receiver.

Signatures are checked with the `standardwebhooks` reference library, not with our own
signing module, so a bug there cannot make the tests agree with it.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.cli._webhooks_support import (
    DELIVERY_KEYS,
    add_attempt,
    ago,
    allow_loopback,
    close_to_now,
    create_webhook,
    delivery,
    emit,
    set_delivery,
    set_webhook,
)
from tests.conftest import Cli
from tests.support.receiver import Receiver, Reply
from tests.support.snapshot import rows
from zigznote.timeutil import utcnow
from zigznote.webhooks.envelope import body_bytes, request_headers

TEST_RESULT_KEYS = {
    "webhook_id",
    "event_id",
    "delivery_id",
    "url",
    "ok",
    "status",
    "status_code",
    "error",
    "duration_ms",
    "response_excerpt",
    "signatures",
}


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Any:
    allow_loopback(monkeypatch)
    with Receiver() as r:
        yield r


def _verify(secret: str, request: Any) -> Any:
    return StandardWebhook(secret).verify(request.body, request.headers)


def test_test_sends_a_signed_message_and_records_it(cli: Cli, org: dict[str, Any], receiver: Receiver) -> None:
    hook = create_webhook(cli, receiver.url, "*", "--header", "X-Api-Key: sup3r")
    other = create_webhook(cli, receiver.url, "*")  # a '*' endpoint must not receive another's test
    set_webhook(cli.db_url, hook["id"], consecutive_failures=3)

    result = cli.ok("--org", "acme", "webhooks", "test", hook["id"])
    assert set(result) == TEST_RESULT_KEYS
    assert result["ok"] is True and result["status"] == "succeeded"
    assert (result["status_code"], result["error"], result["signatures"]) == (200, None, 1)
    assert result["response_excerpt"] == "ok" and isinstance(result["duration_ms"], int)
    assert result["url"] == receiver.url and result["webhook_id"] == hook["id"]

    assert receiver.wait_for(1)
    [request] = receiver.requests
    assert request.headers["webhook-id"] == result["delivery_id"]
    assert request.headers["x-api-key"] == "sup3r"
    assert request.headers["content-type"] == "application/json"
    assert abs(int(request.headers["webhook-timestamp"]) - request.wall) < 5
    envelope = _verify(hook["secret"], request)
    assert envelope["id"] == result["event_id"]
    assert envelope["type"] == "webhook.test" and envelope["org"] == org["id"]
    assert envelope["data"] == {"webhook_id": hook["id"], "message": "test from zigznote"}
    with pytest.raises(WebhookVerificationError, match="No matching signature found"):
        _verify(other["secret"], request)

    [attempt] = cli.ok("--org", "acme", "webhooks", "attempts", result["delivery_id"])
    assert attempt["trigger"] == "test" and attempt["attempt_number"] == 1
    assert (attempt["status_code"], attempt["error"], attempt["response_excerpt"]) == (200, None, "ok")
    assert attempt["duration_ms"] == result["duration_ms"]
    [listed] = cli.ok("--org", "acme", "webhooks", "deliveries", hook["id"])
    assert set(listed) == DELIVERY_KEYS
    assert (listed["status"], listed["attempts"], listed["event_type"]) == ("succeeded", 1, "webhook.test")
    assert listed["next_attempt_at"] is None and close_to_now(listed["delivered_at"])
    row = delivery(cli.db_url, result["delivery_id"])
    assert (row.claim_token, row.last_status_code, row.next_trigger) == (None, 200, "test")
    assert cli.ok("--org", "acme", "webhooks", "deliveries", other["id"]) == []
    assert cli.ok("--org", "acme", "webhooks", "show", hook["id"])["consecutive_failures"] == 3  # not traffic

    shown = cli.ok("--org", "acme", "events", "show", result["event_id"])
    assert [d["id"] for d in shown["deliveries"]] == [result["delivery_id"]]

    ran = cli("--org", "acme", "webhooks", "test", hook["id"])
    assert ran.exit_code == 0
    assert "succeeded" in ran.stdout and "200" in ran.stdout and "latency ms" in ran.stdout


def test_test_failure_exits_5_and_is_recorded(cli: Cli, org: dict[str, Any], receiver: Receiver) -> None:
    receiver.set_default(Reply(status=500, body=b"database is down"))
    hook = create_webhook(cli, receiver.url)
    err = cli.fails(5, "--org", "acme", "webhooks", "test", hook["id"])
    assert err["code"] == "webhook_test_failed"
    assert "HTTP 500" in err["message"] and "database is down" in err["message"]
    [d] = cli.ok("--org", "acme", "webhooks", "deliveries", hook["id"])
    assert (d["status"], d["last_status_code"], d["last_error"], d["attempts"]) == ("failed", 500, "HTTP 500", 1)
    assert d["id"] in err["hint"]
    [attempt] = cli.ok("--org", "acme", "webhooks", "attempts", d["id"])
    assert (attempt["status_code"], attempt["trigger"]) == (500, "test")
    assert cli.ok("--org", "acme", "webhooks", "show", hook["id"])["consecutive_failures"] == 0

    ran = cli("--org", "acme", "webhooks", "test", hook["id"])
    assert ran.exit_code == 5 and ran.stdout == "" and "HTTP 500" in ran.stderr

    # A failed ping is history, never replayed (it checked the endpoint then); a failed
    # event delivery beside it is.
    real = emit(cli)["deliveries"][0]["id"]
    set_delivery(cli.db_url, real, status="failed")
    replayed = cli.ok("--org", "acme", "webhooks", "replay", hook["id"], "--since", "1h")
    assert replayed["replayed"] == 1
    statuses = {x["id"]: x["status"] for x in cli.ok("--org", "acme", "webhooks", "deliveries", hook["id"])}
    assert statuses[d["id"]] == "failed" and statuses[real] == "pending"


def test_test_connection_refused_and_ssrf_at_send_time(
    cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    allow_loopback(monkeypatch)
    hook = create_webhook(cli, Receiver.refuse_url())
    err = cli.fails(5, "--org", "acme", "webhooks", "test", hook["id"])
    assert "connection failed" in err["message"]
    # The guard runs again at send time: without the allow-list loopback is refused.
    monkeypatch.delenv("ZIGZNOTE_WEBHOOK_ALLOW_NETS")
    err = cli.fails(5, "--org", "acme", "webhooks", "test", hook["id"])
    assert "refused by SSRF guard" in err["message"]
    assert [d["status"] for d in cli.ok("--org", "acme", "webhooks", "deliveries", hook["id"])] == ["failed"] * 2


def test_rotation_signs_with_both_secrets_during_grace(cli: Cli, org: dict[str, Any], receiver: Receiver) -> None:
    hook = create_webhook(cli, receiver.url)
    old = hook["secret"]
    new = cli.ok("--org", "acme", "webhooks", "rotate-secret", hook["id"], "--grace", "1h")["secret"]
    assert cli.ok("--org", "acme", "webhooks", "test", hook["id"])["signatures"] == 2
    assert receiver.wait_for(1)
    request = receiver.requests[0]
    assert len(request.headers["webhook-signature"].split()) == 2
    assert _verify(old, request)["type"] == "webhook.test"
    assert _verify(new, request)["type"] == "webhook.test"

    newest = cli.ok("--org", "acme", "webhooks", "rotate-secret", hook["id"], "--grace", "0")["secret"]
    assert cli.ok("--org", "acme", "webhooks", "test", hook["id"])["signatures"] == 1
    assert receiver.wait_for(2)
    request = receiver.requests[1]
    assert len(request.headers["webhook-signature"].split()) == 1
    _verify(newest, request)
    for stale in (old, new):
        with pytest.raises(WebhookVerificationError, match="No matching signature found"):
            _verify(stale, request)


def test_envelope_headers_verify_with_the_reference_library() -> None:
    from datetime import datetime

    secrets = ["whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_" + "c2VjcmV0LXR3by1zZWNyZXQtdHdvLXNlY3JldA=="]
    body = body_bytes("evt_1", "meeting.ended", datetime(2026, 11, 3, 14, 0), "org_1", {"meeting_id": "m1", "ü": "✓"})
    headers = request_headers("msg_1", int(time.time()), body, secrets, custom={"X-Team": "ops", "Webhook-Id": "x"})
    assert headers["webhook-id"] == "msg_1" and headers["X-Team"] == "ops"
    for secret in secrets:
        doc = StandardWebhook(secret).verify(body, headers)
        assert doc == {
            "id": "evt_1",
            "type": "meeting.ended",
            "created_at": "2026-11-03T14:00:00Z",
            "org": "org_1",
            "data": {"meeting_id": "m1", "ü": "✓"},
        }
    with pytest.raises(WebhookVerificationError, match="No matching signature found"):
        StandardWebhook(secrets[0]).verify(body + b" ", headers)


# ---------------------------------------------------------------------------------------------
# retry / replay
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def hook(cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    allow_loopback(monkeypatch)
    return create_webhook(cli)  # never delivered to: no worker runs in these tests


def test_retry_starts_a_new_manual_cycle(cli: Cli, hook: dict[str, Any]) -> None:
    did = emit(cli)["deliveries"][0]["id"]
    set_delivery(
        cli.db_url, did, status="failed", attempts=6, cycle_attempts=6, next_attempt_at=None, claim_token=None,
        last_status_code=500,
    )  # fmt: skip
    result = cli.ok("--org", "acme", "webhooks", "retry", did)
    assert set(result) == {"id", "webhook_id", "kind", "previous_status", "status", "held", "next_attempt_at"}
    assert (result["id"], result["webhook_id"], result["previous_status"]) == (did, hook["id"], "failed")
    assert (result["status"], result["held"]) == ("pending", False)
    row = delivery(cli.db_url, did)
    assert (row.status, row.cycle_attempts, row.next_trigger, row.claim_token, row.attempts) == (
        "pending", 0, "manual", None, 6,
    )  # fmt: skip
    assert close_to_now(row.next_attempt_at, 10)
    ran = cli("--org", "acme", "webhooks", "retry", did)
    assert ran.exit_code == 0 and f"queued {did} (was pending)" in ran.stderr


def test_retry_refuses_succeeded_and_in_flight_unless_forced(cli: Cli, hook: dict[str, Any]) -> None:
    did = emit(cli)["deliveries"][0]["id"]
    set_delivery(cli.db_url, did, status="succeeded", next_attempt_at=None)
    before = rows(cli.db_url)
    err = cli.fails(4, "--org", "acme", "webhooks", "retry", did)
    assert err["code"] == "delivery_succeeded" and "--force" in err["hint"]
    assert rows(cli.db_url) == before
    assert cli.ok("--org", "acme", "webhooks", "retry", did, "--force")["status"] == "pending"

    lease = utcnow() + timedelta(seconds=60)
    set_delivery(cli.db_url, did, status="delivering", next_attempt_at=lease, claim_token="tok")
    before = rows(cli.db_url)
    err = cli.fails(4, "--org", "acme", "webhooks", "retry", did)
    assert err["code"] == "delivery_in_flight"
    assert rows(cli.db_url) == before
    forced = cli.ok("--org", "acme", "webhooks", "retry", did, "--force")
    assert forced["previous_status"] == "delivering"
    assert delivery(cli.db_url, did).claim_token is None  # the old claim can no longer finish

    # An expired lease is a crashed worker's claim: retrying it needs no --force.
    set_delivery(cli.db_url, did, status="delivering", next_attempt_at=ago(seconds=5), claim_token="tok2")
    assert cli.ok("--org", "acme", "webhooks", "retry", did)["status"] == "pending"


def test_retry_on_a_disabled_webhook_holds(cli: Cli, hook: dict[str, Any]) -> None:
    did = emit(cli)["deliveries"][0]["id"]
    set_delivery(cli.db_url, did, status="failed")
    cli.ok("--org", "acme", "webhooks", "disable", hook["id"])
    result = cli.ok("--org", "acme", "webhooks", "retry", did)
    assert (result["status"], result["held"]) == ("held", True)
    assert delivery(cli.db_url, did).next_trigger == "manual"
    set_delivery(cli.db_url, did, status="failed")
    ran = cli("--org", "acme", "webhooks", "retry", did)
    assert ran.exit_code == 0 and "is disabled" in ran.stderr and "held" in ran.stderr


def test_retry_and_attempts_of_unknown_deliveries(cli: Cli, hook: dict[str, Any]) -> None:
    for command in ("retry", "attempts"):
        err = cli.fails(3, "--org", "acme", "webhooks", command, "msg_01JD3Q8Z4W6X7Y8Z9A0B1C2D3E")
        assert err["code"] == "delivery_not_found"
        assert cli.fails(2, "--org", "acme", "webhooks", command, "evt_01JD3Q8Z4W6X7Y8Z9A0B1C2D3E")["code"] == (
            "invalid_id"
        )


def test_replay_requeues_finished_deliveries_since(cli: Cli, hook: dict[str, Any]) -> None:
    ids = [emit(cli)["deliveries"][0]["id"] for _ in range(5)]
    recent_failed, recent_ok, old_failed, pending, in_flight = ids
    set_delivery(cli.db_url, recent_failed, status="failed", cycle_attempts=6)
    set_delivery(cli.db_url, recent_ok, status="succeeded")
    set_delivery(cli.db_url, old_failed, status="failed", created_at=ago(days=2))
    set_delivery(cli.db_url, in_flight, status="delivering", claim_token="tok", next_attempt_at=ago(seconds=-60))

    result = cli.ok("--org", "acme", "webhooks", "replay", hook["id"], "--since", "1h")
    assert set(result) == {"webhook_id", "since", "selected", "replayed", "status", "held"}
    assert (result["replayed"], result["selected"], result["status"], result["held"]) == (1, "failed", "pending", False)
    row = delivery(cli.db_url, recent_failed)
    assert (row.status, row.cycle_attempts, row.next_trigger) == ("pending", 0, "manual")
    assert delivery(cli.db_url, old_failed).status == "failed"

    assert cli.ok("--org", "acme", "webhooks", "replay", hook["id"], "--since", "3d")["replayed"] == 1  # old one
    assert (
        cli.ok("--org", "acme", "webhooks", "replay", hook["id"], "--since", "1h", "--status", "succeeded")["replayed"]
        == 1
    )
    set_delivery(cli.db_url, recent_failed, status="failed")
    set_delivery(cli.db_url, recent_ok, status="succeeded")
    everything = cli.ok("--org", "acme", "webhooks", "replay", hook["id"], "--since", "1d", "--status", "all")
    assert everything["replayed"] == 2  # pending and in-flight ones are left alone
    assert delivery(cli.db_url, in_flight).claim_token == "tok"
    assert delivery(cli.db_url, pending).next_trigger == "scheduled"

    set_delivery(cli.db_url, recent_failed, status="failed")
    cli.ok("--org", "acme", "webhooks", "disable", hook["id"])
    held = cli.ok("--org", "acme", "webhooks", "replay", hook["id"], "--since", "1h")
    assert (held["replayed"], held["status"], held["held"]) == (1, "held", True)

    before = rows(cli.db_url)
    assert (
        cli.fails(2, "--org", "acme", "webhooks", "replay", hook["id"], "--since", "1h", "--status", "x")["code"]
        == "invalid_status"
    )
    assert cli.fails(2, "--org", "acme", "webhooks", "replay", hook["id"], "--since", "whenever")["code"] == (
        "invalid_input"
    )
    assert cli("--org", "acme", "webhooks", "replay", hook["id"]).exit_code == 2  # --since is required
    assert rows(cli.db_url) == before
    ran = cli("--org", "acme", "webhooks", "replay", hook["id"], "--since", "1h")
    assert ran.exit_code == 0 and "held until enabled" in ran.stderr


def test_deliveries_filters(cli: Cli, hook: dict[str, Any]) -> None:
    ids = [emit(cli)["deliveries"][0]["id"] for _ in range(3)]
    set_delivery(cli.db_url, ids[0], status="failed", created_at=ago(days=3))
    listed = cli.ok("--org", "acme", "webhooks", "deliveries", hook["id"])
    assert [d["id"] for d in listed] == [ids[2], ids[1], ids[0]]  # newest first
    assert [d["id"] for d in cli.ok("--org", "acme", "webhooks", "deliveries", hook["id"], "--status", "failed")] == [
        ids[0]
    ]
    assert len(cli.ok("--org", "acme", "webhooks", "deliveries", hook["id"], "--since", "1d")) == 2
    assert len(cli.ok("--org", "acme", "webhooks", "deliveries", hook["id"], "--limit", "1")) == 1
    assert cli.fails(2, "--org", "acme", "webhooks", "deliveries", hook["id"], "--status", "lost")["code"] == (
        "invalid_status"
    )
    ran = cli("--org", "acme", "webhooks", "deliveries", hook["id"])
    assert ran.exit_code == 0 and ids[1] in ran.stdout and "meeting.ended" in ran.stdout
    assert cli.ok("--org", "acme", "webhooks", "attempts", ids[1]) == []


# ---------------------------------------------------------------------------------------------
# stats
# ---------------------------------------------------------------------------------------------


def test_stats_numbers(cli: Cli, hook: dict[str, Any]) -> None:
    wid = hook["id"]
    did = emit(cli)["deliveries"][0]["id"]
    samples = [  # (minutes ago, duration ms, status)
        (5, 10, 200), (5, 40, 200), (70, 60, 200), (70, 120, 500), (130, 300, 204),
        (130, 700, None), (400, 2000, 503), (400, 6000, None), (1300, 45, 200), (1300, 30, 410),
    ]  # fmt: skip
    for i, (minutes, ms, code) in enumerate(samples, start=1):
        add_attempt(cli.db_url, did, wid, at=ago(minutes=minutes), duration_ms=ms, status_code=code, number=i)
    add_attempt(cli.db_url, did, wid, at=ago(days=2), duration_ms=1, status_code=200, number=99)  # outside

    data = cli.ok("--org", "acme", "webhooks", "stats", wid)
    assert set(data) == {
        "webhook_id", "since", "until", "attempts", "succeeded", "failed", "success_rate", "latency_ms",
        "status_codes", "histogram", "timeline",
    }  # fmt: skip
    assert (data["webhook_id"], data["attempts"], data["succeeded"], data["failed"]) == (wid, 10, 5, 5)
    assert data["success_rate"] == 0.5
    assert data["latency_ms"] == {"p50": 60, "p95": 6000, "max": 6000}
    assert data["status_codes"] == [
        {"status": 200, "count": 4},
        {"status": 204, "count": 1},
        {"status": 410, "count": 1},
        {"status": 500, "count": 1},
        {"status": 503, "count": 1},
        {"status": None, "count": 2},
    ]
    assert data["histogram"] == [
        {"bucket": "<50ms", "count": 4},
        {"bucket": "<100ms", "count": 1},
        {"bucket": "<250ms", "count": 1},
        {"bucket": "<500ms", "count": 1},
        {"bucket": "<1s", "count": 1},
        {"bucket": "<5s", "count": 1},
        {"bucket": "≥5s", "count": 1},
    ]
    timeline = data["timeline"]
    assert len(timeline) == 12
    # Two-hour buckets: 1300 min ago is in bucket 1, 400 in 8, 130 in 10, 70 and 5 in 11.
    assert [t["attempts"] for t in timeline] == [0, 2, 0, 0, 0, 0, 0, 0, 2, 0, 2, 4]
    assert [t["succeeded"] for t in timeline] == [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3]
    assert timeline[0]["start"] == data["since"]
    since, until = (data["since"], data["until"])
    from tests.cli._webhooks_support import parse_iso

    assert (parse_iso(until) - parse_iso(since)) == timedelta(hours=24)

    week = cli.ok("--org", "acme", "webhooks", "stats", wid, "--since", "7d")
    assert week["attempts"] == 11

    ran = cli("--org", "acme", "webhooks", "stats", wid)
    assert ran.exit_code == 0
    assert "50.0%" in ran.stdout and "60 ms / 6000 ms / 6000 ms" in ran.stdout
    assert "█" in ran.stdout and "≥5s" in ran.stdout
    assert any(ch in ran.stdout for ch in "▁▂▃▄▅▆▇")  # the sparkline
    assert "no response: 2" in ran.stdout
    assert cli.fails(2, "--org", "acme", "webhooks", "stats", wid, "--since", "soon")["code"] == "invalid_input"


def test_stats_without_attempts(cli: Cli, hook: dict[str, Any]) -> None:
    data = cli.ok("--org", "acme", "webhooks", "stats", hook["id"], "--since", "1h")
    assert (data["attempts"], data["success_rate"], data["status_codes"]) == (0, None, [])
    assert data["latency_ms"] == {"p50": None, "p95": None, "max": None}
    assert all(b["count"] == 0 for b in data["histogram"])
    assert all(t["attempts"] == 0 for t in data["timeline"])
    ran = cli("--org", "acme", "webhooks", "stats", hook["id"])
    assert ran.exit_code == 0 and "success rate" in ran.stdout
    assert json.dumps(data)  # plain JSON types only
