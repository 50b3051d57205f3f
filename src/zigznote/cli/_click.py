"""The parts of Click that Typer uses but does not re-export, imported in this one place.

Typer 0.26 vendored Click as ``typer._click`` (before, Click was a separate dependency with
other exception classes), so the floor is ``typer>=0.26``. Everything else uses Typer's
public names (``typer.Context``, ``typer.Exit``, ``typer.core.TyperGroup``; ``Context`` here
is their base class, which overrides of TyperGroup's methods must accept); if a Typer
release moves these, this import fails at once instead of an error slipping past the
exit-status mapping.
"""

from __future__ import annotations

from typer._click import Command, Context, HelpFormatter
from typer._click.exceptions import ClickException, NoArgsIsHelpError, NoSuchOption
from typer._click.globals import get_current_context

__all__ = [
    "ClickException",
    "Command",
    "Context",
    "HelpFormatter",
    "NoArgsIsHelpError",
    "NoSuchOption",
    "get_current_context",
]
