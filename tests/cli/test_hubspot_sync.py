"""`zigznote hubspot sync` against a fake HubSpot on loopback (real HTTP, state kept by the fake):
idempotent re-syncs, partial failures, token expiry and revocation, rate limits, dry runs."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.cli._hubspot_support import (
    HUB_ID,
    MEETING,
    actions,
    connect_with,
    fixture,
    hub,
    import_meeting,
    store,
    store_bytes,
    stored_tokens,
)
from tests.conftest import Cli
from tests.support.fake_hubspot import FakeHubSpot
from zigznote.services.hubspot import links
from zigznote.store.engine import Database
from zigznote.vault import Vault

__all__ = ["hub", "store"]  # fixtures

Store = tuple[Database, Vault]


def _sync(cli: Cli, meeting: str, *args: str) -> dict[str, Any]:
    return dict(cli.ok("--org", "acme", "hubspot", "sync", meeting, *args))


def _tasks(fake: FakeHubSpot) -> dict[str, dict[str, str]]:
    return {o.id: o.properties for o in fake.objects["tasks"].values()}


def test_first_sync_creates_the_meeting_and_tasks_with_associations(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    connect_with(store, hub.install())
    meeting_id = import_meeting(cli)
    result = _sync(cli, "m-100")

    assert result["ok"] is True and result["dry_run"] is False
    assert result["meeting_id"] == meeting_id and result["hub_id"] == HUB_ID
    assert actions(result) == [
        ("contact", "matched"),
        ("contact", "matched"),
        ("contact", "no contact"),
        ("meeting", "created"),
        ("task", "created"),
        ("task", "created"),
    ]
    assert result["counts"] == {"matched": 2, "no contact": 1, "created": 3}
    ada, grace = (hub.objects["contacts"][i] for i in sorted(hub.objects["contacts"], key=int))
    [meeting] = hub.objects["meetings"].values()
    assert meeting.associations == [(ada.id, 200), (grace.id, 200)]
    assert meeting.properties["hs_meeting_title"] == "Quarterly review"
    assert meeting.properties["hs_meeting_outcome"] == "COMPLETED"
    assert meeting.properties["hs_meeting_body"].startswith("Revenue is up.<br>Next: &lt;hiring&gt; &amp; budget.")
    tasks = sorted(hub.objects["tasks"].values(), key=lambda o: int(o.id))
    assert [t.properties["hs_task_subject"] for t in tasks] == ["Send the proposal", "Book the venue"]
    assert [t.associations for t in tasks] == [[(ada.id, 204), (grace.id, 204)]] * 2
    assert tasks[0].properties["hubspot_owner_id"] == hub.owners[0]["id"]
    assert "hubspot_owner_id" not in tasks[1].properties
    assert tasks[0].properties["hs_timestamp"] == "2026-12-05T17:00:00Z"
    assert tasks[1].properties["hs_timestamp"] == "2026-11-30T11:00:00Z"  # no due date: the meeting's end


def test_three_syncs_make_one_meeting_and_one_task_per_item(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    connect_with(store, hub.install())
    import_meeting(cli)
    first = _sync(cli, "m-100")
    second = _sync(cli, "m-100")
    third = _sync(cli, "m-100")

    assert len(hub.objects["meetings"]) == 1
    assert len(hub.objects["tasks"]) == 2
    assert len(hub.calls("batch_create", "meetings")) == 1 and len(hub.calls("batch_create", "tasks")) == 1
    ids = {(i["object"], i["key"]): i["hubspot_id"] for i in first["items"] if i["object"] != "contact"}
    for again in (second, third):
        assert [a for a in actions(again) if a[0] != "contact"] == [
            ("meeting", "updated"), ("task", "updated"), ("task", "updated"),
        ]  # fmt: skip
        assert {(i["object"], i["key"]): i["hubspot_id"] for i in again["items"] if i["object"] != "contact"} == ids
    # A re-sync leaves what people change in HubSpot alone: status, priority, outcome.
    update = hub.calls("batch_update", "tasks")[0]
    assert {"hs_task_status", "hs_task_priority"}.isdisjoint(update.json["inputs"][0]["properties"])

    # One more action item: exactly one more task; the others are updated.
    more = {**MEETING, "action_items": [*MEETING["action_items"], {"text": "Share the slides"}]}
    cli.ok("--org", "acme", "meetings", "import", "-", input=json.dumps(more))
    fourth = _sync(cli, "m-100")
    assert [a for a in actions(fourth) if a[0] == "task"] == [
        ("task", "updated"),
        ("task", "updated"),
        ("task", "created"),
    ]
    assert len(hub.objects["tasks"]) == 3 and len(hub.objects["meetings"]) == 1
    assert sorted(p["hs_task_subject"] for p in _tasks(hub).values()) == [
        "Book the venue", "Send the proposal", "Share the slides",
    ]  # fmt: skip


def test_partial_failure_exits_5_and_the_next_sync_creates_only_the_missing_task(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    connect_with(store, hub.install())
    import_meeting(cli)
    hub.reject("tasks", lambda item: item["properties"]["hs_task_subject"] == "Book the venue", message="venue refused")

    ran = cli("--json", "--org", "acme", "hubspot", "sync", "m-100")
    assert ran.exit_code == 5
    result = ran.json
    assert result["ok"] is False
    failed = [i for i in result["items"] if i["action"] == "failed"]
    assert [(i["object"], i["label"]) for i in failed] == [("task", "Book the venue")]
    assert "VALIDATION_ERROR: venue refused" in failed[0]["error"]
    assert [a for a in actions(result) if a[0] == "task"] == [("task", "created"), ("task", "failed")]
    assert ran.error["code"] == "sync_incomplete"
    assert ran.error["message"] == "1 of 6 item(s) could not be synced to HubSpot"
    assert len(hub.objects["tasks"]) == 1

    again = _sync(cli, "m-100")
    assert [a for a in actions(again) if a[0] != "contact"] == [
        ("meeting", "updated"), ("task", "updated"), ("task", "created"),
    ]  # fmt: skip
    [second_create] = hub.calls("batch_create", "tasks")[1:]
    assert [i["properties"]["hs_task_subject"] for i in second_create.json["inputs"]] == ["Book the venue"]
    assert len(hub.objects["tasks"]) == 2


def test_token_expiry_mid_sync_refreshes_once_and_continues(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    connect_with(store, hub.install())
    import_meeting(cli)
    before = stored_tokens(store)
    hub.fail("batch_create", status=401, body=fixture("error_401.json"))  # the token expired right there

    result = _sync(cli, "m-100")
    assert result["ok"] is True
    assert len(hub.calls("token")) == 1  # one refresh
    assert hub.calls("token")[0].form["grant_type"] == "refresh_token"
    assert len(hub.objects["meetings"]) == 1 and len(hub.objects["tasks"]) == 2
    after = stored_tokens(store)
    assert after.access_token != before.access_token and after.refresh_token != before.refresh_token
    assert hub.valid_refresh_tokens() == [after.refresh_token]  # rotation: the old one is spent


def test_a_revoked_refresh_token_says_connect_again_with_exit_6(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    connect_with(store, hub.install())
    import_meeting(cli)
    hub.revoke_all()

    err = cli.fails(6, "--org", "acme", "hubspot", "sync", "m-100")
    assert err["code"] == "credentials_rejected"
    assert err["hint"] == "run `zigznote --org acme hubspot connect` again"
    assert "refused the refresh token" in err["message"]
    assert hub.objects["meetings"] == {}
    status = cli.ok("--org", "acme", "hubspot", "status")
    assert status["status"] == "error" and status["check"]["ok"] is False


def test_rate_limit_is_waited_out(cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot) -> None:
    connect_with(store, hub.install())
    import_meeting(cli)
    hub.fail("search", status=429, body=fixture("error_429_secondly.json"), retry_after=1)
    started = time.monotonic()
    result = _sync(cli, "m-100")
    assert result["ok"] is True
    assert time.monotonic() - started >= 1.0  # Retry-After: 1
    assert len(hub.calls("search", "contacts")) == 2  # the same search again after the wait


def test_dry_run_writes_nothing(cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot) -> None:
    connect_with(store, hub.install())
    import_meeting(cli)
    result = _sync(cli, "m-100", "--dry-run", "--create-contacts")
    assert result["dry_run"] is True and result["ok"] is True
    assert actions(result) == [
        ("contact", "matched"), ("contact", "matched"), ("contact", "would create"),
        ("meeting", "would create"), ("task", "would create"), ("task", "would create"),
    ]  # fmt: skip
    assert hub.calls("batch_create") == [] and hub.calls("batch_update") == []
    assert {r.name for r in hub.requests} == {"search", "owners"}
    assert cli.ok("--org", "acme", "hubspot", "sync", "m-100", "--dry-run")["counts"]["would create"] == 3

    _sync(cli, "m-100")
    again = _sync(cli, "m-100", "--dry-run")
    expected = [("meeting", "would update"), ("task", "would update"), ("task", "would update")]
    assert [a for a in actions(again) if a[0] != "contact"] == expected
    assert len(hub.calls("batch_update")) == 0


def test_create_contacts_creates_the_missing_participant(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    connect_with(store, hub.install())
    import_meeting(cli)
    cli.ok("--org", "acme", "hubspot", "settings", "--create-contacts")
    hub.search_delay = 60  # what HubSpot's index has not seen yet is invisible to search
    result = _sync(cli, "m-100")
    [created] = [i for i in result["items"] if i["object"] == "contact" and i["action"] == "created"]
    contact = hub.objects["contacts"][created["hubspot_id"]]
    assert contact.properties == {"email": "new@example.com", "firstname": "New", "lastname": "Person"}
    [meeting] = hub.objects["meetings"].values()
    assert [cid for cid, _ in meeting.associations][-1] == contact.id
    # The next sync does not see it in search yet (index lag) and uses the link instead.
    again = _sync(cli, "m-100")
    assert ("contact", "linked") in actions(again)
    assert len(hub.objects["contacts"]) == 3


def test_no_plaintext_token_in_the_database(cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot) -> None:
    body = hub.install()
    connect_with(store, body)
    import_meeting(cli)
    hub.expire_access_tokens()
    _sync(cli, "m-100")  # refreshed: new tokens stored too
    fresh = stored_tokens(store)
    data = store_bytes(cli)
    for secret in (body["access_token"], body["refresh_token"], fresh.access_token, str(fresh.refresh_token)):
        assert secret.encode() not in data
    assert b"zigznote" in data  # the links are there (the scan does read the store)


class Killed(BaseException):
    """The process dying (not an error any handler would catch)."""


def test_a_crash_after_hubspot_answered_never_duplicates(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies between HubSpot's answer to the creates and our commit of the IDs: the
    link rows (written before) hold only the external keys. The next sync finds both objects by
    those keys and updates them."""
    connect_with(store, hub.install())
    meeting_id = import_meeting(cli)
    real_record = links.record

    def crash(*args: Any, **kwargs: Any) -> None:
        if kwargs["results"] and kwargs["results"][0][2]:  # recording a write HubSpot confirmed
            raise Killed
        real_record(*args, **kwargs)

    monkeypatch.setattr(links, "record", crash)
    with pytest.raises(Killed):
        cli("--org", "acme", "hubspot", "sync", "m-100")
    assert len(hub.objects["meetings"]) == 1 and hub.objects["tasks"] == {}
    db, _ = store
    pending = links.read(db, org_id=org["id"], provider="hubspot", local_type="meeting", keys=[meeting_id])
    assert pending[meeting_id].remote_id is None and pending[meeting_id].external_key.startswith("zigznote")

    monkeypatch.setattr(links, "record", real_record)
    result = _sync(cli, "m-100")
    # The meeting found again: which contacts its creation associated was not recorded, so they
    # are associated once more (HubSpot keeps one association per pair).
    assert [a for a in actions(result) if a[0] != "contact"] == [
        ("meeting", "updated"), ("association", "associated"), ("association", "associated"),
        ("task", "created"), ("task", "created"),
    ]  # fmt: skip
    assert len(hub.objects["meetings"]) == 1 and len(hub.objects["tasks"]) == 2
    [meeting] = hub.objects["meetings"].values()
    assert len(meeting.associations) == 2 and len(set(meeting.associations)) == 2
    [lookup] = [r for r in hub.calls("search", "meetings")][-1:]
    assert lookup.json["filterGroups"] == [
        {"filters": [{"propertyName": "hs_meeting_body", "operator": "CONTAINS_TOKEN",
                      "value": pending[meeting_id].external_key}]}
    ]  # fmt: skip
    stored = links.read(db, org_id=org["id"], provider="hubspot", local_type="meeting", keys=[meeting_id])
    assert stored[meeting_id].remote_id == next(iter(hub.objects["meetings"]))


def test_human_output_lists_each_item_and_the_error(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    connect_with(store, hub.install())
    import_meeting(cli)
    hub.reject("tasks", lambda item: item["properties"]["hs_task_subject"] == "Book the venue", message="venue refused")
    ran = cli("--org", "acme", "hubspot", "sync", "m-100")
    assert ran.exit_code == 5
    assert f"meeting {import_meeting(cli)} → HubSpot portal {HUB_ID}" in ran.stdout
    assert "Book the venue" in ran.stdout and "venue refused" in ran.stdout
    assert "error: 1 of 6 item(s) could not be synced to HubSpot" in ran.stderr
    assert (
        "hint: the items marked failed give HubSpot's reason; run `zigznote --org acme hubspot sync m-100` again"
        in ran.stderr
    )


def test_a_task_deleted_in_hubspot_is_created_again(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    connect_with(store, hub.install())
    import_meeting(cli)
    first = _sync(cli, "m-100")
    gone = next(i["hubspot_id"] for i in first["items"] if i["label"] == "Book the venue")
    del hub.objects["tasks"][gone]  # someone deleted it in HubSpot
    again = _sync(cli, "m-100")
    venue = next(i for i in again["items"] if i["label"] == "Book the venue")
    assert venue["action"] == "created" and venue["hubspot_id"] != gone
    assert len(hub.objects["tasks"]) == 2
    third = _sync(cli, "m-100")
    assert next(i for i in third["items"] if i["label"] == "Book the venue") == {**venue, "action": "updated"}
