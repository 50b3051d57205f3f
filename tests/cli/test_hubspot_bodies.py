"""`zigznote hubspot sync` with respx: the exact requests HubSpot receives (search, meeting and
task creates and updates with associations and trace IDs), built from the documented shapes in
``tests/fixtures/hubspot/`` (sources in its README), and a dry run that sends no write."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from tests.cli._hubspot_support import connect_static, fixture, import_meeting, store
from tests.conftest import Cli
from zigznote.services.hubspot.plan import action_item_key, external_key
from zigznote.store.engine import Database
from zigznote.vault import Vault

__all__ = ["store"]  # fixture

API = "https://hubspot.test"
V = "2026-09"
TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
Store = tuple[Database, Vault]


@pytest.fixture
def api(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[respx.MockRouter]:
    """respx on ``API``: every request must match a route; HUBSPOT_* point at it."""
    for name in list(os.environ):
        if name.startswith("HUBSPOT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HUBSPOT_API_BASE", API)
    monkeypatch.setenv("HUBSPOT_API_VERSION", V)
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


def _echo(first_id: int) -> Any:
    """A batch answer that creates (or updates) every input, echoing its trace ID."""
    counter = iter(range(first_id, first_id + 1000))

    def answer(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        results = [
            {"id": item.get("id") or str(next(counter)), "objectWriteTraceId": item["objectWriteTraceId"],
             "properties": item["properties"], "archived": False,
             "createdAt": "2026-11-30T12:00:00.300Z", "updatedAt": "2026-11-30T12:00:00.300Z"}
            for item in inputs
        ]  # fmt: skip
        status = 201 if request.url.path.endswith("/create") else 200
        return httpx.Response(status, json={**fixture("meetings_batch_create_201.json"), "results": results})

    return answer


def _routes(api: respx.MockRouter) -> dict[str, respx.Route]:
    return {
        "contacts": api.post(f"/crm/objects/{V}/contacts/search").mock(
            side_effect=[
                httpx.Response(200, json=fixture("contacts_by_email_page1.json")),
                httpx.Response(200, json=fixture("contacts_by_email_page2.json")),
            ]
            * 3
        ),
        "owners": api.get(f"/crm/owners/{V}").mock(
            side_effect=[
                httpx.Response(200, json=fixture("owners_page1.json")),
                httpx.Response(200, json=fixture("owners_page2.json")),
            ]
            * 3
        ),
        "find_meetings": api.post(f"/crm/objects/{V}/meetings/search").mock(
            return_value=httpx.Response(200, json=fixture("search_empty.json"))
        ),
        "find_tasks": api.post(f"/crm/objects/{V}/tasks/search").mock(
            return_value=httpx.Response(200, json=fixture("search_empty.json"))
        ),
        "meetings_create": api.post(f"/crm/objects/{V}/meetings/batch/create").mock(side_effect=_echo(90001)),
        "tasks_create": api.post(f"/crm/objects/{V}/tasks/batch/create").mock(side_effect=_echo(80001)),
        "meetings_update": api.post(f"/crm/objects/{V}/meetings/batch/update").mock(side_effect=_echo(0)),
        "tasks_update": api.post(f"/crm/objects/{V}/tasks/batch/update").mock(side_effect=_echo(0)),
    }


def _body(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def _keys(org_id: str, meeting_id: str) -> tuple[str, str, str]:
    send = f"{meeting_id}:{action_item_key({'text': 'Send the proposal', 'assignee_email': 'alice@example.com'})}"
    venue = f"{meeting_id}:{action_item_key({'text': 'Book the venue'})}"
    return (
        external_key(org_id, "meeting", meeting_id),
        external_key(org_id, "action_item", send),
        external_key(org_id, "action_item", venue),
    )


def _assoc(contact_id: str, type_id: int) -> dict[str, Any]:
    return {
        "to": {"id": contact_id},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
    }


def test_create_then_update_bodies(cli: Cli, org: dict[str, Any], store: Store, api: respx.MockRouter) -> None:
    connect_static(store, TOKEN)
    meeting_id = import_meeting(cli)
    routes = _routes(api)
    mkey, send_key, venue_key = _keys(org["id"], meeting_id)

    result = cli.ok("--org", "acme", "hubspot", "sync", "m-100")
    assert result["counts"] == {"matched": 2, "no contact": 1, "created": 3}

    # Contacts: one search, email and additional emails, values lowercased, then the next page.
    first, second = (json.loads(c.request.content) for c in routes["contacts"].calls)
    emails = ["ada@example.com", "grace@example.com", "new@example.com"]
    assert first == {
        "properties": ["email", "firstname", "lastname", "company", "hs_additional_emails"],
        "limit": 200,
        "filterGroups": [
            {"filters": [{"propertyName": "email", "operator": "IN", "values": emails}]},
            {"filters": [{"propertyName": "hs_additional_emails", "operator": "IN", "values": emails}]},
        ],
    }
    assert second == {**first, "after": "2"}
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in api.calls)
    # Crash recovery looks first: our keys in the bodies.
    assert _body(routes["find_meetings"])["filterGroups"] == [
        {"filters": [{"propertyName": "hs_meeting_body", "operator": "CONTAINS_TOKEN", "value": mkey}]}
    ]
    assert [g["filters"][0]["value"] for g in _body(routes["find_tasks"])["filterGroups"]] == [send_key, venue_key]

    trailer = f"<br><br>zigznote reference {mkey}"
    meeting_props = {
        "hs_timestamp": "2026-11-30T10:00:00Z",
        "hs_meeting_title": "Quarterly review",
        "hs_meeting_body": "Revenue is up.<br>Next: &lt;hiring&gt; &amp; budget." + trailer,
        "hs_meeting_start_time": "2026-11-30T10:00:00Z",
        "hs_meeting_end_time": "2026-11-30T11:00:00Z",
        "hs_meeting_external_url": "https://meet.example.com/m-100",
    }
    assert _body(routes["meetings_create"]) == {
        "inputs": [
            {
                "properties": {**meeting_props, "hs_meeting_outcome": "COMPLETED"},
                "associations": [_assoc("101", 200), _assoc("102", 200)],
                "objectWriteTraceId": mkey,
            }
        ]
    }
    send_props = {
        "hs_task_subject": "Send the proposal",
        "hs_task_body": "Send the proposal<br><br>From the meeting “Quarterly review” (2026-11-30T10:00:00Z)."
        f"<br>Assigned to alice@example.com.<br><br>zigznote reference {send_key}",
        "hs_timestamp": "2026-12-05T17:00:00Z",
        "hubspot_owner_id": "41629779",
    }
    venue_props = {
        "hs_task_subject": "Book the venue",
        "hs_task_body": "Book the venue<br><br>From the meeting “Quarterly review” (2026-11-30T10:00:00Z)."
        f"<br><br>zigznote reference {venue_key}",
        "hs_timestamp": "2026-11-30T11:00:00Z",
    }
    created = {"hs_task_status": "NOT_STARTED", "hs_task_priority": "NONE"}
    tasks_assoc = [_assoc("101", 204), _assoc("102", 204)]
    assert _body(routes["tasks_create"]) == {
        "inputs": [
            {"properties": {**send_props, **created}, "associations": tasks_assoc, "objectWriteTraceId": send_key},
            {"properties": {**venue_props, **created}, "associations": tasks_assoc, "objectWriteTraceId": venue_key},
        ]
    }

    # The re-sync updates by the stored IDs (no searches by key: the links know them).
    again = cli.ok("--org", "acme", "hubspot", "sync", "m-100")
    assert again["counts"] == {"matched": 2, "no contact": 1, "updated": 3}
    assert routes["find_meetings"].call_count == 1 and routes["meetings_create"].call_count == 1
    assert _body(routes["meetings_update"]) == {
        "inputs": [{"id": "90001", "properties": meeting_props, "objectWriteTraceId": mkey}]
    }
    assert _body(routes["tasks_update"]) == {
        "inputs": [
            {"id": "80001", "properties": send_props, "objectWriteTraceId": send_key},
            {"id": "80002", "properties": venue_props, "objectWriteTraceId": venue_key},
        ]
    }


def test_dry_run_sends_no_write(cli: Cli, org: dict[str, Any], store: Store, api: respx.MockRouter) -> None:
    connect_static(store, TOKEN)
    import_meeting(cli)
    routes = _routes(api)
    result = cli.ok("--org", "acme", "hubspot", "sync", "m-100", "--dry-run", "--create-contacts")
    assert result["counts"] == {"matched": 2, "would create": 4}
    writes = [c.request for c in api.calls if c.request.method in ("POST", "PATCH", "PUT", "DELETE")]
    assert writes and all(r.url.path.endswith("/search") for r in writes)
    for name in ("meetings_create", "tasks_create", "meetings_update", "tasks_update"):
        assert routes[name].call_count == 0
    human = cli("--org", "acme", "hubspot", "sync", "m-100", "--dry-run")
    assert human.exit_code == 0
    assert "dry run: meeting" in human.stdout and "would create" in human.stdout
    assert "nothing written (dry run)" in human.stderr
    assert not any(c.request.url.path.endswith(("/create", "/update")) for c in api.calls)


def test_a_whole_batch_refusal_is_split_until_the_bad_task_is_alone(
    cli: Cli, org: dict[str, Any], store: Store, api: respx.MockRouter
) -> None:
    """HubSpot refuses the whole batch for one invalid input (400): the halves are sent again,
    the good task is written, the bad one reported; exit 5."""
    connect_static(store, TOKEN)
    meeting_id = import_meeting(cli)
    routes = _routes(api)
    _, send_key, venue_key = _keys(org["id"], meeting_id)

    def refuse_venue(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        if any(i["objectWriteTraceId"] == venue_key for i in inputs):
            return httpx.Response(400, json=fixture("error_batch_400.json"))
        return _echo(80001)(request)

    routes["tasks_create"].mock(side_effect=refuse_venue)
    ran = cli("--json", "--org", "acme", "hubspot", "sync", "m-100")
    assert ran.exit_code == 5
    sent = [
        [i["objectWriteTraceId"] for i in json.loads(c.request.content)["inputs"]] for c in routes["tasks_create"].calls
    ]
    assert sent == [[send_key, venue_key], [send_key], [venue_key]]
    tasks = [i for i in ran.json["items"] if i["object"] == "task"]
    assert [(t["action"], t["hubspot_id"]) for t in tasks] == [("created", "80001"), ("failed", None)]
    assert tasks[1]["error"].startswith("VALIDATION_ERROR: Property values were not valid")
    assert ran.error == {
        "code": "sync_incomplete",
        "message": "1 of 6 item(s) could not be synced to HubSpot",
        "hint": "the items marked failed give HubSpot's reason; run `zigznote --org acme hubspot sync m-100` again "
        "to complete only what is missing",
    }
