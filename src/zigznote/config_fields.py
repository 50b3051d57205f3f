"""Every setting zigznote reads: its name, environment variables, default and parser.

``config.py`` resolves them (flag > environment > config file > default); this module only
describes them, so adding a setting is adding one :class:`Field` here (billing's live in
:mod:`zigznote.config_billing`). Light on imports on purpose, like ``config.py``: the CLI builds
the settings on every invocation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zigznote.config_billing import billing_fields
from zigznote.errors import InvalidInput

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


def _positive_seconds(text: str) -> float:
    """A duration above zero (a timeout of 0 could never be met)."""
    value = _seconds(text)
    if value <= 0:
        raise InvalidInput(f"expected a duration above zero, got {text!r}")
    return value


def _url(text: str) -> str:
    """An absolute http(s) URL with a host (API bases, authorize and redirect URLs)."""
    value = text.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise InvalidInput(f"expected an http(s) URL, got {text!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise InvalidInput(f"expected an http(s) URL, got {text!r}")
    return value


_CREDENTIAL_RE = re.compile(r"[\x21-\x7e]{1,500}")


def _credential(text: str) -> str:
    """A client ID or secret: printable ASCII without spaces (it travels in an HTTP header)."""
    value = text.strip()
    if not _CREDENTIAL_RE.fullmatch(value):
        raise InvalidInput("expected printable ASCII without spaces (at most 500 characters)")
    return value


_SCOPE_RE = re.compile(r"[A-Za-z0-9:._-]{1,100}")


def _scopes(text: str) -> str:
    """A comma list of OAuth scopes (``chat:write,channels:read``), normalised without spaces."""
    scopes = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in scopes if not _SCOPE_RE.fullmatch(s)]
    if not scopes or bad:
        raise InvalidInput(f"expected a comma list of scopes such as chat:write,channels:read, got {text!r}")
    return ",".join(dict.fromkeys(scopes))


#: HubSpot's newest stable date-based API version (kept equal to
#: ``integrations.hubspot.DEFAULT_API_VERSION`` by a test; this module stays light).
HUBSPOT_DEFAULT_API_VERSION = "2026-09"
#: Contacts (read, write: search and --create-contacts), owners (task assignees); meetings and
#: tasks are written with the contacts scopes (HubSpot's engagement pages list no others).
HUBSPOT_DEFAULT_SCOPES = "oauth,crm.objects.contacts.read,crm.objects.contacts.write,crm.objects.owners.read"
_API_VERSION_RE = re.compile(r"20[0-9]{2}-(0[1-9]|1[0-2])")


def _api_version(text: str) -> str:
    """A date-based API version, ``YYYY-MM`` (HubSpot: ``2026-03``)."""
    value = text.strip()
    if not _API_VERSION_RE.fullmatch(value):
        raise InvalidInput(f"expected an API version such as 2026-03 (YYYY-MM), got {text!r}")
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
        return self.parse in (_seconds, _retention, _positive_seconds)


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
    # Slack (issue 9). Environment names are the seed's (SLACK_*); endpoints are configurable so
    # tests and operators can point zigznote at a fake, a proxy or a sandbox (DESIGN.md).
    Field(
        "slack_client_id",
        ("SLACK_CLIENT_ID",),
        lambda env: None,
        _credential,
        help="the Slack app's client ID (Basic Information page)",
        example="4724469134.4644010092847",
    ),
    Field(
        "slack_client_secret",
        ("SLACK_CLIENT_SECRET",),
        lambda env: None,
        _credential,
        secret=True,
        help="the Slack app's client secret (Basic Information page)",
    ),
    Field(
        "slack_redirect_uri",
        ("SLACK_REDIRECT_URI",),
        lambda env: "https://localhost:8765/callback",
        _url,
        help="OAuth redirect URL registered in the Slack app (a loopback https URL for `slack connect`)",
        example="https://localhost:8765/callback",
    ),
    Field(
        "slack_api_base",
        ("SLACK_API_BASE",),
        lambda env: "https://slack.com/api",
        _url,
        help="Slack Web API base: every method is {base}/{method}",
        example="https://slack.com/api",
    ),
    Field(
        "slack_oauth_authorize_url",
        ("SLACK_OAUTH_AUTHORIZE_URL",),
        lambda env: "https://slack.com/oauth/v2/authorize",
        _url,
        help="Slack's OAuth v2 authorize page",
        example="https://slack.com/oauth/v2/authorize",
    ),
    Field(
        "slack_scopes",
        ("SLACK_SCOPES",),
        lambda env: "chat:write,chat:write.public,channels:read,groups:read",
        _scopes,
        help="bot scopes `slack connect` asks for (comma list)",
        example="chat:write,chat:write.public,channels:read,groups:read",
    ),
    # HubSpot (issue 10): the seed's HUBSPOT_* names; base, version and authorize URL are settings so
    # tests and operators can point zigznote at a fake, a proxy or a sandbox (DESIGN.md).
    Field(
        "hubspot_client_id",
        ("HUBSPOT_CLIENT_ID",),
        lambda env: None,
        _credential,
        help="the HubSpot app's client ID (the app's Auth page on HubSpot's developer platform)",
        example="7fff1e36-2d40-4ae1-bbb1-5266d59564fb",
    ),
    Field(
        "hubspot_client_secret",
        ("HUBSPOT_CLIENT_SECRET",),
        lambda env: None,
        _credential,
        secret=True,
        help="the HubSpot app's client secret (the app's Auth page)",
    ),
    Field(
        "hubspot_redirect_uri",
        ("HUBSPOT_REDIRECT_URI",),
        lambda env: "http://localhost:8765/callback",
        _url,
        help="OAuth redirect URL registered in the HubSpot app (http://localhost works; IP literals do not)",
        example="http://localhost:8765/callback",
    ),
    Field(
        "hubspot_api_base",
        ("HUBSPOT_API_BASE",),
        lambda env: "https://api.hubapi.com",
        _url,
        help="HubSpot API base: CRM calls are {base}/crm/objects/{version}/…, OAuth {base}/oauth/{version}/…",
        example="https://api.hubapi.com",
    ),
    Field(
        "hubspot_api_version",
        ("HUBSPOT_API_VERSION",),
        lambda env: HUBSPOT_DEFAULT_API_VERSION,
        _api_version,
        help="HubSpot's date-based API version (YYYY-MM) in every API path; 2026-03 still works until 2027-09",
        example=HUBSPOT_DEFAULT_API_VERSION,
    ),
    Field(
        "hubspot_oauth_authorize_url",
        ("HUBSPOT_OAUTH_AUTHORIZE_URL",),
        lambda env: "https://app.hubspot.com/oauth/authorize",
        _url,
        help="HubSpot's OAuth authorize (install) page",
        example="https://app.hubspot.com/oauth/authorize",
    ),
    Field(
        "hubspot_scopes",
        ("HUBSPOT_SCOPES",),
        lambda env: HUBSPOT_DEFAULT_SCOPES,
        _scopes,
        help="scopes `hubspot connect` asks for (comma list)",
        example=HUBSPOT_DEFAULT_SCOPES,
    ),
    *billing_fields(),
    Field(
        "tls_cert",
        ("ZIGZNOTE_TLS_CERT",),
        lambda env: None,
        help="PEM certificate of the https OAuth callback (e.g. from mkcert); unset: a generated self-signed one",
    ),
    Field(
        "tls_key",
        ("ZIGZNOTE_TLS_KEY",),
        lambda env: None,
        help="private key (PEM) of tls_cert",
    ),
    Field(
        "oauth_timeout",
        ("ZIGZNOTE_OAUTH_TIMEOUT",),
        lambda env: 300.0,
        _positive_seconds,
        help="how long `connect` waits for the browser's redirect",
        example="5m",
    ),
)
FIELD_BY_NAME = {f.name: f for f in FIELDS}
