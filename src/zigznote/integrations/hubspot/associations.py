"""Associations between existing CRM records, created in batches and read pair by pair.

``POST /crm/associations/{version}/{fromObjectType}/{toObjectType}/batch/create``
("Associate records (labeled)",
https://developers.hubspot.com/docs/api-reference/latest/crm/associations/associate-records/batch/create-associations-labeled;
the v4 API under a dated path, request model ``BatchInputPublicAssociationMultiPost`` of
HubSpot's SDK ``hubspot/crm/associations/v4``). Body::

    {"inputs": [{"from": {"id": "1001"}, "to": {"id": "101"},
                 "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 200}]}]}

Answers: ``201`` ``BatchResponseLabelsBetweenObjectPair`` (``results[]`` of ``{fromObjectTypeId,
fromObjectId, toObjectTypeId, toObjectId, labels}``), ``207`` the same with ``errors[]``
(``StandardError``: ``category``, ``message``, ``context`` {name: [values]}). An association
input carries no ``objectWriteTraceId``, so a result is tied to its input by the
``(fromObjectId, toObjectId)`` pair, and an error by the object IDs in its ``context``
(``fromObjectId``/``toObjectId``/``ids``; inferred, see tests/fixtures/hubspot/README.md).
Everything else is as :mod:`.batch`: at most 100 inputs per request, a whole-batch
400/409/422 split in halves until the bad input is alone, no retry of a 5xx or network
failure (those raise), a pair without result or error reported ``UNKNOWN_OUTCOME``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from zigznote.errors import InvalidInput
from zigznote.integrations.hubspot.batch import MAX_BATCH_INPUTS, SPLIT_STATUSES, UNKNOWN_OUTCOME, ItemResult
from zigznote.integrations.hubspot.errors import id_field, mapping_of, parse_error

if TYPE_CHECKING:
    from zigznote.integrations.hubspot.client import HubSpotClient

__all__ = ["CATEGORIES", "associate", "pair_key"]

#: Association categories HubSpot accepts in ``types[]``.
CATEGORIES = ("HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED")

_ID_RE = re.compile(r"[0-9]{1,20}")
# Context names an association error may use to name the records of the failed input.
_FROM_KEYS = ("fromObjectId", "fromObjectIds", "ids", "id")
_TO_KEYS = ("toObjectId", "toObjectIds")


def pair_key(from_id: str, to_id: str) -> str:
    """The :class:`ItemResult` key of one pair: ``"<from id>:<to id>"``."""
    return f"{from_id}:{to_id}"


def _pairs(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The pairs as digit strings, exact duplicates dropped (first-seen order); InvalidInput
    for anything that is not a pair of numeric IDs."""
    out: dict[tuple[str, str], None] = {}
    for pair in pairs:
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise InvalidInput(f"each HubSpot association must be a (from ID, to ID) pair: {pair!r}")
        from_id, to_id = (id_field(v) for v in pair)
        if from_id is None or to_id is None:
            raise InvalidInput(f"HubSpot association IDs must be numeric record IDs: {pair!r}")
        out.setdefault((from_id, to_id), None)
    return list(out)


def _context_ids(raw: Mapping[str, Any], names: Sequence[str]) -> set[str]:
    found: set[str] = set()
    contexts = [raw.get("context")]
    details = raw.get("errors")
    if isinstance(details, list):
        contexts.extend(mapping_of(d).get("context") for d in details[:20])
    for context in contexts:
        if not isinstance(context, dict):
            continue
        for name in names:
            values = context.get(name)
            for value in values[:100] if isinstance(values, list) else [values]:
                if (found_id := id_field(value)) is not None:
                    found.add(found_id)
    return found


def _read(body: Any, chunk: Sequence[tuple[str, str]]) -> dict[str, ItemResult]:
    """Per-pair results of a 2xx answer (see the module docstring)."""
    answer = mapping_of(body)
    wanted = {pair_key(f, t) for f, t in chunk}
    out: dict[str, ItemResult] = {}
    results = answer.get("results")
    for raw in results if isinstance(results, list) else []:
        raw = mapping_of(raw)
        from_id, to_id = id_field(raw.get("fromObjectId")), id_field(raw.get("toObjectId"))
        if from_id is not None and to_id is not None and (key := pair_key(from_id, to_id)) in wanted:
            out[key] = ItemResult(key=key, id=to_id, error=None)
    loose: list[str] = []
    errors = answer.get("errors")
    for raw in errors if isinstance(errors, list) else []:
        raw = mapping_of(raw)
        error = parse_error(raw)
        froms, tos = _context_ids(raw, _FROM_KEYS), _context_ids(raw, _TO_KEYS)
        # An error naming only one side names every pending pair with that record.
        named = [
            pair_key(f, t) for f, t in chunk if (froms or tos) and (not froms or f in froms) and (not tos or t in tos)
        ]
        if not named:
            loose.append(error.describe())
        for key in named:
            if key not in out:
                out[key] = ItemResult(key=key, id=None, error=error.describe(), category=error.category)
    missing = [pair_key(f, t) for f, t in chunk if pair_key(f, t) not in out]
    if len(missing) == 1 and len(loose) == 1:
        out[missing[0]] = ItemResult(key=missing[0], id=None, error=loose[0])
        missing = []
    for key in missing:
        why = f": {loose[0]}" if loose else ""
        out[key] = ItemResult(
            key=key, id=None, error=f"HubSpot's answer gave no result for this association{why}",
            category=UNKNOWN_OUTCOME,
        )  # fmt: skip
    return out


def associate(
    client: HubSpotClient,
    token: str,
    from_type: str,
    to_type: str,
    pairs: Sequence[tuple[str, str]],
    type_id: int,
    *,
    category: str = "HUBSPOT_DEFINED",
    progress: MutableMapping[str, ItemResult] | None = None,
) -> list[ItemResult]:
    """Associate each ``(from ID, to ID)`` pair with association type ``type_id`` of
    ``category`` (e.g. meetings → contacts 200, tasks → contacts 204, HUBSPOT_DEFINED); one
    :class:`ItemResult` per distinct pair, in first-seen order, keyed :func:`pair_key`, ``id``
    the to-record's ID on success.

    ``progress``: as in :func:`.batch.write` (pairs already in it are not sent again; pass the
    same mapping when the call is repeated after a token refresh).

    Raises InvalidInput (a pair that is not two numeric IDs, a bad type ID or category),
    CredentialsRejected, ConfigError ``missing_scope``, ProviderError (5xx, network, rate limit
    over budget, other refusals of the whole request).
    """
    if isinstance(type_id, bool) or not isinstance(type_id, int) or not 0 < type_id < 10**9:
        raise InvalidInput(f"not a HubSpot association type ID: {type_id!r}")
    if category not in CATEGORIES:
        raise InvalidInput(f"not a HubSpot association category: {category!r}")
    wanted = _pairs(pairs)
    done: MutableMapping[str, ItemResult] = progress if progress is not None else {}
    pending = [p for p in wanted if pair_key(*p) not in done]
    url = client.url("associate", object_type=from_type, to_object_type=to_type)
    what = f"HubSpot {from_type} to {to_type} associations"
    types = [{"associationCategory": category, "associationTypeId": type_id}]

    def send(chunk: list[tuple[str, str]]) -> None:
        inputs = [{"from": {"id": f}, "to": {"id": t}, "types": types} for f, t in chunk]
        answer = client.request(
            "POST", url, what=what, token=token, json_body={"inputs": inputs}, accept=SPLIT_STATUSES
        )
        if answer.status in SPLIT_STATUSES:
            if len(chunk) == 1:
                error = parse_error(answer.body)
                key = pair_key(*chunk[0])
                done[key] = ItemResult(key=key, id=None, error=error.describe(), category=error.category)
                return
            half = len(chunk) // 2
            send(chunk[:half])
            send(chunk[half:])
            return
        done.update(_read(answer.body, chunk))

    for start in range(0, len(pending), MAX_BATCH_INPUTS):
        send(pending[start : start + MAX_BATCH_INPUTS])
    return [done[pair_key(*p)] for p in wanted]
