"""SSRF guard for outbound webhook URLs.

A webhook URL is supplied by a customer, and the worker POSTs to it from inside our network. Left
unchecked that lets anyone make us talk to loopback services, the cloud metadata endpoint
(169.254.169.254) or private hosts. So by default a URL must be https and every address its host
resolves to must be globally routable. The check runs when a webhook is created and again at
connect time (the delivery engine's resolver calls :func:`check_address` for each address it is
about to connect to), which closes the DNS-rebinding gap between the two.

``ZIGZNOTE_WEBHOOK_ALLOW_NETS`` (parsed by :func:`parse_allow_nets`) opens specific networks for
development and tests; allow-listing a network also permits plain http to it, so a test can use
``http://127.0.0.1:PORT`` with ``ZIGZNOTE_WEBHOOK_ALLOW_NETS=127.0.0.0/8``.

This module is pure apart from the default resolver (``socket.getaddrinfo``), which callers and
tests can replace.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import urlsplit

from zigznote.errors import InvalidInput
from zigznote.webhooks.hosts import encode_host, parse_ipv4_literal

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
#: ``resolve(host, port) -> ["addr", ...]``: every address the host resolves to.
Resolver = Callable[[str, int], list[str]]
#: What :func:`check_address` and :func:`validate_webhook_url` accept as an allow-list: parsed
#: networks, or the raw ``ZIGZNOTE_WEBHOOK_ALLOW_NETS`` value.
AllowNets = Iterable[IPNetwork] | str | None

ALLOW_NETS_ENV = "ZIGZNOTE_WEBHOOK_ALLOW_NETS"
CODE_NOT_ALLOWED = "url_not_allowed"
CODE_INVALID_URL = "invalid_url"
CODE_UNRESOLVABLE = "url_unresolvable"

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Ranges a developer's own receiver plausibly lives in: only for these does a refusal suggest
# the allow-list. Link-local holds the cloud metadata service (169.254.169.254; AWS also answers
# on the unique-local fd00:ec2::254, hence the explicit set); the rest cannot be a receiver.
_DEV_REASONS = frozenset(
    {
        "a loopback address",
        "a private address",
        "a unique-local (private) address",
        "a carrier-grade NAT address (100.64.0.0/10)",
        "a site-local address",
    }
)
_METADATA_ADDRESSES = frozenset({IPv4Address("169.254.169.254"), IPv6Address("fd00:ec2::254")})


def _allowable(ip: IPAddress, reason: str) -> bool:
    """Whether allow-listing ``ip`` is sound advice (a development receiver could be there)."""
    return reason in _DEV_REASONS and _unmap(ip) not in _METADATA_ADDRESSES


def _refusal_hint(ip: IPAddress, reason: str) -> str:
    """What to do about a refused address, fitted to why it was refused."""
    inner = _unmap(ip)
    if _allowable(ip, reason):
        prefix = 32 if isinstance(inner, IPv4Address) else 128
        return f"for development and tests only, allow this address: {ALLOW_NETS_ENV}={inner}/{prefix}"
    if inner in _METADATA_ADDRESSES or reason == "a link-local address":
        what = (
            "this is the cloud metadata service's address"
            if inner in _METADATA_ADDRESSES
            else "link-local addresses include the cloud metadata service (169.254.169.254)"
        )
        return (
            f"{what}, which a webhook must never reach (do not add it to {ALLOW_NETS_ENV}); "
            "use the receiver's public https URL"
        )
    return (
        "a webhook needs a public unicast address: check the URL's host and its DNS records "
        f"({ALLOW_NETS_ENV} is for development receivers on loopback or private networks)"
    )


# Specific ranges first, so a refusal names the precise reason. The generic ipaddress
# properties (and finally ``is_global``) below catch anything not listed, including ranges a
# future Python adds; the list exists for the message and for ranges some Python 3.11 patch
# releases still call global (e.g. fec0::/10, the deprecated IPv4-compatible ::a.b.c.d).
_V4_RANGES: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), label)
    for net, label in (
        ("0.0.0.0/32", "an unspecified address"),
        ("0.0.0.0/8", "a 'this network' address (0.0.0.0/8)"),
        ("127.0.0.0/8", "a loopback address"),
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT address (100.64.0.0/10)"),
        ("169.254.0.0/16", "a link-local address"),
        ("192.0.0.0/24", "an IETF protocol assignment address (192.0.0.0/24)"),
        ("192.0.2.0/24", "a documentation address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("198.18.0.0/15", "a benchmarking address (198.18.0.0/15)"),
        ("192.88.99.0/24", "a 6to4 relay anycast address"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)
_V6_RANGES: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), label)
    for net, label in (
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("fc00::/7", "a unique-local (private) address"),
        ("ff00::/8", "a multicast address"),
        ("2001:db8::/32", "a documentation address"),
        ("2001:2::/48", "a benchmarking address"),
        ("100::/64", "a discard-only address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("2001::/32", "a Teredo tunnel address"),
        ("::/96", "an IPv4-compatible (deprecated) address"),
        ("::/8", "a reserved address"),
    )
)
_NAT64 = IPv6Network("64:ff9b::/96")


def parse_allow_nets(spec: str | Sequence[str] | None) -> list[IPNetwork]:
    """Parse ``ZIGZNOTE_WEBHOOK_ALLOW_NETS``: comma-separated CIDRs (a bare address means /32
    or /128). Host bits are tolerated (``127.0.0.1/8`` means ``127.0.0.0/8``) because that is
    what people type; anything unparseable is an InvalidInput naming the bad entry."""
    if spec is None:
        return []
    items = [spec] if isinstance(spec, str) else list(spec)
    nets: list[IPNetwork] = []
    for item in items:
        for part in str(item).split(","):
            text = part.strip()
            if not text:
                continue
            try:
                net = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise InvalidInput(
                    f"{ALLOW_NETS_ENV}: {text!r} is not a valid network in CIDR notation",
                    hint="use comma-separated CIDRs such as 127.0.0.0/8,::1/128",
                ) from None
            if net not in nets:
                nets.append(net)
    return nets


def _coerce_nets(allow_nets: AllowNets) -> list[IPNetwork]:
    if allow_nets is None or isinstance(allow_nets, str):
        return parse_allow_nets(allow_nets)
    return list(allow_nets)


def _to_address(ip: str | IPAddress) -> IPAddress:
    if isinstance(ip, IPv4Address | IPv6Address):
        return ip
    try:
        return ipaddress.ip_address(str(ip).strip())
    except ValueError:
        raise InvalidInput(f"{ip!r} is not an IP address", code=CODE_INVALID_URL) from None


def _unmap(ip: IPAddress) -> IPAddress:
    """``::ffff:a.b.c.d`` is a.b.c.d on a dual-stack socket, so judge it as that."""
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _display(ip: IPAddress) -> str:
    """How an address appears in messages: a mapped address also shows the IPv4 it means."""
    inner = _unmap(ip)
    return f"{ip} (IPv4 {inner})" if inner is not ip else str(ip)


def _in_nets(ip: IPAddress, nets: Iterable[IPNetwork]) -> bool:
    # ``IPv4Address in IPv6Network`` is simply False, so mixing families is safe.
    return any(ip in net for net in nets)


def blocked_reason(ip: str | IPAddress) -> str | None:
    """Return why ``ip`` must not be a webhook target (e.g. "a loopback address"), or None if it
    is a globally routable unicast address. The allow-list is not consulted here."""
    addr = _unmap(_to_address(ip))
    if isinstance(addr, IPv4Address):
        for net4, label in _V4_RANGES:
            if addr in net4:
                return label
        return None if addr.is_global and not addr.is_multicast else "a non-global address"

    # Transition formats carry an IPv4 address that a relay or gateway will actually reach.
    # Judge them by that address, so 64:ff9b::7f00:1 or 2002:7f00:1:: cannot smuggle loopback.
    if addr in _NAT64:
        inner = IPv4Address(int(addr) & 0xFFFFFFFF)
        inner_reason = blocked_reason(inner)
        # NAT64 of a public address is globally reachable; ipaddress calls it reserved (::/8),
        # so decide here instead of falling through to the generic checks.
        return f"a NAT64 address embedding {inner}, {inner_reason}" if inner_reason else None
    if addr.sixtofour is not None:
        inner_reason = blocked_reason(addr.sixtofour)
        if inner_reason:
            return f"a 6to4 address embedding {addr.sixtofour}, {inner_reason}"
    if addr.teredo is not None:
        for inner in addr.teredo:
            inner_reason = blocked_reason(inner)
            if inner_reason:
                return f"a Teredo address embedding {inner}, {inner_reason}"
    for net6, label in _V6_RANGES:
        if addr in net6:
            return label
    if addr.is_multicast:
        return "a multicast address"
    if addr.is_site_local:
        return "a site-local address"
    if addr.is_private:
        return "a private address"
    if addr.is_reserved:
        return "a reserved address"
    if not addr.is_global:
        return "a non-global address"
    return None


def is_allowed(ip: str | IPAddress, allow_nets: AllowNets = None) -> bool:
    """True if ``ip`` may be connected to: inside the allow-list, or globally routable."""
    addr = _to_address(ip)
    nets = _coerce_nets(allow_nets)
    if _in_nets(addr, nets) or _in_nets(_unmap(addr), nets):
        return True
    return blocked_reason(addr) is None


def check_address(ip: str | IPAddress, allow_nets: AllowNets = None) -> None:
    """Raise InvalidInput (code ``url_not_allowed``) unless ``ip`` is a permitted target.

    Called for every resolved address, both when a webhook is saved and at connect time.
    """
    addr = _to_address(ip)
    nets = _coerce_nets(allow_nets)
    if _in_nets(addr, nets) or _in_nets(_unmap(addr), nets):
        return
    reason = blocked_reason(addr)
    if reason is not None:
        raise InvalidInput(f"{_display(addr)} is {reason}", hint=_refusal_hint(addr, reason), code=CODE_NOT_ALLOWED)


def default_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, via the system resolver (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        # IPv6 link-local results may carry a zone ("fe80::1%eth0"); the zone is not part of
        # the address we judge.
        addr = str(sockaddr[0]).split("%", 1)[0]
        if addr not in out:
            out.append(addr)
    return out


_BAD_URL_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")


def _invalid(url: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"webhook URL {url!r} is invalid: {why}",
        hint="use an absolute URL such as https://example.com/hooks/zigznote",
        code=CODE_INVALID_URL,
    )


def validate_webhook_url(
    url: str,
    *,
    allow_nets: AllowNets = None,
    allow_http: bool = False,
    resolve: Resolver | None = None,
) -> str:
    """Check a webhook URL against the SSRF rules and return it normalised.

    Normalisation: lower-case scheme and host, internationalised host names in their ASCII
    (A-label) form per IDNA 2008 / UTS #46 (see ``hosts.encode_host``; a host that cannot be
    encoded unambiguously is refused), numeric IPv4 shorthands rewritten as dotted quads,
    default port dropped, empty path becomes ``/``. Every address the host resolves to
    must pass :func:`check_address`. ``http`` is allowed when ``allow_http`` is set or when
    every resolved address is inside ``allow_nets``.
    """
    if not isinstance(url, str):
        raise _invalid(repr(url), "not a string")
    text = url.strip()
    if not text:
        raise _invalid(url, "it is empty")
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise _invalid(text, str(exc)) from None
    scheme = parts.scheme.lower()
    if not scheme or not text.lower().startswith(scheme + "://"):
        raise _invalid(text, "it is not an absolute http(s) URL")
    if scheme not in _DEFAULT_PORTS:
        raise _invalid(text, f"the {scheme}:// scheme is not supported; use https")
    # urlsplit silently drops tabs and newlines; a URL that needed them is not one we store.
    if _BAD_URL_CHARS.search(text):
        raise _invalid(text, "it contains whitespace or control characters")
    if "@" in parts.netloc:
        raise _invalid(text, "credentials (user:password@) are not allowed in the URL")
    if "#" in text:
        raise _invalid(text, "fragments (#...) are not allowed")
    raw_host = parts.hostname or ""
    if not raw_host:
        raise _invalid(text, "it has no host")
    try:
        port = parts.port
    except ValueError:
        raise _invalid(text, "the port is not a number between 1 and 65535") from None
    if port == 0:
        raise _invalid(text, "the port is not a number between 1 and 65535")
    effective_port = port if port is not None else _DEFAULT_PORTS[scheme]

    # Work out the host as the connect call will see it, and the addresses it will reach.
    literal: IPAddress | None
    if parts.netloc.startswith("["):
        try:
            literal = IPv6Address(raw_host)
        except ValueError:
            raise _invalid(text, f"[{raw_host}] is not a valid IPv6 address") from None
        host_text = f"[{literal.compressed}]"
    else:
        try:
            literal = parse_ipv4_literal(raw_host)
        except InvalidInput as exc:
            raise _invalid(text, exc.message) from None
        if literal is not None:
            host_text = str(literal)
        else:
            name = raw_host[:-1] if raw_host.endswith(".") else raw_host
            if not name:
                raise _invalid(text, "it has no host")
            try:
                # IDNA 2008 / UTS #46 (not Python's IDNA 2003 codec, which turns faß.de into
                # fass.de): the stored URL is already ASCII, so nothing downstream re-encodes it.
                host_text = encode_host(name)
            except InvalidInput as exc:
                raise _invalid(text, exc.message) from None
    netloc = host_text if port is None or port == _DEFAULT_PORTS[scheme] else f"{host_text}:{port}"
    normalised = f"{scheme}://{netloc}{parts.path or '/'}"
    if parts.query:
        normalised += f"?{parts.query}"

    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        resolver = resolve or default_resolve
        try:
            resolved = resolver(host_text, effective_port)
        except (OSError, UnicodeError) as exc:
            raise InvalidInput(
                f"webhook URL {normalised}: host {host_text} does not resolve ({exc})",
                hint="check the host name; the URL must be reachable when the webhook is saved",
                code=CODE_UNRESOLVABLE,
            ) from None
        if not resolved:
            raise InvalidInput(
                f"webhook URL {normalised}: host {host_text} does not resolve to any address",
                code=CODE_UNRESOLVABLE,
            )
        addresses = [_to_address(a.split("%", 1)[0]) for a in resolved]

    nets = _coerce_nets(allow_nets)
    for addr in addresses:
        if _in_nets(addr, nets) or _in_nets(_unmap(addr), nets):
            continue
        reason = blocked_reason(addr)
        if reason is not None:
            advice = f"; set {ALLOW_NETS_ENV} to allow it" if _allowable(addr, reason) else ""
            raise InvalidInput(
                f"webhook URL {normalised} resolves to {_display(addr)}, {reason}{advice}",
                hint=_refusal_hint(addr, reason),
                code=CODE_NOT_ALLOWED,
            )

    if scheme == "http" and not allow_http:
        all_listed = all(_in_nets(a, nets) or _in_nets(_unmap(a), nets) for a in addresses)
        if not all_listed:
            raise InvalidInput(
                f"webhook URL {normalised} must use https; plain http is allowed only to networks in {ALLOW_NETS_ENV}",
                hint=f"use https://{netloc}{parts.path or '/'}",
                code=CODE_NOT_ALLOWED,
            )
    return normalised
