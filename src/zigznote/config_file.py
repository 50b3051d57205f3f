"""Writing the config file, and the wording of file errors shared with reading it
(``config.read_config_file``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zigznote.errors import ConfigError


def os_reason(exc: OSError) -> str:
    """``Permission denied``, ``Is a directory``, …: the reason without the repeated path."""
    return exc.strerror or type(exc).__name__


def write_config_file(path: Path, values: Mapping[str, Any]) -> None:
    """Write a small flat TOML file (our settings are strings, numbers and booleans).

    Raises ConfigError (exit 6) with the path and the reason when it cannot be written.
    """
    lines = ["# zigznote configuration; environment variables and flags override these."]
    for key, value in values.items():
        if isinstance(value, bool):
            rendered = "true" if value else "false"
        elif isinstance(value, int | float):
            rendered = str(value)
        else:
            rendered = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines.append(f"{key} = {rendered}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot write config file {path}: {os_reason(exc)}",
            hint="check the directory's permissions, or point ZIGZNOTE_CONFIG at a writable path",
        ) from None
