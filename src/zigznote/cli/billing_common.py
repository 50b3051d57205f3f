"""Options and cells shared by the `billing` command modules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer

from zigznote.cli._context import AppContext

Provider = Annotated[
    str | None,
    typer.Option("--provider", metavar="NAME", help="Payment provider (default: ZIGZNOTE_BILLING_PROVIDER, stripe)."),
]
PlanOpt = Annotated[str, typer.Option("--plan", metavar="PLAN", help="The plan's slug in plans.toml (pro).")]
IntervalOpt = Annotated[str, typer.Option("--interval", metavar="INTERVAL", help="day, week, month or year.")]
Currency = Annotated[
    str | None,
    typer.Option("--currency", metavar="CODE", help="ISO 4217 code (USD, NGN); needed when the plan has several."),
]
Quantity = Annotated[int, typer.Option("--quantity", min=1, max=10_000, help="Seats or units of the plan.")]
AllOrgs = Annotated[bool, typer.Option("--all", help="Every organization, not only --org.")]


def money_cell(value: Mapping[str, Any] | None) -> str:
    """Money JSON as people read it (``$29.00``); ``-`` for none."""
    return str(value["display"]) if value else "-"


def show_notes(ctx: AppContext, notes: Sequence[str]) -> None:
    """What a service reports beside its result (a resumed create, an expired key): a warning
    each, also under --quiet, never on stdout."""
    for note in notes:
        ctx.out.warn(note)


def org_or_all(ctx: AppContext, all_orgs: bool) -> str | None:
    """``None`` (every organization) with ``--all``, else the selected organization (``--org``)."""
    return None if all_orgs else ctx.org_ref()
