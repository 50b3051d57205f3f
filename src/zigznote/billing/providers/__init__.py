"""The payment-provider registry: provider name → factory (a ``PaymentProvider`` subclass).

Adding a provider is one folder (``billing/providers/<name>/``, the same file names as the
others) and one line in ``_BUILTIN`` below, ``"<name>": "zigznote.billing.providers.<name>:<Class>"``.
The string is imported on first :func:`get`, so importing this package (and ``zigznote --help``)
never imports a provider SDK. Tests :func:`register` their own classes.

The factory is the class itself: ``get("stripe").capabilities`` needs no keys, and
:func:`create` builds an instance with ``from_settings``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import TYPE_CHECKING

from zigznote.billing.providers.base import OPTIONAL_OPERATIONS, Capabilities, PaymentProvider
from zigznote.errors import InvalidInput, ZigznoteError

if TYPE_CHECKING:
    from zigznote.config import Settings

__all__ = ["check_provider", "create", "get", "names", "register", "unregister"]

# Built-in providers, imported lazily. One line per provider folder.
_BUILTIN: dict[str, str] = {
    "stripe": "zigznote.billing.providers.stripe:StripeProvider",
    "flutterwave": "zigznote.billing.providers.flutterwave:FlutterwaveProvider",
}

_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_registry: dict[str, type[PaymentProvider] | str] = dict(_BUILTIN)


def check_provider(cls: type[PaymentProvider]) -> list[str]:
    """What is wrong with a provider class, as sentences (``[]``: nothing). Checked: it
    subclasses PaymentProvider with no abstract method left, sets ``name``, ``title`` and
    ``capabilities``, and implements exactly the optional operations its capabilities claim
    (a claimed one left to the base raises ``unsupported_by_provider``)."""
    if not (inspect.isclass(cls) and issubclass(cls, PaymentProvider)):
        return [f"{cls!r} is not a PaymentProvider subclass"]
    problems = []
    if inspect.isabstract(cls):
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        problems.append(f"{cls.__name__} does not implement {', '.join(missing)}")
    for attr in ("name", "title"):
        if not isinstance(getattr(cls, attr, None), str):
            problems.append(f"{cls.__name__}.{attr} is not set")
    caps = getattr(cls, "capabilities", None)
    if not isinstance(caps, Capabilities):
        problems.append(f"{cls.__name__}.capabilities is not a Capabilities")
        return problems
    for flag, methods in OPTIONAL_OPERATIONS.items():
        for method in methods:
            overridden = getattr(cls, method) is not getattr(PaymentProvider, method)
            if getattr(caps, flag) and not overridden:
                problems.append(f"{cls.__name__} claims {flag} but does not implement {method}")
            elif overridden and not getattr(caps, flag):
                problems.append(f"{cls.__name__} implements {method} but capabilities.{flag} is False")
    return problems


def register(name: str, factory: type[PaymentProvider] | str, *, replace: bool = False) -> None:
    """Register ``factory`` (a class, or ``"module:Class"`` imported on first use) as ``name``.

    A class is checked at once (:func:`check_provider`). Raises ZigznoteError (a bug, exit 1)
    for a bad name, a bad class, or a name already taken unless ``replace``."""
    if not _NAME_RE.fullmatch(name):
        raise ZigznoteError(f"invalid provider name {name!r}")
    if name in _registry and not replace:
        raise ZigznoteError(f"provider {name!r} is already registered")
    if not isinstance(factory, str):
        _checked(name, factory)
    elif ":" not in factory:
        raise ZigznoteError(f"provider {name!r}: {factory!r} is not 'module:Class'")
    _registry[name] = factory


def unregister(name: str) -> None:
    """Forget ``name`` (tests); nothing happens if it is not registered."""
    _registry.pop(name, None)


def names() -> list[str]:
    """Registered provider names, sorted."""
    return sorted(_registry)


def get(name: str) -> type[PaymentProvider]:
    """The provider class registered as ``name``, importing it on first use.

    Raises InvalidInput (``unknown_provider``, exit 2) naming the known providers; ZigznoteError
    (exit 1) when a registered class does not pass :func:`check_provider`."""
    factory = _registry.get(name)
    if factory is None:
        known = ", ".join(names()) or "none registered"
        raise InvalidInput(
            f"unknown payment provider {name!r}", hint=f"known providers: {known}", code="unknown_provider"
        )
    if isinstance(factory, str):
        module_name, _, attr = factory.partition(":")
        resolved = getattr(importlib.import_module(module_name), attr)
        factory = _checked(name, resolved)
        _registry[name] = factory
    return factory


def create(name: str, settings: Settings) -> PaymentProvider:
    """An instance of provider ``name`` built from ``settings`` (``from_settings``). Raises as
    :func:`get`, and ConfigError when the provider's keys are missing."""
    return get(name).from_settings(settings)


def _checked(name: str, cls: object) -> type[PaymentProvider]:
    if not (inspect.isclass(cls) and issubclass(cls, PaymentProvider)):
        raise ZigznoteError(f"provider {name!r}: {cls!r} is not a PaymentProvider subclass")
    problems = check_provider(cls)
    if getattr(cls, "name", name) != name:
        problems.append(f"{cls.__name__}.name is {cls.name!r}, registered as {name!r}")
    if problems:
        raise ZigznoteError(f"provider {name!r}: " + "; ".join(problems))
    return cls
