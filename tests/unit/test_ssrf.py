"""SSRF guard: every way to name an internal address is refused by default and accepted only
when its network is allow-listed; public https passes; malformed URLs are refused."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Network, IPv6Address, ip_network

import pytest

from zigznote.errors import InvalidInput
from zigznote.webhooks import ssrf

PUBLIC = "93.184.216.34"


def resolver(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    """A fake resolver; names not in the table fail like getaddrinfo does."""
    calls: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        if host not in table:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return table[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


FAKE_DNS = resolver(
    {
        "localhost": ["127.0.0.1", "::1"],
        "internal.example.com": ["10.1.2.3"],
        "example.com": [PUBLIC],
        "mixed.example.com": [PUBLIC, "192.168.1.10"],
        "v6.example.com": ["2606:2800:220:1:248:1893:25c8:1946"],
    }
)

# (url, the net that must be allow-listed to open it, the address reported)
INTERNAL = [
    ("http://127.0.0.1", "127.0.0.0/8", "127.0.0.1"),
    ("http://localhost", "127.0.0.0/8,::1/128", "127.0.0.1"),
    ("http://[::1]", "::1/128", "::1"),
    ("http://[::ffff:127.0.0.1]", "127.0.0.0/8", "127.0.0.1"),
    ("http://2130706433/", "127.0.0.0/8", "127.0.0.1"),
    ("http://0x7f.1/", "127.0.0.0/8", "127.0.0.1"),
    ("http://017700000001/", "127.0.0.0/8", "127.0.0.1"),
    ("http://127.1/", "127.0.0.0/8", "127.0.0.1"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.0.0/16", "169.254.169.254"),
    ("http://10.0.0.1", "10.0.0.0/8", "10.0.0.1"),
    ("http://internal.example.com/hook", "10.0.0.0/8", "10.1.2.3"),
]


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize(("url", "net", "addr"), INTERNAL)
def test_internal_targets_refused_by_default(scheme: str, url: str, net: str, addr: str) -> None:
    url = url.replace("http://", f"{scheme}://", 1)
    with pytest.raises(InvalidInput) as exc:
        ssrf.validate_webhook_url(url, allow_nets=None, resolve=FAKE_DNS)
    assert exc.value.code == "url_not_allowed"
    assert addr in exc.value.message
    # The way out (or, for the metadata address, the warning not to take it) names the setting.
    assert "ZIGZNOTE_WEBHOOK_ALLOW_NETS" in exc.value.message + (exc.value.hint or "")
    assert "\n" not in exc.value.message


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize(("url", "net", "addr"), INTERNAL)
def test_internal_targets_accepted_when_allow_listed(scheme: str, url: str, net: str, addr: str) -> None:
    url = url.replace("http://", f"{scheme}://", 1)
    # Allow-listing also permits plain http to that network, without allow_http.
    out = ssrf.validate_webhook_url(url, allow_nets=ssrf.parse_allow_nets(net), resolve=FAKE_DNS)
    assert out.startswith(f"{scheme}://")


@pytest.mark.parametrize(("url", "net", "addr"), INTERNAL)
def test_a_different_allow_listed_net_does_not_open_it(url: str, net: str, addr: str) -> None:
    with pytest.raises(InvalidInput, match="resolves to"):
        ssrf.validate_webhook_url(url, allow_nets="192.0.2.0/24", resolve=FAKE_DNS)


def test_exact_message_for_loopback() -> None:
    with pytest.raises(InvalidInput) as exc:
        ssrf.validate_webhook_url("http://127.0.0.1/")
    assert exc.value.message == (
        "webhook URL http://127.0.0.1/ resolves to 127.0.0.1, a loopback address; "
        "set ZIGZNOTE_WEBHOOK_ALLOW_NETS to allow it"
    )


def test_localhost_refused_with_real_resolver() -> None:
    with pytest.raises(InvalidInput, match="loopback"):
        ssrf.validate_webhook_url("https://localhost:8443/hook")


def test_every_resolved_address_is_checked() -> None:
    with pytest.raises(InvalidInput, match=r"192\.168\.1\.10, a private address"):
        ssrf.validate_webhook_url("https://mixed.example.com/", resolve=FAKE_DNS)
    # localhost also resolves to ::1, so opening only 127.0.0.0/8 is not enough.
    with pytest.raises(InvalidInput, match="::1"):
        ssrf.validate_webhook_url("http://localhost/", allow_nets="127.0.0.0/8", resolve=FAKE_DNS)


def test_public_https_accepted_and_normalised() -> None:
    dns = resolver({"example.com": [PUBLIC]})
    out = ssrf.validate_webhook_url("HTTPS://Example.COM:443/hooks/zz?x=1", resolve=dns)
    assert out == "https://example.com/hooks/zz?x=1"
    assert dns.calls == [("example.com", 443)]  # type: ignore[attr-defined]
    assert ssrf.validate_webhook_url("https://example.com", resolve=FAKE_DNS) == ("https://example.com/")
    assert ssrf.validate_webhook_url("https://example.com:8443/a", resolve=FAKE_DNS) == ("https://example.com:8443/a")
    assert ssrf.validate_webhook_url("https://v6.example.com/", resolve=FAKE_DNS)
    assert ssrf.validate_webhook_url(f"https://{PUBLIC}/") == f"https://{PUBLIC}/"


def test_public_http_refused_unless_allow_http() -> None:
    with pytest.raises(InvalidInput, match="must use https") as exc:
        ssrf.validate_webhook_url("http://example.com/hook", resolve=FAKE_DNS)
    assert exc.value.code == "url_not_allowed"
    out = ssrf.validate_webhook_url("http://example.com/hook", allow_http=True, resolve=FAKE_DNS)
    assert out == "http://example.com/hook"


def test_allow_http_does_not_open_internal_addresses() -> None:
    with pytest.raises(InvalidInput, match="loopback"):
        ssrf.validate_webhook_url("http://127.0.0.1:8080/", allow_http=True)


def test_numeric_hosts_are_normalised_to_dotted_quads() -> None:
    nets = "127.0.0.0/8"
    for url in ("http://2130706433/", "http://0x7f.1/", "http://017700000001/", "http://127.1/"):
        assert ssrf.validate_webhook_url(url, allow_nets=nets) == "http://127.0.0.1/"
    assert ssrf.validate_webhook_url("http://127.0.0.1:9000", allow_nets=nets) == ("http://127.0.0.1:9000/")


def test_numeric_hosts_never_reach_the_resolver() -> None:
    dns = resolver({})
    with pytest.raises(InvalidInput, match="loopback"):
        ssrf.validate_webhook_url("https://0x7f.1/", resolve=dns)
    assert dns.calls == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("url", ["https://256.1.1.1/", "https://1.2.3.4.5/", "https://foo.123/"])
def test_invalid_numeric_hosts_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="not a valid"):
        ssrf.validate_webhook_url(url, resolve=FAKE_DNS)


def test_unresolvable_name_refused_clearly() -> None:
    with pytest.raises(InvalidInput, match="does not resolve") as exc:
        ssrf.validate_webhook_url("https://nope.invalid/", resolve=FAKE_DNS)
    assert exc.value.code == "url_unresolvable"
    with pytest.raises(InvalidInput, match="does not resolve"):
        ssrf.validate_webhook_url("https://empty.example/", resolve=lambda h, p: [])


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("not a url", "not an absolute"),
        ("", "empty"),
        ("https://", "no host"),
        ("https:///path", "no host"),
        ("https:example.com", "not an absolute"),
        ("ftp://x", "scheme is not supported"),
        ("file:///etc/passwd", "scheme is not supported"),
        ("https://user:pw@example.com", "credentials"),
        ("https://user@example.com", "credentials"),
        ("https://example.com/#frag", "fragments"),
        ("https://example.com/a b", "whitespace"),
        ("https://example.com:99999/", "port"),
        ("https://example.com:0/", "port"),
        ("https://[not-v6]/", "IPv6"),
    ],
)
def test_malformed_urls_refused(url: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as exc:
        ssrf.validate_webhook_url(url, allow_http=True, resolve=FAKE_DNS)
    assert exc.value.code == "invalid_url"


# --- check_address --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "label"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "this network"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.1", "documentation"),
        ("203.0.113.1", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::127.0.0.1", "IPv4-compatible"),
        ("64:ff9b::7f00:1", "NAT64 address embedding 127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "embedding 169.254.169.254"),
        ("2002:7f00:1::1", "6to4 address embedding 127.0.0.1"),
        ("2002:c0a8:101::1", "6to4 address embedding 192.168.1.1"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ],
)
def test_check_address_refuses(ip: str, label: str) -> None:
    with pytest.raises(InvalidInput, match=label) as exc:
        ssrf.check_address(ip, [])
    assert exc.value.code == "url_not_allowed"
    assert ssrf.is_allowed(ip) is False


@pytest.mark.parametrize(
    "ip",
    [
        PUBLIC,
        "8.8.8.8",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",  # NAT64 of a public address
        "2002:808:808::1",  # 6to4 of a public address
        IPv6Address("2a00:1450:4001:81c::200e"),
    ],
)
def test_check_address_accepts_global_unicast(ip: str) -> None:
    ssrf.check_address(ip, [])
    assert ssrf.is_allowed(ip)


def test_check_address_allow_list_matches_mapped_form_too() -> None:
    nets = [IPv4Network("127.0.0.0/8")]
    ssrf.check_address("127.0.0.1", nets)
    ssrf.check_address("::ffff:127.0.0.1", nets)
    with pytest.raises(InvalidInput, match=r"10\.0\.0\.1 is a private address"):
        ssrf.check_address("10.0.0.1", nets)
    # A raw env-var string works as well.
    ssrf.check_address("fd00::5", "fd00::/8")


def test_check_address_rejects_non_address() -> None:
    with pytest.raises(InvalidInput, match="not an IP address"):
        ssrf.check_address("example.com", [])


# --- parse_allow_nets -----------------------------------------------------------------------


def test_parse_allow_nets() -> None:
    assert ssrf.parse_allow_nets(None) == []
    assert ssrf.parse_allow_nets("") == []
    assert ssrf.parse_allow_nets(" 127.0.0.0/8 , ::1/128,,10.0.0.0/8") == [
        ip_network("127.0.0.0/8"),
        ip_network("::1/128"),
        ip_network("10.0.0.0/8"),
    ]
    assert ssrf.parse_allow_nets(["127.0.0.1/8", "192.168.1.5", "127.0.0.0/8"]) == [
        ip_network("127.0.0.0/8"),
        ip_network("192.168.1.5/32"),
    ]


@pytest.mark.parametrize("bad", ["localhost", "10.0.0.0/33", "127.0.0.0/8,nope", "1.2.3"])
def test_parse_allow_nets_rejects_bad_cidr(bad: str) -> None:
    with pytest.raises(InvalidInput, match="not a valid network"):
        ssrf.parse_allow_nets(bad)
