"""Secrets at rest: AES-256-GCM under a master key, and where that key comes from.

Every token, API key and signing secret is encrypted before it touches the store. A stored
secret is one string::

    zv1:<kid>:<base64url-nopad(nonce[12] + ciphertext + tag[16])>

* ``zv1`` versions the format, so a future scheme can be told apart without guessing.
* ``kid`` is a fingerprint of the master key that encrypted it. It lets us say *which* key is
  missing ("encrypted with key X, you have key Y") instead of the useless "decryption failed",
  and lets several keys coexist during a rotation.
* The AAD is ``zigznote:v1:<table>:<row>:<field>``: it is authenticated but not stored, so a
  ciphertext copied into another row, field or table fails to decrypt instead of silently
  handing one customer's token to another.

Master keys come, in order of precedence, from ``ZIGZNOTE_MASTER_KEY``, the OS keyring, or a
key file (0600). Extra keys that can only decrypt (``ZIGZNOTE_MASTER_KEY_PREVIOUS``, the keyring's
``master-key-next``, ``<key file>.next``) keep secrets readable while a rotation is in progress.

Start-up cost matters (``zigznote --help`` must be fast), so ``keyring`` (about 70 ms to import)
and ``cryptography`` are imported inside the functions that need them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import secrets
import stat
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from zigznote.errors import VaultError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96-bit nonce: the size GCM is specified and analysed for
TAG_BYTES = 16
TOKEN_VERSION = "zv1"
AAD_PREFIX = "zigznote:v1"

KEYRING_SERVICE = "zigznote"
KEYRING_USER = "master-key"
KEYRING_NEXT_USER = "master-key-next"

ENV_MASTER_KEY = "ZIGZNOTE_MASTER_KEY"
ENV_MASTER_KEY_PREVIOUS = "ZIGZNOTE_MASTER_KEY_PREVIOUS"

# Domain-separates the fingerprint from any other hash of the key, so the kid we display can
# never be mistaken for (or reused as) something derived from the key for another purpose.
_KID_LABEL = b"zigznote-master-key-id:v1\x00"
_KID_RE = re.compile(r"[0-9a-f]{16}")
# A key file holds ~45 characters; refusing to slurp more keeps a wrong path (a log file, a
# device) from being read into memory.
_KEY_FILE_MAX_BYTES = 4096

_HINT_NEW_KEY = "generate one with `zigznote keys init` (or `zigznote keys init --file PATH`)"
_HINT_REWRITE = "the stored value was altered or not written by zigznote; set the secret again"
_HINT_KEY_SOURCES = (
    "set ZIGZNOTE_MASTER_KEY (or ZIGZNOTE_MASTER_KEY_PREVIOUS during a rotation) to the key "
    "that encrypted it; `zigznote keys status` shows which keys are loaded"
)


# --------------------------------------------------------------------------------------------
# Key encoding
# --------------------------------------------------------------------------------------------


def generate_key() -> bytes:
    """A fresh random 256-bit master key."""
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """Standard base64: what operators paste into ZIGZNOTE_MASTER_KEY or a key file."""
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, *, source: str) -> bytes:
    """Parse a base64 master key; ``source`` names where it came from, for the error message.

    The message never echoes ``text``: a key that is merely mistyped is still mostly a key.
    """
    cleaned = text.strip()
    if not cleaned:
        raise VaultError(f"master key from {source} is empty", hint=_HINT_NEW_KEY)
    try:
        # validate=True: without it b64decode silently drops stray characters, so a corrupted
        # key could decode to *some* 32 bytes and surface later as "wrong key".
        key = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII input
        raise VaultError(
            f"master key from {source} is not valid base64", hint=_HINT_NEW_KEY
        ) from None
    if len(key) != KEY_BYTES:
        raise VaultError(
            f"master key from {source} is {len(key)} bytes; expected {KEY_BYTES}",
            hint=_HINT_NEW_KEY,
        )
    return key


def key_id(key: bytes) -> str:
    """A short fingerprint of ``key`` (16 hex chars), safe to print and store."""
    return hashlib.sha256(_KID_LABEL + key).hexdigest()[:16]


@dataclass(frozen=True)
class MasterKey:
    key: bytes = field(repr=False)
    source: str  # "env" | "keyring" | "file:<path>"

    def __post_init__(self) -> None:
        # Catch a wrong-sized key here rather than as an obscure cryptography error later.
        if not isinstance(self.key, bytes) or len(self.key) != KEY_BYTES:
            raise VaultError(
                f"master key from {self.source} must be {KEY_BYTES} bytes", hint=_HINT_NEW_KEY
            )

    @property
    def kid(self) -> str:
        return key_id(self.key)

    def __repr__(self) -> str:
        # Written by hand (not just field(repr=False)) so no future field can leak the key
        # into a traceback, log line or debugger view.
        return f"MasterKey(kid={self.kid!r}, source={self.source!r})"

    __str__ = __repr__


# --------------------------------------------------------------------------------------------
# Encryption
# --------------------------------------------------------------------------------------------


def _b64url_nopad(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aad(table: str, row: str, field_name: str) -> bytes:
    # The AAD is ':'-joined. With no ':' in table or field, every AAD parses one way only
    # (table up to the first ':', field after the last), so ("a:b", "c") and ("a", "b:c")
    # cannot collide. Rows are IDs and may contain anything.
    for label, value in (("table", table), ("field", field_name)):
        if not value or ":" in value:
            raise ValueError(f"vault {label} must be non-empty and contain no ':': {value!r}")
    if not row:
        raise ValueError("vault row must be non-empty")
    return f"{AAD_PREFIX}:{table}:{row}:{field_name}".encode()


def _split_token(token: str) -> tuple[str, bytes]:
    """(kid, nonce+ciphertext) of a token, or ValueError saying what is wrong with it."""
    if not isinstance(token, str):
        raise ValueError(f"expected a string, got {type(token).__name__}")
    version, _, rest = token.partition(":")
    if version != TOKEN_VERSION:
        raise ValueError("it does not start with 'zv1:'")
    kid, sep, body = rest.partition(":")
    if not sep or not _KID_RE.fullmatch(kid):
        raise ValueError("its key id is malformed")
    try:
        blob = _b64url_decode(body)
    except (binascii.Error, ValueError):
        raise ValueError("its body is not base64url") from None
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise ValueError("it is too short")
    return kid, blob


class Vault:
    """Encrypts with the current master key; decrypts with any loaded key, chosen by kid."""

    def __init__(self, keys: Sequence[MasterKey]) -> None:
        if not keys:
            raise VaultError("no master key found", hint=_NO_KEY_HINT)
        # Imported here, not at module level: see the module docstring on start-up cost.
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._keys: tuple[MasterKey, ...] = tuple(keys)
        self._ciphers: dict[str, AESGCM] = {}
        for mk in self._keys:
            # setdefault: on a duplicate kid the earlier (higher-precedence) key wins.
            self._ciphers.setdefault(mk.kid, AESGCM(mk.key))

    def __repr__(self) -> str:
        return f"Vault(keys={list(self._keys)!r})"

    @property
    def current(self) -> MasterKey:
        return self._keys[0]

    @property
    def keys(self) -> tuple[MasterKey, ...]:
        return self._keys

    def encrypt(self, plaintext: str, *, table: str, row: str, field: str) -> str:
        aad = _aad(table, row, field)
        # A fresh random nonce per call. Nonce reuse under one GCM key is catastrophic; with
        # random 96-bit nonces the bound is ~2^32 encryptions per key, far beyond our volume.
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.current.kid].encrypt(nonce, plaintext.encode("utf-8"), aad)
        return f"{TOKEN_VERSION}:{self.current.kid}:{_b64url_nopad(nonce + sealed)}"

    def decrypt(self, token: str, *, table: str, row: str, field: str) -> str:
        from cryptography.exceptions import InvalidTag

        aad = _aad(table, row, field)
        where = f"{table}.{field} of {row}"
        try:
            kid, blob = _split_token(token)
        except ValueError as exc:
            raise VaultError(
                f"secret for {where} is not a zigznote ciphertext ({exc})",
                hint=_HINT_REWRITE,
            ) from None
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise VaultError(
                f"secret was encrypted with master key {kid} "
                f"but the current key is {self.current.kid}",
                hint=_HINT_KEY_SOURCES,
            )
        try:
            plaintext = cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            # The kid matched, so the key is (almost surely) right: what failed is the AAD
            # (the value was copied from elsewhere) or the bytes were tampered with.
            raise VaultError(
                f"secret for {where} failed authentication "
                "(wrong master key, or copied from another row)",
                hint="set the secret again; if many secrets fail, check which master key is "
                "loaded with `zigznote keys status`",
            ) from None
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            # Authentic but not text: written by something other than encrypt().
            raise VaultError(
                f"secret for {where} is not UTF-8 text", hint="set the secret again"
            ) from None

    def reencrypt(self, token: str, *, table: str, row: str, field: str) -> str:
        """Re-encrypt ``token`` under the current key (for ``keys rotate``); a no-op if it
        already is."""
        if self.token_kid(token) == self.current.kid:
            return token
        plaintext = self.decrypt(token, table=table, row=row, field=field)
        return self.encrypt(plaintext, table=table, row=row, field=field)

    @staticmethod
    def token_kid(token: str) -> str:
        """The kid of the key that encrypted ``token`` (no key needed)."""
        try:
            kid, _ = _split_token(token)
        except ValueError as exc:
            raise VaultError(
                f"stored secret is not a zigznote ciphertext ({exc})",
                hint=_HINT_REWRITE,
            ) from None
        return kid


# --------------------------------------------------------------------------------------------
# Key files
# --------------------------------------------------------------------------------------------


def read_key_file(path: Path) -> bytes:
    """Read a base64 master key from ``path``, refusing a file others could read."""
    source = f"file:{path}"
    try:
        # Check the mode on the opened descriptor (fstat), not the path, so the file we judge
        # is the file we read. Symlinks are followed on purpose: mounted secrets are symlinks.
        # O_NONBLOCK only so that a FIFO at the path cannot block us; it is then rejected
        # as not a regular file. It has no effect on regular files.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise VaultError(
            f"key file {path} does not exist",
            hint=f"create one with `zigznote keys init --file {path}`",
        ) from None
    except OSError as exc:
        raise VaultError(
            f"cannot read key file {path}: {exc.strerror or exc}",
            hint="check the path and that this user may read it",
        ) from None
    try:
        # Raw fd calls, not fdopen(): fdopen refuses a directory with an OSError of its own,
        # before we could say plainly what is wrong.
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise VaultError(
                f"key file {path} is not a regular file", hint="point to the file holding the key"
            )
        # Windows has no POSIX group/other bits (st_mode is synthesized), so only check POSIX.
        if os.name == "posix" and st.st_mode & 0o077:
            raise VaultError(
                f"key file {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); it must be 0600",
                hint=f"run `chmod 600 {path}`",
            )
        raw = b""
        while len(raw) <= _KEY_FILE_MAX_BYTES:
            chunk = os.read(fd, _KEY_FILE_MAX_BYTES + 1 - len(raw))
            if not chunk:
                break
            raw += chunk
    except OSError as exc:
        raise VaultError(
            f"cannot read key file {path}: {exc.strerror or exc}",
            hint="check the path and that this user may read it",
        ) from None
    finally:
        os.close(fd)
    if len(raw) > _KEY_FILE_MAX_BYTES:
        raise VaultError(
            f"key file {path} is too large to be a master key",
            hint="point to the file holding only the base64 key",
        )
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise VaultError(
            f"master key from {source} is not valid base64", hint=_HINT_NEW_KEY
        ) from None
    return decode_key(text, source=source)


def _fsync_dir(directory: Path) -> None:
    # Makes the new directory entry durable; without it a crash right after `keys init` can
    # lose the file on some filesystems, and with it the only copy of the key.
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


def write_key_file(path: Path, key: bytes, *, overwrite: bool = False) -> None:
    """Write ``key`` to ``path`` as base64, mode 0600 from the first byte.

    Refuses to replace an existing file unless ``overwrite``: losing a master key makes every
    secret encrypted with it unrecoverable.
    """
    if len(key) != KEY_BYTES:
        raise VaultError(f"refusing to write a {len(key)}-byte master key", hint=_HINT_NEW_KEY)
    data = (encode_key(key) + "\n").encode("ascii")
    path = Path(path)
    try:
        # 0700: the directory listing itself tells an attacker where keys live.
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise VaultError(
            f"cannot create directory {path.parent}: {exc.strerror or exc}",
            hint="choose a path this user can write to",
        ) from None

    if not overwrite:
        try:
            # O_EXCL + mode 0600 at creation: there is no moment at which the file exists with
            # wider permissions, and we never follow a planted file or symlink.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise VaultError(
                f"key file {path} already exists; refusing to overwrite it",
                hint="replacing it would make secrets encrypted with it unreadable; "
                "use `zigznote keys rotate`, or move the file away first",
            ) from None
        except OSError as exc:
            raise VaultError(
                f"cannot create key file {path}: {exc.strerror or exc}",
                hint="choose a path this user can write to",
            ) from None
        try:
            _write_all(fd, data)
        except OSError as exc:
            os.close(fd)
            path.unlink(missing_ok=True)  # never leave a half-written key behind
            raise VaultError(
                f"cannot write key file {path}: {exc.strerror or exc}",
                hint="check free space and permissions",
            ) from None
        os.close(fd)
        _fsync_dir(path.parent)
        return

    # Overwrite: write a sibling temp file (mkstemp creates it O_EXCL, mode 0600) and rename it
    # over the target, so readers see either the old key or the new one, never a partial file.
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise VaultError(
            f"cannot write key file {path}: {exc.strerror or exc}",
            hint="choose a path this user can write to",
        ) from None
    try:
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp_name, path)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise VaultError(
            f"cannot write key file {path}: {exc.strerror or exc}",
            hint="check free space and permissions",
        ) from None
    _fsync_dir(path.parent)


# --------------------------------------------------------------------------------------------
# OS keyring
# --------------------------------------------------------------------------------------------

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


_HINT_NO_KEYRING = (
    "use `zigznote keys init --file PATH` or set ZIGZNOTE_MASTER_KEY instead "
    "(on Linux the keyring needs an unlocked Secret Service, e.g. GNOME Keyring or KWallet)"
)


def keyring_set(user: str, value: str, *, timeout: float = 3.0) -> None:
    """Store ``value`` and read it back; VaultError unless it round-trips."""

    def write_then_read(backend: Any) -> str | None:
        backend.set_password(KEYRING_SERVICE, user, value)
        return backend.get_password(KEYRING_SERVICE, user)

    try:
        stored = _keyring_call(write_then_read, timeout, "set")
    except _KeyringUnavailable as exc:
        raise VaultError(
            f"cannot store {user} in the OS keyring: {exc}", hint=_HINT_NO_KEYRING
        ) from None
    # Some backends accept a write and drop it (or truncate it). Finding out now, while the key
    # is still in memory, beats finding out after secrets were encrypted with a lost key.
    if stored != value:
        raise VaultError(
            f"the OS keyring accepted {user} but did not store it "
            "(reading it back gave a different value)",
            hint=_HINT_NO_KEYRING,
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
        raise VaultError(
            f"cannot delete {user} from the OS keyring: {exc}", hint=_HINT_NO_KEYRING
        ) from None


# --------------------------------------------------------------------------------------------
# Loading keys
# --------------------------------------------------------------------------------------------

_NO_KEY_HINT = (
    "run `zigznote keys init` (OS keyring) or `zigznote keys init --file PATH`, "
    "or set ZIGZNOTE_MASTER_KEY"
)


def next_key_file(key_file: Path) -> Path:
    """Where a rotation in progress keeps the new key next to ``key_file``."""
    return key_file.with_name(key_file.name + ".next")


def _env_value(env: Mapping[str, str], name: str) -> str | None:
    # `ZIGZNOTE_MASTER_KEY=` (set but empty) is how shells and compose files unset a variable.
    value = env.get(name)
    return value if value and value.strip() else None


def load_keys(
    env: Mapping[str, str],
    *,
    key_file: Path | None,
    use_keyring: bool = True,
    keyring_timeout: float = 3.0,
) -> list[MasterKey]:
    """All master keys available, the current (encrypting) one first; [] if there are none.

    Current key: ZIGZNOTE_MASTER_KEY, else keyring ``master-key``, else ``key_file``. Then
    decrypt-only keys: ZIGZNOTE_MASTER_KEY_PREVIOUS, keyring ``master-key-next``,
    ``<key_file>.next``. A source that is present but broken raises VaultError rather than
    being skipped: silently falling through to another key would encrypt new secrets under
    the wrong one.
    """
    current: MasterKey | None = None
    previous: MasterKey | None = None
    keyring_next: MasterKey | None = None
    file_next: MasterKey | None = None

    env_current = _env_value(env, ENV_MASTER_KEY)
    if env_current is not None:
        current = MasterKey(decode_key(env_current, source=ENV_MASTER_KEY), "env")
    env_previous = _env_value(env, ENV_MASTER_KEY_PREVIOUS)
    if env_previous is not None:
        previous = MasterKey(decode_key(env_previous, source=ENV_MASTER_KEY_PREVIOUS), "env")

    if use_keyring:
        # Ask for master-key only if it could become the current key; both lookups run under
        # one timeout, so a hung keyring costs one timeout, not two.
        users = [KEYRING_NEXT_USER] if current is not None else [KEYRING_USER, KEYRING_NEXT_USER]
        try:
            found = _keyring_get_many(users, keyring_timeout)
        except _KeyringUnavailable as exc:
            log.debug("keyring unavailable: %s", exc)
            found = {}
        stored = found.get(KEYRING_USER)
        if current is None and stored:
            current = MasterKey(decode_key(stored, source=f"keyring {KEYRING_USER}"), "keyring")
        stored_next = found.get(KEYRING_NEXT_USER)
        if stored_next:
            keyring_next = MasterKey(
                decode_key(stored_next, source=f"keyring {KEYRING_NEXT_USER}"), "keyring"
            )

    if key_file is not None:
        if current is None and key_file.exists():
            current = MasterKey(read_key_file(key_file), f"file:{key_file}")
        next_file = next_key_file(key_file)
        if next_file.exists():
            file_next = MasterKey(read_key_file(next_file), f"file:{next_file}")

    if current is None:
        # Decrypt-only keys alone cannot make a vault: nothing would say which key encrypts.
        return []

    keys: list[MasterKey] = []
    seen: set[str] = set()
    for mk in (current, previous, keyring_next, file_next):
        if mk is not None and mk.kid not in seen:
            seen.add(mk.kid)
            keys.append(mk)
    return keys


def require_vault(keys: list[MasterKey]) -> Vault:
    """A Vault over ``keys``, or the standard "no master key" error."""
    if not keys:
        raise VaultError("no master key found", hint=_NO_KEY_HINT)
    return Vault(keys)
