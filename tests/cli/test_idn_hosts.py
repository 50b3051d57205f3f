"""Webhook URLs with internationalised hosts: stored in the A-label form IDNA 2008 gives, never
rewritten to another domain; hosts that cannot be encoded unambiguously refused, store unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Cli
from tests.support.snapshot import rows
from zigznote.webhooks import ssrf

PUBLIC = "93.184.215.14"


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A resolver where every name is one public address (tests run offline); what was asked."""
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return [PUBLIC]

    monkeypatch.setattr(ssrf, "default_resolve", resolve)
    return asked


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://faß.de/hook", "https://xn--fa-hia.de/hook"),
        ("https://FAß.DE./hook", "https://xn--fa-hia.de/hook"),
        ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
        ("https://xn--fa-hia.de/hook", "https://xn--fa-hia.de/hook"),
    ],
)
def test_create_stores_the_a_label(cli: Cli, org: dict[str, Any], dns: list[str], url: str, stored: str) -> None:
    created = cli.ok("--org", "acme", "webhooks", "create", "--url", url, "--events", "*", "--name", "idn")
    assert created["url"] == stored
    assert dns == [stored.split("/")[2]]  # resolved, and later connected to, as the A-label
    [listed] = cli.ok("--org", "acme", "webhooks", "list")
    assert listed["url"] == stored
    human = cli("--org", "acme", "webhooks", "show", "idn")
    assert stored in human.stdout


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://☃.net/hook", "U+2603"),
        ("https://xn--n3h.net/hook", "not a valid A-label"),
        ("https://p\u0430ypal.com/hook", "mixes scripts (cyrillic, latin)"),
        ("https://-bücher.de/hook", "hyphen"),
    ],
)
def test_ambiguous_hosts_are_refused(cli: Cli, org: dict[str, Any], dns: list[str], url: str, why: str) -> None:
    before = rows(cli.db_url)
    err = cli.fails(2, "--org", "acme", "webhooks", "create", "--url", url, "--events", "*")
    assert err["code"] == "invalid_url"
    assert "cannot be encoded unambiguously" in err["message"] and why in err["message"]
    assert dns == []
    assert rows(cli.db_url) == before


def test_update_to_an_idn_url(cli: Cli, org: dict[str, Any], dns: list[str]) -> None:
    cli.ok("--org", "acme", "webhooks", "create", "--url", f"https://{PUBLIC}/", "--events", "*", "--name", "w")
    updated = cli.ok("--org", "acme", "webhooks", "update", "w", "--url", "https://faß.de/new")
    assert updated["url"] == "https://xn--fa-hia.de/new"
    before = rows(cli.db_url)
    cli.fails(2, "--org", "acme", "webhooks", "update", "w", "--url", "https://☃.net/")
    assert rows(cli.db_url) == before
