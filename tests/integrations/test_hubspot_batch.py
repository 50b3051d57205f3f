"""Batch create/update against respx: exact inputs, 207 per item, whole-batch 400 split, resume."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from zigznote.errors import CredentialsRejected, InvalidInput, ProviderError
from zigznote.integrations.hubspot.batch import UNKNOWN_OUTCOME, ItemResult
from zigznote.integrations.hubspot.client import DEFAULT_API_VERSION, HubSpotClient

API = "https://hubspot.test"
V = DEFAULT_API_VERSION
TOKEN = "CJSP5qf1KhICAQEYs-gDIIGOBii1hQIyGQAf3xBKEgsYjYMJVvlHEz9tFHAwSq1TQAM40s0D"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hubspot"
MEETINGS_CREATE = f"{API}/crm/objects/{V}/meetings/batch/create"
TASKS_CREATE = f"{API}/crm/objects/{V}/tasks/batch/create"
TASKS_UPDATE = f"{API}/crm/objects/{V}/tasks/batch/update"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def inputs_of(request: httpx.Request) -> list[dict[str, Any]]:
    body = json.loads(request.content)
    assert list(body) == ["inputs"]
    return list(body["inputs"])


def to_contacts(type_id: int, *ids: str) -> list[dict[str, Any]]:
    return [
        {"to": {"id": cid}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}
        for cid in ids
    ]


def task(n: int, **props: str) -> dict[str, Any]:
    return {
        "properties": {"hs_task_subject": f"Task {n}", "hs_timestamp": "2026-12-01T09:00:00Z", **props},
        "associations": to_contacts(204, "101"),
        "objectWriteTraceId": f"zigznote-task-{n}",
    }


def echo_created(request: httpx.Request) -> httpx.Response:
    """A HubSpot stand-in: 400 for the whole batch if any input has a bad date, else 201."""
    inputs = inputs_of(request)
    if any(i["properties"]["hs_timestamp"] == "2026-13-40" for i in inputs):
        return httpx.Response(400, json=fixture("error_batch_400.json"))
    results = [
        {
            "id": str(80000 + int(i["objectWriteTraceId"].rsplit("-", 1)[1])),
            "objectWriteTraceId": i["objectWriteTraceId"],
        }
        for i in inputs
    ]
    return httpx.Response(201, json={"status": "COMPLETE", "results": results})


@pytest.fixture
def hubspot() -> Iterator[HubSpotClient]:
    with respx.mock, HubSpotClient(api_base=API, sleep=lambda s: None) as client:
        yield client


def test_meeting_create_sends_properties_associations_and_trace_ids(hubspot: HubSpotClient) -> None:
    route = respx.post(MEETINGS_CREATE).respond(201, json=fixture("meetings_batch_create_201.json"))
    meeting = {
        "properties": {
            "hs_timestamp": "2026-11-30T10:00:00Z",
            "hs_meeting_title": "Quarterly review",
            "hs_meeting_body": "Summary<br>Next steps",
            "hs_meeting_start_time": "2026-11-30T10:00:00Z",
            "hs_meeting_end_time": "2026-11-30T11:00:00Z",
            "hs_meeting_external_url": "https://meet.example/q4#zigznote-meeting-1",
            "hs_meeting_outcome": "COMPLETED",
        },
        "associations": to_contacts(200, "101", "102"),
        "objectWriteTraceId": "zigznote-meeting-1",
    }
    assert hubspot.batch_create(TOKEN, "meetings", [meeting]) == [ItemResult("zigznote-meeting-1", "90001", None)]
    request = route.calls.last.request
    assert inputs_of(request) == [meeting]
    assert json.loads(request.content)["inputs"][0]["associations"] == [
        {"to": {"id": "101"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 200}]},
        {"to": {"id": "102"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 200}]},
    ]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_create_without_associations_sends_an_empty_list(hubspot: HubSpotClient) -> None:
    route = respx.post(TASKS_CREATE).mock(side_effect=echo_created)
    item = {
        "properties": {"hs_task_subject": "Alone", "hs_timestamp": "2026-12-01T09:00:00Z"},
        "objectWriteTraceId": "zigznote-task-9",
    }
    assert hubspot.batch_create(TOKEN, "tasks", [item]) == [ItemResult("zigznote-task-9", "80009", None)]
    assert inputs_of(route.calls.last.request) == [{**item, "associations": []}]


def test_a_207_is_read_item_by_item(hubspot: HubSpotClient) -> None:
    respx.post(TASKS_CREATE).respond(207, json=fixture("tasks_batch_create_207.json"))
    results = hubspot.batch_create(TOKEN, "tasks", [task(1), task(2, hubspot_owner_id="99999"), task(3)])
    assert results == [
        ItemResult("zigznote-task-1", "80001", None),
        ItemResult(
            "zigznote-task-2",
            None,
            "VALIDATION_ERROR: Property values were not valid; 99999 is not a valid owner ID",
            "VALIDATION_ERROR",
        ),
        ItemResult("zigznote-task-3", "80003", None),
    ]
    assert [r.ok for r in results] == [True, False, True]


def test_a_whole_batch_400_is_split_until_the_bad_input_is_alone(hubspot: HubSpotClient) -> None:
    route = respx.post(TASKS_CREATE).mock(side_effect=echo_created)
    inputs = [task(1), task(2), task(3), task(4, hs_timestamp="2026-13-40"), task(5)]
    results = hubspot.batch_create(TOKEN, "tasks", inputs)
    sent = [[i["objectWriteTraceId"][-1] for i in inputs_of(c.request)] for c in route.calls]
    assert sent == [["1", "2", "3", "4", "5"], ["1", "2"], ["3", "4", "5"], ["3"], ["4", "5"], ["4"], ["5"]]
    bad = results[3]
    assert (bad.key, bad.id, bad.category) == ("zigznote-task-4", None, "VALIDATION_ERROR")
    assert bad.error is not None and bad.error.startswith("VALIDATION_ERROR: Property values were not valid: ")
    assert bad.error.endswith("(correlation ID b91d8e7c-5a3f-4c2e-9d1b-0f6e7a8b9c0d)")
    assert [(r.key, r.id) for r in results if r.ok] == [
        ("zigznote-task-1", "80001"),
        ("zigznote-task-2", "80002"),
        ("zigznote-task-3", "80003"),
        ("zigznote-task-5", "80005"),
    ]


def test_more_than_one_hundred_inputs_go_in_requests_of_one_hundred(hubspot: HubSpotClient) -> None:
    route = respx.post(TASKS_CREATE).mock(side_effect=echo_created)
    results = hubspot.batch_create(TOKEN, "tasks", [task(n) for n in range(1, 131)])
    assert [len(inputs_of(c.request)) for c in route.calls] == [100, 30]
    assert [r.id for r in results] == [str(80000 + n) for n in range(1, 131)]


def test_identical_duplicates_are_sent_once_and_conflicting_ones_refused(hubspot: HubSpotClient) -> None:
    route = respx.post(TASKS_CREATE).mock(side_effect=echo_created)
    assert hubspot.batch_create(TOKEN, "tasks", [task(1), task(2), task(1)]) == [
        ItemResult("zigznote-task-1", "80001", None),
        ItemResult("zigznote-task-2", "80002", None),
    ]
    assert [i["objectWriteTraceId"] for i in inputs_of(route.calls.last.request)] == [
        "zigznote-task-1",
        "zigznote-task-2",
    ]
    with pytest.raises(InvalidInput, match="share the objectWriteTraceId zigznote-task-1"):
        hubspot.batch_create(TOKEN, "tasks", [task(1), task(1, hs_task_subject="Other")])
    assert route.call_count == 1


def test_progress_makes_a_repeated_call_after_a_refused_token_write_nothing_twice(hubspot: HubSpotClient) -> None:
    calls: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(len(inputs_of(request)))
        if len(calls) == 2:
            return httpx.Response(401, json=fixture("error_401.json"))
        return echo_created(request)

    respx.post(TASKS_CREATE).mock(side_effect=answer)
    inputs = [task(n) for n in range(1, 151)]
    progress: dict[str, ItemResult] = {}
    with pytest.raises(CredentialsRejected):
        hubspot.batch_create(TOKEN, "tasks", inputs, progress=progress)
    assert len(progress) == 100
    results = hubspot.batch_create("refreshed-token", "tasks", inputs, progress=progress)
    assert calls == [100, 50, 50]
    assert [r.id for r in results] == [str(80000 + n) for n in range(1, 151)]


def test_batch_update_sends_ids_and_maps_results_by_trace_or_id(hubspot: HubSpotClient) -> None:
    route = respx.post(TASKS_UPDATE).respond(200, json=fixture("tasks_batch_update_200.json"))
    inputs = [
        {
            "id": "80001",
            "properties": {"hs_task_subject": "Send the revised proposal"},
            "objectWriteTraceId": "zigznote-task-1",
        },
        {"id": "80003", "properties": {"hs_task_subject": "Book the venue"}, "objectWriteTraceId": "zigznote-task-3"},
    ]
    assert hubspot.batch_update(TOKEN, "tasks", inputs) == [
        ItemResult("zigznote-task-1", "80001", None),
        ItemResult("zigznote-task-3", "80003", None),
    ]
    assert inputs_of(route.calls.last.request) == inputs


def test_an_update_error_naming_the_object_id_is_tied_to_its_input(hubspot: HubSpotClient) -> None:
    answer = {
        "status": "COMPLETE",
        "results": [{"id": "80001", "objectWriteTraceId": "zigznote-task-1"}],
        "errors": [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some TASK objects, they may be deleted or not exist.",
                "context": {"ids": ["80404"]},
            }
        ],
    }
    respx.post(TASKS_UPDATE).respond(207, json=answer)
    inputs = [
        {"id": "80001", "properties": {"hs_task_subject": "a"}, "objectWriteTraceId": "zigznote-task-1"},
        {"id": "80404", "properties": {"hs_task_subject": "b"}, "objectWriteTraceId": "zigznote-task-2"},
    ]
    results = hubspot.batch_update(TOKEN, "tasks", inputs)
    assert results[1] == ItemResult(
        "zigznote-task-2",
        None,
        "OBJECT_NOT_FOUND: Could not get some TASK objects, they may be deleted or not exist.",
        "OBJECT_NOT_FOUND",
    )


def test_an_input_the_answer_says_nothing_about_has_an_unknown_outcome(hubspot: HubSpotClient) -> None:
    respx.post(TASKS_CREATE).respond(201, json={"status": "COMPLETE", "results": [{"id": "80001"}, {"id": "80002"}]})
    results = hubspot.batch_create(TOKEN, "tasks", [task(1), task(2)])
    assert results == [
        ItemResult("zigznote-task-1", None, "HubSpot's answer gave no result for this input", UNKNOWN_OUTCOME),
        ItemResult("zigznote-task-2", None, "HubSpot's answer gave no result for this input", UNKNOWN_OUTCOME),
    ]


def test_a_5xx_raises_and_is_not_resent(hubspot: HubSpotClient) -> None:
    route = respx.post(TASKS_CREATE).respond(502, text="<html>bad gateway</html>")
    with pytest.raises(ProviderError) as caught:
        hubspot.batch_create(TOKEN, "tasks", [task(1)])
    assert caught.value.code == "hubspot_unavailable"
    assert route.call_count == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"properties": {"a": "b"}},
        {"properties": {"a": "b"}, "objectWriteTraceId": "has space"},
        {"properties": ["a"], "objectWriteTraceId": "k"},
        {"properties": {"bad name": "x"}, "objectWriteTraceId": "k"},
    ],
)
def test_malformed_inputs_are_refused_before_sending(hubspot: HubSpotClient, bad: dict[str, Any]) -> None:
    route = respx.post(TASKS_CREATE).mock(side_effect=echo_created)
    with pytest.raises(InvalidInput):
        hubspot.batch_create(TOKEN, "tasks", [task(1), bad])
    assert not route.called


def test_an_update_without_a_numeric_id_is_refused(hubspot: HubSpotClient) -> None:
    with pytest.raises(InvalidInput, match="needs the object's numeric id"):
        hubspot.batch_update(TOKEN, "tasks", [{"id": "abc", "properties": {}, "objectWriteTraceId": "k"}])
