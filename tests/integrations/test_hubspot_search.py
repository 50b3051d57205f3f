"""CRM search against respx: exact filterGroups bodies, IN batching, after paging, find_ids."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from tests.support.provider_helpers import Sleeps, fixture_reader, sleeps
from zigznote.errors import InvalidInput, ProviderError
from zigznote.integrations.hubspot.client import DEFAULT_API_VERSION, HubSpotClient
from zigznote.integrations.hubspot.search import Contact

__all__ = ["sleeps"]  # fixtures used by name

API = "https://hubspot.test"
V = DEFAULT_API_VERSION
TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
CONTACTS_SEARCH = f"{API}/crm/objects/{V}/contacts/search"
PROPS = ["email", "firstname", "lastname", "company", "hs_additional_emails"]


fixture = fixture_reader("hubspot")


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


def email_groups(values: list[str]) -> list[dict[str, Any]]:
    return [
        {"filters": [{"propertyName": "email", "operator": "IN", "values": values}]},
        {"filters": [{"propertyName": "hs_additional_emails", "operator": "IN", "values": values}]},
    ]


@pytest.fixture
def hubspot(sleeps: Sleeps) -> Iterator[HubSpotClient]:
    with respx.mock, HubSpotClient(api_base=API, sleep=sleeps, max_wait=60) as client:
        yield client


ADA = Contact("101", "ada@example.com", "Ada", "Lovelace", "Analytical", ())
GRACE = Contact("102", "grace@example.com", "Grace", "Hopper", None, ("g.hopper@navy.example", "grace@cobol.example"))


def test_forty_emails_are_one_request_with_two_in_groups_lowercased(hubspot: HubSpotClient) -> None:
    route = respx.post(CONTACTS_SEARCH).respond(200, json=fixture("search_empty.json"))
    emails = [f"  Person{i}@Example.COM " for i in range(40)] + ["person3@example.com", "not an email", ""]
    assert hubspot.contacts_by_email(TOKEN, emails) == {}
    assert route.call_count == 1
    wanted = [f"person{i}@example.com" for i in range(40)]
    request = route.calls.last.request
    assert body_of(request) == {"properties": PROPS, "limit": 200, "filterGroups": email_groups(wanted)}
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"


def test_two_hundred_fifty_emails_are_three_requests_of_at_most_one_hundred(hubspot: HubSpotClient) -> None:
    route = respx.post(CONTACTS_SEARCH).respond(200, json=fixture("search_empty.json"))
    hubspot.contacts_by_email(TOKEN, [f"p{i}@example.com" for i in range(250)])
    groups = [body_of(call.request)["filterGroups"] for call in route.calls]
    assert [len(g[0]["filters"][0]["values"]) for g in groups] == [100, 100, 50]
    assert groups[2] == email_groups([f"p{i}@example.com" for i in range(200, 250)])
    assert all(len(g) == 2 and all(len(x["filters"]) == 1 for x in g) for g in groups)


def test_pages_are_followed_with_after_and_primary_email_wins(hubspot: HubSpotClient) -> None:
    route = respx.post(CONTACTS_SEARCH).mock(
        side_effect=[
            httpx.Response(200, json=fixture("contacts_by_email_page1.json")),
            httpx.Response(200, json=fixture("contacts_by_email_page2.json")),
        ]
    )
    asked = ["ADA@example.com", "grace@example.com", "g.hopper@navy.example", "grace@cobol.example", "x@y.example"]
    found = hubspot.contacts_by_email(TOKEN, asked)
    assert found == {
        "ada@example.com": ADA,  # contact 103 lists it as an additional email: the primary match wins
        "grace@example.com": GRACE,
        "g.hopper@navy.example": GRACE,
        "grace@cobol.example": GRACE,
    }
    lowered = [e.lower() for e in asked]
    first = {"properties": PROPS, "limit": 200, "filterGroups": email_groups(lowered)}
    assert [body_of(c.request) for c in route.calls] == [first, {**first, "after": "2"}]


def test_a_primary_match_on_a_later_page_replaces_an_earlier_additional_match(hubspot: HubSpotClient) -> None:
    page1, page2 = fixture("contacts_by_email_page1.json"), fixture("contacts_by_email_page2.json")
    first = {"total": 3, "results": page2["results"], "paging": {"next": {"after": "1"}}}
    second = {"total": 3, "results": page1["results"]}
    respx.post(CONTACTS_SEARCH).mock(side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)])
    assert hubspot.contacts_by_email(TOKEN, ["ada@example.com"]) == {"ada@example.com": ADA}


def test_an_additional_email_match_is_used_when_no_contact_has_it_as_primary(hubspot: HubSpotClient) -> None:
    respx.post(CONTACTS_SEARCH).respond(200, json=fixture("contacts_by_email_page2.json"))
    found = hubspot.contacts_by_email(TOKEN, ["ada@example.com"])
    assert found == {
        "ada@example.com": Contact("103", "ada.l@old.example", "Ada", "King", "Old Co", ("ada@example.com",))
    }
    assert found["ada@example.com"].name == "Ada King"


def test_a_search_429_waits_the_secondly_window(hubspot: HubSpotClient, sleeps: Sleeps) -> None:
    route = respx.post(CONTACTS_SEARCH).mock(
        side_effect=[
            httpx.Response(429, json=fixture("error_429_secondly.json")),
            httpx.Response(200, json=fixture("contacts_search_query.json")),
        ]
    )
    assert hubspot.contacts_by_email(TOKEN, ["grace@example.com"])["grace@example.com"].id == "102"
    assert sleeps == [1.0]
    assert body_of(route.calls[0].request) == body_of(route.calls[1].request)


def test_search_contacts_sends_the_query_and_reads_contacts(hubspot: HubSpotClient) -> None:
    route = respx.post(CONTACTS_SEARCH).respond(200, json=fixture("contacts_search_query.json"))
    found = hubspot.search_contacts(TOKEN, "  grace ", limit=5)
    assert found == [Contact("102", "grace@example.com", "Grace", "Hopper", "Navy", ())]
    assert body_of(route.calls.last.request) == {"properties": PROPS, "limit": 5, "query": "grace"}


def test_search_contacts_pages_until_the_limit(hubspot: HubSpotClient) -> None:
    def page(start: int, count: int, after: str | None) -> httpx.Response:
        results = [{"id": str(start + i), "properties": {"email": f"c{start + i}@example.com"}} for i in range(count)]
        body: dict[str, Any] = {"total": 500, "results": results}
        if after:
            body["paging"] = {"next": {"after": after}}
        return httpx.Response(200, json=body)

    route = respx.post(CONTACTS_SEARCH).mock(side_effect=[page(1, 200, "200"), page(201, 50, "250")])
    found = hubspot.search_contacts(TOKEN, "example", limit=250)
    assert [c.id for c in found] == [str(i) for i in range(1, 251)]
    assert [(body_of(c.request)["limit"], body_of(c.request).get("after")) for c in route.calls] == [
        (200, None),
        (50, "200"),
    ]


@pytest.mark.parametrize(("query", "limit"), [("", 10), ("   ", 10), ("x", 0), ("x", 10_001)])
def test_search_contacts_refuses_bad_arguments(hubspot: HubSpotClient, query: str, limit: int) -> None:
    with pytest.raises(InvalidInput):
        hubspot.search_contacts(TOKEN, query, limit=limit)


def test_a_search_answer_without_results_is_a_bad_response(hubspot: HubSpotClient) -> None:
    respx.post(CONTACTS_SEARCH).respond(200, json={"total": 0})
    with pytest.raises(ProviderError) as caught:
        hubspot.contacts_by_email(TOKEN, ["a@example.com"])
    assert caught.value.code == "hubspot_bad_response"


# -- find_ids -------------------------------------------------------------------------------------


def test_find_ids_exact_uses_in_with_lowercased_values_and_keeps_the_oldest(hubspot: HubSpotClient) -> None:
    url = f"{API}/crm/objects/{V}/meetings/search"
    rows = [
        {"id": "90010", "properties": {"hs_meeting_external_url": "https://zigznote.invalid/m#zigznote-def"}},
        {"id": "90001", "properties": {"hs_meeting_external_url": "https://zigznote.invalid/m#zigznote-abc"}},
        {"id": "90005", "properties": {"hs_meeting_external_url": "https://zigznote.invalid/m#zigznote-def"}},
    ]
    route = respx.post(url).respond(200, json={"total": 3, "results": rows})
    values = ["https://zigznote.invalid/m#Zigznote-ABC", "https://zigznote.invalid/m#zigznote-def", "https://x/#nope"]
    assert hubspot.find_ids(TOKEN, "meetings", "hs_meeting_external_url", values) == {
        values[0]: "90001",
        values[1]: "90005",
    }
    assert body_of(route.calls.last.request) == {
        "properties": ["hs_meeting_external_url"],
        "limit": 200,
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "hs_meeting_external_url", "operator": "IN", "values": [v.lower() for v in values]}
                ]
            }
        ],
    }


def test_find_ids_contains_uses_one_contains_token_group_per_value_five_per_request(hubspot: HubSpotClient) -> None:
    url = f"{API}/crm/objects/{V}/tasks/search"
    keys = [f"k{i}aaaa" for i in range(7)]
    rows = [
        {"id": "80001", "properties": {"hs_task_body": "Send it<br><br>zigznote-K0AAAA"}},
        {"id": "80002", "properties": {"hs_task_body": "no key here"}},
    ]
    route = respx.post(url).mock(
        side_effect=[
            httpx.Response(200, json={"total": 2, "results": rows}),
            httpx.Response(
                200, json={"total": 1, "results": [{"id": "80006", "properties": {"hs_task_body": "x k6aaaa"}}]}
            ),
        ]
    )
    assert hubspot.find_ids(TOKEN, "tasks", "hs_task_body", keys, match="contains") == {
        "k0aaaa": "80001",
        "k6aaaa": "80006",
    }
    sent = [body_of(c.request)["filterGroups"] for c in route.calls]
    assert sent[0] == [
        {"filters": [{"propertyName": "hs_task_body", "operator": "CONTAINS_TOKEN", "value": k}]} for k in keys[:5]
    ]
    assert sent[1] == [
        {"filters": [{"propertyName": "hs_task_body", "operator": "CONTAINS_TOKEN", "value": k}]} for k in keys[5:]
    ]


def test_find_ids_refuses_a_bad_property_name(hubspot: HubSpotClient) -> None:
    with pytest.raises(InvalidInput):
        hubspot.find_ids(TOKEN, "tasks", "hs_task_body; drop", ["x"])


def test_find_ids_with_no_values_sends_nothing(hubspot: HubSpotClient) -> None:
    route = respx.post(f"{API}/crm/objects/{V}/tasks/search").respond(200, json=fixture("search_empty.json"))
    assert hubspot.find_ids(TOKEN, "tasks", "hs_task_body", ["", "  "]) == {}
    assert not route.called
