"""Syncing one meeting to HubSpot: participants → contacts, the meeting, one task per action
item. Planning is :mod:`.plan`; this module reads what it needs, sends the plan and records
every answer in the link store (:mod:`.links`) as it arrives.

Order of work (each HubSpot call through ``call_with_token``, so an expired or refused access
token is refreshed once and the call repeated; batch writes pass a progress mapping, so a
repeat never writes an item twice):

1. contacts: the participants' emails searched in batches (``email`` and
   ``hs_additional_emails``, ``IN``); an email HubSpot's search does not show yet but that we
   linked earlier (a contact we created seconds ago) uses the link. With ``create_contacts``,
   the rest are created (``contacts`` batch create); an email HubSpot reports as an existing
   contact (409 ``Existing ID``) is linked to it.
2. owners (only when an action item has an assignee or a default owner is set).
3. the meeting, then the tasks: for each object without a stored HubSpot ID, first a search
   by our external key (crash recovery), then the link rows of what is still to create are
   written and committed, then batch update (existing) and batch create (new, with
   associations to the contacts), each answer read per item and recorded at once.
4. new associations: an existing meeting or task gets the contacts matched now that it was
   not associated with at the last sync (``associate``; a batch update cannot add them; which
   pairs exist is remembered in the link store, see :mod:`.associations`).

Idempotence: the links hold the HubSpot ID of the meeting and of each action item, so a
re-sync updates them and creates only what is new, associations included. Partial failure:
every item has its own outcome; a failed one is simply not linked (or linked without ID) and the next sync completes
it. ``dry_run``: the same reads (searches), no write to HubSpot and none to our store.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from zigznote.integrations.hubspot.associations import pair_key
from zigznote.integrations.hubspot.batch import ItemResult
from zigznote.integrations.hubspot.client import HubSpotClient
from zigznote.services import meetings
from zigznote.services.hubspot import associations, links
from zigznote.services.hubspot._common import PROVIDER, connection, open_client, with_token
from zigznote.services.hubspot.plan import (
    CONTACT_ASSOCIATION,
    EXTERNAL_KEY_PROPERTY,
    ObjectPlan,
    contact_plans,
    meeting_plan,
    task_plans,
)
from zigznote.store.models.link import LOCAL_ACTION_ITEM, LOCAL_CONTACT

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.store.engine import Database
    from zigznote.vault import Vault

T = TypeVar("T")
Call = Callable[[Callable[[str], T]], T]

_OBJECT = {"contacts": "contact", "meetings": "meeting", "tasks": "task"}
# HubSpot's answer to creating a contact whose email exists: "Contact already exists. Existing ID: 123".
_EXISTING_RE = re.compile(r"Existing ID: ?([0-9]{1,20})")
# Update errors meaning the object is gone from HubSpot (deleted there): create it again.
_GONE = {"OBJECT_NOT_FOUND"}


def _outcome(
    plan: ObjectPlan | None,
    action: str,
    *,
    hubspot_id: str | None = None,
    error: str | None = None,
    obj: str | None = None,
    key: str | None = None,
    label: str | None = None,
) -> dict[str, Any]:
    return {
        "object": obj or (_OBJECT[plan.remote_type] if plan else "?"),
        "key": key if key is not None else (plan.local_key if plan else None),
        "label": label if label is not None else (plan.label if plan else None),
        "action": action,
        "hubspot_id": hubspot_id,
        "error": error,
    }


class _Run:
    """One sync's state: where to call, what to record, and the outcomes so far."""

    def __init__(
        self, db: Database, call: Call[Any], client: HubSpotClient, org_id: str, lease: links.Lease | None
    ) -> None:
        self.db, self.call, self.client, self.org_id, self.lease = db, call, client, org_id, lease
        self.dry_run = lease is None
        self.outcomes: list[dict[str, Any]] = []
        self.emails: dict[str, str] = {}  # contact ID -> participant email (outcome labels)

    def renew(self) -> None:
        """Before each write: still ours? (see ``links.acquire``)."""
        if self.lease is not None:
            self.lease.renew()

    def record(self, local_type: str, remote_type: str, results: Sequence[tuple[str, str | None, bool]]) -> None:
        if not self.dry_run:
            links.record(
                self.db, org_id=self.org_id, provider=PROVIDER, local_type=local_type,
                results=results, remote_type=remote_type,
            )  # fmt: skip

    # -- contacts ---------------------------------------------------------------------------

    def contacts(self, participants: Sequence[Mapping[str, Any]], *, create: bool) -> list[str]:
        """Contact IDs for the participants (see the module docstring), in their order."""
        ids = self._contacts(participants, create=create)
        self.emails = {cid: email for email, cid in ids.items()}
        return list(dict.fromkeys(ids.values()))

    def _contacts(self, participants: Sequence[Mapping[str, Any]], *, create: bool) -> dict[str, str]:
        emails = list(dict.fromkeys((p.get("email") or "").lower() for p in participants if p.get("email")))
        if not emails:
            return {}
        found = self.call(lambda token: self.client.contacts_by_email(token, emails))
        ids: dict[str, str] = {}
        linked = links.read(self.db, org_id=self.org_id, provider=PROVIDER, local_type=LOCAL_CONTACT, keys=emails)
        for email in emails:
            contact = found.get(email)
            link = linked.get(email)
            if contact is not None:
                ids[email] = contact.id
                label = contact.name or email
                self.outcomes.append(
                    _outcome(None, "matched", obj="contact", key=email, label=label, hubspot_id=contact.id)
                )
            elif link is not None and link.remote_id:
                ids[email] = link.remote_id  # created by us; HubSpot's search index lags behind
                self.outcomes.append(
                    _outcome(None, "linked", obj="contact", key=email, label=email, hubspot_id=link.remote_id)
                )
        missing = [e for e in emails if e not in ids]
        if not missing:
            return {e: ids[e] for e in emails}
        if not create:
            self.outcomes.extend(_outcome(None, "no contact", obj="contact", key=e, label=e) for e in missing)
            return {e: ids[e] for e in emails if e in ids}
        plans = contact_plans(participants, missing)
        if self.dry_run:
            self.outcomes.extend(_outcome(p, "would create") for p in plans)
            return {e: ids[e] for e in emails if e in ids}
        inputs = [{"properties": p.create, "objectWriteTraceId": _trace(p)} for p in plans]
        self.renew()
        progress: dict[str, ItemResult] = {}
        results = self.call(lambda token: self.client.batch_create(token, "contacts", inputs, progress=progress))
        by_trace = {_trace(p): p for p in plans}
        recorded: list[tuple[str, str | None, bool]] = []
        for result in results:
            plan = by_trace[result.key]
            existing = _EXISTING_RE.search(result.error or "") if not result.ok else None
            if result.ok or existing:
                contact_id = result.id if result.ok else existing.group(1)  # type: ignore[union-attr]
                ids[plan.local_key] = str(contact_id)
                recorded.append((plan.local_key, contact_id, True))
                self.outcomes.append(_outcome(plan, "created" if result.ok else "linked", hubspot_id=contact_id))
            else:
                self.outcomes.append(_outcome(plan, "failed", error=result.error))
        self.record(LOCAL_CONTACT, "contacts", recorded)
        return {e: ids[e] for e in emails if e in ids}

    # -- meetings and tasks ---------------------------------------------------------------------

    def objects(self, remote_type: str, plans: Sequence[ObjectPlan]) -> None:
        """Update what is linked, create the rest (see the module docstring)."""
        if not plans:
            return
        local_type = plans[0].local_type
        stored = links.read(
            self.db, org_id=self.org_id, provider=PROVIDER, local_type=local_type, keys=[p.local_key for p in plans]
        )
        known: dict[str, str] = {}
        for plan in plans:
            link = stored.get(plan.local_key)
            if link is not None and link.remote_id:
                known[plan.local_key] = link.remote_id
        unknown = [p for p in plans if p.local_key not in known]
        if unknown:
            keys = [p.external_key for p in unknown]
            prop = EXTERNAL_KEY_PROPERTY[remote_type]
            found = self.call(lambda token: self.client.find_ids(token, remote_type, prop, keys, match="contains"))
            recovered = [(p.local_key, found[p.external_key], False) for p in unknown if p.external_key in found]
            known.update({key: str(rid) for key, rid, _ in recovered})
            self.record(local_type, remote_type, recovered)
        updates = [p for p in plans if p.local_key in known]
        creates = [p for p in plans if p.local_key not in known]
        if self.dry_run:
            self.outcomes.extend(_outcome(p, "would update", hubspot_id=known[p.local_key]) for p in updates)
            self.outcomes.extend(_outcome(p, "would create") for p in creates)
            todo = associations.missing(self.db, org_id=self.org_id, plans=updates, known=known)
            self.outcomes.extend(self._linked(item, "would associate") for item in todo)
            return
        self.renew()
        # Durable before HubSpot is asked to create anything: the key to find it again.
        links.reserve(
            self.db, org_id=self.org_id, provider=PROVIDER,
            links=[links.Reservation(p.local_type, p.local_key, p.remote_type, p.external_key) for p in creates],
        )  # fmt: skip
        recreate = self._update(remote_type, updates, known)
        self._associate(remote_type, [p for p in updates if p not in recreate], known)  # not the re-created
        self._create(remote_type, [*creates, *recreate])

    def _update(self, remote_type: str, plans: Sequence[ObjectPlan], known: Mapping[str, str]) -> list[ObjectPlan]:
        """Batch update; returns the plans whose object was deleted in HubSpot (to create again)."""
        if not plans:
            return []
        inputs = [
            {"id": known[p.local_key], "properties": p.update, "objectWriteTraceId": p.external_key} for p in plans
        ]
        progress: dict[str, ItemResult] = {}
        results = self.call(lambda token: self.client.batch_update(token, remote_type, inputs, progress=progress))
        by_key = {p.external_key: p for p in plans}
        synced: list[tuple[str, str | None, bool]] = []
        gone: list[ObjectPlan] = []
        for result in results:
            plan = by_key[result.key]
            if result.ok:
                synced.append((plan.local_key, None, True))
                self.outcomes.append(_outcome(plan, "updated", hubspot_id=known[plan.local_key]))
            elif result.category in _GONE:
                gone.append(plan)
            else:
                self.outcomes.append(_outcome(plan, "failed", hubspot_id=known[plan.local_key], error=result.error))
        self.record(plans[0].local_type, remote_type, synced)
        if gone:  # deleted in HubSpot: created again, recoverable by key like a first creation
            links.unlink(
                self.db, org_id=self.org_id, provider=PROVIDER, local_type=gone[0].local_type,
                keys=[p.local_key for p in gone],
            )  # fmt: skip
        return gone

    def _create(self, remote_type: str, plans: Sequence[ObjectPlan]) -> None:
        if not plans:
            return
        inputs = [
            {"properties": p.create, "associations": p.associations(), "objectWriteTraceId": p.external_key}
            for p in plans
        ]
        progress: dict[str, ItemResult] = {}
        results = self.call(lambda token: self.client.batch_create(token, remote_type, inputs, progress=progress))
        by_key = {p.external_key: p for p in plans}
        by_local = {p.local_key: p for p in plans}
        created: list[tuple[str, str | None, bool]] = []
        for result in results:
            plan = by_key[result.key]
            if result.ok:
                created.append((plan.local_key, result.id, True))
                self.outcomes.append(_outcome(plan, "created", hubspot_id=result.id))
            else:
                self.outcomes.append(_outcome(plan, "failed", error=result.error))
        self.record(plans[0].local_type, remote_type, created)
        # The create inputs carried the associations: remembered, so a re-sync does not resend them.
        pairs = [(str(rid), c) for key, rid, _ in created for c in by_local[key].contacts]
        associations.remember(self.db, org_id=self.org_id, remote_type=remote_type, pairs=pairs)

    def _associate(self, remote_type: str, plans: Sequence[ObjectPlan], known: Mapping[str, str]) -> None:
        """Associate existing objects with the contacts they are not yet associated with."""
        todo = associations.missing(self.db, org_id=self.org_id, plans=plans, known=known)
        if not todo:
            return
        self.renew()
        pairs, type_id = [(item.object_id, item.contact_id) for item in todo], CONTACT_ASSOCIATION[remote_type]
        progress: dict[str, ItemResult] = {}
        results = self.call(
            lambda token: self.client.associate(token, remote_type, "contacts", pairs, type_id, progress=progress)
        )
        by_key = {pair_key(*pair): item for pair, item in zip(pairs, todo, strict=True)}
        done = [(by_key[r.key].object_id, by_key[r.key].contact_id) for r in results if r.ok]
        self.outcomes.extend(
            self._linked(by_key[r.key], "associated" if r.ok else "failed", error=r.error) for r in results
        )
        associations.remember(self.db, org_id=self.org_id, remote_type=remote_type, pairs=done)

    def _linked(self, item: associations.Pending, action: str, *, error: str | None = None) -> dict[str, Any]:
        """The outcome of one association: the object's label → the contact's email."""
        contact = self.emails.get(item.contact_id) or f"contact {item.contact_id}"
        key, label = f"{item.plan.local_key}>{item.contact_id}", f"{item.plan.label} → {contact}"
        return _outcome(None, action, obj="association", key=key, label=label, hubspot_id=item.contact_id, error=error)

    def kept(self, meeting_id: str, planned: Sequence[ObjectPlan]) -> None:
        """Outcomes for tasks of action items no longer in the meeting (edited or removed):
        left in HubSpot as they are (see :mod:`.plan`)."""
        current = {p.local_key for p in planned}
        stale = links.read(
            self.db, org_id=self.org_id, provider=PROVIDER, local_type=LOCAL_ACTION_ITEM, prefix=f"{meeting_id}:"
        )
        for key, link in sorted(stale.items()):
            if key not in current and link.remote_id:
                label = "(no longer in the meeting)"
                self.outcomes.append(
                    _outcome(None, "kept", obj="task", key=key, label=label, hubspot_id=link.remote_id)
                )


def _trace(plan: ObjectPlan) -> str:
    """A contact's ``objectWriteTraceId``: its external key is an email, which the trace ID's
    character set does not allow; a digest of it does."""
    return "c" + hashlib.sha256(plan.local_key.encode()).hexdigest()[:32]


def _counts(outcomes: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome["action"]] = counts.get(outcome["action"], 0) + 1
    return counts


def sync_meeting(
    db: Database,
    vault: Vault,
    settings: Settings,
    *,
    org_ref: str,
    meeting_ref: str,
    dry_run: bool = False,
    create_contacts: bool | None = None,
    sleep: Callable[[float], None] | None = None,
    lease_wait: float = links.LEASE_WAIT,
) -> dict[str, Any]:
    """Sync one meeting to the organization's HubSpot portal (see the module docstring).

    ``meeting_ref``: meeting ID or external ID. ``create_contacts``: None uses the connection's
    setting (``hubspot settings --create-contacts``). ``sleep``: rate-limit waits (tests).
    ``lease_wait``: seconds to wait while another sync of the same meeting runs (a sync holds
    a lease on the meeting's link row, see ``links.acquire``; a dry run takes none).

    Returns ``{"meeting_id", "external_id", "title", "hub_id", "dry_run", "ok", "counts",
    "items"}``; ``items`` holds one outcome per object, ``{"object": "contact" | "meeting" |
    "task" | "association", "key", "label", "action", "hubspot_id", "error"}`` with ``action``
    one of ``matched``, ``linked``, ``no contact``, ``created``, ``updated``, ``failed``,
    ``kept``, ``would create``, ``would update``, ``associated``, ``would associate`` (an
    association: an existing meeting or task → a contact matched since its last sync, key
    ``"<local key>><contact ID>"``); ``ok`` is false when any item failed (the CLI then exits
    5; a re-run completes what is missing). Raises NotFound (3: ``not_connected``,
    ``meeting_not_found``), CredentialsRejected (6, connect again), ConfigError (6:
    ``missing_scope``, app credentials needed for a refresh), ProviderError (5: HubSpot
    unreachable, rate limit beyond the wait budget, a refusal of a whole request), Conflict
    (4, ``sync_in_progress``: another sync of the meeting ran past ``lease_wait``).
    """
    org_id, shown = connection(db, org_ref)
    with db.session() as session:
        meeting = meetings.public(meetings.resolve(session, org_id, meeting_ref))
    conf = shown.get("settings") or {}
    create = bool(conf.get("create_contacts")) if create_contacts is None else create_contacts
    default_owner = conf.get("default_owner") or None
    lease = None
    if not dry_run:  # one sync of a meeting at a time (two events, or the CLI beside the worker)
        plan = meeting_plan(meeting, org_id=org_id, contacts=())
        own = links.Reservation(plan.local_type, plan.local_key, plan.remote_type, plan.external_key)
        lease = links.acquire(db, org_id=org_id, provider=PROVIDER, link=own, wait=lease_wait)
    try:
        run = _sync(db, vault, settings, org_id, meeting, lease, create, default_owner, sleep)
    finally:
        if lease is not None:
            lease.release()
    failed = sum(1 for o in run.outcomes if o["action"] == "failed")
    return {
        "meeting_id": meeting["id"],
        "external_id": meeting["external_id"],
        "title": meeting["title"],
        "hub_id": shown.get("account_id"),
        "dry_run": dry_run,
        "ok": failed == 0,
        "counts": _counts(run.outcomes),
        "items": run.outcomes,
    }


def _sync(
    db: Database,
    vault: Vault,
    settings: Settings,
    org_id: str,
    meeting: Mapping[str, Any],
    lease: links.Lease | None,
    create: bool,
    default_owner: str | None,
    sleep: Callable[[float], None] | None,
) -> _Run:
    """The HubSpot part of :func:`sync_meeting` (see the module docstring for the order)."""
    with open_client(settings, sleep=sleep) as client:

        def call(fn: Callable[[str], T]) -> T:
            return with_token(db, vault, settings, org_id, client, fn)

        run = _Run(db, call, client, org_id, lease)
        contact_ids = run.contacts(meeting.get("participants") or [], create=create)
        items = meeting.get("action_items") or []
        wants_owners = bool(default_owner) or any(i.get("assignee_email") for i in items)
        owners: dict[str, str] = call(client.owners) if wants_owners and items else {}
        run.objects("meetings", [meeting_plan(meeting, org_id=org_id, contacts=contact_ids)])
        tasks = task_plans(meeting, org_id=org_id, contacts=contact_ids, owners=owners, default_owner=default_owner)
        run.objects("tasks", tasks)
        run.kept(meeting["id"], tasks)
    return run
