"""Key files: a base64 master key in a 0600 file, read and written without races."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from zigznote.errors import VaultError
from zigznote.vault._hints import HINT_NEW_KEY
from zigznote.vault.encoding import KEY_BYTES, decode_key, encode_key

# A key file holds ~45 characters; refusing to slurp more keeps a wrong path (a log file, a
# device) from being read into memory.
_KEY_FILE_MAX_BYTES = 4096


def next_key_file(key_file: Path) -> Path:
    """Where a rotation in progress keeps the new key next to ``key_file``."""
    return key_file.with_name(key_file.name + ".next")


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
            raise VaultError(f"key file {path} is not a regular file", hint="point to the file holding the key")
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
        raise VaultError(f"master key from {source} is not valid base64", hint=HINT_NEW_KEY) from None
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
        raise VaultError(f"refusing to write a {len(key)}-byte master key", hint=HINT_NEW_KEY)
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
