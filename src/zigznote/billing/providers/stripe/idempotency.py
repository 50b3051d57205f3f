"""Idempotency keys from zigznote's own IDs, and requests frozen at their first try.

Stripe (https://docs.stripe.com/api/idempotent_requests, https://docs.stripe.com/idempotency):
the first response to a key is saved and replayed for every retry with that key; "the
idempotency layer compares incoming parameters to those of the original request and errors if
they're not the same"; keys are up to 255 characters; keys may be pruned "after they're at least
24 hours old", after which the same key creates anew.

How a caller uses this (the billing store keeps one pending-operation row per create):

1. Before calling the provider, derive the key with :func:`idempotency_key` from the operation
   and the pending operation's own ID (``idempotency_key("create_customer", "bop_01J…")``), wrap
   the neutral request with :meth:`IdempotentRequest.of` and store ``to_json()`` as the row's
   ``request_params`` *in the same transaction that creates the row*.
2. Call ``provider.create_customer(req.rebuild(CustomerInput), idempotency_key=req.key)``.
3. On a ProviderError (lost response, timeout, 5xx), leave the row pending. A retry loads
   ``IdempotentRequest.from_json(row.request_params)`` and sends exactly the same request with
   the same key, never one rebuilt from current data; the Stripe provider turns a request into
   form parameters with pure functions (:mod:`.params`), so equal requests send equal bodies.
4. On success, complete the row with the object's ID. A definitive refusal (InvalidInput,
   Conflict: a decline is saved by Stripe too) ends the operation; a new attempt is a new row,
   hence a new key.
5. Retry within 24 hours. An older pending row must first be checked at Stripe (by the ID the
   result would carry in metadata, or by hand), because its key may be gone.

:class:`IdempotentRequest` is provider-neutral on purpose (it holds the neutral request of
:mod:`zigznote.billing.types`), and this module imports nothing from the Stripe SDK.
"""

from __future__ import annotations

import hashlib
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from enum import Enum
from typing import Any, Final, TypeVar

from zigznote.billing.money import Money
from zigznote.errors import InvalidInput

__all__ = ["MAX_KEY_LENGTH", "IdempotentRequest", "idempotency_key", "request_from_params", "request_to_params"]

#: Stripe's limit on an ``Idempotency-Key``.
MAX_KEY_LENGTH: Final = 255
_PREFIX: Final = "zz"
_PART_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_OPERATION_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
_KEY_RE: Final = re.compile(r"[\x21-\x7e]{1,255}")

R = TypeVar("R")


def idempotency_key(operation: str, *ids: str) -> str:
    """The key for ``operation`` on zigznote's ``ids``: ``zz:<operation>:<id>:<id>…``.

    ``operation``: lower-case words (``create_customer``, ``create_price``); ``ids``: zigznote's
    own IDs (``org_…``, ``bop_…``) or other stable tokens (a plan slug, a catalog fingerprint).
    Deterministic, so a retry derives the same key. A key longer than 255 characters becomes
    ``zz:<operation>:sha256:<hex of the parts>``. Raises InvalidInput for an empty or
    malformed operation or ID (a bug in the caller: IDs are ours)."""
    if not _OPERATION_RE.fullmatch(operation):
        raise InvalidInput(f"invalid idempotency operation {operation!r}", code="invalid_idempotency_key")
    if not ids:
        raise InvalidInput("an idempotency key needs at least one of zigznote's IDs", code="invalid_idempotency_key")
    for part in ids:
        if not isinstance(part, str) or not _PART_RE.fullmatch(part):
            raise InvalidInput(f"invalid idempotency key part {part!r}", code="invalid_idempotency_key")
    key = ":".join((_PREFIX, operation, *ids))
    if len(key) > MAX_KEY_LENGTH:
        digest = hashlib.sha256("\x00".join(ids).encode()).hexdigest()
        key = f"{_PREFIX}:{operation}:sha256:{digest}"
    return key


# -- neutral requests <-> JSON ----------------------------------------------------------------


def request_to_params(value: Any) -> Any:
    """A neutral request (a dataclass of :mod:`zigznote.billing.types`) as plain JSON values.

    Money becomes ``{"amount": 2900, "currency": "USD"}``, enums their value, tuples and lists
    lists, mappings dicts with string keys; ``None``, ``str``, ``int`` and ``bool`` stay.
    Floats are refused (money is never a float). Raises InvalidInput for anything else."""
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, Money):
        return {"amount": value.amount, "currency": value.currency}
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: request_to_params(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise InvalidInput("request parameters need string keys", code="invalid_request_params")
        return {k: request_to_params(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [request_to_params(v) for v in value]
    raise InvalidInput(f"cannot freeze a {type(value).__name__} in request parameters", code="invalid_request_params")


def _from_json(hint: Any, value: Any) -> Any:
    """``value`` (plain JSON) as the type ``hint`` of a request field."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _from_json(options[0], value) if len(options) == 1 else value
    if value is None:
        return None
    if hint is Money:
        return Money(value["amount"], value["currency"])
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if isinstance(hint, type) and is_dataclass(hint):
        return request_from_params(hint, value)
    if origin is tuple:
        (item, *_rest) = typing.get_args(hint) or (Any,)
        return tuple(_from_json(item, v) for v in value)
    if origin in (Mapping, dict, typing.Mapping) or hint in (Mapping, dict):
        return dict(value)
    return value


def request_from_params(cls: type[R], params: Mapping[str, Any]) -> R:
    """The neutral request ``cls`` rebuilt from :func:`request_to_params`' output, exactly.
    Raises InvalidInput when ``params`` do not fit ``cls`` (unknown or missing fields)."""
    if not (isinstance(cls, type) and is_dataclass(cls)):
        raise InvalidInput(f"{cls!r} is not a request type", code="invalid_request_params")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise InvalidInput(f"{cls.__name__} has no field(s) {', '.join(unknown)}", code="invalid_request_params")
    try:
        values = {name: _from_json(hints[name], value) for name, value in params.items()}
        return cls(**values)
    except (TypeError, KeyError, ValueError) as exc:
        raise InvalidInput(
            f"stored parameters do not make a {cls.__name__}: {exc}", code="invalid_request_params"
        ) from None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return types.MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class IdempotentRequest:
    """An idempotency key and the parameters first sent with it: frozen, JSON both ways.

    ``key``: the ``Idempotency-Key`` (printable ASCII, ≤ 255). ``params``: JSON values only
    (objects with string keys, arrays, strings, integers, booleans, null; no floats), held
    read-only. ``to_json()`` is canonical (sorted keys), so the same request always stores as
    the same text. Raises InvalidInput for a bad key or parameters JSON cannot carry exactly.
    """

    key: str
    params: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not _KEY_RE.fullmatch(self.key):
            raise InvalidInput("an idempotency key is 1-255 printable ASCII characters", code="invalid_idempotency_key")
        if not isinstance(self.params, Mapping):
            raise InvalidInput("request parameters must be a JSON object", code="invalid_request_params")
        _check_json(self.params)
        object.__setattr__(self, "params", _freeze(self.params))

    @classmethod
    def of(cls, key: str, request: Any) -> IdempotentRequest:
        """``key`` with a neutral request dataclass frozen as JSON (:func:`request_to_params`)."""
        return cls(key, request_to_params(request))

    def rebuild(self, cls: type[R]) -> R:
        """The neutral request ``cls`` this was made from (:func:`request_from_params`)."""
        return request_from_params(cls, self.params)

    def as_params(self) -> dict[str, Any]:
        """A fresh, mutable copy of ``params`` (arrays as lists) to hand to an SDK."""
        thawed: dict[str, Any] = _thaw(self.params)
        return thawed

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of the canonical parameters: equal parameters, equal fingerprint."""
        return hashlib.sha256(_canonical(self.as_params()).encode()).hexdigest()

    def to_json(self) -> str:
        """``{"key": …, "params": …}`` as canonical JSON text, for the store."""
        return _canonical({"key": self.key, "params": self.as_params()})

    @classmethod
    def from_json(cls, text: str | bytes) -> IdempotentRequest:
        """The request :meth:`to_json` stored. Raises InvalidInput for anything else."""
        try:
            data = json.loads(text, parse_float=_no_float, parse_constant=_no_float)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"stored request is not valid JSON: {exc}", code="invalid_request_params") from None
        if not isinstance(data, dict) or set(data) != {"key", "params"}:
            raise InvalidInput('stored request must be {"key": …, "params": …}', code="invalid_request_params")
        return cls(data["key"], data["params"])


def _no_float(text: str) -> Any:
    raise ValueError(f"non-integer number {text}")


def _check_json(value: Any, depth: int = 0) -> None:
    if depth > 32:
        raise InvalidInput("request parameters nest too deeply", code="invalid_request_params")
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInput("request parameters need string keys", code="invalid_request_params")
            _check_json(v, depth + 1)
        return
    if isinstance(value, list | tuple):
        for v in value:
            _check_json(v, depth + 1)
        return
    raise InvalidInput(
        f"request parameters hold a {type(value).__name__}, which JSON cannot carry exactly",
        code="invalid_request_params",
    )
