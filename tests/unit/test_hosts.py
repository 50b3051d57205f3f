"""Host names: IDNA 2008 / UTS #46 as browsers encode them, never Python's IDNA 2003 codec; and
SSRF refusal hints that fit the refused address."""

from __future__ import annotations

import pytest
from yarl import URL

from zigznote.errors import InvalidInput
from zigznote.webhooks import ssrf
from zigznote.webhooks.hosts import encode_host, label_scripts, parse_ipv4_literal

PUBLIC = "93.184.216.34"


def public_dns(host: str, port: int) -> list[str]:
    """Every name resolves to one public address; records what was asked."""
    asked.append(host)
    return [PUBLIC]


asked: list[str] = []


@pytest.mark.parametrize(
    ("host", "encoded"),
    [
        ("faß.de", "xn--fa-hia.de"),  # IDNA 2003 would say fass.de: another registrant
        ("Faß.DE", "xn--fa-hia.de"),  # upper case maps down, ß stays
        ("FASS.de", "fass.de"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("XN--FA-HIA.de", "xn--fa-hia.de"),  # an A-label as given, lower-cased
        ("\uff21\uff22\uff23.com", "abc.com"),  # fullwidth letters map to ASCII (UTS #46)
        ("日本語.jp", "xn--wgv71a119e.jp"),
        ("ドメイン名例.jp", "xn--eckwd4c7cu47r2wf.jp"),  # Katakana + Han: one Japanese label
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
        ("ελληνικά.gr", "xn--hxargifdar.gr"),
        ("exa_mple.com", "exa_mple.com"),  # plain ASCII keeps its leniency
    ],
)
def test_encode_host(host: str, encoded: str) -> None:
    assert encode_host(host) == encoded


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("☃.net", "U+2603"),  # a symbol: disallowed in IDNA 2008
        ("xn--n3h.net", "not a valid A-label"),  # the same snowman as an A-label
        ("xn--zz.de", "not a valid A-label"),
        ("p\u0430ypal.com", "mixes scripts (cyrillic, latin)"),  # Cyrillic a among Latin
        ("xn--pypal-4ve.com", "mixes scripts (cyrillic, latin)"),  # the same, pre-encoded
        ("\u03bfpenai.com", "mixes scripts (greek, latin)"),  # Greek omicron
        ("fa\u00df\u200d.de", "U+200D"),  # a joiner outside its permitted context
        ("\u0661\u0662\u0663.com", "directionality"),  # a bidi violation
        ("a..b", "empty label"),
        ("-bücher.de", "hyphen"),
    ],
)
def test_hosts_that_cannot_be_encoded_unambiguously(host: str, why: str) -> None:
    with pytest.raises(InvalidInput, match="cannot be encoded unambiguously") as exc:
        encode_host(host)
    assert why in exc.value.message
    assert exc.value.code == "invalid_host"
    assert exc.value.exit_code == 2


def test_label_scripts() -> None:
    assert label_scripts("p\u0430ypal") == {"LATIN", "CYRILLIC"}
    assert label_scripts("bücher-2") == {"LATIN"}
    assert label_scripts("ドメイン名例") == {"KATAKANA", "HAN"}


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://faß.de/hook", "https://xn--fa-hia.de/hook"),
        ("https://Faß.DE./hook", "https://xn--fa-hia.de/hook"),  # trailing dot dropped
        ("https://bücher.de:8443/x?y=1", "https://xn--bcher-kva.de:8443/x?y=1"),
    ],
)
def test_validated_urls_store_the_a_label(url: str, stored: str) -> None:
    asked.clear()
    assert ssrf.validate_webhook_url(url, resolve=public_dns) == stored
    # the resolver is asked for the A-label, which is what the stored URL connects to
    a_label = stored.split("/")[2].split(":")[0]
    assert asked == [a_label]
    # yarl (under aiohttp, in the sender) connects to an A-label host as it is: no re-encoding
    assert URL(stored).raw_host == a_label
    assert str(URL(stored)) == stored


@pytest.mark.parametrize("url", ["https://☃.net/", "https://p\u0430ypal.com/", "https://xn--zz.de/"])
def test_validate_refuses_ambiguous_hosts_before_resolving(url: str) -> None:
    asked.clear()
    with pytest.raises(InvalidInput, match="cannot be encoded unambiguously") as exc:
        ssrf.validate_webhook_url(url, resolve=public_dns)
    assert exc.value.code == "invalid_url"
    assert asked == []


def test_invalid_numeric_host() -> None:
    with pytest.raises(InvalidInput, match=r"'999\.1\.1\.1' looks like an IPv4 address but is not a valid one"):
        parse_ipv4_literal("999.1.1.1")
    with pytest.raises(InvalidInput, match="looks like an IPv4 address") as exc:
        ssrf.validate_webhook_url("https://999.1.1.1/")
    assert exc.value.code == "invalid_url"


# --- hints fit the refused address ---------------------------------------------------------


@pytest.mark.parametrize("addr", ["169.254.169.254", "fd00:ec2::254", "169.254.10.1", "fe80::1"])
def test_metadata_and_link_local_hints_never_suggest_allowing(addr: str) -> None:
    url = f"https://[{addr}]/" if ":" in addr else f"https://{addr}/"
    with pytest.raises(InvalidInput, match="resolves to") as exc:
        ssrf.validate_webhook_url(url)
    assert "to allow it" not in exc.value.message
    assert exc.value.hint is not None
    assert "metadata" in exc.value.hint and "must never" in exc.value.hint
    assert "127.0.0.0/8" not in exc.value.hint and "=" not in exc.value.hint


@pytest.mark.parametrize(
    ("addr", "net"),
    [("127.0.0.1", "127.0.0.1/32"), ("10.1.2.3", "10.1.2.3/32"), ("::1", "::1/128"), ("fd12::5", "fd12::5/128")],
)
def test_development_addresses_hint_allows_just_that_address(addr: str, net: str) -> None:
    url = f"http://[{addr}]:8080/" if ":" in addr else f"http://{addr}:8080/"
    with pytest.raises(InvalidInput, match="to allow it") as exc:
        ssrf.validate_webhook_url(url)
    assert exc.value.hint == f"for development and tests only, allow this address: ZIGZNOTE_WEBHOOK_ALLOW_NETS={net}"
    # and the hint works: that allow-list opens exactly that address
    assert ssrf.validate_webhook_url(url, allow_nets=net).startswith("http://")


@pytest.mark.parametrize("addr", ["0.0.0.0", "224.0.0.1", "192.0.2.7", "255.255.255.255"])
def test_unusable_addresses_hint_to_check_the_host(addr: str) -> None:
    with pytest.raises(InvalidInput, match="resolves to") as exc:
        ssrf.validate_webhook_url(f"https://{addr}/")
    assert "to allow it" not in exc.value.message
    assert (exc.value.hint or "").startswith("a webhook needs a public unicast address")


def test_connect_time_check_has_the_same_hints() -> None:
    with pytest.raises(InvalidInput, match="link-local") as exc:
        ssrf.check_address("169.254.169.254")
    assert "must never" in (exc.value.hint or "")
    with pytest.raises(InvalidInput, match="loopback") as exc:
        ssrf.check_address("127.0.0.1")
    assert (exc.value.hint or "").endswith("ZIGZNOTE_WEBHOOK_ALLOW_NETS=127.0.0.1/32")
