"""Option aliases shared by several commands (one spelling, one help text)."""

from __future__ import annotations

from typing import Annotated

import typer

Limit = Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="Show at most N rows.")]
Since = Annotated[
    str | None,
    typer.Option("--since", help="Only newer than this: a duration (2h, 7d) or a date (2026-11-01)."),
]
Force = Annotated[bool, typer.Option("--force", help="Do it even when it destroys data.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
ShowSecret = Annotated[bool, typer.Option("--show-secret", help="Print the secret (handle with care).")]
