"""The OS keyring as a master-key source: every call bounded by a timeout, every failure typed.

``keyring`` costs about 70 ms to import, so it is imported inside the functions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from zigznote.errors import VaultError
from zigznote.vault._hints import HINT_NO_KEYRING

log = logging.getLogger("zigznote.vault")

KEYRING_SERVICE = "zigznote"
KEYRING_USER = "master-key"
KEYRING_NEXT_USER = "master-key-next"

_T = TypeVar("_T")


class _KeyringUnavailable(Exception):
    """Internal: the keyring could not be used (no backend, locked, timed out, errored)."""


def _run_with_timeout(fn: Callable[[], _T], timeout: float, what: str) -> _T:
    """Run ``fn`` in a daemon thread and give up after ``timeout`` seconds.

    A locked or absent Secret Service can block a D-Bus call indefinitely; a CLI (and cron)
    must not hang on it. On timeout the thread is abandoned; being a daemon, it cannot keep
    the process alive at exit.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"zigznote-keyring-{what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise _KeyringUnavailable(f"the OS keyring did not answer within {timeout:g}s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _usable_backend() -> Any:
    """The active keyring backend, or _KeyringUnavailable if it is a do-nothing one."""
    import keyring
    import keyring.backends.fail
    import keyring.backends.null

    backend = keyring.get_keyring()
    # fail.Keyring raises on every call; null.Keyring returns None and drops writes. Both mean
    # "there is no keyring here", and must not be mistaken for "the keyring has no key".
    if isinstance(backend, keyring.backends.fail.Keyring | keyring.backends.null.Keyring):
        raise _KeyringUnavailable(f"no usable OS keyring ({type(backend).__module__})")
    return backend


def _keyring_call(fn: Callable[[Any], _T], timeout: float, what: str) -> _T:
    """Run ``fn(backend)`` off-thread; any keyring failure becomes _KeyringUnavailable."""
    import keyring.errors

    try:
        return _run_with_timeout(lambda: fn(_usable_backend()), timeout, what)
    except _KeyringUnavailable:
        raise
    except keyring.errors.KeyringError as exc:  # includes NoKeyringError, KeyringLocked
        raise _KeyringUnavailable(f"the OS keyring failed: {exc}") from None
    except Exception as exc:
        # Third-party backends (secretstorage, jeepney, dbus) raise their own exceptions;
        # this is the adapter edge, so they are translated here rather than leaking upward.
        raise _KeyringUnavailable(f"the OS keyring failed: {type(exc).__name__}: {exc}") from None


def _keyring_get_many(users: Sequence[str], timeout: float) -> dict[str, str | None]:
    """Several lookups in one thread under one timeout (so a hung keyring costs one timeout)."""
    return _keyring_call(
        lambda backend: {u: backend.get_password(KEYRING_SERVICE, u) for u in users},
        timeout,
        "get",
    )


def keyring_available(*, timeout: float = 3.0) -> bool:
    """True if a real OS keyring answers (a read of the master-key entry) within ``timeout``."""
    try:
        _keyring_get_many([KEYRING_USER], timeout)
    except _KeyringUnavailable as exc:
        log.debug("keyring unavailable: %s", exc)
        return False
    return True


def keyring_get(user: str = KEYRING_USER, *, timeout: float = 3.0) -> str | None:
    """The stored value, or None if it is absent *or* the keyring is unavailable.

    Use keyring_available() to tell the two apart.
    """
    try:
        return _keyring_get_many([user], timeout)[user]
    except _KeyringUnavailable as exc:
        log.debug("keyring unavailable: %s", exc)
        return None


def keyring_set(user: str, value: str, *, timeout: float = 3.0) -> None:
    """Store ``value`` and read it back; VaultError unless it round-trips."""

    def write_then_read(backend: Any) -> str | None:
        backend.set_password(KEYRING_SERVICE, user, value)
        return backend.get_password(KEYRING_SERVICE, user)

    try:
        stored = _keyring_call(write_then_read, timeout, "set")
    except _KeyringUnavailable as exc:
        raise VaultError(f"cannot store {user} in the OS keyring: {exc}", hint=HINT_NO_KEYRING) from None
    # Some backends accept a write and drop it (or truncate it). Finding out now, while the key
    # is still in memory, beats finding out after secrets were encrypted with a lost key.
    if stored != value:
        raise VaultError(
            f"the OS keyring accepted {user} but did not store it (reading it back gave a different value)",
            hint=HINT_NO_KEYRING,
        )


def keyring_delete(user: str, *, timeout: float = 3.0) -> bool:
    """Delete ``user``'s entry; True if one was deleted, False if there was none."""
    import keyring.errors

    def delete(backend: Any) -> bool:
        try:
            backend.delete_password(KEYRING_SERVICE, user)
        except keyring.errors.PasswordDeleteError:
            return False  # nothing stored under that name: already in the desired state
        return True

    try:
        return _keyring_call(delete, timeout, "delete")
    except _KeyringUnavailable as exc:
        raise VaultError(f"cannot delete {user} from the OS keyring: {exc}", hint=HINT_NO_KEYRING) from None
