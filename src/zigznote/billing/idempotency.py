"""Idempotency keys from zigznote's own IDs, and neutral requests frozen as JSON: one
implementation for every provider (Stripe ``Idempotency-Key``, Flutterwave ``tx_ref``, which
:func:`zigznote.billing.providers.flutterwave.params.tx_ref` derives from the key).

The rule (DESIGN.md, Idempotency): every create carries a key derived from local IDs, and a
retry after a lost response sends the *same key with the same parameters*. Stripe: "the
idempotency layer compares incoming parameters to those of the original request and errors if
they're not the same"; keys are "up to 255 characters long"; keys may be pruned "after they're at
least 24 hours old" (https://docs.stripe.com/api/idempotent_requests). So the caller
(``services/billing/ops.py``, pending operations):

1. derives the key with :func:`idempotency_key` from the operation, what it creates (the scope,
   in our IDs) and the pending operation's own ID, and stores it with the request frozen by
   :func:`freeze`, in one transaction, before anything is sent;
2. sends ``thaw(cls, params)`` with that key; a retry loads both from the row, never rebuilding
   the request from current data. Providers turn a request into a body with pure functions, so
   equal requests send equal bytes.

Frozen form: dataclasses of :mod:`zigznote.billing.types` as objects of their fields, Money as
``{"amount": 2900, "currency": "USD"}`` (``money.to_data``), enums as their value, tuples and
lists as arrays, mappings as objects with string keys; ``None``, ``str``, ``int`` and ``bool``
stay. Floats never: money is never a float. Nothing here imports a provider SDK.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any, Final, TypeVar

from zigznote.billing import money
from zigznote.billing.money import Money
from zigznote.errors import InvalidInput, ZigznoteError

__all__ = ["MAX_KEY_LENGTH", "check_key", "freeze", "idempotency_key", "thaw"]

#: The longest key: Stripe's limit on ``Idempotency-Key``.
MAX_KEY_LENGTH: Final = 255
_KEY_RE: Final = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no space: safe in a header

T = TypeVar("T")


def idempotency_key(operation: str, scope: str, op_id: str) -> str:
    """``zigznote/<operation>/<scope>/<op_id>`` (``zigznote/customer.create/org_01…/bop_01…``):
    our IDs and the operation, unique per pending operation (``op_id``). A scope that would make
    the key longer than :data:`MAX_KEY_LENGTH` or not printable ASCII (a payment ID as typed)
    is replaced by 32 hex digits of its SHA-256. Deterministic: the same parts, the same key."""
    key = f"zigznote/{operation}/{scope}/{op_id}"
    if len(key) > MAX_KEY_LENGTH or not _KEY_RE.fullmatch(key):
        digest = hashlib.sha256(scope.encode()).hexdigest()[:32]
        key = f"zigznote/{operation}/{digest}/{op_id}"
    return check_key(key)


def check_key(key: str) -> str:
    """``key`` when a provider can be sent it: 1 to 255 printable ASCII characters, no space.
    Raises InvalidInput ``invalid_idempotency_key`` otherwise (checked before anything is sent)."""
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise InvalidInput("an idempotency key is 1-255 printable ASCII characters", code="invalid_idempotency_key")
    return key


# -- neutral requests <-> JSON ----------------------------------------------------------------


def freeze(value: Any) -> Any:
    """``value`` (a neutral request, or a part of one) as plain JSON data (module docstring).

    Raises ZigznoteError ``invalid_request_params`` (a bug: requests are built by our code) for
    a float, a mapping with a key that is not text, or any other type."""
    if isinstance(value, Money):
        return money.to_data(value)
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | bool | int):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: freeze(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ZigznoteError("request parameters need string keys", code="invalid_request_params")
        return {k: freeze(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [freeze(v) for v in value]
    raise ZigznoteError(f"cannot freeze a {type(value).__name__} in request parameters", code="invalid_request_params")


def thaw(cls: type[T], data: Mapping[str, Any]) -> T:
    """The neutral request ``cls`` (a dataclass) rebuilt from :func:`freeze`'s output, exactly;
    fields ``data`` lacks keep their defaults. Raises InvalidInput ``invalid_request_params``
    when ``data`` does not fit ``cls`` (a field it does not have, a value of the wrong shape)."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ZigznoteError(f"{cls!r} is not a request type", code="invalid_request_params")
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise InvalidInput(f"{cls.__name__} has no field(s) {', '.join(unknown)}", code="invalid_request_params")
    try:
        return cls(**{name: _thaw_value(hints[name], value) for name, value in data.items()})
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise InvalidInput(
            f"stored parameters do not make a {cls.__name__}: {exc}", code="invalid_request_params"
        ) from None


def _thaw_value(hint: Any, value: Any) -> Any:
    """``value`` (plain JSON) as the type ``hint`` of a request field."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _thaw_value(options[0], value) if len(options) == 1 else value
    if hint is Money:
        return money.from_data(value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return thaw(hint, value)
    if origin is tuple:
        item = (typing.get_args(hint) or (Any,))[0]
        return tuple(_thaw_value(item, v) for v in value)
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        return dict(value)
    return value
