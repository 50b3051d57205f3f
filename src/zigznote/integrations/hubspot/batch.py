"""Batch create and update of CRM objects, read item by item.

``POST /crm/objects/{version}/{object_type}/batch/create`` and ``…/batch/update``
(https://developers.hubspot.com/docs/api-reference/latest/crm/activities/meetings/batch/create-meetings,
…/tasks/batch/create-tasks, …/batch/update-…). At most 100 inputs per request. Each input
carries our key as ``objectWriteTraceId``; HubSpot echoes it on each result and names it in the
``context`` of each error, so an answer is read per item:

- ``201``/``200``: every input succeeded (``results``);
- ``207`` multi-status: ``results`` for the inputs that were written, ``errors`` (each with
  ``category``, ``message``, ``context.objectWriteTraceId`` or ``context.ids``) for the others;
- ``400``/``409``/``422`` for the whole batch: HubSpot may still reject a whole batch for one
  bad input, so the batch is split in halves and each half resent, recursively, until the bad
  input is alone (and reported) and every other input is written. This costs at most
  ``2n - 1`` requests for ``n`` inputs.

An input HubSpot gives no result or error for is reported with category ``UNKNOWN_OUTCOME``:
it may or may not exist, so the caller looks it up by its key before creating it again.
Nothing here retries a 5xx or a network failure (the outcome of a write is then unknown);
those raise, as does a refused token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from zigznote.errors import InvalidInput
from zigznote.integrations.hubspot.errors import id_field, mapping_of, parse_error

if TYPE_CHECKING:
    from zigznote.integrations.hubspot.client import HubSpotClient

__all__ = ["MAX_BATCH_INPUTS", "SPLIT_STATUSES", "UNKNOWN_OUTCOME", "ItemResult", "write"]

#: Inputs per batch request (documented limit of the object batch endpoints).
MAX_BATCH_INPUTS = 100
#: Whole-batch refusals that may be caused by one input: split and resend.
SPLIT_STATUSES = (400, 409, 422)
#: Category of an input whose fate HubSpot's answer does not tell.
UNKNOWN_OUTCOME = "UNKNOWN_OUTCOME"

_KEY_RE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_PROPERTY_RE = re.compile(r"[A-Za-z0-9_]{1,100}")


@dataclass(frozen=True)
class ItemResult:
    """The outcome of one input, identified by ``key`` (its ``objectWriteTraceId``).

    Success: ``id`` is the HubSpot object ID, ``error`` None. Failure: ``id`` None, ``error``
    a storable message (HubSpot's category, message and correlation ID), ``category`` HubSpot's
    error category (``VALIDATION_ERROR``, ``CONFLICT``, ``OBJECT_NOT_FOUND`` …) or
    :data:`UNKNOWN_OUTCOME`.
    """

    key: str
    id: str | None
    error: str | None
    category: str | None = None

    @property
    def ok(self) -> bool:
        """True when the input was written."""
        return self.error is None


def _payload(item: Mapping[str, Any], mode: Literal["create", "update"]) -> tuple[str, dict[str, Any]]:
    """``(key, the input as sent)``; InvalidInput for a shape HubSpot would refuse wholesale."""
    if not isinstance(item, Mapping):
        raise InvalidInput("each HubSpot batch input must be an object")
    key = item.get("objectWriteTraceId")
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise InvalidInput(f"each HubSpot batch input needs an objectWriteTraceId of 1 to 100 safe characters: {key!r}")
    properties = item.get("properties")
    if not isinstance(properties, Mapping) or not all(
        isinstance(k, str) and _PROPERTY_RE.fullmatch(k) for k in properties
    ):
        raise InvalidInput(f"HubSpot batch input {key}: properties must map property names to values")
    payload: dict[str, Any] = {"properties": dict(properties)}
    if mode == "create":
        associations = item.get("associations", [])
        if not isinstance(associations, Sequence) or isinstance(associations, str):
            raise InvalidInput(f"HubSpot batch input {key}: associations must be a list")
        payload["associations"] = list(associations)
    else:
        object_id = id_field(item.get("id"))
        if object_id is None:
            raise InvalidInput(f"HubSpot batch update input {key} needs the object's numeric id")
        payload = {"id": object_id, **payload}
    payload["objectWriteTraceId"] = key
    return key, payload


def _inputs(items: Sequence[Mapping[str, Any]], mode: Literal["create", "update"]) -> dict[str, dict[str, Any]]:
    """``key -> payload`` in first-seen order; an exact duplicate collapses, a conflicting one is refused."""
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        key, payload = _payload(item, mode)
        if key in found and found[key] != payload:
            raise InvalidInput(f"two HubSpot batch inputs share the objectWriteTraceId {key} with different content")
        found.setdefault(key, payload)
    return found


def _read(body: Any, chunk: list[dict[str, Any]], mode: Literal["create", "update"]) -> dict[str, ItemResult]:
    """Per-item results of a 2xx batch answer (see the module docstring)."""
    keys = [p["objectWriteTraceId"] for p in chunk]
    by_id = {p["id"]: p["objectWriteTraceId"] for p in chunk} if mode == "update" else {}
    answer = mapping_of(body)
    out: dict[str, ItemResult] = {}
    results = answer.get("results")
    for result in results if isinstance(results, list) else []:
        result = mapping_of(result)
        object_id = id_field(result.get("id"))
        trace = result.get("objectWriteTraceId")
        key = trace if trace in keys else by_id.get(object_id or "")
        if key is None and len(keys) == 1 and len(results or []) == 1:
            key = keys[0]  # one input, one result: nothing else it can be
        if key is not None and object_id is not None:
            out[key] = ItemResult(key=key, id=object_id, error=None)
    loose: list[str] = []
    errors = answer.get("errors")
    for raw in errors if isinstance(errors, list) else []:
        error = parse_error(raw)
        named = [t for t in error.trace_ids if t in keys] + [by_id[i] for i in error.ids if i in by_id]
        if not named:
            loose.append(error.describe())
        for key in named:
            if key not in out:
                out[key] = ItemResult(key=key, id=None, error=error.describe(), category=error.category)
    missing = [k for k in keys if k not in out]
    if len(missing) == 1 and len(loose) == 1:
        # One error tied to no input and one input without an outcome: that error is its.
        out[missing[0]] = ItemResult(key=missing[0], id=None, error=loose[0], category=None)
        missing = []
    for key in missing:
        why = f": {loose[0]}" if loose else ""
        out[key] = ItemResult(
            key=key, id=None, error=f"HubSpot's answer gave no result for this input{why}", category=UNKNOWN_OUTCOME
        )
    return out


def write(
    client: HubSpotClient,
    token: str,
    object_type: str,
    inputs: Sequence[Mapping[str, Any]],
    *,
    mode: Literal["create", "update"],
    progress: MutableMapping[str, ItemResult] | None = None,
) -> list[ItemResult]:
    """Create (``mode="create"``) or update objects of ``object_type``, one :class:`ItemResult`
    per distinct ``objectWriteTraceId``, in the order of first appearance.

    Inputs: create ``{"properties": {...}, "associations": [...], "objectWriteTraceId"}``
    (``associations`` optional, e.g. ``[{"to": {"id": "101"}, "types": [{"associationCategory":
    "HUBSPOT_DEFINED", "associationTypeId": 200}]}]``); update ``{"id", "properties",
    "objectWriteTraceId"}``. Sent as given, :data:`MAX_BATCH_INPUTS` per request.

    ``progress``: a caller-owned mapping where each finished item is recorded as soon as its
    answer is read; keys already in it are not sent again. Pass the same mapping when the call
    is repeated (e.g. by ``call_with_token`` after a refused token was refreshed) so a retry
    never writes an object twice.

    Raises InvalidInput (bad input shape, conflicting duplicates), CredentialsRejected,
    ConfigError ``missing_scope``, ProviderError (5xx, network, rate limit over budget, other
    refusals of the whole request).
    """
    payloads = _inputs(inputs, mode)
    done: MutableMapping[str, ItemResult] = progress if progress is not None else {}
    pending = [p for key, p in payloads.items() if key not in done]
    url = client.url(f"batch_{mode}", object_type=object_type)
    what = f"HubSpot {object_type} batch {mode}"

    def send(chunk: list[dict[str, Any]]) -> None:
        answer = client.request("POST", url, what=what, token=token, json_body={"inputs": chunk}, accept=SPLIT_STATUSES)
        if answer.status in SPLIT_STATUSES:
            if len(chunk) == 1:
                error = parse_error(answer.body)
                key = chunk[0]["objectWriteTraceId"]
                done[key] = ItemResult(key=key, id=None, error=error.describe(), category=error.category)
                return
            half = len(chunk) // 2
            send(chunk[:half])
            send(chunk[half:])
            return
        for key, result in _read(answer.body, chunk, mode).items():
            done[key] = result

    for start in range(0, len(pending), MAX_BATCH_INPUTS):
        send(pending[start : start + MAX_BATCH_INPUTS])
    return [done[key] for key in payloads]
