"""Loading webhook endpoints for sending: the ONE place secrets are decrypted for delivery.

The engine (and ``webhooks test``) need, per webhook, its URL, decoded signing keys
(current, plus the previous one during a rotation grace period), the shared request
headers and the operator caps. Loading never raises for one bad row: a secret or header
that cannot be decrypted, custom headers that are not a JSON object, or an IP-literal
URL refused by the SSRF guard set ``Endpoint.refused``; the engine then records each of
that endpoint's deliveries as a failed attempt with that reason (so it follows the retry
schedule, counts toward auto-disable and is visible in ``webhooks attempts``) instead of
stopping or leaving rows ``delivering``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from yarl import URL

from zigznote.errors import InvalidInput, ZigznoteError
from zigznote.vault import Vault
from zigznote.webhooks.envelope import base_headers
from zigznote.webhooks.signing import decode_secret
from zigznote.webhooks.ssrf import AllowNets, check_address

TABLE = "webhook"

_SELECT = (
    "SELECT id, url, secret_enc, previous_secret_enc, previous_secret_expires_at, headers_enc, enabled, "
    "consecutive_failures, failing_since, max_concurrency, rate_limit FROM webhook WHERE id IN ({names})"
)


@dataclass
class Endpoint:
    """A worker's cached, decrypted view of one webhook, prepared for the hot path.

    ``keys`` are decoded signing keys (bytes), ``headers`` every request header but the
    per-attempt id/timestamp/signature. ``loaded_at`` is a ``time.monotonic()`` value.
    ``failures`` is the consecutive-failure count as this worker knows it (the store's
    count when loaded, then updated as results arrive, before they are written).
    ``refused`` is why every request to this endpoint fails before sending (``None``:
    sendable). ``max_concurrency`` and ``rate_limit`` (requests/s) are operator caps.
    """

    id: str
    url: str
    keys: list[bytes]
    headers: dict[str, str]
    enabled: bool
    loaded_at: float
    failures: int = 0
    failing_since: datetime | None = None
    refused: str | None = None
    max_concurrency: int | None = None
    rate_limit: float | None = None
    # ``url`` parsed once at load (a yarl.URL), so the HTTP client does not parse it per request.
    target: Any = None


def check_literal_host(url: str, allow_nets: AllowNets) -> None:
    """Refuse an IP-literal URL outside the allow-list (raises ``InvalidInput``).

    A hostname is checked by the session's resolver at connect time; an IP literal never
    reaches the resolver, so it is checked here (once per endpoint load).
    """
    import ipaddress

    host = URL(url).host or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return
    check_address(host, allow_nets)


def _datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))  # SQLite hands back text for raw SQL


def _decrypt(vault: Vault, token: str, row: str, field: str) -> str:
    return vault.decrypt(token, table=TABLE, row=row, field=field)


def _prepare(row: Any, vault: Vault, *, allow_nets: AllowNets, now: datetime) -> Endpoint:
    """One row → Endpoint; any failure to prepare it becomes ``refused`` (never raises)."""
    failures = int(row.consecutive_failures or 0)
    endpoint = Endpoint(
        id=row.id,
        url=row.url,
        keys=[],
        headers=base_headers(None),
        enabled=bool(row.enabled),
        loaded_at=time.monotonic(),
        failures=failures,
        failing_since=_datetime(row.failing_since),
        max_concurrency=int(row.max_concurrency) if row.max_concurrency is not None else None,
        rate_limit=float(row.rate_limit) if row.rate_limit is not None else None,
    )
    try:
        secrets = [_decrypt(vault, row.secret_enc, row.id, "secret_enc")]
        expires = _datetime(row.previous_secret_expires_at)
        if row.previous_secret_enc and expires is not None and expires > now:
            # Rotation grace period: sign with both, so receivers holding either verify.
            secrets.append(_decrypt(vault, row.previous_secret_enc, row.id, "previous_secret_enc"))
    except ZigznoteError as exc:
        endpoint.refused = _reason("cannot decrypt the signing secret", exc)
        return endpoint
    try:
        endpoint.keys = [decode_secret(s) for s in dict.fromkeys(secrets)]
    except ZigznoteError as exc:
        endpoint.refused = _reason("unusable signing secret", exc)
        return endpoint
    if row.headers_enc:
        try:
            custom = json.loads(_decrypt(vault, row.headers_enc, row.id, "headers_enc"))
        except ZigznoteError as exc:
            endpoint.refused = _reason("cannot decrypt the custom headers", exc)
            return endpoint
        except ValueError as exc:
            endpoint.refused = f"custom headers are not valid JSON: {exc}"
            return endpoint
        if not isinstance(custom, dict) or not all(isinstance(v, str) for v in custom.values()):
            endpoint.refused = "custom headers are not a JSON object of strings; set them again"
            return endpoint
        endpoint.headers = base_headers(custom)
    try:
        check_literal_host(row.url, allow_nets)
        endpoint.target = URL(row.url)
    except InvalidInput as exc:
        endpoint.refused = f"refused by SSRF guard: {exc.message}"
    except ValueError as exc:
        endpoint.refused = f"invalid URL: {exc}"
    return endpoint


def _reason(what: str, exc: ZigznoteError) -> str:
    return f"{what}: {exc.message}; {exc.hint}" if exc.hint else f"{what}: {exc.message}"


def load_endpoints(
    engine: Engine, vault: Vault, ids: Sequence[str], *, allow_nets: AllowNets, now: datetime
) -> dict[str, Endpoint]:
    """Load and prepare the webhooks ``ids`` (one query); webhook id → Endpoint.

    IDs that no longer exist are absent from the result. Never raises for one bad row
    (see ``Endpoint.refused``); database errors propagate (the engine retries them).
    Blocking: call it from a thread, not from the event loop.
    """
    if not ids:
        return {}
    names = ", ".join(f":w{i}" for i in range(len(ids)))
    with engine.connect() as conn:
        rows = conn.execute(sa.text(_SELECT.format(names=names)), {f"w{i}": w for i, w in enumerate(ids)}).all()
    loaded: dict[str, Endpoint] = {}
    for row in rows:
        try:
            loaded[row.id] = _prepare(row, vault, allow_nets=allow_nets, now=now)
        except Exception as exc:  # a bug preparing one row must not stop every endpoint
            loaded[row.id] = Endpoint(
                id=row.id,
                url=str(row.url),
                keys=[],
                headers={},
                enabled=bool(row.enabled),
                loaded_at=time.monotonic(),
                failures=int(row.consecutive_failures or 0),
                refused=f"internal error preparing the endpoint: {type(exc).__name__}: {exc}"[:500],
            )
    return loaded


def save_levels(engine: Engine, levels: dict[str, int]) -> None:
    """Record each endpoint's current adaptive concurrency level (display only: shown by
    ``webhooks show``). One executemany; the caller passes only changed levels."""
    if levels:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE webhook SET concurrency_level = :level WHERE id = :id"),
                [{"id": w, "level": n} for w, n in levels.items()],
            )
