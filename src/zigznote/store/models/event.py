from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from zigznote.store.models._base import created_at


class Event(SQLModel, table=True):
    """One emitted event; the envelope sent to webhooks is built from this row."""

    __tablename__ = "event"
    __table_args__ = (
        sa.Index("ix_event_org_created", "org_id", "created_at"),
        sa.Index("ix_event_created", "created_at"),  # retention scans by age across orgs
    )

    id: str = Field(primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="organization.id", max_length=40)
    type: str = Field(max_length=100)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = created_at()
