"""CRM search: contacts by email, free-text contact search, and objects by our external key.

``POST /crm/objects/{version}/{object_type}/search``
(https://developers.hubspot.com/docs/api-reference/latest/crm/search-the-crm). Limits used here,
from that page's "Limitations": at most 5 ``filterGroups`` (OR'd) of at most 6 filters
(AND'd), 18 filters in all; at most 200 results per page, paged with ``after``; at most 10,000
results per query; the ``IN`` operator is case-sensitive, so its values are sent lowercased
("inputted values must be in lowercase"). New and updated records reach the search index after
a short delay, so a search right after a write may not see it yet.

How many values one ``IN`` filter may hold is not documented; :data:`IN_VALUES` (100) is our
bound, the same as the batch input limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from zigznote.errors import InvalidInput, ProviderError, ZigznoteError
from zigznote.integrations.hubspot.errors import id_field, mapping_of, text_field

if TYPE_CHECKING:
    from zigznote.integrations.hubspot.client import HubSpotClient

__all__ = [
    "CONTACT_PROPERTIES",
    "IN_VALUES",
    "MAX_FILTERS_PER_GROUP",
    "MAX_FILTERS_TOTAL",
    "MAX_FILTER_GROUPS",
    "PAGE_SIZE",
    "Contact",
    "contacts_by_email",
    "find_ids",
    "search_contacts",
]

MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS_TOTAL = 18
#: Results per search page (the documented maximum).
PAGE_SIZE = 200
#: Results one query can reach; paging beyond answers 400.
MAX_RESULTS = 10_000
#: Values per ``IN`` filter (our bound; see the module docstring).
IN_VALUES = 100
#: Properties read for a contact.
CONTACT_PROPERTIES = ("email", "firstname", "lastname", "company", "hs_additional_emails")

_EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s]{1,252}")
_PROPERTY_RE = re.compile(r"[a-z0-9_]{1,100}")


@dataclass(frozen=True)
class Contact:
    """One HubSpot contact (strings made storable; None when HubSpot has no value).

    ``additional_emails``: ``hs_additional_emails`` (a ``;``-separated list in HubSpot),
    lowercased.
    """

    id: str
    email: str | None
    firstname: str | None
    lastname: str | None
    company: str | None
    additional_emails: tuple[str, ...] = ()

    @property
    def name(self) -> str | None:
        """First and last name joined, or None when both are empty."""
        joined = " ".join(p for p in (self.firstname, self.lastname) if p)
        return joined or None


def _contact(item: Any) -> Contact | None:
    item = mapping_of(item)
    contact_id = id_field(item.get("id"))
    if contact_id is None:
        return None
    props = mapping_of(item.get("properties"))
    email = text_field(props.get("email"), 254)
    extra = text_field(props.get("hs_additional_emails"), 4000) or ""
    additional = tuple(dict.fromkeys(e.strip().lower() for e in extra.split(";") if e.strip()))
    return Contact(
        id=contact_id,
        email=email.lower() if email else None,
        firstname=text_field(props.get("firstname")),
        lastname=text_field(props.get("lastname")),
        company=text_field(props.get("company")),
        additional_emails=additional,
    )


def _chunks(values: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def _check_groups(groups: list[dict[str, Any]]) -> None:
    """Guard our own request shapes against HubSpot's documented filter limits (a bug here,
    not bad input: exit 1)."""
    sizes = [len(g["filters"]) for g in groups]
    if (
        len(groups) > MAX_FILTER_GROUPS
        or max(sizes, default=0) > MAX_FILTERS_PER_GROUP
        or sum(sizes) > MAX_FILTERS_TOTAL
    ):
        raise ZigznoteError(f"a HubSpot search was built over the documented filter limits: {sizes}")


def _search(
    client: HubSpotClient,
    token: str,
    object_type: str,
    *,
    what: str,
    properties: Sequence[str],
    groups: list[dict[str, Any]] | None = None,
    query: str | None = None,
    limit: int = MAX_RESULTS,
) -> list[dict[str, Any]]:
    """Every result of one search (all pages, ``after`` as HubSpot gives it), up to ``limit``."""
    body: dict[str, Any] = {"properties": list(properties), "limit": min(PAGE_SIZE, limit)}
    if groups is not None:
        _check_groups(groups)
        body["filterGroups"] = groups
    if query is not None:
        body["query"] = query
    url = client.url("search", object_type=object_type)
    results: list[dict[str, Any]] = []
    seen: set[str] = set()
    while True:
        answer = mapping_of(client.request("POST", url, what=what, token=token, json_body=body).body)
        page = answer.get("results")
        if not isinstance(page, list):
            raise ProviderError(f"HubSpot's answer to {what} has no list of results", code="hubspot_bad_response")
        results.extend(r for r in page if isinstance(r, dict))
        following = mapping_of(mapping_of(answer.get("paging")).get("next")).get("after")
        if following is None or following == "" or len(results) >= limit:
            return results[:limit]
        after = str(following) if isinstance(following, int | str) and not isinstance(following, bool) else ""
        if not after or after in seen or len(after) > 200:
            raise ProviderError(f"HubSpot's paging of {what} went wrong", code="hubspot_bad_response")
        if after.isdigit() and int(after) >= MAX_RESULTS:
            return results[:limit]  # HubSpot refuses to page past 10,000 results
        seen.add(after)
        body = {**body, "after": after, "limit": min(PAGE_SIZE, limit - len(results))}


def _emails(emails: Sequence[str]) -> list[str]:
    """Lowercased, stripped, deduplicated; values that cannot be an email are dropped (they
    cannot match a contact, and an ``IN`` value with spaces or no ``@`` is noise)."""
    found: list[str] = []
    for raw in emails:
        if not isinstance(raw, str):
            continue
        email = raw.strip().lower()
        if len(email) <= 254 and _EMAIL_RE.fullmatch(email) and email not in found:
            found.append(email)
    return found


def contacts_by_email(client: HubSpotClient, token: str, emails: Sequence[str]) -> dict[str, Contact]:
    """``lowercased email -> Contact`` for every email matching a contact.

    Emails are lowercased and deduplicated, then searched :data:`IN_VALUES` at a time, one
    request per chunk with two filter groups (OR): ``email IN chunk`` and
    ``hs_additional_emails IN chunk``, all pages read. A primary-email match wins over an
    additional-email match of another contact; between equal matches the first result wins.
    Emails with no contact are absent from the result. Scope ``crm.objects.contacts.read``.
    """
    wanted = _emails(emails)
    found: dict[str, Contact] = {}
    primary: set[str] = set()
    for chunk in _chunks(wanted, IN_VALUES):
        groups = [
            {"filters": [{"propertyName": "email", "operator": "IN", "values": chunk}]},
            {"filters": [{"propertyName": "hs_additional_emails", "operator": "IN", "values": chunk}]},
        ]
        rows = _search(
            client, token, "contacts", what="HubSpot contacts search", properties=CONTACT_PROPERTIES, groups=groups
        )
        chunk_set = set(chunk)
        for contact in filter(None, map(_contact, rows)):
            if contact.email in chunk_set and contact.email not in primary:
                found[contact.email] = contact
                primary.add(contact.email)
            for extra in contact.additional_emails:
                if extra in chunk_set and extra not in found:
                    found[extra] = contact
    return found


def search_contacts(client: HubSpotClient, token: str, query: str, *, limit: int = 100) -> list[Contact]:
    """Contacts matching the free-text ``query`` (HubSpot's ``query`` field searches the default
    searchable properties: name, email, phone, company …), up to ``limit`` (1 to 10,000),
    in HubSpot's order. Raises InvalidInput for an empty query or a bad limit."""
    text = query.strip() if isinstance(query, str) else ""
    if not text or len(text) > 3000:
        raise InvalidInput("the contact search text must be 1 to 3000 characters", code="invalid_query")
    if not 1 <= limit <= MAX_RESULTS:
        raise InvalidInput(f"the contact search limit must be 1 to {MAX_RESULTS}, not {limit}")
    rows = _search(
        client,
        token,
        "contacts",
        what="HubSpot contacts search",
        properties=CONTACT_PROPERTIES,
        query=text,
        limit=limit,
    )
    return [c for c in map(_contact, rows) if c is not None]


def find_ids(
    client: HubSpotClient,
    token: str,
    object_type: str,
    property: str,
    values: Sequence[str],
    *,
    match: Literal["exact", "contains"] = "exact",
) -> dict[str, str]:
    """``value -> object ID`` for the objects of ``object_type`` whose ``property`` holds a value.

    ``match="exact"``: the property equals the value (case-insensitive: ``IN`` with lowercased
    values, :data:`IN_VALUES` per request). ``match="contains"``: the property contains the
    value (``CONTAINS_TOKEN``, one filter group per value, 5 values per request; pass a value
    HubSpot indexes as one token, e.g. a run of letters and digits). Every answer is checked
    here too (equality or substring, case-insensitive), so a loose match never maps a value to
    the wrong object. When several objects match one value, the lowest ID wins (the oldest).
    Values not found are absent. Crash recovery looks up our external keys with this; mind the
    search index delay (module docstring).
    """
    if not _PROPERTY_RE.fullmatch(property or ""):
        raise InvalidInput(f"not a HubSpot property name: {property!r}")
    wanted = list(dict.fromkeys(v for v in values if isinstance(v, str) and v.strip()))
    if any(len(v) > 1000 for v in wanted):
        raise InvalidInput("a value to look up in HubSpot is longer than 1000 characters")
    found: dict[str, str] = {}
    size = IN_VALUES if match == "exact" else MAX_FILTER_GROUPS
    for chunk in _chunks(wanted, size):
        if match == "exact":
            lowered = list(dict.fromkeys(v.lower() for v in chunk))
            groups = [{"filters": [{"propertyName": property, "operator": "IN", "values": lowered}]}]
        else:
            groups = [
                {"filters": [{"propertyName": property, "operator": "CONTAINS_TOKEN", "value": v}]} for v in chunk
            ]
        rows = _search(
            client, token, object_type, what=f"HubSpot {object_type} search", properties=[property], groups=groups
        )
        for row in rows:
            object_id = id_field(row.get("id"))
            held = text_field(mapping_of(row.get("properties")).get(property), 65_536)
            if object_id is None or held is None:
                continue
            held = held.lower()
            for value in chunk:
                hit = held == value.lower() if match == "exact" else value.lower() in held
                if hit and (value not in found or int(object_id) < int(found[value])):
                    found[value] = object_id
    return found
