"""The root command class: maps every domain error to its exit status in one place."""

from __future__ import annotations

import os
import traceback
from typing import Any

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.core import TyperGroup

from zigznote.cli._output import Output
from zigznote.errors import EXIT_INTERRUPTED, ZigznoteError


def _env_wants_json() -> bool:
    return os.environ.get("ZIGZNOTE_OUTPUT", "").strip().lower() == "json"


def _output_of(ctx: typer.Context) -> Output:
    root = ctx.find_root()
    obj = root.obj
    if isinstance(obj, Output):  # settings failed to load; the callback stored this first
        return obj
    out = getattr(obj, "out", None)
    if isinstance(out, Output):
        return out
    # The root callback has not run (e.g. an unknown command): its parsed options still say.
    return Output(json=bool(root.params.get("json_")) or _env_wants_json())


def _usage_error(exc: ClickException) -> ZigznoteError:
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "zigznote"
    return ZigznoteError(exc.format_message(), hint=f"run `{path} --help`", code="usage_error")


class ZigznoteGroup(TyperGroup):
    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        # Errors in the root options happen before invoke(); under --json they still must be
        # one JSON line on stderr rather than a Rich panel.
        wants_json = "--json" in args or _env_wants_json()  # before parsing consumes `args`
        try:
            return super().parse_args(ctx, args)
        except NoArgsIsHelpError:
            raise
        except ClickException as exc:
            if ctx.parent is None and wants_json:
                Output(json=True).error(_usage_error(exc))
                raise typer.Exit(exc.exit_code) from None
            raise

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ZigznoteError as exc:
            _output_of(ctx).error(exc)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            out = _output_of(ctx)
            if out.json:  # stderr under --json carries only the JSON error line
                out.error(ZigznoteError("interrupted", code="interrupted"))
            else:
                out.notice("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except NoArgsIsHelpError:
            raise
        except ClickException as exc:  # usage errors of a subcommand (unknown option, bad value)
            out = _output_of(ctx)
            if not out.json:
                raise  # Click/Typer render it for people
            out.error(_usage_error(exc))
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort):
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
