"""The README's first command, verbatim, in a fresh copy of the project with an empty HOME.

It installs the package from the registry into a new virtual environment, so it is slow; the
pip cache of the machine is reused to keep it to about a minute.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 300


def first_command(readme: str) -> str:
    """The first command line of the README's first ```bash block (comments skipped)."""
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    return next(line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#"))


def test_first_command_is_the_demo() -> None:
    command = first_command((ROOT / "README.md").read_text(encoding="utf-8"))
    assert command == "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && zigznote demo"


def fresh_copy(dest: Path) -> None:
    """The project as a clone would have it plus the uncommitted work: every tracked or
    untracked, not ignored file (so no .venv, no caches), without .git."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # tracked but deleted in the work tree: not part of the copy
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def clean_env(home: Path) -> dict[str, str]:
    """The caller's environment without this virtualenv or any zigznote setting; HOME empty."""
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ZIGZNOTE_", "PYTEST", "VIRTUAL_ENV", "XDG_")) and k not in {"PYTHONPATH", "PYTHONHOME"}
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")
    if "PYENV_ROOT" not in env and (Path.home() / ".pyenv").is_dir():
        env["PYENV_ROOT"] = str(Path.home() / ".pyenv")  # pyenv's shims find Python through it
    env["HOME"] = str(home)
    return env


def processes_under(path: Path) -> list[str]:
    """Command lines of running processes that mention ``path`` (Linux /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(path) in cmdline:
                found.append(cmdline)
    return found


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT + 60)
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="checks for leftover processes through /proc")
@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="copies the project's files as git lists them")
def test_readme_first_command_verbatim(tmp_path: Path) -> None:
    project = tmp_path / "zigznote"
    home = tmp_path / "home"
    home.mkdir()
    fresh_copy(project)
    command = first_command((project / "README.md").read_text(encoding="utf-8"))

    ran = subprocess.run(
        ["bash", "-c", command],
        cwd=project,
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "deliveries to receiver (http://127.0.0.1:" in ran.stdout
    assert ran.stdout.count("succeeded") == 3
    assert "3 events delivered, 1 after a retry; the receiver checked 4 of 4 signatures as valid" in ran.stderr
    # It ran the installed command, with nothing left behind: no process, nothing in HOME's
    # data or config dirs (the demo's store was temporary).
    assert (project / ".venv" / "bin" / "zigznote").exists()
    assert processes_under(project) == []
    assert not (home / ".local" / "share" / "zigznote").exists()
    assert not (home / ".config" / "zigznote").exists()
