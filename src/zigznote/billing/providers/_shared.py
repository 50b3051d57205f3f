"""What every provider folder shares at its edge: keys and base URL from settings, inbound-webhook
plumbing, and reading answers. One implementation, so Stripe and Flutterwave (and the next
provider) refuse and report the same things the same way.

- **Settings** (:class:`KeyedProvider`): ``<NAME>_SECRET_KEY``, ``<NAME>_WEBHOOK_SECRET`` (a
  comma list while a secret is being changed) and ``<NAME>_API_BASE``; :func:`missing_key`
  and :func:`check_api_base` are the ConfigErrors (exit 6) that name the setting, never its value.
- **Webhooks**: :func:`webhook_input` (a secret is configured, the body is the raw bytes),
  :func:`header` (names case-insensitive, as HTTP says), :func:`event_json` (the verified body
  through ``untrusted.load_json``: UTF-8, depth-limited), :data:`EVENT_TYPE_RE`.
- **Answers**: :func:`unexpected_answer` (ProviderError, exit 5: an answer zigznote cannot read),
  :func:`answer_text` (outside text made storable, bounded), :func:`message_line` (a provider's
  error message as one line, before it enters ours), :func:`answer_money` (amounts only
  through ``money.from_provider_amount``; one the currency cannot hold is the provider's fault,
  exit 5, not the user's).

Nothing here imports a provider SDK or httpx.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self
from urllib.parse import urlsplit

from zigznote.billing.money import Money, from_provider_amount
from zigznote.billing.providers.base import PaymentProvider
from zigznote.errors import ConfigError, InvalidInput, ProviderError, ZigznoteError
from zigznote.untrusted import load_json, storable_text
from zigznote.wording import article

if TYPE_CHECKING:
    from zigznote.config import Settings

__all__ = [
    "EVENT_TYPE_RE", "KeyedProvider", "answer_money", "answer_text", "check_api_base", "event_json", "header",
    "message_line", "missing_key", "secret_list", "shown", "unexpected_answer", "webhook_input",
]  # fmt: skip

#: An event type as providers spell them: ``invoice.paid``, ``customer.subscription.updated``.
EVENT_TYPE_RE: Final = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+){1,5}")


# -- settings -------------------------------------------------------------------------------------


def secret_list(value: str | None) -> tuple[str, ...]:
    """A comma list of secrets (``"whsec_new, whsec_old"`` while one is being changed) as its
    non-empty items, in order."""
    return tuple(s.strip() for s in (value or "").split(",") if s.strip())


def missing_key(setting: str, *, hint: str, code: str) -> ConfigError:
    """The ConfigError (exit 6) for an unset ``setting`` (``"STRIPE_SECRET_KEY is not set"``)."""
    return ConfigError(f"{setting} is not set", hint=hint, code=code)


def check_api_base(api_base: str, *, setting: str, example: str, code: str, path: bool) -> str:
    """``api_base`` without a trailing slash. Raises ConfigError ``code`` naming ``setting`` for
    anything but an http(s) URL with a host and no query or fragment; ``path``: whether it may
    have a path (Flutterwave's base includes ``/v3``; the Stripe SDK appends ``/v1/…`` itself)."""
    value = api_base.strip().rstrip("/")
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or (parts.path and not path)
    ):
        raise ConfigError(f"{setting} must be an http(s) URL such as {example}, got {api_base!r}", code=code)
    return value


class KeyedProvider(PaymentProvider):
    """A provider configured by a secret key, webhook secret(s) and an API base URL.

    :meth:`from_settings` reads ``<name>_secret_key``, ``<name>_webhook_secret`` and
    ``<name>_api_base`` (``default_api_base`` when unset) from the settings, ``name`` being the
    registry name; ``__init__`` checks the key and base with the subclass's
    :meth:`check_secret_key` and :meth:`check_base` (ConfigError, exit 6, naming the setting).
    The key is kept for requests only: ``repr`` shows the base, never the key."""

    default_api_base: ClassVar[str]

    def __init__(
        self, secret_key: str | None, *, webhook_secrets: Sequence[str] = (), api_base: str | None = None
    ) -> None:
        self._secret_key = self.check_secret_key(secret_key)
        self._api_base = self.check_base(api_base or self.default_api_base)
        self._webhook_secrets = tuple(s for s in webhook_secrets if s)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_base={self._api_base!r})"

    @staticmethod
    @abstractmethod
    def check_secret_key(secret_key: str | None) -> str:
        """``secret_key`` when this provider's server API can take it; ConfigError otherwise."""

    @staticmethod
    @abstractmethod
    def check_base(api_base: str) -> str:
        """``api_base`` normalized (:func:`check_api_base`); ConfigError otherwise."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """From ``<NAME>_SECRET_KEY``, ``<NAME>_WEBHOOK_SECRET`` (a comma list while it is being
        changed) and ``<NAME>_API_BASE``. ConfigError naming the key when it is missing."""
        return cls(
            getattr(settings, f"{cls.name}_secret_key", None),
            webhook_secrets=secret_list(getattr(settings, f"{cls.name}_webhook_secret", None)),
            api_base=getattr(settings, f"{cls.name}_api_base", None) or cls.default_api_base,
        )


# -- inbound webhooks -----------------------------------------------------------------------------


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` (lower case), names compared case-insensitively."""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def webhook_input(payload: object, secrets: Iterable[str], *, setting: str, hint: str) -> tuple[bytes, list[str]]:
    """The raw body and the configured secrets, checked before any signature: ConfigError
    ``<provider>_webhook_secret_missing`` (exit 6) naming ``setting`` when no secret is set;
    InvalidInput ``invalid_event`` (2) when ``payload`` is not the bytes received."""
    configured = [s for s in secrets if s]
    if not configured:
        provider = setting.partition("_")[0].lower()
        raise missing_key(setting, hint=hint, code=f"{provider}_webhook_secret_missing")
    if not isinstance(payload, bytes | bytearray):
        raise InvalidInput("a webhook body must be the raw bytes received", code="invalid_event")
    return bytes(payload), configured


def event_json(raw: bytes, *, where: str) -> Any:
    """The verified body as JSON (``untrusted.load_json``); InvalidInput ``invalid_event`` (2)
    when it is not JSON zigznote reads."""
    try:
        return load_json(raw, where=where)
    except ZigznoteError as exc:
        raise InvalidInput(f"the signed body is not an event: {exc.message}", code="invalid_event") from None


# -- answers --------------------------------------------------------------------------------------


def shown(value: object, max_chars: int = 60) -> str:
    """A value from an answer, as text fit to quote in a message (storable, bounded)."""
    return storable_text(str(value), max_chars=max_chars) or ""


def unexpected_answer(title: str, what: str) -> ProviderError:
    """``"<title> answered <what>"`` (``"Stripe answered an unknown interval 'fortnight'"``),
    code ``<title>_unexpected_answer``: an answer zigznote cannot read (exit 5)."""
    return ProviderError(f"{title} answered {what}", code=f"{title.lower()}_unexpected_answer")


def message_line(value: object, max_chars: int) -> str:
    """A provider's message (an error's text) as one storable line of at most ``max_chars``
    characters, runs of white space folded (SDK messages span several lines); ``""`` when absent."""
    if not isinstance(value, str):
        return ""
    return " ".join((storable_text(value, max_chars=max_chars) or "").split())


def answer_text(value: object, max_chars: int) -> str | None:
    """Text from an answer made storable and at most ``max_chars`` long; ``None`` for anything
    that is not text, or is empty."""
    return storable_text(value, max_chars=max_chars) if isinstance(value, str) and value else None


def answer_money(value: object, currency: object, provider: str, title: str, what: str = "amount") -> Money:
    """An amount ``provider`` reported (``money.from_provider_amount``'s units and types) as Money.
    ProviderError (exit 5, :func:`unexpected_answer`) when there is no currency or the amount is
    not one the currency can hold (``1000.5`` UGX, Stripe ISK ``1045``)."""
    if not isinstance(currency, str):
        raise unexpected_answer(title, f"{article(what)} {what} without a currency")
    try:
        return from_provider_amount(value, currency, provider)
    except InvalidInput as exc:
        raise unexpected_answer(title, f"an unusable {what}: {exc.message}") from None
