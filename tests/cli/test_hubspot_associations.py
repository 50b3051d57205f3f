"""`zigznote hubspot sync` adds the associations that are new on a re-sync: a participant added
to the meeting, a contact created in HubSpot since, or ``--create-contacts`` on a re-sync. The
existing meeting and tasks get exactly the new contacts, once (respx: the exact request bodies;
the fake HubSpot: the CLI end to end, dry run, partial failure and the re-run that completes it)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from tests.cli._hubspot_support import (
    MEETING,
    actions,
    connect_static,
    connect_with,
    fixture,
    hub,
    import_meeting,
    store,
)
from tests.conftest import Cli
from tests.support.fake_hubspot import FakeHubSpot
from zigznote.store.engine import Database
from zigznote.vault import Vault

__all__ = ["hub", "store"]  # fixtures

API = "https://hubspot.test"
V = "2026-09"
TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
Store = tuple[Database, Vault]
ADA = {"name": "Ada Lovelace", "email": "ada@example.com"}
GRACE = {"name": "Grace Hopper", "email": "grace@example.com"}
NEWCOMER = {"name": "New Person", "email": "new@example.com"}


def _meeting(*people: dict[str, str]) -> dict[str, Any]:
    return {**MEETING, "participants": list(people)}


def _sync(cli: Cli, *args: str) -> dict[str, Any]:
    return dict(cli.ok("--org", "acme", "hubspot", "sync", "m-100", *args))


def _assoc(from_id: str, to_id: str, type_id: int) -> dict[str, Any]:
    return {
        "from": {"id": from_id},
        "to": {"id": to_id},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
    }


def _new_associations(result: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(i["action"], i["label"], i["hubspot_id"]) for i in result["items"] if i["object"] == "association"]


# -- respx: exact requests -------------------------------------------------------------------------

DIRECTORY = {"ada@example.com": "101", "grace@example.com": "102"}


def _search_contacts(request: httpx.Request) -> httpx.Response:
    """Contacts search over :data:`DIRECTORY` (HubSpot's documented result shape)."""
    body = json.loads(request.content)
    wanted = body["filterGroups"][0]["filters"][0]["values"]
    template = fixture("contacts_by_email_page1.json")["results"][0]
    results = [
        {
            **template,
            "id": DIRECTORY[e],
            "properties": {**template["properties"], "email": e, "hs_object_id": DIRECTORY[e]},
        }
        for e in wanted
        if e in DIRECTORY
    ]
    return httpx.Response(200, json={"total": len(results), "results": results})


def _created(first_id: int) -> Any:
    counter = iter(range(first_id, first_id + 100))

    def answer(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        results = [
            {"id": item.get("id") or str(next(counter)), "objectWriteTraceId": item["objectWriteTraceId"],
             "properties": item["properties"], "archived": False,
             "createdAt": "2026-11-30T12:00:00.300Z", "updatedAt": "2026-11-30T12:00:00.300Z"}
            for item in inputs
        ]  # fmt: skip
        return httpx.Response(201 if request.url.path.endswith("/create") else 200, json={"results": results})

    return answer


def _associated(request: httpx.Request) -> httpx.Response:
    """Every pair associated, in the shape of the documented 201 (results of the fixture's kind)."""
    template = fixture("associations_batch_create_207.json")
    results = [
        {**template["results"][0], "fromObjectId": i["from"]["id"], "toObjectId": i["to"]["id"]}
        for i in json.loads(request.content)["inputs"]
    ]
    return httpx.Response(
        201, json={k: v for k, v in template.items() if k not in ("errors", "numErrors")} | {"results": results}
    )


@pytest.fixture
def api(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[respx.MockRouter]:
    """respx on ``API``: every request must match a route; HUBSPOT_* point at it."""
    for name in list(os.environ):
        if name.startswith("HUBSPOT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HUBSPOT_API_BASE", API)
    monkeypatch.setenv("HUBSPOT_API_VERSION", V)
    with respx.mock(base_url=API, assert_all_called=False) as router:
        router.post(f"/crm/objects/{V}/contacts/search").mock(side_effect=_search_contacts)
        router.get(f"/crm/owners/{V}").mock(return_value=httpx.Response(200, json=fixture("owners_page2.json")))
        for kind in ("meetings", "tasks"):
            router.post(f"/crm/objects/{V}/{kind}/search").mock(
                return_value=httpx.Response(200, json=fixture("search_empty.json"))
            )
        router.post(f"/crm/objects/{V}/meetings/batch/create", name="meetings_create").mock(side_effect=_created(90001))
        router.post(f"/crm/objects/{V}/tasks/batch/create", name="tasks_create").mock(side_effect=_created(80001))
        router.post(f"/crm/objects/{V}/meetings/batch/update").mock(side_effect=_created(0))
        router.post(f"/crm/objects/{V}/tasks/batch/update").mock(side_effect=_created(0))
        router.post(f"/crm/associations/{V}/meetings/contacts/batch/create", name="meetings_assoc").mock(
            side_effect=_associated
        )
        router.post(f"/crm/associations/{V}/tasks/contacts/batch/create", name="tasks_assoc").mock(
            side_effect=_associated
        )
        yield router


def test_a_participant_added_later_is_associated_once(
    cli: Cli, org: dict[str, Any], store: Store, api: respx.MockRouter
) -> None:
    connect_static(store, TOKEN)
    import_meeting(cli, _meeting(ADA))
    first = _sync(cli)
    assert first["counts"] == {"matched": 1, "created": 3}
    meetings_assoc, tasks_assoc = api.routes["meetings_assoc"], api.routes["tasks_assoc"]
    assert meetings_assoc.call_count == 0 and tasks_assoc.call_count == 0  # created with their contacts
    created = json.loads(api.routes["meetings_create"].calls[0].request.content)["inputs"][0]
    assert [a["to"]["id"] for a in created["associations"]] == ["101"]

    # Grace joins the meeting (re-imported); her contact exists in HubSpot.
    import_meeting(cli, _meeting(ADA, GRACE))
    second = _sync(cli)
    assert second["ok"] is True
    assert second["counts"] == {"matched": 2, "updated": 3, "associated": 3}
    assert meetings_assoc.call_count == 1 and tasks_assoc.call_count == 1
    assert json.loads(meetings_assoc.calls[0].request.content) == {"inputs": [_assoc("90001", "102", 200)]}
    assert json.loads(tasks_assoc.calls[0].request.content) == {
        "inputs": [_assoc("80001", "102", 204), _assoc("80002", "102", 204)]
    }
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in api.calls)
    assert _new_associations(second) == [
        ("associated", "Quarterly review → grace@example.com", "102"),
        ("associated", "Send the proposal → grace@example.com", "102"),
        ("associated", "Book the venue → grace@example.com", "102"),
    ]

    third = _sync(cli)
    assert third["counts"] == {"matched": 2, "updated": 3}
    assert meetings_assoc.call_count == 1 and tasks_assoc.call_count == 1  # nothing sent again
    assert api.routes["meetings_create"].call_count == 1 and api.routes["tasks_create"].call_count == 1


# -- the fake HubSpot, through the CLI -------------------------------------------------------------


def test_new_contacts_reach_the_existing_meeting_and_tasks(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    connect_with(store, hub.install())
    import_meeting(cli, _meeting(ADA, NEWCOMER))
    first = _sync(cli)
    assert ("contact", "no contact") in actions(first)
    ada = next(c.id for c in hub.objects["contacts"].values() if c.properties["email"] == "ada@example.com")
    [meeting] = hub.objects["meetings"].values()
    tasks = sorted(hub.objects["tasks"].values(), key=lambda o: int(o.id))
    assert meeting.associations == [(ada, 200)]

    # The newcomer's contact is created in HubSpot after the first sync.
    newcomer = hub.add_contact("new@example.com", "New", "Person")
    dry = _sync(cli, "--dry-run")
    assert _new_associations(dry) == [
        ("would associate", "Quarterly review → new@example.com", newcomer),
        ("would associate", "Send the proposal → new@example.com", newcomer),
        ("would associate", "Book the venue → new@example.com", newcomer),
    ]
    assert hub.calls("associate") == [] and hub.calls("batch_update") == []
    human = cli("--org", "acme", "hubspot", "sync", "m-100", "--dry-run")
    assert human.exit_code == 0 and human.stdout.count("would associate") == 3

    # One task's association is refused: reported, exit 5; the rest are made.
    hub.reject("associations", lambda item: item["from"]["id"] == tasks[1].id, message="association refused")
    ran = cli("--json", "--org", "acme", "hubspot", "sync", "m-100")
    assert ran.exit_code == 5
    assert ran.error["code"] == "sync_incomplete"
    failed = [i for i in ran.json["items"] if i["action"] == "failed"]
    assert [(i["object"], i["label"], i["hubspot_id"]) for i in failed] == [
        ("association", "Book the venue → new@example.com", newcomer)
    ]
    assert failed[0]["error"].startswith("VALIDATION_ERROR: association refused")
    assert meeting.associations == [(ada, 200), (newcomer, 200)]
    assert [t.associations for t in tasks] == [[(ada, 204), (newcomer, 204)], [(ada, 204)]]

    # The re-run sends only the missing association; the next one sends none.
    again = _sync(cli)
    assert _new_associations(again) == [("associated", "Book the venue → new@example.com", newcomer)]
    assert [c.json for c in hub.calls("associate")[-1:]] == [{"inputs": [_assoc(tasks[1].id, newcomer, 204)]}]
    assert [t.associations for t in tasks] == [[(ada, 204), (newcomer, 204)]] * 2
    calls = len(hub.calls("associate"))
    quiet = _sync(cli)
    assert quiet["ok"] is True and _new_associations(quiet) == []
    assert len(hub.calls("associate")) == calls
    assert len(hub.objects["meetings"]) == 1 and len(hub.objects["tasks"]) == 2


def test_create_contacts_on_a_re_sync_associates_them(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    connect_with(store, hub.install())
    import_meeting(cli, _meeting(ADA, NEWCOMER))
    _sync(cli)
    result = _sync(cli, "--create-contacts")
    [created] = [i for i in result["items"] if i["object"] == "contact" and i["action"] == "created"]
    newcomer = created["hubspot_id"]
    assert [a for a in actions(result) if a[0] != "contact"] == [
        ("meeting", "updated"), ("association", "associated"),
        ("task", "updated"), ("task", "updated"), ("association", "associated"), ("association", "associated"),
    ]  # fmt: skip
    [meeting] = hub.objects["meetings"].values()
    assert meeting.associations[-1] == (newcomer, 200)
    assert all(t.associations[-1] == (newcomer, 204) for t in hub.objects["tasks"].values())
    assert [len(c.json["inputs"]) for c in hub.calls("associate")] == [1, 2]
    assert _new_associations(_sync(cli)) == [] and len(hub.calls("associate")) == 2
