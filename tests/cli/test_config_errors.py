"""A config file that cannot be used is configuration (exit 6, path and reason), never a bug."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, Ran


def run(*args: str) -> Ran:
    """zigznote with exactly these arguments (no --db added)."""
    return Cli("unused")(*args, db=False)


def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "config" / "zigznote" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def config_error(*args: str) -> dict[str, Any]:
    ran = run("--json", *args)
    assert ran.exit_code == 6, ran.stderr
    assert ran.stdout == ""
    err = ran.error
    assert err["code"] == "config_error"
    return err


@pytest.mark.parametrize("command", [("config", "show"), ("status",), ("orgs", "list")])
def test_config_path_that_is_a_directory(command: tuple[str, ...], env: dict[str, str], tmp_path: Path) -> None:
    path = config_path(tmp_path)
    path.mkdir()
    err = config_error(*command)
    assert err["message"] == f"cannot read config file {path}: Is a directory"
    assert str(path) in (err["hint"] or "")


def test_unreadable_config_file(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = config_path(tmp_path)
    path.write_text('org = "acme"\n')
    path.chmod(0)
    # Tests run as root, who reads mode 000 anyway: make the read fail as it does for a user.
    real_read = Path.read_bytes

    def refusing_read(self: Path) -> bytes:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", refusing_read)
    err = config_error("config", "show")
    assert err["message"] == f"cannot read config file {path}: Permission denied"
    ran = run("config", "show")  # human output: the same message, one line on stderr
    assert ran.exit_code == 6
    assert ran.stderr.startswith(f"error: cannot read config file {path}: Permission denied")


def test_config_path_below_a_file(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("ZIGZNOTE_CONFIG", str(blocker / "config.toml"))
    err = config_error("config", "show")
    assert err["message"] == f"cannot read config file {blocker / 'config.toml'}: a parent is not a directory"


def test_config_file_that_is_not_utf8(env: dict[str, str], tmp_path: Path) -> None:
    path = config_path(tmp_path)
    path.write_bytes(b'org = "caf\xe9"\n')
    err = config_error("config", "show")
    assert err["message"] == f"config file {path} is not valid UTF-8 (byte 10): invalid continuation byte"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("db_url = 5\n", "db_url must be a string, not int"),
        ("disable_after = true\n", "disable_after: unexpected bool value True"),
        ("disable_after = [1]\n", "disable_after: unexpected list value [1]"),
        ('lease_seconds = "soon"\n', "lease_seconds: "),
        ("[db_url]\nx = 1\n", "db_url must be a string, not dict"),
        ("org = 'a'\norg = 'b'\n", "is not valid TOML"),
    ],
)
def test_wrong_types_name_the_file_and_the_setting(
    text: str, message: str, env: dict[str, str], tmp_path: Path
) -> None:
    path = config_path(tmp_path)
    path.write_text(text)
    err = config_error("orgs", "list")
    assert str(path) in err["message"]
    assert message in err["message"]


def test_init_cannot_write_the_config_file(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config_path(tmp_path)
    real_write = Path.write_text

    def refusing_write(self: Path, *args: Any, **kwargs: Any) -> int:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", refusing_write)
    err = config_error("init")
    assert err["message"] == f"cannot write config file {path}: Permission denied"
    assert not path.exists()
