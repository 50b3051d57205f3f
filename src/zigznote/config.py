"""Effective configuration: flag > environment > config file > default.

Every value remembers where it came from so ``zigznote config show`` can say it.
Light on imports on purpose: the CLI builds a Settings object on every invocation,
including ``--help`` and tab completion.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The settings themselves (names, environment variables, defaults, parsers) live in
# config_fields; the names are re-exported here, where callers have always found them.
from zigznote.config_fields import (  # noqa: F401
    APP_NAME,
    FIELD_BY_NAME,
    FIELDS,
    MIN_RETENTION_SECONDS,
    Field,
    _bool,
    config_dir,
    data_dir,
    default_config_path,
    default_db_url,
)
from zigznote.config_file import os_reason as _os_reason
from zigznote.errors import ConfigError, InvalidInput


@dataclass
class Settings:
    """Resolved configuration values with their source ("flag", "env:NAME", "file", "default")."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    config_path: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    #: Whether a file was found (and read) at ``config_path``.
    config_found: bool = False
    #: Only from ``load_settings(lenient=True)``: the settings whose value was refused (the
    #: value is then the text as given), as ConfigErrors with a hint.
    errors: dict[str, ConfigError] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def describe(self) -> list[dict[str, Any]]:
        """One row per setting: ``name``, ``value`` (secrets masked; durations in seconds),
        ``shown`` (the value for people: durations as ``30s``/``30d``/``1h5m36s``), ``source``
        and ``error`` (the refused value's message, or None). An unset
        ``disable_after_period`` shows its effective value, the retry schedule's span."""
        from zigznote.timeutil import format_duration

        rows = []
        for f in FIELDS:
            value = self.values.get(f.name)
            source = self.sources.get(f.name)
            error = self.errors.get(f.name)
            if f.secret and value:
                value = "****"
            if f.name == "db_url" and isinstance(value, str):
                value = mask_url(value)
            if f.name == "disable_after_period" and value is None and source == "default":
                span = self._schedule_span()
                if span is not None:
                    value, source = span, "default (the retry_schedule's span)"
            shown = format_duration(value) if f.duration and isinstance(value, float) and not error else None
            rows.append(
                {
                    "name": f.name,
                    "value": value,
                    "shown": value if shown is None else shown,
                    "source": source,
                    "error": error.message if error else None,
                }
            )
        return rows

    def _schedule_span(self) -> float | None:
        """Seconds the retry schedule spans (None when the schedule itself is refused)."""
        from zigznote.delivery.retry import RetryPolicy, parse_schedule

        try:
            return RetryPolicy(schedule=parse_schedule(self.values["retry_schedule"])).streak_period()
        except (InvalidInput, KeyError):
            return None


def mask_url(url: str) -> str:
    """Hide a password inside a database URL (``postgresql://u:****@h/db``)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, at, host = rest.rpartition("@")
    user, colon, _password = creds.partition(":")
    return f"{scheme}://{user}{':****' if colon else ''}{at}{host}"


def read_config_file(path: Path, *, required: bool = False) -> dict[str, Any]:
    """The settings in the config file at ``path``; ``{}`` when there is no file.

    Raises ConfigError (exit 6), naming the path and the reason, when the file cannot be read
    (a directory, no permission, …), is not UTF-8 or not TOML, or has unknown settings, and
    when a ``required`` file (one the operator named) does not exist. These are the
    operator's configuration, not bugs, whatever OSError the platform gives.
    """
    hint = f"fix or remove {path}, or point ZIGZNOTE_CONFIG at another file"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(
                f"config file {path} (named by ZIGZNOTE_CONFIG) does not exist",
                hint="create it (`zigznote init` writes one), fix the path, or unset ZIGZNOTE_CONFIG",
                code="config_not_found",
            ) from None
        return {}
    except NotADirectoryError:
        # A parent of the path is a file: there is no config file there, but saying so beats
        # silently using defaults when the operator pointed ZIGZNOTE_CONFIG somewhere.
        raise ConfigError(f"cannot read config file {path}: a parent is not a directory", hint=hint) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {_os_reason(exc)}", hint=hint) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not valid UTF-8 (byte {exc.start}): {exc.reason}", hint=hint
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}", hint=hint) from None
    unknown = sorted(set(data) - set(FIELD_BY_NAME))
    if unknown:
        raise ConfigError(
            f"config file {path} has unknown setting(s): {', '.join(unknown)}",
            hint=f"known settings: {', '.join(FIELD_BY_NAME)}",
        )
    return data


def _parse_file_value(f: Field, raw: Any, path: Path) -> Any:
    """Validate a config-file value like its environment twin (TOML gives typed values)."""
    if f.parse is str:
        if not isinstance(raw, str):
            raise ConfigError(f"{path}: {f.name} must be a string, not {type(raw).__name__}")
        return raw
    if isinstance(raw, bool) and f.parse is _bool:
        return raw
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise ConfigError(f"{path}: {f.name}: unexpected {type(raw).__name__} value {raw!r}")
    try:
        return f.parse(str(raw))
    except InvalidInput as exc:
        raise ConfigError(f"{path}: {f.name}: {exc.message}") from None


def load_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    config_may_be_missing: bool = False,
    lenient: bool = False,
) -> Settings:
    """flag > environment > config file > default, each value validated.

    Raises ConfigError (exit 6) for a refused value (naming the variable or file and an
    example) and for a file named by ZIGZNOTE_CONFIG that does not exist, unless
    ``config_may_be_missing`` (``init`` creates it). ``lenient`` (for ``config show``) keeps a
    refused value as the text given and records the error in ``Settings.errors`` instead.
    """
    env = dict(os.environ) if env is None else dict(env)
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    path = default_config_path(env)
    file_values = read_config_file(path, required=bool(env.get("ZIGZNOTE_CONFIG")) and not config_may_be_missing)
    settings = Settings(config_path=path, env=env, config_found=path.is_file())
    for f in FIELDS:
        if f.name in flags:
            value, source = flags[f.name], "flag"
        elif (env_name := next((e for e in f.envs if env.get(e)), None)) is not None:
            source = f"env:{env_name}"
            try:
                value = f.parse(env[env_name])
            except InvalidInput as exc:
                example = f" (for example {env_name}={f.example})" if f.example else ""
                error = ConfigError(
                    f"{env_name}: {exc.message}", hint=f"set {env_name} to a valid value{example}, or unset it"
                )
                if not lenient:
                    raise error from None
                value, settings.errors[f.name] = env[env_name], error
        elif f.name in file_values:
            source = "file"
            try:
                value = _parse_file_value(f, file_values[f.name], path)
            except ConfigError as exc:
                if not lenient:
                    raise
                value, settings.errors[f.name] = file_values[f.name], exc
        else:
            value, source = f.default(env), "default"
        settings.values[f.name] = value
        settings.sources[f.name] = source
    if settings.values["output"] not in {"human", "json"}:
        raise ConfigError(f"ZIGZNOTE_OUTPUT must be 'human' or 'json', not {settings.values['output']!r}")
    return settings
