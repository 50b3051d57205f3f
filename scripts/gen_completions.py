"""Regenerate completions/ from the CLI: python scripts/gen_completions.py"""

from pathlib import Path

from zigznote.cli._completions import SHELLS, render

out = Path(__file__).resolve().parent.parent / "completions"
out.mkdir(exist_ok=True)
for shell, name in SHELLS.items():
    (out / name).write_text(render(shell))
    print(f"wrote completions/{name}")
