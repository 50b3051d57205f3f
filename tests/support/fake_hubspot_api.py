"""The CRM endpoints of :class:`tests.support.fake_hubspot.FakeHubSpot` (OAuth:
:mod:`tests.support.fake_hubspot_oauth`), and the shared request, token, object and reply types.

Each endpoint function takes the fake (its lock held) and the recorded request and returns
``(status, body)``, or raises :class:`Reply`. Shapes follow HubSpot's documentation (cited per
function and in ``tests/fixtures/hubspot/README.md``): the dated OAuth endpoints
(developers.hubspot.com/docs/api-reference/latest/authentication/manage-oauth-tokens), CRM
search (…/latest/crm/search-the-crm), the object batch endpoints (…/crm/activities/meetings/batch/
create-meetings and the same pages for tasks, contacts, updates), associations between existing
records (…/crm/associations/associate-records/batch/create-associations-labeled), owners (…/crm/owners/guide),
account details (…/account/account-info/guide) and the error shape of every dated spec.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tests.support.fake_oauth import Reply, TokenInfo

if TYPE_CHECKING:
    from tests.support.fake_hubspot import FakeHubSpot

MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS, MAX_PAGE, MAX_BATCH = 5, 6, 18, 200, 100
#: Association type IDs HubSpot defines from each object type to contacts.
CONTACT_ASSOCIATIONS = {"meetings": 200, "tasks": 204}
#: HubSpot's object type IDs, as association results name them.
OBJECT_TYPE_IDS = {"contacts": "0-1", "tasks": "0-27", "meetings": "0-47"}
ENUMS = {
    "hs_task_status": {"NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"},
    "hs_task_priority": {"NONE", "LOW", "MEDIUM", "HIGH"},
    "hs_meeting_outcome": {"SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"},
}
REQUIRED = {"meetings": ("hs_timestamp",), "tasks": ("hs_timestamp",), "contacts": ()}
TIME_PROPERTIES = {"hs_timestamp", "hs_meeting_start_time", "hs_meeting_end_time"}
SCOPE_READ, SCOPE_WRITE, SCOPE_OWNERS = (
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.owners.read",
)


@dataclass(frozen=True)
class HubRequest:
    """One request as the fake received it. ``name``: the endpoint (``authorize``, ``token``,
    ``introspect``, ``revoke``, ``account``, ``owners``, ``search``, ``batch_create``,
    ``batch_update``, ``associate``, or ``unknown``); ``object_type`` and ``version`` from the path; ``query``
    the query string; ``form`` the form body; ``json`` the parsed JSON body; ``token`` the bearer
    token; ``at`` ``time.monotonic()`` on arrival."""

    http_method: str
    path: str
    name: str
    object_type: str | None
    version: str | None
    query: dict[str, str]
    form: dict[str, str]
    json: Any
    headers: dict[str, str]
    token: str | None
    at: float = field(default_factory=time.monotonic)


#: What the fake knows about one access token (or service key: ``expires_at`` None).
Token = TokenInfo


@dataclass
class CrmObject:
    """One stored CRM object."""

    id: str
    properties: dict[str, str]
    associations: list[tuple[str, int]]  # (contact id, association type id)
    created_at: float
    updated_at: float


def hub_error(status: int, category: str, message: str, **extra: Any) -> Reply:
    """HubSpot's error shape (``status``, ``message``, ``correlationId``, ``category`` …)."""
    body = {"status": "error", "message": message, "correlationId": secrets.token_hex(8), "category": category}
    return Reply({**body, **extra}, status)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- CRM -------------------------------------------------------------------------------------------


def check_token(fake: FakeHubSpot, req: HubRequest, needed: str | None) -> Token:
    """The request's bearer token, or HubSpot's 401/403 answer."""
    if not req.token:
        raise hub_error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
    info = fake.access_tokens.get(req.token)
    if info is None or info.revoked:
        raise hub_error(401, "INVALID_AUTHENTICATION", "The OAuth token used to make this call is not valid.")
    if info.expires_at is not None and info.expires_at <= fake.clock():
        raise hub_error(401, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired.")
    if needed and needed not in info.scopes:
        raise hub_error(
            403, "MISSING_SCOPES", "This app hasn't been granted all required scopes to make this call.",
            errors=[{"message": "One or more of the following scopes are required.",
                     "context": {"requiredGranularScopes": [needed]}}],
        )  # fmt: skip
    return info


def account(fake: FakeHubSpot, req: HubRequest) -> tuple[int, dict[str, Any]]:
    """GET /account-info/{version}/details."""
    check_token(fake, req, None)
    return 200, {
        "portalId": int(fake.hub_id), "accountType": "STANDARD", "timeZone": "US/Eastern",
        "companyCurrency": "USD", "additionalCurrencies": [], "utcOffset": "-05:00",
        "utcOffsetMilliseconds": -18_000_000, "uiDomain": "app.hubspot.com", "dataHostingLocation": "na1",
    }  # fmt: skip


def owners(fake: FakeHubSpot, req: HubRequest) -> tuple[int, dict[str, Any]]:
    """GET /crm/owners/{version}?limit&after: pages of owners."""
    check_token(fake, req, SCOPE_OWNERS)
    limit = min(int(req.query.get("limit", "100")), 500)
    start = int(req.query.get("after", "0") or 0)
    page = fake.owners[start : start + limit]
    body: dict[str, Any] = {"results": page}
    if start + limit < len(fake.owners):
        body["paging"] = {"next": {"after": str(start + limit)}}
    return 200, body


def _tokens(text: str) -> set[str]:
    """The words HubSpot's search index would hold for a text: runs of letters and digits."""
    return {t for t in re.split(r"[^0-9a-z]+", text.lower()) if t}


def _matches(obj: CrmObject, flt: Mapping[str, Any]) -> bool:
    prop = str(flt.get("propertyName"))
    held = obj.properties.get(prop) if prop != "hs_object_id" else obj.id
    op = flt.get("operator")
    if held is None:
        return op == "NOT_HAS_PROPERTY"
    values = [held.lower()]
    if prop == "hs_additional_emails":
        values = [v.strip().lower() for v in held.split(";") if v.strip()]
    if op == "EQ":
        return str(flt.get("value", "")).lower() in values
    if op == "IN":
        return any(v in values for v in flt.get("values", []))  # IN compares as given: lowercase
    if op == "CONTAINS_TOKEN":
        return str(flt.get("value", "")).lower() in _tokens(held)
    if op == "HAS_PROPERTY":
        return True
    raise hub_error(400, "VALIDATION_ERROR", f"unsupported operator {op!r}")


def search(fake: FakeHubSpot, req: HubRequest) -> tuple[int, dict[str, Any]]:
    """POST /crm/objects/{version}/{type}/search within the documented limits; objects written
    in the last ``search_delay`` seconds are not visible yet (HubSpot's index lag)."""
    check_token(fake, req, SCOPE_READ)
    body = req.json if isinstance(req.json, dict) else {}
    groups = body.get("filterGroups") or []
    sizes = [len(g.get("filters", [])) for g in groups]
    limit = int(body.get("limit", 10))
    if len(groups) > MAX_GROUPS or max(sizes, default=0) > MAX_FILTERS_PER_GROUP or sum(sizes) > MAX_FILTERS:
        raise hub_error(400, "VALIDATION_ERROR", f"too many filters: {sizes}")
    if limit > MAX_PAGE:
        raise hub_error(400, "VALIDATION_ERROR", f"limit must be at most {MAX_PAGE}")
    now = fake.clock()
    pool = [o for o in fake.objects.get(req.object_type or "", {}).values() if o.updated_at <= now - fake.search_delay]
    if groups:
        pool = [o for o in pool if any(all(_matches(o, f) for f in g.get("filters", [])) for g in groups)]
    if body.get("query"):
        text = str(body["query"]).lower()
        pool = [o for o in pool if any(text in str(v).lower() for v in o.properties.values())]
    pool.sort(key=lambda o: int(o.id))
    start = int(body.get("after") or 0)
    page = pool[start : start + limit]
    wanted = body.get("properties") or []
    results = [
        {"id": o.id, "properties": {p: o.properties.get(p) for p in wanted}, "createdAt": _iso(o.created_at),
         "updatedAt": _iso(o.updated_at), "archived": False}
        for o in page
    ]  # fmt: skip
    answer: dict[str, Any] = {"total": len(pool), "results": results}
    if start + limit < len(pool):
        answer["paging"] = {"next": {"after": str(start + limit)}}
    return 200, answer


def _invalid(fake: FakeHubSpot, object_type: str, props: Mapping[str, Any], *, creating: bool) -> str | None:
    """Why HubSpot would refuse these properties (a message), or None."""
    for name in REQUIRED.get(object_type, ()) if creating else ():
        if not props.get(name):
            return f"{name} is required"
    for name, allowed in ENUMS.items():
        if name in props and props[name] not in allowed:
            return f"{props[name]!r} was not one of the allowed options for {name}"
    for name in TIME_PROPERTIES & set(props):
        text = str(props[name])
        if not (text.isdigit() or re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", text)):
            return f"{text!r} is not a valid date for {name}"
    owner = props.get("hubspot_owner_id")
    if owner is not None and owner not in {o["id"] for o in fake.owners}:
        return f"{owner} is not a valid owner ID"
    if object_type == "contacts" and creating and props.get("email"):
        for o in fake.objects["contacts"].values():
            if o.properties.get("email", "").lower() == str(props["email"]).lower():
                return f"Contact already exists. Existing ID: {o.id}"
    return None


def _item_error(category: str, message: str, key: str | None, object_id: str | None = None) -> dict[str, Any]:
    context: dict[str, list[str]] = {}
    if key:
        context["objectWriteTraceId"] = [key]
    if object_id:
        context["ids"] = [object_id]
    return {"status": "error", "category": category, "message": message, "context": context, "errors": [], "links": {}}


def _result(obj: CrmObject, key: str | None) -> dict[str, Any]:
    out = {"id": obj.id, "properties": dict(obj.properties), "createdAt": _iso(obj.created_at),
           "updatedAt": _iso(obj.updated_at), "archived": False}  # fmt: skip
    if key:
        out["objectWriteTraceId"] = key
    return out


def _batch_answer(
    results: list[dict[str, Any]], errors: list[dict[str, Any]], created: bool
) -> tuple[int, dict[str, Any]]:
    now = _iso(time.time())
    body: dict[str, Any] = {"status": "COMPLETE", "requestedAt": now, "startedAt": now, "completedAt": now}
    body["results"] = results
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return 207, body
    return (201 if created else 200), body


def _inputs(fake: FakeHubSpot, req: HubRequest) -> list[dict[str, Any]]:
    check_token(fake, req, SCOPE_WRITE)
    inputs = (req.json or {}).get("inputs") if isinstance(req.json, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise hub_error(400, "VALIDATION_ERROR", "inputs must be a non-empty list")
    if len(inputs) > MAX_BATCH:
        raise hub_error(400, "VALIDATION_ERROR", f"at most {MAX_BATCH} inputs per batch")
    return inputs


def batch_create(fake: FakeHubSpot, req: HubRequest) -> tuple[int, dict[str, Any]]:
    """POST /crm/objects/{version}/{type}/batch/create: per-item results and errors (207); with
    ``whole_batch_rejects`` one invalid input refuses the whole batch (400)."""
    object_type = req.object_type or ""
    inputs = _inputs(fake, req)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for item in inputs:
        key = item.get("objectWriteTraceId")
        props = {k: str(v) for k, v in (item.get("properties") or {}).items()}
        problem = fake.rejection(object_type, item) or _invalid(fake, object_type, props, creating=True)
        links: list[tuple[str, int]] = []
        for assoc in item.get("associations") or []:
            to = str((assoc.get("to") or {}).get("id", ""))
            for kind in assoc.get("types") or []:
                expected = CONTACT_ASSOCIATIONS.get(object_type)
                if kind.get("associationCategory") != "HUBSPOT_DEFINED" or kind.get("associationTypeId") != expected:
                    problem = problem or f"association type {kind} is not valid for {object_type} to contacts"
                elif to not in fake.objects["contacts"]:
                    problem = problem or f"contact {to} does not exist"
                links.append((to, int(kind.get("associationTypeId", 0))))
        if problem:
            category = "CONFLICT" if problem.startswith("Contact already exists") else "VALIDATION_ERROR"
            if fake.whole_batch_rejects and len(inputs) > 1:
                raise hub_error(400, category, problem)
            errors.append(_item_error(category, problem, key))
            continue
        obj = fake.new_object(object_type, props, links)
        results.append(_result(obj, key))
    return _batch_answer(results, errors, created=True)


def batch_update(fake: FakeHubSpot, req: HubRequest) -> tuple[int, dict[str, Any]]:
    """POST /crm/objects/{version}/{type}/batch/update: unknown IDs are ``OBJECT_NOT_FOUND``."""
    object_type = req.object_type or ""
    inputs = _inputs(fake, req)
    store = fake.objects.setdefault(object_type, {})
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for item in inputs:
        key = item.get("objectWriteTraceId")
        object_id = str(item.get("id", ""))
        props = {k: str(v) for k, v in (item.get("properties") or {}).items()}
        obj = store.get(object_id)
        if obj is None:
            errors.append(_item_error("OBJECT_NOT_FOUND", f"Object {object_id} not found", key, object_id))
            continue
        problem = fake.rejection(object_type, item) or _invalid(fake, object_type, props, creating=False)
        if problem:
            errors.append(_item_error("VALIDATION_ERROR", problem, key, object_id))
            continue
        obj.properties.update(props)
        obj.updated_at = fake.clock()
        fake.updates.append((object_type, object_id))
        results.append(_result(obj, key))
    return _batch_answer(results, errors, created=False)


def associate(fake: FakeHubSpot, req: HubRequest) -> tuple[int, dict[str, Any]]:
    """POST /crm/associations/{version}/{from}/contacts/batch/create: each ``{from, to, types}``
    input associates two existing records (one result ``{fromObjectTypeId, fromObjectId,
    toObjectTypeId, toObjectId, labels}`` each; an existing pair stays one association); a bad
    pair is an error naming both IDs in its ``context`` (207). ``fake.reject("associations", …)``
    refuses matching inputs."""
    from_type = req.object_type or ""
    to_type = req.path.rstrip("/").split("/")[5]
    inputs = _inputs(fake, req)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for item in inputs:
        source = str((item.get("from") or {}).get("id", ""))
        target = str((item.get("to") or {}).get("id", ""))
        expected = CONTACT_ASSOCIATIONS.get(from_type) if to_type == "contacts" else None
        kinds = [(k.get("associationCategory"), k.get("associationTypeId")) for k in item.get("types") or []]
        obj = fake.objects.get(from_type, {}).get(source)
        problem = fake.rejection("associations", item)
        if not problem and (expected is None or kinds != [("HUBSPOT_DEFINED", expected)]):
            problem = f"association types {kinds} are not valid from {from_type} to {to_type}"
        if not problem and obj is None:
            problem = f"No {from_type} with ID {source} exists"
        if not problem and target not in fake.objects.get(to_type, {}):
            problem = f"No {to_type} with ID {target} exists"
        if problem or obj is None or expected is None:
            error = _item_error("VALIDATION_ERROR", problem or "invalid", None)
            errors.append({**error, "context": {"fromObjectId": [source], "toObjectId": [target]}})
            continue
        if (target, expected) not in obj.associations:
            obj.associations.append((target, expected))
        results.append(
            {"fromObjectTypeId": OBJECT_TYPE_IDS[from_type], "fromObjectId": source,
             "toObjectTypeId": OBJECT_TYPE_IDS[to_type], "toObjectId": target, "labels": []}
        )  # fmt: skip
    return _batch_answer(results, errors, created=True)


ENDPOINTS: dict[str, Callable[[FakeHubSpot, HubRequest], tuple[int, dict[str, Any]]]] = {
    "account": account,
    "owners": owners,
    "search": search,
    "batch_create": batch_create,
    "batch_update": batch_update,
    "associate": associate,
}
