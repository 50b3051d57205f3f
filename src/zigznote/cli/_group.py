"""The root command class: maps every domain error to its exit status in one place."""

from __future__ import annotations

import sys
import traceback
from typing import Any

import typer
from typer.core import TyperGroup

from zigznote.cli._output import Output
from zigznote.errors import EXIT_INTERRUPTED, ZigznoteError


def _output_of(ctx: typer.Context) -> Output:
    obj = ctx.find_root().obj
    if isinstance(obj, Output):  # settings failed to load; the callback stored this first
        return obj
    out = getattr(obj, "out", None)
    if isinstance(out, Output):
        return out
    return Output(json="--json" in sys.argv)


class ZigznoteGroup(TyperGroup):
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ZigznoteError as exc:
            _output_of(ctx).error(exc)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _output_of(ctx).notice("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort, typer._click.exceptions.ClickException):
            raise
        except Exception as exc:  # a bug: say so plainly, exit 1
            out = _output_of(ctx)
            out.error(
                ZigznoteError(
                    f"unexpected error ({type(exc).__name__}): {exc}",
                    hint="this is a bug in zigznote; rerun with -v for the traceback and report it",
                )
            )
            if out.verbose:
                traceback.print_exc()
            raise typer.Exit(1) from None
        finally:
            obj = ctx.find_root().obj
            close = getattr(obj, "close", None)
            if callable(close):
                close()
