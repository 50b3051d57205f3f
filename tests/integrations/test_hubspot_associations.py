"""``HubSpotClient.associate`` against respx: the exact request bodies, batches of ≤ 100 pairs,
per-pair results of a 207 (fixture from HubSpot's documented shapes), whole-batch split,
resume with a progress mapping, and errors at the adapter edge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from zigznote.errors import CredentialsRejected, InvalidInput, ProviderError
from zigznote.integrations.hubspot.associations import pair_key
from zigznote.integrations.hubspot.batch import UNKNOWN_OUTCOME, ItemResult
from zigznote.integrations.hubspot.client import DEFAULT_API_VERSION, HubSpotClient

API = "https://hubspot.test"
V = DEFAULT_API_VERSION
TOKEN = "CJSP5qf1KhICAQEYs-gDIIGOBii1hQIyGQAf3xBKEgsYjYMJVvlHEz9tFHAwSq1TQAM40s0D"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hubspot"
TASKS_TO_CONTACTS = f"{API}/crm/associations/{V}/tasks/contacts/batch/create"
MEETINGS_TO_CONTACTS = f"{API}/crm/associations/{V}/meetings/contacts/batch/create"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def inputs_of(request: httpx.Request) -> list[dict[str, Any]]:
    body = json.loads(request.content)
    assert list(body) == ["inputs"]
    return list(body["inputs"])


def pair(from_id: str, to_id: str, type_id: int) -> dict[str, Any]:
    return {
        "from": {"id": from_id},
        "to": {"id": to_id},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
    }


def echo(request: httpx.Request) -> httpx.Response:
    """Every pair associated (IDs as numbers, as some answers send them)."""
    results = [
        {"fromObjectTypeId": "0-47", "fromObjectId": int(i["from"]["id"]), "toObjectTypeId": "0-1",
         "toObjectId": int(i["to"]["id"]), "labels": []}
        for i in inputs_of(request)
    ]  # fmt: skip
    return httpx.Response(201, json={"status": "COMPLETE", "results": results})


@pytest.fixture
def hubspot() -> Iterator[HubSpotClient]:
    with respx.mock, HubSpotClient(api_base=API, sleep=lambda s: None) as client:
        yield client


def test_exact_body_and_one_result_per_distinct_pair(hubspot: HubSpotClient) -> None:
    route = respx.post(MEETINGS_TO_CONTACTS).mock(side_effect=echo)
    results = hubspot.associate(
        TOKEN, "meetings", "contacts", [("90001", "103"), ("90001", "104"), ("90001", "103")], 200
    )

    assert route.call_count == 1
    request = route.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert inputs_of(request) == [pair("90001", "103", 200), pair("90001", "104", 200)]
    assert results == [
        ItemResult(key="90001:103", id="103", error=None),
        ItemResult(key="90001:104", id="104", error=None),
    ]


def test_batches_of_at_most_100_pairs(hubspot: HubSpotClient) -> None:
    route = respx.post(TASKS_TO_CONTACTS).mock(side_effect=echo)
    pairs = [(str(80000 + n), str(100 + n)) for n in range(150)]
    results = hubspot.associate(TOKEN, "tasks", "contacts", pairs, 204)

    assert [len(inputs_of(c.request)) for c in route.calls] == [100, 50]
    assert inputs_of(route.calls[1].request)[0] == pair("80100", "200", 204)
    assert [r.key for r in results] == [pair_key(f, t) for f, t in pairs]
    assert all(r.ok for r in results)


def test_207_is_read_pair_by_pair(hubspot: HubSpotClient) -> None:
    respx.post(TASKS_TO_CONTACTS).mock(
        return_value=httpx.Response(207, json=fixture("associations_batch_create_207.json"))
    )
    results = hubspot.associate(TOKEN, "tasks", "contacts", [("80001", "103"), ("80002", "999")], 204)

    assert results == [
        ItemResult(key="80001:103", id="103", error=None),
        ItemResult(
            key="80002:999", id=None, error="VALIDATION_ERROR: No contacts with ID 999 exists",
            category="VALIDATION_ERROR",
        ),
    ]  # fmt: skip


def test_pairs_without_an_outcome_are_unknown(hubspot: HubSpotClient) -> None:
    respx.post(TASKS_TO_CONTACTS).mock(return_value=httpx.Response(201, json={"status": "COMPLETE", "results": []}))
    results = hubspot.associate(TOKEN, "tasks", "contacts", [("80001", "103"), ("80002", "103")], 204)
    assert [(r.key, r.ok, r.category) for r in results] == [
        ("80001:103", False, UNKNOWN_OUTCOME),
        ("80002:103", False, UNKNOWN_OUTCOME),
    ]
    assert results[0].error == "HubSpot's answer gave no result for this association"


def test_a_whole_batch_refusal_is_split_until_the_bad_pair_is_alone(hubspot: HubSpotClient) -> None:
    def refuse_999(request: httpx.Request) -> httpx.Response:
        if any(i["to"]["id"] == "999" for i in inputs_of(request)):
            return httpx.Response(400, json=fixture("error_batch_400.json"))
        return echo(request)

    route = respx.post(TASKS_TO_CONTACTS).mock(side_effect=refuse_999)
    pairs = [("80001", "103"), ("80002", "999"), ("80003", "103")]
    results = hubspot.associate(TOKEN, "tasks", "contacts", pairs, 204)

    sent = [[i["from"]["id"] for i in inputs_of(c.request)] for c in route.calls]
    assert sent == [["80001", "80002", "80003"], ["80001"], ["80002", "80003"], ["80002"], ["80003"]]
    assert [(r.key, r.ok) for r in results] == [("80001:103", True), ("80002:999", False), ("80003:103", True)]
    assert results[1].category == "VALIDATION_ERROR"


def test_progress_skips_pairs_already_done(hubspot: HubSpotClient) -> None:
    route = respx.post(TASKS_TO_CONTACTS).mock(side_effect=echo)
    done = {"80001:103": ItemResult(key="80001:103", id="103", error=None)}
    results = hubspot.associate(TOKEN, "tasks", "contacts", [("80001", "103"), ("80002", "103")], 204, progress=done)
    assert [inputs_of(c.request) for c in route.calls] == [[pair("80002", "103", 204)]]
    assert [r.key for r in results] == ["80001:103", "80002:103"] and set(done) == {"80001:103", "80002:103"}


@pytest.mark.parametrize(
    ("pairs", "type_id", "category"),
    [
        ([("80001", "not-an-id")], 204, "HUBSPOT_DEFINED"),
        ([("80001",)], 204, "HUBSPOT_DEFINED"),
        ([("80001", "103")], 0, "HUBSPOT_DEFINED"),
        ([("80001", "103")], True, "HUBSPOT_DEFINED"),
        ([("80001", "103")], 204, "MADE_UP"),
    ],
)
def test_bad_input_is_refused_before_sending(
    hubspot: HubSpotClient, pairs: list[Any], type_id: Any, category: str
) -> None:
    route = respx.post(TASKS_TO_CONTACTS).mock(side_effect=echo)
    with pytest.raises(InvalidInput):
        hubspot.associate(TOKEN, "tasks", "contacts", pairs, type_id, category=category)
    assert route.call_count == 0


def test_object_types_are_path_segments_only(hubspot: HubSpotClient) -> None:
    with pytest.raises(InvalidInput, match="not a HubSpot object type"):
        hubspot.associate(TOKEN, "tasks", "contacts/../owners", [("80001", "103")], 204)


def test_refused_token_and_server_errors_raise(hubspot: HubSpotClient) -> None:
    route = respx.post(TASKS_TO_CONTACTS)
    route.mock(return_value=httpx.Response(401, json=fixture("error_401.json")))
    with pytest.raises(CredentialsRejected):
        hubspot.associate(TOKEN, "tasks", "contacts", [("80001", "103")], 204)
    route.mock(return_value=httpx.Response(502, text="bad gateway"))
    with pytest.raises(ProviderError) as caught:
        hubspot.associate(TOKEN, "tasks", "contacts", [("80001", "103")], 204)
    assert TOKEN not in str(caught.value)
