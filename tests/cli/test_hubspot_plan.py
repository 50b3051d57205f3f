"""What a meeting becomes in HubSpot (``services/hubspot/plan.py``, pure), and the lease that
keeps two syncs of one meeting apart (``services/hubspot/links.py``, on both databases)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli._hubspot_support import MEETING, connect_with, hub, import_meeting, store
from tests.conftest import Cli
from tests.support.fake_hubspot import FakeHubSpot
from zigznote.config import load_settings
from zigznote.errors import Conflict
from zigznote.services import hubspot
from zigznote.services.hubspot import links
from zigznote.services.hubspot.plan import action_item_key, external_key, meeting_plan, task_plans
from zigznote.store.engine import Database
from zigznote.vault import MasterKey, Vault

__all__ = ["hub", "store"]  # fixtures

PUBLIC: dict[str, Any] = {**MEETING, "id": "mtg_01", "participants": [], "summary": None, "url": None}


def test_action_item_keys_survive_whitespace_case_and_due_dates() -> None:
    key = action_item_key({"text": "Send the proposal", "assignee_email": "alice@example.com"})
    assert len(key) == 16 and int(key, 16) >= 0
    same = {"text": "  send   THE proposal\n", "assignee_email": "Alice@Example.com ", "due": "2027-01-01T00:00:00Z"}
    assert action_item_key(same) == key
    assert action_item_key({"text": "Send the revised proposal", "assignee_email": "alice@example.com"}) != key
    assert action_item_key({"text": "Send the proposal"}) != key  # another assignee is another item


def test_external_keys_are_one_search_token_and_per_organization() -> None:
    key = external_key("org_A", "meeting", "mtg_01")
    assert key == external_key("org_A", "meeting", "mtg_01")
    assert key.startswith("zigznote") and key[8:].isalnum() and len(key) == 40
    assert key != external_key("org_B", "meeting", "mtg_01")
    assert key != external_key("org_A", "action_item", "mtg_01")


def test_meeting_without_summary_url_or_end() -> None:
    plan = meeting_plan({**PUBLIC, "ended_at": None}, org_id="org_A", contacts=["7"])
    assert plan.create == {
        "hs_timestamp": "2026-11-30T10:00:00Z",
        "hs_meeting_title": "Quarterly review",
        "hs_meeting_body": f"zigznote reference {plan.external_key}",
        "hs_meeting_start_time": "2026-11-30T10:00:00Z",
        "hs_meeting_end_time": "2026-11-30T10:00:00Z",
        "hs_meeting_outcome": "COMPLETED",
    }
    assert plan.update == {k: v for k, v in plan.create.items() if k != "hs_meeting_outcome"}
    assert plan.associations() == [
        {"to": {"id": "7"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 200}]}
    ]


def test_tasks_dedupe_identical_items_and_fall_back_to_the_default_owner() -> None:
    items = [
        {"text": "Ship it", "assignee_email": "bob@example.com"},
        {"text": "ship  it", "assignee_email": "BOB@example.com"},  # the same item twice
        {"text": "x" * 300, "assignee_email": "alice@example.com"},
        {"text": "<b>bold</b> & more"},
    ]
    owners = {"alice@example.com": "11", "ops@example.com": "99"}
    plans = task_plans(
        {**PUBLIC, "action_items": items}, org_id="o", contacts=[], owners=owners, default_owner="OPS@example.com"
    )
    assert [p.create.get("hubspot_owner_id") for p in plans] == ["99", "11", "99"]  # bob is no owner
    assert len(plans[1].create["hs_task_subject"]) == 250 and plans[1].create["hs_task_subject"].endswith("…")
    assert plans[2].create["hs_task_body"].startswith("&lt;b&gt;bold&lt;/b&gt; &amp; more<br><br>From the meeting")
    assert plans[2].label == "<b>bold</b> & more"
    assert {p.create["hs_task_status"] for p in plans} == {"NOT_STARTED"}
    assert all("hs_task_status" not in p.update and "hs_task_priority" not in p.update for p in plans)
    none = task_plans({**PUBLIC, "action_items": items[:1]}, org_id="o", contacts=[], owners={}, default_owner=None)
    assert "hubspot_owner_id" not in none[0].create


@pytest.fixture
def services(cli: Cli, env: dict[str, str], hub: FakeHubSpot) -> Iterator[tuple[Database, Vault]]:
    db = Database(cli.db_url)
    yield db, Vault([MasterKey(base64.b64decode(env["ZIGZNOTE_MASTER_KEY"]), "env")])
    db.dispose()


def test_a_second_sync_of_the_same_meeting_waits_for_the_lease(
    cli: Cli, org: dict[str, Any], services: tuple[Database, Vault], hub: FakeHubSpot
) -> None:
    db, vault = services
    connect_with(services, hub.install())
    meeting_id = import_meeting(cli)
    plan = meeting_plan({**PUBLIC, "id": meeting_id}, org_id=org["id"], contacts=())
    own = links.Reservation("meeting", meeting_id, "meetings", plan.external_key)
    held = links.acquire(db, org_id=org["id"], provider="hubspot", link=own)  # another sync is running

    with pytest.raises(Conflict) as caught:
        hubspot.sync_meeting(db, vault, load_settings(), org_ref="acme", meeting_ref="m-100", lease_wait=0.3)
    assert caught.value.code == "sync_in_progress"
    assert caught.value.message.startswith("another sync of this meeting is running (its lease lasts until ")
    assert hub.calls("batch_create") == []
    dry = hubspot.sync_meeting(db, vault, load_settings(), org_ref="acme", meeting_ref="m-100", dry_run=True)
    assert dry["ok"] is True  # a dry run writes nothing and takes no lease

    held.release()
    done = hubspot.sync_meeting(db, vault, load_settings(), org_ref="acme", meeting_ref="m-100", lease_wait=0.3)
    assert done["counts"]["created"] == 3
    with pytest.raises(Conflict) as lost:
        held.renew()  # released: the old holder cannot write any more
    assert lost.value.code == "sync_lease_lost"


def test_an_expired_lease_is_taken_over(cli: Cli, org: dict[str, Any], services: tuple[Database, Vault]) -> None:
    db, _ = services
    own = links.Reservation("meeting", "mtg_x", "meetings", "zigznotekey")
    crashed = links.acquire(db, org_id=org["id"], provider="hubspot", link=own, seconds=-1)  # already over
    taken = links.acquire(db, org_id=org["id"], provider="hubspot", link=own, wait=0)
    assert taken.token != crashed.token
    with pytest.raises(Conflict):
        links.acquire(db, org_id=org["id"], provider="hubspot", link=own, wait=0)
    [row] = links.read(db, org_id=org["id"], provider="hubspot", local_type="meeting", keys=["mtg_x"]).values()
    assert (row.remote_id, row.external_key) == (None, "zigznotekey")


def test_the_config_defaults_match_the_adapter() -> None:
    """config_fields stays light (no adapter import), so its defaults are literals: kept equal here."""
    from zigznote.config_fields import HUBSPOT_DEFAULT_API_VERSION, HUBSPOT_DEFAULT_SCOPES
    from zigznote.integrations.hubspot.client import DEFAULT_API_VERSION
    from zigznote.integrations.hubspot.oauth import DEFAULT_SCOPES

    assert HUBSPOT_DEFAULT_API_VERSION == DEFAULT_API_VERSION
    assert ",".join(DEFAULT_SCOPES) == HUBSPOT_DEFAULT_SCOPES
