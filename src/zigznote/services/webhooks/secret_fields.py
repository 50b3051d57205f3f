"""A webhook's secrets at rest: vault ciphertexts bound to (table, row, column).

Sending decrypts through :func:`zigznote.delivery.endpoints.load_endpoints` (the one loader
the engine and `webhooks test` share); this module serves the management commands that
show (`show --show-secret`), merge (`update --header`) or rotate secrets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from zigznote.services.webhooks.render import has_previous
from zigznote.store.models import Webhook
from zigznote.timeutil import utcnow

if TYPE_CHECKING:
    from zigznote.vault import Vault

TABLE = "webhook"


def encrypt(vault: Vault, wh_id: str, field: str, plaintext: str) -> str:
    """A ciphertext for ``field`` of webhook ``wh_id`` (the AAD binds it to that column)."""
    return vault.encrypt(plaintext, table=TABLE, row=wh_id, field=field)


def decrypt(vault: Vault, wh: Webhook, field: str) -> str | None:
    """The plaintext of one secret column, None when empty (VaultError when unreadable)."""
    token = getattr(wh, field)
    return vault.decrypt(token, table=TABLE, row=wh.id, field=field) if token else None


def current_secret(vault: Vault, wh: Webhook) -> str:
    """The current signing secret (the column is NOT NULL, so an empty value is corruption)."""
    from zigznote.errors import VaultError

    secret = decrypt(vault, wh, "secret_enc")
    if not secret:
        raise VaultError(
            f"webhook {wh.id} has no signing secret stored",
            hint=f"`zigznote --org {wh.org_id} webhooks rotate-secret {wh.id} --grace 0` sets a new one",
            code="secret_missing",
        )
    return secret


def signing_secrets(vault: Vault, wh: Webhook, now: datetime | None = None) -> list[str]:
    """The secrets that sign a delivery now: current, plus the previous one during its grace."""
    secrets = [current_secret(vault, wh)]
    if has_previous(wh, now or utcnow()):
        previous = decrypt(vault, wh, "previous_secret_enc")
        if previous:
            secrets.append(previous)
    return secrets


def custom_headers(vault: Vault, wh: Webhook) -> dict[str, str]:
    """The webhook's custom headers, decrypted ({} when none or not a JSON object)."""
    text = decrypt(vault, wh, "headers_enc")
    if not text:
        return {}
    value = json.loads(text)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def encrypt_headers(vault: Vault, wh_id: str, headers: Mapping[str, str]) -> str | None:
    """Custom headers as one ciphertext (None when there are none)."""
    if not headers:
        return None
    return encrypt(vault, wh_id, "headers_enc", json.dumps(dict(headers), ensure_ascii=False))
