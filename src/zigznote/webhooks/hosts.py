"""Host names as bytes on the wire: IDNA 2008 with UTS #46 mapping, as browsers encode them.

Python's built-in ``"idna"`` codec implements IDNA 2003, which *maps* some characters to
others: ``faß.de`` becomes ``fass.de``, a different registrant's domain, and signed deliveries
would go there. So every host that comes from a person is encoded here, with the ``idna``
package (UTS #46 non-transitional processing: ``ß`` stays ``ß`` → ``xn--fa-hia.de``), and stored
in that ASCII (A-label) form, so no later layer (yarl, aiohttp, the resolver) encodes it again.

A host that cannot be encoded unambiguously is refused instead of guessed at:

* code points IDNA 2008 disallows (symbols such as ``☃``), bad joiners, bidi violations;
* ``xn--`` labels that are not valid A-labels;
* labels mixing scripts (``paypal`` spelled with a Cyrillic ``a``, U+0430): they are spelled to look like
  another name. The rule is Unicode's "highly restrictive" profile (UTS #39): one script per
  label, plus the combinations Japanese, Chinese and Korean use with Han (and Latin).

Plain ASCII names keep their historical leniency (e.g. ``_`` in a label, which IDNA refuses
but DNS and many internal names use); they are only lower-cased and length-checked.
"""

from __future__ import annotations

import re
import socket
import unicodedata
from ipaddress import IPv4Address

import idna

from zigznote.errors import InvalidInput

__all__ = ["CODE_INVALID_HOST", "encode_host", "label_scripts", "parse_ipv4_literal"]

CODE_INVALID_HOST = "invalid_host"

_MAX_LABEL = 63
_MAX_NAME = 253

# Script sets a single label may use beyond one script (UTS #39 "highly restrictive").
_ALLOWED_MIXES: tuple[frozenset[str], ...] = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
# First words of Unicode character names that name a script under another word.
_SCRIPT_ALIASES = {"CJK": "HAN", "IDEOGRAPHIC": "HAN", "KANGXI": "HAN", "HALFWIDTH": "KATAKANA"}


def _script(char: str) -> str | None:
    """The script of a letter, from its Unicode name; None for digits, marks and the hyphen.

    Python's ``unicodedata`` has no Script property; the first word of a letter's name is that
    script for every script IDNA 2008 permits (``LATIN SMALL LETTER A``, ``CYRILLIC …``,
    ``CJK UNIFIED IDEOGRAPH-…``), which is all this check needs.
    """
    category = unicodedata.category(char)
    if not category.startswith("L"):
        return None  # digits (Nd), combining marks (M*) and "-" inherit the label's script
    name = unicodedata.name(char, "")
    if not name:
        return "UNKNOWN"
    first = name.split(" ", 1)[0].split("-", 1)[0]
    if first == "KATAKANA" and name.startswith("KATAKANA-HIRAGANA"):
        return None  # the prolonged sound mark is shared by both kana scripts
    return _SCRIPT_ALIASES.get(first, first)


def label_scripts(label: str) -> frozenset[str]:
    """The scripts of the letters in one (Unicode) label, e.g. ``{"LATIN", "CYRILLIC"}``."""
    return frozenset(s for s in map(_script, label) if s is not None)


def _refuse(host: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"host {host!r} cannot be encoded unambiguously: {why}",
        hint="spell the host as its owner registered it, or give its xn-- (A-label) form",
        code=CODE_INVALID_HOST,
    )


def _check_ascii(host: str) -> str:
    name = host.lower()
    labels = name.split(".")
    if any(not label for label in labels):
        raise _refuse(host, "it has an empty label")
    if any(len(label) > _MAX_LABEL for label in labels) or len(name) > _MAX_NAME:
        raise _refuse(host, f"labels are at most {_MAX_LABEL} and names {_MAX_NAME} characters")
    for label in labels:
        if label.startswith("xn--"):
            # An A-label must be one that IDNA 2008 would produce; anything else decodes to
            # something other than what it appears to be, or to nothing.
            try:
                unicode_label = idna.decode(label)
                if idna.encode(unicode_label, uts46=True).decode("ascii") != label:
                    raise idna.IDNAError("not in canonical form")
            except (idna.IDNAError, UnicodeError) as exc:
                raise _refuse(host, f"{label!r} is not a valid A-label ({exc})") from None
            _check_scripts(host, unicode_label)
    return name


def _check_scripts(host: str, label: str) -> None:
    scripts = label_scripts(label)
    if len(scripts) > 1 and not any(scripts <= mix for mix in _ALLOWED_MIXES):
        raise _refuse(host, f"the label {label!r} mixes scripts ({', '.join(sorted(scripts)).lower()})")


def encode_host(host: str) -> str:
    """The ASCII form of a DNS host name (without a trailing dot) to store and connect to.

    ``faß.de`` → ``xn--fa-hia.de``, ``Bücher.DE`` → ``xn--bcher-kva.de``, fullwidth ``ABC.com``
    → ``abc.com`` (UTS #46 mapping, non-transitional). IP literals are not host names: callers
    handle them first. Raises InvalidInput (code ``invalid_host``, exit 2) when the name
    cannot be encoded unambiguously (see the module docstring).
    """
    if not host:
        raise _refuse(host, "it is empty")
    if host.isascii():
        return _check_ascii(host)
    try:
        encoded = idna.encode(host, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise _refuse(host, str(exc)) from None
    for label in encoded.split("."):
        if label.startswith("xn--"):
            _check_scripts(host, idna.decode(label))
    return _check_ascii(encoded)


# A host whose labels are all numbers (decimal, octal with a leading 0, or 0x hex) is an IPv4
# address to a resolver, whatever it looks like: 2130706433, 0x7f.1, 017700000001 and 127.1 are
# all 127.0.0.1. Following WHATWG, a host whose *last* label is numeric is also treated as an
# IPv4 literal (and refused if it is not a valid one) rather than sent to DNS.
_NUMERIC_LABEL = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)")


def parse_ipv4_literal(host: str) -> IPv4Address | None:
    """Return the IPv4 address a numeric-looking host means, None if it is a name.

    Raises InvalidInput (code ``invalid_host``) for a numeric host that is no valid address
    (``999.1.1.1``): a resolver would not look it up as a name either.
    """
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if not labels or not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    try:
        # inet_aton is exactly what resolvers apply to numeric hosts, shorthand forms included.
        return IPv4Address(socket.inet_aton(".".join(labels)))
    except OSError:
        raise InvalidInput(
            f"host {host!r} looks like an IPv4 address but is not a valid one",
            code=CODE_INVALID_HOST,
        ) from None
