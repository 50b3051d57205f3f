"""Sync planning, separate from sending: what a meeting becomes in HubSpot.

Pure functions of the meeting (``services.meetings.public``), the contacts matched to its
participants, the HubSpot owners and the stored links; no I/O. :mod:`.sync` sends the plan.

What is written (HubSpot's meetings and tasks guides,
https://developers.hubspot.com/docs/api-reference/latest/crm/activities/meetings/guide and
…/crm/activities/tasks/guide):

- one **meeting** object: ``hs_timestamp`` (required: the start), ``hs_meeting_title``,
  ``hs_meeting_body`` (the summary, as HTML-escaped text: HubSpot renders the body as HTML, and
  the summary is outside text), ``hs_meeting_start_time``, ``hs_meeting_end_time`` (the end, or
  the start when the meeting has no end), ``hs_meeting_external_url`` (when the meeting has a
  URL), ``hs_meeting_outcome`` ``COMPLETED`` (on creation only: someone may change it in HubSpot),
  associated with every matched contact (``HUBSPOT_DEFINED`` type 200, meeting → contact);
- one **task** per action item: ``hs_task_subject`` (the text, at most 250 characters),
  ``hs_task_body`` (the whole text and the meeting it came from), ``hs_timestamp`` (the due
  date; without one, the meeting's end), ``hubspot_owner_id`` (the assignee when that email is a
  HubSpot owner, else the default owner of ``hubspot settings``, else none), and on creation
  only ``hs_task_status`` ``NOT_STARTED`` and ``hs_task_priority`` ``NONE`` (a re-sync must not
  reopen a task someone completed), associated with the matched contacts (type 204,
  task → contact).

**Action-item keys.** Imported action items have no ID, so each gets a stable key:
:func:`action_item_key`, the first 16 hex digits of SHA-256 over its text (whitespace runs
collapsed, case folded) and its assignee's email. The key survives re-imports, reordering and
changes of the due date (the task is updated). Editing an item's *text* (or assignee) makes a
new key: the next sync creates a new task and leaves the old one in HubSpot untouched (its
link is reported as ``kept``: zigznote never deletes what someone may have worked on).
Identical items (same text and assignee) in one meeting are one task.

**External keys.** HubSpot has no creation key (an idempotency key) for meetings or tasks, and
creating a unique custom property needs schema scopes an app should not ask for. So each object
carries a key of ours, ``zigznote`` and 32 hex digits (one search token), on the last line of
its body (``hs_meeting_body``, ``hs_task_body``: :data:`EXTERNAL_KEY_PROPERTY`), and the key is
written into the link row *before* the object is created. After a crash between HubSpot's
answer and our commit, the next sync looks for it (``find_ids`` with ``CONTAINS_TOKEN``) before
creating anything, so it finds the object instead of creating a second one. Limits: HubSpot's
search index lags writes by a few seconds, so a re-run within seconds of the crash may not see
it yet; and a body edited in HubSpot without that last line cannot be found that way (the
stored link, which is the normal path, is unaffected). The key is deterministic, so objects of
a connection whose links were dropped (a disconnect) are found again the same way.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zigznote.store.models.link import LOCAL_ACTION_ITEM, LOCAL_CONTACT, LOCAL_MEETING

__all__ = [
    "CONTACT_ASSOCIATION",
    "EXTERNAL_KEY_PROPERTY",
    "ObjectPlan",
    "action_item_key",
    "contact_plans",
    "external_key",
    "meeting_plan",
    "task_plans",
]

#: HubSpot-defined association type IDs to contacts
#: (https://developers.hubspot.com/docs/api-reference/latest/crm/associations/associations-v4/guide,
#: "Association type IDs"): meeting → contact 200, task → contact 204.
CONTACT_ASSOCIATION = {"meetings": 200, "tasks": 204}
#: Where each object type carries our external key (see the module docstring); contacts are
#: found by their email, which HubSpot keeps unique.
EXTERNAL_KEY_PROPERTY = {"meetings": "hs_meeting_body", "tasks": "hs_task_body", "contacts": "email"}

SUBJECT_MAX = 250
BODY_MAX = 60_000  # HubSpot's text properties hold 65,536 characters; room for our framing


@dataclass(frozen=True)
class ObjectPlan:
    """One object to create or update.

    ``local_type``/``local_key``: the link's key. ``remote_type``: HubSpot's object type.
    ``external_key``: ours, also inside ``create`` (see the module docstring).
    ``create``: every property of a new object; ``update``: the properties a re-sync
    overwrites. ``contacts``: contact IDs to associate on creation. ``label``: what people
    see in the outcome (a title, an item's text, an email).
    """

    local_type: str
    local_key: str
    remote_type: str
    external_key: str
    create: dict[str, str]
    update: dict[str, str]
    label: str
    contacts: tuple[str, ...] = ()
    owner_email: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def associations(self) -> list[dict[str, Any]]:
        """HubSpot's ``associations`` of a create input: one per contact, HUBSPOT_DEFINED."""
        type_id = CONTACT_ASSOCIATION.get(self.remote_type)
        if type_id is None:
            return []
        return [
            {"to": {"id": cid}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}
            for cid in self.contacts
        ]


def external_key(org_id: str, local_type: str, local_key: str) -> str:
    """Our key for one object in HubSpot: ``zigznote`` and 32 hex digits of SHA-256 over the
    organization, local type and local key (deterministic: the same thing always gets the same
    key, so a lost link can be found again; letters and digits only: one search token;
    opaque: no meeting ID leaks into the CRM)."""
    digest = hashlib.sha256(f"{org_id}\n{local_type}\n{local_key}".encode()).hexdigest()
    return f"zigznote{digest[:32]}"


def _with_key(body_html: str, key: str) -> str:
    """The body with our key as its last line (see the module docstring)."""
    trailer = f"zigznote reference {key}"
    return f"{body_html}<br><br>{trailer}" if body_html else trailer


def action_item_key(item: Mapping[str, Any]) -> str:
    """The stable key of an action item (see the module docstring): 16 hex digits."""
    text = " ".join(str(item.get("text") or "").split()).casefold()
    who = str(item.get("assignee_email") or "").strip().lower()
    return hashlib.sha256(f"{text}\n{who}".encode()).hexdigest()[:16]


def _html(text: str) -> str:
    """Plain text as HubSpot body HTML: escaped, line breaks kept."""
    return "<br>".join(html.escape(line, quote=False) for line in text.splitlines()) if text else ""


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def meeting_plan(meeting: Mapping[str, Any], *, org_id: str, contacts: Sequence[str]) -> ObjectPlan:
    """The meeting object of ``meeting`` (the public dict), associated with ``contacts`` (IDs)."""
    key = external_key(org_id, LOCAL_MEETING, meeting["id"])
    start = str(meeting["started_at"])
    end = str(meeting.get("ended_at") or start)
    summary = str(meeting.get("summary") or "")[:BODY_MAX]
    update = {
        "hs_timestamp": start,
        "hs_meeting_title": str(meeting["title"]),
        "hs_meeting_body": _with_key(_html(summary), key),
        "hs_meeting_start_time": start,
        "hs_meeting_end_time": end,
    }
    if meeting.get("url"):
        update["hs_meeting_external_url"] = str(meeting["url"])
    create = {**update, "hs_meeting_outcome": "COMPLETED"}
    return ObjectPlan(
        LOCAL_MEETING, meeting["id"], "meetings", key, create, update, str(meeting["title"]), tuple(contacts)
    )


def task_plans(
    meeting: Mapping[str, Any],
    *,
    org_id: str,
    contacts: Sequence[str],
    owners: Mapping[str, str],
    default_owner: str | None,
) -> list[ObjectPlan]:
    """One task per distinct action item (see the module docstring), in the meeting's order.

    ``owners``: HubSpot owner ID by email (lower case). ``default_owner``: an email; used for
    items whose assignee is not an owner (or who have none), when it is an owner itself.
    """
    plans: list[ObjectPlan] = []
    seen: set[str] = set()
    fallback = owners.get(default_owner.lower()) if default_owner else None
    when_default = str(meeting.get("ended_at") or meeting["started_at"])
    title = str(meeting["title"])
    for item in meeting.get("action_items") or []:
        key = action_item_key(item)
        if key in seen:
            continue
        seen.add(key)
        local_key = f"{meeting['id']}:{key}"
        ext = external_key(org_id, LOCAL_ACTION_ITEM, local_key)
        text = str(item["text"])
        assignee = (item.get("assignee_email") or "").lower() or None
        owner = owners.get(assignee) if assignee else None
        owner = owner or fallback
        body = f"{text[:BODY_MAX]}\n\nFrom the meeting “{title}” ({meeting['started_at']})."
        if assignee:
            body += f"\nAssigned to {assignee}."
        update = {
            "hs_task_subject": _shorten(text, SUBJECT_MAX),
            "hs_task_body": _with_key(_html(body), ext),
            "hs_timestamp": str(item.get("due") or when_default),
        }
        if owner:
            update["hubspot_owner_id"] = owner
        create = {**update, "hs_task_status": "NOT_STARTED", "hs_task_priority": "NONE"}
        plans.append(
            ObjectPlan(
                LOCAL_ACTION_ITEM,
                local_key,
                "tasks",
                ext,
                create,
                update,
                _shorten(text, 80),
                tuple(contacts),
                owner_email=assignee,
            )
        )
    return plans


def _split_name(name: str) -> tuple[str, str]:
    parts = name.split()
    if not parts:
        return "", ""
    return parts[0], " ".join(parts[1:])


def contact_plans(participants: Sequence[Mapping[str, Any]], missing: Sequence[str]) -> list[ObjectPlan]:
    """Contacts to create for the participants whose email matched none (``missing``, lower
    case): ``email``, ``firstname`` (first word of the name), ``lastname`` (the rest)."""
    names: dict[str, str] = {}
    for person in participants:
        email = (person.get("email") or "").lower()
        if email and email not in names:
            names[email] = str(person.get("name") or "")
    plans = []
    for email in dict.fromkeys(missing):
        first, last = _split_name(names.get(email, ""))
        props = {"email": email}
        if first:
            props["firstname"] = first
        if last:
            props["lastname"] = last
        plans.append(ObjectPlan(LOCAL_CONTACT, email, "contacts", email, props, props, email))
    return plans
