"""Shell completion scripts, generated from the CLI (see scripts/gen_completions.py)."""

from __future__ import annotations

SHELLS = {"bash": "zigznote.bash", "zsh": "_zigznote", "fish": "zigznote.fish"}


def render(shell: str) -> str:
    from typer._completion_shared import get_completion_script

    script = get_completion_script(prog_name="zigznote", complete_var="_ZIGZNOTE_COMPLETE", shell=shell)
    return script.rstrip("\n") + "\n"
