"""Effective configuration: flag > environment > config file > default.

Every value remembers where it came from so ``zigznote config show`` can say it.
Light on imports on purpose: the CLI builds a Settings object on every invocation,
including ``--help`` and tab completion.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zigznote.config_file import os_reason as _os_reason
from zigznote.errors import ConfigError, InvalidInput

APP_NAME = "zigznote"


def config_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / APP_NAME


def data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_NAME


def default_config_path(env: Mapping[str, str]) -> Path:
    explicit = env.get("ZIGZNOTE_CONFIG")
    return Path(explicit) if explicit else config_dir(env) / "config.toml"


def default_db_url(env: Mapping[str, str]) -> str:
    return f"sqlite:///{data_dir(env) / 'zigznote.db'}"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidInput(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise InvalidInput(f"expected a number of at least 1, got {value}")
    return value


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise InvalidInput(f"expected true/false, got {text!r}")


def _seconds(text: str) -> float:
    from zigznote.timeutil import parse_duration

    return parse_duration(text)


#: The shortest retention accepted: a slip such as ``1s`` or a bare ``30`` (seconds) must not
#: wipe the history of events that are still being delivered and retried.
MIN_RETENTION_SECONDS = 3600.0


def _retention(text: str) -> float:
    """A retention period of at least ``MIN_RETENTION_SECONDS``."""
    value = _seconds(text)
    if value < MIN_RETENTION_SECONDS:
        raise InvalidInput(
            f"a retention of {text!r} is too short: the minimum is 1 hour, so a slip cannot delete "
            "the history of deliveries still being retried"
        )
    return value


@dataclass(frozen=True)
class Field:
    name: str
    envs: tuple[str, ...]
    default: Callable[[Mapping[str, str]], Any]
    parse: Callable[[str], Any] = str
    secret: bool = False
    help: str = ""
    #: A valid value, for hints.
    example: str = ""

    @property
    def duration(self) -> bool:
        """Whether the value is seconds, shown to people as ``30s``, ``30d``, ``1h5m36s``."""
        return self.parse in (_seconds, _retention)


FIELDS: tuple[Field, ...] = (
    Field(
        "db_url",
        ("ZIGZNOTE_DB", "ZIGZNOTE_DATABASE_URL"),
        default_db_url,
        help="database URL (sqlite:///path or postgresql+psycopg://…)",
    ),
    Field("org", ("ZIGZNOTE_ORG",), lambda env: None, help="default organization (slug or ID)"),
    Field("output", ("ZIGZNOTE_OUTPUT",), lambda env: "human", help="human or json", example="json"),
    Field(
        "key_file",
        ("ZIGZNOTE_KEY_FILE",),
        lambda env: None,
        help="master key file (0600), when not using the OS keyring",
    ),
    Field(
        "keyring",
        ("ZIGZNOTE_KEYRING",),
        lambda env: True,
        _bool,
        help="look for the master key in the OS keyring",
        example="0",
    ),
    Field(
        "retry_schedule",
        ("ZIGZNOTE_RETRY_SCHEDULE",),
        lambda env: "1s,5s,30s,5m,1h",
        help="delays between delivery attempts",
        example="1s,5s,30s,5m,1h",
    ),
    Field(
        "disable_after",
        ("ZIGZNOTE_DISABLE_AFTER",),
        lambda env: 10,
        _positive_int,
        help="consecutive failed attempts before an endpoint is disabled",
        example="10",
    ),
    Field(
        "disable_after_period",
        ("ZIGZNOTE_DISABLE_AFTER_PERIOD",),
        # None: the span of retry_schedule (1h5m36s by default), resolved by RetryPolicy.
        lambda env: None,
        _seconds,
        help="how long a failure streak must last before auto-disable (unset: the retry schedule's span; 0: off)",
        example="2h",
    ),
    Field(
        "lease_seconds",
        ("ZIGZNOTE_LEASE_SECONDS",),
        lambda env: 30.0,
        _seconds,
        help="how long a worker's claim on a delivery lasts",
        example="30s",
    ),
    Field(
        "attempt_timeout",
        ("ZIGZNOTE_ATTEMPT_TIMEOUT",),
        lambda env: 15.0,
        _seconds,
        help="total timeout of one delivery attempt",
        example="15s",
    ),
    Field(
        "per_endpoint_max",
        ("ZIGZNOTE_PER_ENDPOINT_MAX",),
        lambda env: 100,
        _positive_int,
        help="ceiling of each endpoint's adaptive concurrency (worker --per-endpoint-max)",
        example="100",
    ),
    Field(
        "webhook_allow_nets",
        ("ZIGZNOTE_WEBHOOK_ALLOW_NETS",),
        lambda env: "",
        help="CIDRs webhooks may target despite the SSRF guard (development)",
    ),
    Field(
        "retention",
        ("ZIGZNOTE_RETENTION",),
        lambda env: 30 * 86400.0,
        _retention,
        help="how long finished events, deliveries and attempts are kept (pruned by `worker run`, `events prune`)",
        example="30d",
    ),
    Field(
        "retention_failed",
        ("ZIGZNOTE_RETENTION_FAILED",),
        lambda env: 90 * 86400.0,
        _retention,
        help="how long events with a failed delivery are kept (at least `retention`)",
        example="90d",
    ),
)
FIELD_BY_NAME = {f.name: f for f in FIELDS}


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
