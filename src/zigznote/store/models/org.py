from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from zigznote.store.models._base import created_at, updated_at


class Organization(SQLModel, table=True):
    __tablename__ = "organization"

    id: str = Field(primary_key=True, max_length=40)
    slug: str = Field(max_length=63, unique=True, index=True)
    name: str = Field(max_length=200)
    # Per-organization settings that drive integration-job fan-out (for example which
    # event types enqueue which job kinds); see services/jobs.py.
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()
