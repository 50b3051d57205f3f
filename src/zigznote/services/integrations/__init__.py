"""Integration connections: the stored token set of each (organization, provider), and its
lifecycle (save after a connect, proactive refresh, one refresh-and-retry, error state).

Tokens live only in ``integration_connection.token_enc``, a vault ciphertext of
``TokenSet.to_json()`` bound to its row (AAD ``integration_connection:<id>:token_enc``). Every
view this package returns is public: it never holds a token, and it is built without the
master key.

Refreshing is serialized across processes and hosts, because Slack's token rotation revokes
a refresh token the moment it is used: two processes refreshing with the same refresh token
would leave one of them (and, if it stored its failure, the connection) with a revoked token.
:func:`refresh` therefore makes the provider call while holding the connection's lock
(Postgres ``SELECT … FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``, which takes the database's
write lock), re-reads ``token_version`` once it holds it, and skips the call when another
process stored new tokens since the caller read them.

Modules: ``connections`` (the store: save, get, list, delete, settings, error state) and
``tokens`` (read, refresh, call with a token). Organizations are given by ID or slug
(``org_id``); providers by name (:data:`KNOWN_PROVIDERS`). ``common`` holds what the provider
services (``services/slack``, ``services/hubspot``) share; they import it directly.
"""

from __future__ import annotations

from zigznote.services.integrations.connections import (
    KNOWN_PROVIDERS,
    NOT_CONNECTED,
    TABLE,
    TOKEN_FIELD,
    delete,
    get,
    list_connections,
    mark_error,
    public,
    save_grant,
    update_settings,
)
from zigznote.services.integrations.tokens import (
    REFRESH_LOCK_TIMEOUT,
    REFRESH_SKEW,
    Refresher,
    call_with_token,
    current_tokens,
    refresh,
    stored_tokens,
)

__all__ = [
    "KNOWN_PROVIDERS",
    "NOT_CONNECTED",
    "REFRESH_LOCK_TIMEOUT",
    "REFRESH_SKEW",
    "TABLE",
    "TOKEN_FIELD",
    "Refresher",
    "call_with_token",
    "current_tokens",
    "delete",
    "get",
    "list_connections",
    "mark_error",
    "public",
    "refresh",
    "save_grant",
    "stored_tokens",
    "update_settings",
]
