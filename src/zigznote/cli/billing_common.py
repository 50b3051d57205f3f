"""Options, groups and cells shared by the `billing` command modules (``billing.py``,
``billing_accounts.py``, ``billing_payments.py``, ``billing_events.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer

from zigznote.cli._context import AppContext


def group(help_text: str) -> typer.Typer:
    """A `billing` command group: ``help_text`` as its help, the help shown when it is run
    without a command, no Rich markup (help text is printed as written)."""
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode=None)


Provider = Annotated[
    str | None,
    typer.Option("--provider", metavar="NAME", help="Payment provider (default: ZIGZNOTE_BILLING_PROVIDER, stripe)."),
]
#: ``--provider`` where it filters or disambiguates stored rows (no default: every provider).
OnlyProvider = Annotated[
    str | None, typer.Option("--provider", metavar="NAME", help="Only this provider's events (default: all).")
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


def org_or_all(ctx: AppContext, all_orgs: bool, what: str) -> str | None:
    """``None`` (every organization) with ``--all``, else the selected organization (``--org``).
    Neither: InvalidInput ``org_required`` (exit 2) whose hint offers both (``what``: the
    command after ``billing``, ``subscriptions sync``)."""
    if all_orgs:
        return None
    if not ctx.settings.org:
        from zigznote.errors import InvalidInput

        raise InvalidInput(
            "no organization selected",
            hint=f"pass --org SLUG for one organization, or --all for every one: `zigznote billing {what} --all`",
            code="org_required",
        )
    return ctx.org_ref()
