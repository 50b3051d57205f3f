from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from zigznote.store.models._base import created_at, json_column, text_column, timestamp, updated_at


class Meeting(SQLModel, table=True):
    """A meeting imported from the product; what Slack and HubSpot later receive."""

    __tablename__ = "meeting"
    # Re-importing the same external_id updates the row instead of duplicating it.
    __table_args__ = (sa.UniqueConstraint("org_id", "external_id", name="uq_meeting_org_external"),)

    id: str = Field(primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="organization.id", index=True, max_length=40)
    external_id: str = Field(max_length=200)
    title: str = Field(max_length=500)
    started_at: datetime = timestamp(nullable=False)
    ended_at: datetime | None = timestamp()
    url: str | None = Field(default=None, max_length=2000)
    summary: str | None = text_column()
    participants: list[dict[str, Any]] = json_column()
    action_items: list[dict[str, Any]] = json_column()
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()
