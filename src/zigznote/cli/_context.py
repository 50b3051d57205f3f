"""The context object built once by the root callback and shared by every command.

Settings are resolved on first use, not in the root callback: a bad environment or
config-file value must not break ``--help`` of a subcommand, and when it does matter
the error is raised inside the command, where ``_group.py`` renders it (exit 6).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

from zigznote.cli._output import Output
from zigznote.errors import InvalidInput

if TYPE_CHECKING:  # heavy modules stay out of `--help` and completion
    from zigznote.config import Settings
    from zigznote.store.engine import Database
    from zigznote.vault import Vault


def env_wants_json(env: Mapping[str, str] | None = None) -> bool:
    """JSON mode as far as it is known without loading the settings (the flag aside)."""
    return (os.environ if env is None else env).get("ZIGZNOTE_OUTPUT", "").strip().lower() == "json"


def _check_environment(env: Mapping[str, str] | None = None) -> None:
    """Refuse (ConfigError, exit 6) a ZIGZNOTE_* variable holding bytes that are not UTF-8:
    Python keeps them as lone surrogates, which no database, header or terminal accepts."""
    from zigznote.errors import ConfigError
    from zigznote.untrusted import decode_text

    for name, value in sorted((os.environ if env is None else env).items()):
        if name.startswith("ZIGZNOTE_"):
            try:
                decode_text(value, where=f"environment variable {name}")
            except InvalidInput as exc:
                raise ConfigError(exc.message, hint=f"set {name} to UTF-8 text, or unset it", code=exc.code) from None


def _check_settings(settings: Settings) -> None:
    """Refuse (ConfigError) a text setting holding NUL (a TOML ``\\u0000`` escape): no
    database accepts it in a lookup, so it would fail later as a crash."""
    from zigznote.errors import ConfigError

    for name, value in settings.values.items():
        if isinstance(value, str) and "\x00" in value:
            source = settings.sources.get(name, "?")
            raise ConfigError(
                f"setting {name} (from {source}) contains a NUL character",
                hint=f"fix {name} in {settings.config_path}" if source == "file" else f"fix {name}",
                code="invalid_setting",
            )


@dataclass
class AppContext:
    out: Output
    flags: dict[str, Any] = field(default_factory=dict)  # the root options, as load_settings() takes them
    #: Set by a command before it reads ``settings``: `init` creates a config file ZIGZNOTE_CONFIG
    #: names; `config show` shows refused values instead of failing on them.
    config_may_be_missing: bool = False
    lenient_settings: bool = False
    _settings: Settings | None = field(default=None, repr=False)
    _db: Database | None = field(default=None, repr=False)
    _vault: Vault | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        """flag > environment > config file > default, loaded on first access.

        Raises ConfigError for a bad value; until the settings have loaded, ``out``
        renders in the mode the flags and environment asked for. Once loaded, ``output``
        from any source (including ``output = "json"`` in config.toml) is in effect.
        """
        if self._settings is None:
            from zigznote.config import load_settings

            _check_environment()
            settings = load_settings(
                self.flags, config_may_be_missing=self.config_may_be_missing, lenient=self.lenient_settings
            )
            _check_settings(settings)
            self.out.json = settings.output == "json"
            self._settings = settings
        return self._settings

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


def get_app(
    ctx: typer.Context | None = None, *, lenient_settings: bool = False, config_may_be_missing: bool = False
) -> AppContext:
    """The AppContext of the running command (set by the root callback), its settings loaded.

    Commands call this first, so the output mode is settled (and a configuration error
    raised, inside the command) before they print anything. ``lenient_settings`` and
    ``config_may_be_missing``: see the AppContext fields of those names.
    """
    if ctx is None:
        from zigznote.cli._click import get_current_context

        ctx = get_current_context()  # type: ignore[assignment]
    assert ctx is not None
    obj: Any = ctx.find_root().obj
    if not isinstance(obj, AppContext):  # a command invoked without the root app
        obj = AppContext(out=Output(json=env_wants_json()))
        ctx.find_root().obj = obj
    obj.lenient_settings = obj.lenient_settings or lenient_settings
    obj.config_may_be_missing = obj.config_may_be_missing or config_may_be_missing
    _ = obj.settings  # load now: settles the output mode, or raises ConfigError here
    return obj
