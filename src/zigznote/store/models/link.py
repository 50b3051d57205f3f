from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from zigznote.store.models._base import created_at, timestamp, updated_at

# What a link ties to a remote object (IntegrationLink.local_type).
LOCAL_MEETING = "meeting"  # local_key: the meeting ID (mtg_…)
LOCAL_ACTION_ITEM = "action_item"  # local_key: "<meeting ID>:<stable action-item key>"
LOCAL_CONTACT = "contact"  # local_key: the participant's email (lower case)
LOCAL_TYPES = (LOCAL_MEETING, LOCAL_ACTION_ITEM, LOCAL_CONTACT)


class IntegrationLink(SQLModel, table=True):
    """One local thing (a meeting, an action item, a participant) and the object a provider
    holds for it (a HubSpot meeting, task, contact), so a re-sync updates instead of creating.

    The row is written *before* the provider is asked to create the object, with
    ``remote_id`` NULL and ``external_key`` set: the value zigznote also puts into the object
    (a property the provider can search on). A crash between the provider's answer and our
    commit leaves a row without ``remote_id``; the next sync looks the object up by
    ``external_key`` before it creates anything, so it never creates a second one.
    ``synced_at``: the last time the remote object was written successfully. ``lease_until`` /
    ``lease_token``: the sync that holds this row's lease (see ``services/hubspot/links.acquire``).

    Generic on purpose (``provider``: "hubspot" today): another CRM adds rows, not a table.
    The primary key is the natural one, (org_id, provider, local_type, local_key): every
    lookup goes by it, and it is what must be unique.
    """

    __tablename__ = "integration_link"

    # Links belong to their organization: deleting it deletes them.
    org_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", primary_key=True, max_length=40)
    provider: str = Field(primary_key=True, max_length=32)
    local_type: str = Field(primary_key=True, max_length=16)
    local_key: str = Field(primary_key=True, max_length=200)
    remote_type: str = Field(max_length=32)  # HubSpot object type: "meetings", "tasks", "contacts"
    remote_id: str | None = Field(default=None, max_length=64)  # NULL until the provider answered
    external_key: str = Field(max_length=200)
    synced_at: datetime | None = timestamp()
    # A sync's lease on this row (used on a meeting's row): two syncs of one meeting at once
    # (both auto-sync events, or a CLI run beside the worker) would each create the objects.
    lease_until: datetime | None = timestamp()
    lease_token: str | None = Field(default=None, max_length=32)
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()
