"""Which contacts each synced meeting and task is associated with, so a re-sync adds only the
associations that are new (a participant added since, a contact created in HubSpot since, or
``--create-contacts`` on a re-sync).

A create input carries its associations, but a batch *update* cannot add any: an existing
object gets its new contacts through the associations API (``HubSpotClient.associate``).
HubSpot does not document whether creating an association that already exists is a no-op,
so zigznote does not rely on it: every association it made (inline on creation, or through
``associate``) is remembered as a row of the link store (``integration_link``, no extra
column or migration), and only the pairs without a row are sent.

A row: ``local_type`` :data:`LOCAL_ASSOCIATION`, ``local_key`` ``"<remote type>:<object
ID>><contact ID>"`` (:func:`key`; keyed by HubSpot's IDs, so an object deleted in HubSpot and
created again starts with no rows), ``remote_type`` ``contacts``, ``remote_id`` the contact ID,
``synced_at`` when HubSpot confirmed it. ``links.forget`` (a disconnect) drops them with the
other links. An object found again after a crash (by its external key) or linked before these
rows existed has no rows: its contacts are associated once more, which at worst repeats an
association HubSpot already holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zigznote.services.hubspot import links
from zigznote.services.hubspot._common import PROVIDER
from zigznote.services.hubspot.links import LOCAL_ASSOCIATION
from zigznote.services.hubspot.plan import ObjectPlan

if TYPE_CHECKING:
    from zigznote.store.engine import Database

__all__ = ["LOCAL_ASSOCIATION", "Pending", "key", "missing", "remember"]


@dataclass(frozen=True)
class Pending:
    """One association to add: ``plan``'s object (HubSpot ID ``object_id``) → ``contact_id``."""

    plan: ObjectPlan
    object_id: str
    contact_id: str


def key(remote_type: str, object_id: str, contact_id: str) -> str:
    """The link row key of one association (see the module docstring)."""
    return f"{remote_type}:{object_id}>{contact_id}"


def missing(db: Database, *, org_id: str, plans: Sequence[ObjectPlan], known: Mapping[str, str]) -> list[Pending]:
    """The associations of ``plans`` (objects already in HubSpot, ``known``: local key →
    HubSpot ID) to their ``contacts`` that are not remembered yet, in plan and contact order."""
    wanted = [
        Pending(plan, known[plan.local_key], contact)
        for plan in plans
        if plan.local_key in known
        for contact in dict.fromkeys(plan.contacts)
    ]
    if not wanted:
        return []
    stored = links.read(
        db, org_id=org_id, provider=PROVIDER, local_type=LOCAL_ASSOCIATION,
        keys=[key(p.plan.remote_type, p.object_id, p.contact_id) for p in wanted],
    )  # fmt: skip
    done = {k for k, link in stored.items() if link.synced_at is not None}
    return [p for p in wanted if key(p.plan.remote_type, p.object_id, p.contact_id) not in done]


def remember(db: Database, *, org_id: str, remote_type: str, pairs: Iterable[tuple[str, str]]) -> None:
    """Record ``(object ID, contact ID)`` associations HubSpot confirmed, committed."""
    results = [(key(remote_type, obj, contact), contact, True) for obj, contact in dict.fromkeys(pairs)]
    links.record(
        db, org_id=org_id, provider=PROVIDER, local_type=LOCAL_ASSOCIATION, results=results, remote_type="contacts"
    )
