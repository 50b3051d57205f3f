"""Checking what operators type, before any transaction opens, so bad input writes nothing
(exit 2 with a specific code)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from zigznote.errors import ConfigError, InvalidInput
from zigznote.timeutil import parse_duration
from zigznote.webhooks import ssrf
from zigznote.webhooks.envelope import RESERVED_HEADERS

# A rotation grace longer than this is a forgotten old secret, not a grace period.
MAX_GRACE_SECONDS = 30 * 86400
MAX_HEADERS = 20
#: The ``webhook.url`` column's length: a longer URL is refused, never cut.
MAX_URL_LENGTH = 2000
MAX_HEADER_VALUE = 4096
# Operator caps: beyond these a "cap" caps nothing (the engine's own limits are far lower).
MAX_CONCURRENCY_CAP = 10_000
MAX_RATE_LIMIT = 100_000.0

# RFC 9110 field-name token characters.
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
# Hop-by-hop and framing headers: the HTTP client owns them, a customer value would break requests.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "expect",
    }
)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*$", re.IGNORECASE)
_PER_SECOND = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}


def allow_nets(spec: str | None) -> list[ssrf.IPNetwork]:
    """The configured allow-list; a malformed one is a configuration error, not bad input."""
    try:
        return ssrf.parse_allow_nets(spec or "")
    except InvalidInput as exc:
        raise ConfigError(exc.message, hint=exc.hint, code="invalid_allow_nets") from None


def validate_url(url: str, *, nets: str | None, allow_http: bool = False) -> str:
    """The URL as stored (normalised), or InvalidInput when it is longer than ``MAX_URL_LENGTH``
    characters (before or after normalising) or the SSRF guard refuses it."""
    if len(url) <= MAX_URL_LENGTH:
        url = ssrf.validate_webhook_url(url, allow_nets=allow_nets(nets), allow_http=allow_http)
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(
            f"webhook URL is {len(url):,} characters long; the limit is {MAX_URL_LENGTH:,}",
            hint="use a shorter URL (put long parameters in a custom --header instead)",
            code="url_too_long",
        )
    return url


def parse_header(text: str) -> tuple[str, str]:
    """One ``Name: value`` custom header, checked the way an HTTP client would need it."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name:
        raise InvalidInput(
            f"invalid header {text!r}: expected 'Name: value'",
            hint='for example --header "X-Api-Key: abc123"',
            code="invalid_header",
        )
    if not _HEADER_NAME_RE.match(name):
        raise InvalidInput(
            f"invalid header name {name!r}: use letters, digits and !#$%&'*+-.^_`|~ only",
            code="invalid_header",
        )
    lowered = name.lower()
    if lowered in RESERVED_HEADERS or lowered.startswith("webhook-") or lowered in _HOP_BY_HOP:
        raise InvalidInput(
            f"header {name!r} is reserved: zigznote sets it on every delivery",
            hint=f"reserved: {', '.join(sorted(RESERVED_HEADERS | _HOP_BY_HOP))} and webhook-*",
            code="reserved_header",
        )
    if _CONTROL_RE.search(value):
        raise InvalidInput(f"header {name!r} has control characters in its value", code="invalid_header")
    if len(value) > MAX_HEADER_VALUE:
        raise InvalidInput(f"header {name!r} is longer than {MAX_HEADER_VALUE} characters", code="invalid_header")
    return name, value


def parse_headers(items: Iterable[str]) -> dict[str, str]:
    """``Name: value`` strings into a dict; a later duplicate (any case) replaces an earlier one."""
    headers: dict[str, str] = {}
    for item in items:
        name, value = parse_header(item)
        merge_header(headers, name, value)
    check_header_count(headers)
    return headers


def merge_header(headers: dict[str, str], name: str, value: str) -> None:
    """Set ``name`` in ``headers``, replacing any existing spelling of it (any case)."""
    for existing in [k for k in headers if k.lower() == name.lower()]:
        del headers[existing]
    headers[name] = value


def check_header_count(headers: dict[str, str]) -> None:
    if len(headers) > MAX_HEADERS:
        raise InvalidInput(f"at most {MAX_HEADERS} custom headers per webhook", code="invalid_header")


def validate_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("webhook name must be 1-200 characters", code="invalid_name")
    return name


def validate_description(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if len(text) > 2000:
        raise InvalidInput("webhook description must be at most 2000 characters", code="invalid_description")
    return text or None


def parse_grace(text: str) -> float:
    """A rotation grace period in seconds (0 allowed; at most 30 days)."""
    seconds = parse_duration(text)
    if seconds > MAX_GRACE_SECONDS:
        raise InvalidInput(
            f"grace period {text!r} is longer than 30 days",
            hint="old secrets should stop signing soon after receivers switch",
            code="invalid_grace",
        )
    return seconds


def validate_max_concurrency(value: int) -> int:
    """A per-webhook cap on concurrent requests: 1 to 10,000."""
    if not 1 <= value <= MAX_CONCURRENCY_CAP:
        raise InvalidInput(
            f"--max-concurrency must be between 1 and {MAX_CONCURRENCY_CAP:,}, not {value}",
            hint="--no-max-concurrency removes the cap (the engine adapts on its own)",
            code="invalid_max_concurrency",
        )
    return value


def parse_rate_limit(text: str) -> float:
    """``N``, ``N/s``, ``N/m`` or ``N/h`` into requests per second (> 0, at most 100,000/s)."""
    match = _RATE_RE.match(text)
    if match is None:
        raise InvalidInput(
            f"invalid rate limit {text!r}",
            hint="a number of requests per second, minute or hour: 5, 5/s, 120/m, 1000/h",
            code="invalid_rate_limit",
        )
    rate = float(match.group(1)) / _PER_SECOND[(match.group(2) or "s").lower()]
    if not math.isfinite(rate) or rate <= 0 or rate > MAX_RATE_LIMIT:
        raise InvalidInput(
            f"rate limit {text!r} must be above 0 and at most {MAX_RATE_LIMIT:,.0f} requests/s",
            hint="--no-rate-limit removes the limit",
            code="invalid_rate_limit",
        )
    return rate
