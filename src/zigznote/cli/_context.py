"""The context object built once by the root callback and shared by every command."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

from zigznote.cli._output import Output
from zigznote.config import Settings
from zigznote.errors import InvalidInput

if TYPE_CHECKING:  # heavy modules stay out of `--help` and completion
    from zigznote.store.engine import Database
    from zigznote.vault import Vault


@dataclass
class AppContext:
    settings: Settings
    out: Output
    _db: Database | None = field(default=None, repr=False)
    _vault: Vault | None = field(default=None, repr=False)

    def db(self, *, check: bool = True, create: bool = False) -> Database:
        """The database, opened once; by default refuses an un-migrated schema."""
        if self._db is None:
            from zigznote.store.engine import Database

            self._db = Database(self.settings.db_url, check=check, create=create)
        return self._db

    def org_ref(self) -> str:
        org = self.settings.org
        if not org:
            raise InvalidInput(
                "no organization selected",
                hint="pass --org SLUG (or set ZIGZNOTE_ORG); `zigznote orgs list` shows them",
                code="org_required",
            )
        return str(org)

    def vault(self) -> Vault:
        if self._vault is None:
            from zigznote.services.keys import open_vault

            self._vault = open_vault(self.settings)
        return self._vault

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


def get_app(ctx: typer.Context | None = None) -> AppContext:
    """The AppContext of the running command (set by the root callback)."""
    if ctx is None:
        from typer._click.globals import get_current_context

        ctx = get_current_context()  # type: ignore[assignment]
    assert ctx is not None
    obj: Any = ctx.find_root().obj
    if not isinstance(obj, AppContext):  # a command invoked without the root app
        from zigznote.config import load_settings

        obj = AppContext(settings=load_settings(env=os.environ), out=Output())
        ctx.find_root().obj = obj
    return obj
