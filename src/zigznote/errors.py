"""The one exception tree of zigznote.

Services raise these; the CLI maps each to an error code and an exit status in one
place (``cli/_output.py``). Third-party errors are translated into this tree at the
adapter edge, so nothing above the adapters ever sees an httpx, aiohttp, psycopg or
stripe exception.

    ZigznoteError                      exit 1  (a bug: never for bad input)
    ├── InvalidInput                   exit 2
    ├── NotFound                       exit 3
    ├── Conflict                       exit 4  (duplicate, invalid state)
    ├── ProviderError                  exit 5  (network / provider, retryable)
    │   └── DatabaseUnavailable        exit 5
    ├── ConfigError                    exit 6  (configuration or credentials missing)
    │   ├── SchemaOutOfDate            exit 6
    │   ├── VaultError                 exit 6  (missing or wrong master key)
    │   └── CredentialsRejected        exit 6  (a provider refused our token or refresh token)
    └── SignatureInvalid               exit 7
"""

from __future__ import annotations


class ZigznoteError(Exception):
    """Root of every error zigznote raises on purpose."""

    code = "internal_error"
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "hint": self.hint}


class InvalidInput(ZigznoteError):
    code = "invalid_input"
    exit_code = 2


class NotFound(ZigznoteError):
    code = "not_found"
    exit_code = 3


class Conflict(ZigznoteError):
    code = "conflict"
    exit_code = 4


class ProviderError(ZigznoteError):
    code = "provider_error"
    exit_code = 5


class DatabaseUnavailable(ProviderError):
    code = "database_unavailable"


class ConfigError(ZigznoteError):
    code = "config_error"
    exit_code = 6


class SchemaOutOfDate(ConfigError):
    code = "schema_out_of_date"


class VaultError(ConfigError):
    code = "vault_error"


class CredentialsRejected(ConfigError):
    """A provider refused a stored credential: the access token (Slack ``invalid_auth``,
    ``token_revoked``, ``token_expired``, ``account_inactive``; HTTP 401) or the refresh token
    (``invalid_refresh_token``, ``invalid_grant``).

    Adapters raise it; ``services/integrations`` catches it to refresh once. ``provider``
    (``"slack"``) only builds the default hint; the message must never contain a token.
    """

    code = "credentials_rejected"

    def __init__(
        self, message: str, *, hint: str | None = None, code: str | None = None, provider: str | None = None
    ) -> None:
        if hint is None:
            command = f"zigznote {provider} connect" if provider else "zigznote <provider> connect"
            hint = f"run `{command}` again"
        super().__init__(message, hint=hint, code=code)


class SignatureInvalid(ZigznoteError):
    code = "signature_invalid"
    exit_code = 7


EXIT_INTERRUPTED = 130
