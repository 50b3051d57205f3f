from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from zigznote.store.models._base import created_at, text_column, timestamp, updated_at

# Delivery states. A claim is a lease: the engine sets status=delivering, a fresh
# claim_token and next_attempt_at = lease expiry. An expired lease is therefore just
# "due" again, and one partial index over the active rows, ordered by next_attempt_at,
# serves every claim. Finished rows (the vast majority) stay out of that index, so a
# claim costs the same with a million delivered rows as with a thousand.
PENDING = "pending"
DELIVERING = "delivering"
SUCCEEDED = "succeeded"
FAILED = "failed"
HELD = "held"  # endpoint disabled: waits, never dropped; `webhooks enable` releases it
STATUSES = (PENDING, DELIVERING, SUCCEEDED, FAILED, HELD)
ACTIVE_SQL = sa.text("status IN ('pending', 'delivering')")

# What the engine runs for a row. Webhook POSTs today; integration auto-actions
# (Slack auto-send, HubSpot auto-sync) become further kinds with their own handler,
# sharing claims, leases, retries and attempt history.
KIND_WEBHOOK = "webhook"

# Why an attempt happened (recorded on each DeliveryAttempt).
TRIGGER_SCHEDULED = "scheduled"
TRIGGER_MANUAL = "manual"
TRIGGER_TEST = "test"


# The claim index, partial on both backends (migration 0002 creates it with sqlite_where and
# postgresql_where). Only sqlite_where is given here: any ``postgresql_*`` argument makes
# SQLAlchemy import its whole Postgres dialect to validate it (~25 ms on every SQLite command).
# The Postgres WHERE is attached once the first Postgres connection is made (an engine, Alembic,
# create_all), i.e. before anything can compile DDL for this index or compare it on Postgres.
DUE_INDEX = sa.Index("ix_delivery_due", "next_attempt_at", sqlite_where=ACTIVE_SQL)


@sa.event.listens_for(sa.engine.Dialect, "do_connect")
def _postgres_due_where(dialect: sa.engine.Dialect, *_args: Any) -> None:
    if dialect.name == "postgresql" and DUE_INDEX.dialect_options["postgresql"]["where"] is None:
        DUE_INDEX.dialect_kwargs["postgresql_where"] = ACTIVE_SQL


class Delivery(SQLModel, table=True):
    """One event to one webhook; its ``id`` (``msg_…``) is the stable ``webhook-id``."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "webhook_id", name="uq_delivery_event_webhook"),
        DUE_INDEX,
        sa.Index("ix_delivery_webhook_created", "webhook_id", "created_at"),
        # Integration jobs have no webhook_id, so the constraint above cannot dedupe them:
        # each job carries "<event id>/<kind>/<target>" here (NULL for webhook rows).
        sa.UniqueConstraint("dedupe_key", name="uq_delivery_dedupe_key"),
    )

    id: str = Field(primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="organization.id", max_length=40)
    event_id: str = Field(foreign_key="event.id", max_length=40)
    # Set for kind "webhook"; integration jobs name their target in their own payload.
    webhook_id: str | None = Field(default=None, foreign_key="webhook.id", max_length=40)
    kind: str = Field(default=KIND_WEBHOOK, max_length=32)
    # What an integration job acts on (a Slack channel, a HubSpot portal, …); None for webhooks.
    target: str | None = Field(default=None, max_length=200)
    dedupe_key: str | None = Field(default=None, max_length=300)
    status: str = Field(default=PENDING, max_length=16)
    attempts: int = Field(default=0)  # every attempt ever made
    # Attempts in the current retry cycle: indexes the retry schedule. A manual retry or
    # replay starts a new cycle, so it gets the whole schedule again.
    cycle_attempts: int = Field(default=0)
    next_trigger: str = Field(default=TRIGGER_SCHEDULED, max_length=16)
    next_attempt_at: datetime | None = timestamp()
    claim_token: str | None = Field(default=None, max_length=40)
    last_status_code: int | None = None
    last_error: str | None = text_column()
    delivered_at: datetime | None = timestamp()
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class DeliveryAttempt(SQLModel, table=True):
    """Every attempt, recorded: when, how long, what came back."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (
        sa.Index("ix_attempt_webhook_time", "webhook_id", "attempted_at"),
        sa.Index("ix_attempt_delivery", "delivery_id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    delivery_id: str = Field(foreign_key="webhook_delivery.id", max_length=40)
    webhook_id: str | None = Field(default=None, foreign_key="webhook.id", max_length=40)
    attempt_number: int
    trigger: str = Field(max_length=16)  # scheduled | manual | test
    attempted_at: datetime = timestamp(nullable=False)
    duration_ms: int
    status_code: int | None = None
    error: str | None = text_column()
    response_excerpt: str | None = text_column()


class JobState(SQLModel, table=True):
    """What an integration job's handler keeps between the attempts of one job (Slack: the
    ``ts`` of each message already posted, so a retry after a partial post sends only the
    rest). One row per job, written only by the worker holding the job's claim
    (``delivery/queue/jobs.save_state``); it goes with its job (ON DELETE CASCADE: retention
    and organization deletes need not know about it). Webhook deliveries never have one, so
    the delivery hot path never touches this table."""

    __tablename__ = "job_state"

    delivery_id: str = Field(primary_key=True, foreign_key="webhook_delivery.id", ondelete="CASCADE", max_length=40)
    state: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    updated_at: datetime = updated_at()
