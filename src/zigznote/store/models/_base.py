"""Shared column helpers for the SQLModel models.

Datetimes are stored as naive UTC (``timeutil.utcnow``) on both SQLite and Postgres.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from zigznote.timeutil import utcnow


# Plain DateTime, not SQLModel's default aware UTCDateTime: our convention is naive UTC
# (cheaper on the delivery hot path, identical on SQLite and Postgres).
def created_at() -> Any:
    return Field(default_factory=utcnow, sa_type=sa.DateTime(), nullable=False)


def updated_at() -> Any:
    return Field(default_factory=utcnow, sa_type=sa.DateTime(), nullable=False)


def timestamp(nullable: bool = True) -> Any:
    """A naive-UTC datetime column (None by default when nullable)."""
    if nullable:
        return Field(default=None, sa_type=sa.DateTime(), nullable=True)
    return Field(sa_type=sa.DateTime(), nullable=False)


def json_column(nullable: bool = False) -> Any:
    return Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=nullable))


def text_column(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=sa.Column(sa.Text, nullable=nullable))


__all__ = ["created_at", "datetime", "json_column", "text_column", "timestamp", "updated_at"]
