"""`zigznote orgs`: organizations, the tenant boundary."""

from __future__ import annotations

from typing import Annotated

import typer

from zigznote.cli._context import get_app
from zigznote.cli._options import Force

app = typer.Typer(help="Create and manage organizations.", no_args_is_help=True, rich_markup_mode=None)

COLUMNS = [("id", "id"), ("slug", "slug"), ("name", "name"), ("created_at", "created")]
OrgRef = Annotated[str, typer.Argument(metavar="SLUG|ID", help="Organization slug or ID.")]


@app.command("create")
def create(
    slug: Annotated[str, typer.Argument(help="Short unique name: lowercase letters, digits, hyphens.")],
    name: Annotated[str | None, typer.Option("--name", help="Display name (default: the slug).")] = None,
) -> None:
    """Create an organization.

    Example: zigznote orgs create acme --name "Acme Corp"
    """
    from zigznote.services import orgs

    ctx = get_app()
    org = orgs.create(ctx.db(), slug, name)
    ctx.out.item(org) if ctx.out.json else ctx.out.success(f"created {org['slug']} ({org['id']})")


@app.command("list")
def list_() -> None:
    """List organizations.

    Example: zigznote --json orgs list
    """
    from zigznote.services import orgs

    ctx = get_app()
    ctx.out.items(orgs.list_orgs(ctx.db()), COLUMNS, empty="no organizations yet")


@app.command("show")
def show(org: OrgRef) -> None:
    """Show one organization with counts of what it owns.

    Example: zigznote orgs show acme
    """
    from zigznote.services import orgs

    ctx = get_app()
    data = orgs.show(ctx.db(), org)
    if ctx.out.json:
        ctx.out.item(data)
    else:
        flat = {k: v for k, v in data.items() if k != "counts"}
        flat.update(data["counts"])
        ctx.out.item(flat)


@app.command("update")
def update(
    org: OrgRef,
    name: Annotated[str | None, typer.Option("--name", help="New display name.")] = None,
    slug: Annotated[str | None, typer.Option("--slug", help="New slug.")] = None,
) -> None:
    """Rename an organization or change its slug.

    Example: zigznote orgs update acme --name "Acme Inc"
    """
    from zigznote.services import orgs

    ctx = get_app()
    data = orgs.update(ctx.db(), org, name=name, slug=slug)
    ctx.out.item(data) if ctx.out.json else ctx.out.success(f"updated {data['slug']}")


@app.command("delete")
def delete(org: OrgRef, force: Force = False) -> None:
    """Delete an organization; refuses while it owns data unless --force.

    Example: zigznote orgs delete acme --force
    """
    from zigznote.services import orgs

    ctx = get_app()
    data = orgs.delete(ctx.db(), org, force=force)
    ctx.out.item(data) if ctx.out.json else ctx.out.success(f"deleted {data['slug']}")
