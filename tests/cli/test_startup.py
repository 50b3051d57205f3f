"""Start-up stays light; every command documents itself with an example."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zigznote.cli._completions import SHELLS, render

HEAVY = ("sqlalchemy", "sqlmodel", "httpx", "aiohttp", "stripe", "alembic", "cryptography")
ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
sys.argv = ["zigznote", *json.loads(sys.argv[1])]
from zigznote.cli.app import main
try:
    main()
except SystemExit as exc:
    code = exc.code
heavy = [m for m in {heavy!r} if m in sys.modules]
print("HEAVY=" + json.dumps(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["keys", "--help"], ["orgs", "create", "--help"], ["webhooks", "--help"], ["events", "--help"]],
)
def test_help_imports_nothing_heavy(argv: list[str], tmp_path: Path) -> None:
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), json.dumps(argv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    heavy = json.loads(proc.stderr.rsplit("HEAVY=", 1)[1])
    assert heavy == [], f"`zigznote {' '.join(argv)}` imported {heavy}"
    assert "Usage" in proc.stdout


def test_completion_imports_nothing_heavy(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        XDG_CONFIG_HOME=str(tmp_path),
        XDG_DATA_HOME=str(tmp_path),
        _ZIGZNOTE_COMPLETE="complete_bash",
        COMP_WORDS="zigznote or",
        COMP_CWORD="1",
    )
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), "[]"], capture_output=True, text=True, env=env, timeout=60
    )
    assert "orgs" in proc.stdout.split()
    assert json.loads(proc.stderr.rsplit("HEAVY=", 1)[1]) == []


def _commands() -> list[list[str]]:
    from typer.main import get_command

    from zigznote.cli.app import app

    found: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        sub = getattr(cmd, "commands", None)
        if sub:
            for name, child in sub.items():
                walk(child, [*path, name])
        else:
            found.append(path)

    walk(get_command(app), [])
    return found


def test_every_command_has_a_summary_and_an_example() -> None:
    from typer.main import get_command

    from zigznote.cli.app import app

    root = get_command(app)
    missing = []
    for path in _commands():
        cmd = root
        for name in path:
            cmd = cmd.commands[name]  # type: ignore[attr-defined]
        text = cmd.help or ""
        summary = text.strip().splitlines()[0] if text.strip() else ""
        if not summary or "Example:" not in text or "zigznote" not in text.split("Example:", 1)[1]:
            missing.append(" ".join(path))
    assert missing == []


def test_completions_are_current() -> None:
    stale = [name for shell, name in SHELLS.items() if (ROOT / "completions" / name).read_text() != render(shell)]
    assert stale == [], f"regenerate with `python scripts/gen_completions.py`: {stale}"


def test_version() -> None:
    proc = subprocess.run([sys.executable, "-m", "zigznote", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.startswith("zigznote ")
