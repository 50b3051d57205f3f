"""The billing settings: secrets masked by `config show`, refused values never echoed, the
normalised webhook-secret list the Stripe provider reads."""

from __future__ import annotations

import pytest

from tests.conftest import Cli
from zigznote.config import load_settings
from zigznote.errors import ConfigError


def test_config_show_masks_the_stripe_secrets(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_51Zz9ExampleOnly")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_one, whsec_two")
    monkeypatch.setenv("STRIPE_PUBLISHABLE_KEY", "pk_test_51Zz9Example")
    monkeypatch.setenv("ZIGZNOTE_PLANS_FILE", "/etc/zigznote/plans.toml")
    ran = cli("--json", "config", "show")
    assert ran.exit_code == 0, ran.stderr
    settings = ran.json["settings"]
    assert {k: v for k, v in settings.items() if k.startswith(("stripe_", "billing_", "plans_"))} == {
        "stripe_secret_key": {"value": "****", "source": "env:STRIPE_SECRET_KEY"},
        "stripe_publishable_key": {"value": "pk_test_51Zz9Example", "source": "env:STRIPE_PUBLISHABLE_KEY"},
        "stripe_webhook_secret": {"value": "****", "source": "env:STRIPE_WEBHOOK_SECRET"},
        "stripe_api_base": {"value": "https://api.stripe.com", "source": "default"},
        "billing_provider": {"value": "stripe", "source": "default"},
        "plans_file": {"value": "/etc/zigznote/plans.toml", "source": "env:ZIGZNOTE_PLANS_FILE"},
        "billing_success_url": {"value": None, "source": "default"},
        "billing_cancel_url": {"value": None, "source": "default"},
    }
    assert "ExampleOnly" not in ran.stdout + ran.stderr and "whsec_one" not in ran.stdout + ran.stderr


def test_settings_are_parsed_and_refusals_do_not_echo_secrets(env: dict[str, str]) -> None:
    settings = load_settings(env={**env, "STRIPE_WEBHOOK_SECRET": " whsec_a ,whsec_b,whsec_a ",
                                  "ZIGZNOTE_BILLING_PROVIDER": " Stripe "})  # fmt: skip
    assert (settings.stripe_webhook_secret, settings.billing_provider) == ("whsec_a,whsec_b", "stripe")
    for name, value in (("STRIPE_WEBHOOK_SECRET", "whsec top secret"), ("STRIPE_SECRET_KEY", "sk_live_é")):
        with pytest.raises(ConfigError) as caught:
            load_settings(env={**env, name: value})
        assert value not in caught.value.message and caught.value.message.startswith(f"{name}: ")
    for name, value in (("STRIPE_API_BASE", "ftp://x"), ("ZIGZNOTE_BILLING_PROVIDER", "no such!"),
                        ("ZIGZNOTE_BILLING_SUCCESS_URL", "example.com/ok")):  # fmt: skip
        with pytest.raises(ConfigError):
            load_settings(env={**env, name: value})
