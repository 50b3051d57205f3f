"""The billing settings: payment providers' keys and API bases, the default provider, the plan
catalog and the checkout return pages.

Split out of :mod:`zigznote.config_fields`, which lists them in ``FIELDS`` through
:func:`billing_fields`. That function imports :class:`~zigznote.config_fields.Field` and the
shared parsers when it is called (``config_fields`` calls it once they are defined), so this
module imports nothing of ``config_fields`` at import time and the two never form a cycle.
Light on imports, like ``config.py``: the CLI builds the settings on every invocation.

Names are the seed's (DESIGN.md, Configuration): ``STRIPE_*`` and ``FLUTTERWAVE_*``; each API
base is a setting so operators and tests can point zigznote at stripe-mock, a sandbox, a proxy
or a local fake.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from zigznote.errors import InvalidInput

if TYPE_CHECKING:
    from zigznote.config_fields import Field

__all__ = ["FLUTTERWAVE_DEFAULT_API_BASE", "STRIPE_DEFAULT_API_BASE", "billing_fields"]

#: Stripe's API host; requests go to ``{base}/v1/…``.
STRIPE_DEFAULT_API_BASE: Final = "https://api.stripe.com"
#: Flutterwave's v3 API, version path included (kept equal to
#: ``billing.providers.flutterwave.client.DEFAULT_API_BASE`` by a test; this module stays light).
FLUTTERWAVE_DEFAULT_API_BASE: Final = "https://api.flutterwave.com/v3"

_SECRET_RE: Final = re.compile(r"[\x21-\x7e]{1,500}")
_PROVIDER_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")


def _secrets(text: str, what: str) -> str:
    """One secret, or a comma list of them during a rotation, normalised without spaces; each
    printable ASCII. The error never echoes the value: it is a secret."""
    secrets = [s.strip() for s in text.split(",") if s.strip()]
    if not secrets or any(not _SECRET_RE.fullmatch(s) for s in secrets):
        raise InvalidInput(f"expected {what} or a comma list of them, printable ASCII")
    return ",".join(dict.fromkeys(secrets))


def _webhook_secrets(text: str) -> str:
    """Stripe webhook signing secret(s): one ``whsec_…``, or a comma list while rotating."""
    return _secrets(text, "one signing secret (whsec_…)")


def _secret_hashes(text: str) -> str:
    """Flutterwave's webhook secret hash (Dashboard → Settings → Webhooks), or a comma list of
    them while changing it (both are accepted until the old one is removed)."""
    return _secrets(text, "the secret hash set in the Flutterwave dashboard")


def _provider_name(text: str) -> str:
    """A payment provider's registry name (``stripe``); whether it exists is checked on use."""
    value = text.strip().lower()
    if not _PROVIDER_RE.fullmatch(value):
        raise InvalidInput(f"expected a provider name such as stripe, got {text!r}")
    return value


def billing_fields() -> tuple[Field, ...]:
    """The billing settings, in the order ``config show`` lists them."""
    from zigznote.config_fields import Field, _credential, _url

    return (
        Field(
            "stripe_secret_key",
            ("STRIPE_SECRET_KEY",),
            lambda env: None,
            _credential,
            secret=True,
            help="Stripe secret API key (sk_live_… / sk_test_…, or a restricted rk_… key)",
        ),
        Field(
            "stripe_publishable_key",
            ("STRIPE_PUBLISHABLE_KEY",),
            lambda env: None,
            _credential,
            help="Stripe publishable key (pk_…) for the browser side; no zigznote command sends it",
            example="pk_test_51H…",
        ),
        Field(
            "stripe_webhook_secret",
            ("STRIPE_WEBHOOK_SECRET",),
            lambda env: None,
            _webhook_secrets,
            secret=True,
            help="Stripe webhook signing secret(s) (whsec_…); a comma list while rotating",
        ),
        Field(
            "stripe_api_base",
            ("STRIPE_API_BASE",),
            lambda env: STRIPE_DEFAULT_API_BASE,
            _url,
            help="Stripe API base (stripe-mock, a proxy or a fake); requests go to {base}/v1/…",
            example=STRIPE_DEFAULT_API_BASE,
        ),
        Field(
            "flutterwave_public_key",
            ("FLUTTERWAVE_PUBLIC_KEY",),
            lambda env: None,
            _credential,
            help="Flutterwave public key (FLWPUBK-… / FLWPUBK_TEST-…) for the browser side; no command sends it",
            example="FLWPUBK_TEST-…-X",
        ),
        Field(
            "flutterwave_secret_key",
            ("FLUTTERWAVE_SECRET_KEY",),
            lambda env: None,
            _credential,
            secret=True,
            help="Flutterwave v3 secret key (FLWSECK-… / FLWSECK_TEST-…), sent as a Bearer token",
        ),
        Field(
            "flutterwave_webhook_secret",
            ("FLUTTERWAVE_WEBHOOK_SECRET",),
            lambda env: None,
            _secret_hashes,
            secret=True,
            help="the webhook secret hash set in the Flutterwave dashboard (verif-hash, flutterwave-signature)",
        ),
        Field(
            "flutterwave_api_base",
            ("FLUTTERWAVE_API_BASE",),
            lambda env: FLUTTERWAVE_DEFAULT_API_BASE,
            _url,
            help="Flutterwave v3 API base, /v3 included (a sandbox, a proxy or a fake)",
            example=FLUTTERWAVE_DEFAULT_API_BASE,
        ),
        Field(
            "billing_provider",
            ("ZIGZNOTE_BILLING_PROVIDER",),
            lambda env: "stripe",
            _provider_name,
            help="payment provider `billing` commands use unless --provider says otherwise",
            example="stripe",
        ),
        Field(
            "plans_file",
            ("ZIGZNOTE_PLANS_FILE",),
            lambda env: None,
            help="the plan catalog (plans.toml) `billing plans` and `billing checkout` read",
            example="/etc/zigznote/plans.toml",
        ),
        Field(
            "billing_success_url",
            ("ZIGZNOTE_BILLING_SUCCESS_URL",),
            lambda env: None,
            _url,
            help="where a hosted checkout sends the customer after paying (`billing checkout --success-url`)",
            example="https://app.example.com/billing/done",
        ),
        Field(
            "billing_cancel_url",
            ("ZIGZNOTE_BILLING_CANCEL_URL",),
            lambda env: None,
            _url,
            help="where a hosted checkout sends the customer who turns back (`billing checkout --cancel-url`)",
            example="https://app.example.com/billing",
        ),
    )
