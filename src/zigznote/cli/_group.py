"""The root command class: maps every domain error to its exit status in one place, and
imports and builds each command group only when it is used.

Every error, Typer's usage errors included, reads ``error: …`` (and ``hint: …``) for people
or is one JSON line under ``--json``. A closed stdout or stderr ends the command quietly
with EXIT_BROKEN_PIPE (141). Command-line arguments that are not valid UTF-8 (Python holds
the undecodable bytes as lone surrogates) are refused (exit 2) before any command runs.
"""

from __future__ import annotations

import shlex
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup
from typer.main import get_group_from_info
from typer.models import TyperInfo

from zigznote.cli._click import ClickException, Command, Context, HelpFormatter, NoArgsIsHelpError, NoSuchOption
from zigznote.cli._context import env_wants_json
from zigznote.cli._output import EXIT_BROKEN_PIPE, Output, silence_streams
from zigznote.errors import EXIT_INTERRUPTED, InvalidInput, ZigznoteError
from zigznote.untrusted import decode_text, for_terminal


def _output_of(ctx: typer.Context) -> Output:
    """The output of the running command: JSON if --json, ZIGZNOTE_OUTPUT or (once the
    settings have loaded) the config file say so; flag and environment only if they failed."""
    root = ctx.find_root()
    out = getattr(root.obj, "out", None)
    if isinstance(out, Output):
        return out
    # The root callback has not run (e.g. an unknown command): its parsed options still say.
    return Output(json=bool(root.params.get("json_")) or env_wants_json())


#: Where the root command keeps the command line it was given (``Context.meta`` is shared by
#: every context of one run), to show a global option given too late in its right place.
_ARGV_KEY = "zigznote.argv"


def _global_option_error(exc: NoSuchOption, ctx: Context) -> ZigznoteError | None:
    """``--json`` (or another root option) given after the command: say it is a global
    option and show the command line with it in front, ready to copy. None otherwise."""
    root = ctx.find_root()
    if root is ctx:
        return None
    name = exc.option_name.partition("=")[0]
    option = next(
        (p for p in root.command.params if name in getattr(p, "opts", ()) + getattr(p, "secondary_opts", ())), None
    )
    if option is None:
        return None
    argv: list[str] = list(ctx.meta.get(_ARGV_KEY, []))
    # The last occurrence: the one after the command (`--db URL` or `--db=URL` alike).
    found = [i for i, arg in enumerate(argv) if arg == name or arg.startswith(name + "=")]
    moved: list[str] = []
    if found:
        at = found[-1]
        takes_value = not getattr(option, "is_flag", False) and argv[at] == name
        moved = argv[at : at + (2 if takes_value else 1)]
        del argv[at : at + len(moved)]
    example = shlex.join(["zigznote", *(moved or [name]), *argv])
    return ZigznoteError(
        f"{name} is a global option: it goes before the command group",
        hint=f"for example `{example}`",
        code="usage_error",
    )


def _usage_error(exc: ClickException) -> ZigznoteError:
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, NoSuchOption) and ctx is not None:
        placed = _global_option_error(exc, ctx)
        if placed is not None:
            return placed
    path = ctx.command_path if ctx is not None else "zigznote"
    message = exc.format_message().strip().removesuffix(".")
    # "No such option: --x" -> "no such option: --x", in the style of every other error (but
    # never "URL …" -> "uRL …").
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    return ZigznoteError(message, hint=f"run `{path} --help`", code="usage_error")


def _check_arguments(args: list[str]) -> None:
    """Refuse (InvalidInput) an argument holding bytes that are not UTF-8: nothing could store,
    send or even print it, and failing later would be a crash instead of exit 2."""
    for number, arg in enumerate(args, start=1):
        decode_text(arg, where=f"command-line argument {number} ({arg[:40]!r})")


def _closed_pipe() -> typer.Exit:
    silence_streams()
    return typer.Exit(EXIT_BROKEN_PIPE)


def _summary(help_text: str) -> str:
    """The first paragraph of a help text, on one line."""
    return " ".join(help_text.strip().split("\n\n", 1)[0].split())


def _write_commands(formatter: HelpFormatter, rows: list[tuple[str, str]]) -> None:
    if rows:
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _listed(group: TyperGroup, ctx: Context) -> list[tuple[str, str]]:
    """A group's subcommands with their whole summary, as Rich help showed them.

    Click's plain help would cut each summary at ~45 characters or its first full stop
    ("Create the config file, the database (migrated) and the..."); write_dl wraps instead.
    (Shell completion still uses Click's short form: one line per candidate.)
    """
    rows = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is not None and not cmd.hidden:
            rows.append((name, cmd.short_help or _summary(cmd.help or "")))
    return rows


class _SubGroup(TyperGroup):
    """A command group built by the root (see ZigznoteGroup.lazy_groups)."""

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        _write_commands(formatter, _listed(self, ctx))


class _LazyCommands(MutableMapping[str, Command]):
    """The root's subcommands: groups are built on first lookup, in declaration order.

    Iterating (names, ``in``, ``len``) builds nothing; ``[name]``/``get`` build that one
    group; ``values()``/``items()`` build them all.
    """

    def __init__(self, built: Mapping[str, Command], loaders: Mapping[str, Callable[[], Command]]) -> None:
        self._built = dict(built)
        self._loaders = {name: load for name, load in loaders.items() if name not in self._built}
        self._names = [*self._built, *self._loaders]

    def is_built(self, name: str) -> bool:
        return name in self._built

    def __getitem__(self, name: str) -> Command:
        cmd = self._built.get(name)
        if cmd is None:
            load = self._loaders.pop(name)  # KeyError: no such command
            cmd = self._built[name] = load()
        return cmd

    def __setitem__(self, name: str, cmd: Command) -> None:
        if name not in self:
            self._names.append(name)
        self._loaders.pop(name, None)
        self._built[name] = cmd

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._names.remove(name)
        self._built.pop(name, None)
        self._loaders.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._built or name in self._loaders

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)


class ZigznoteGroup(TyperGroup):
    # Command group name -> module whose `app` (a typer.Typer) implements it. Each module is
    # imported, and its Click group built (Typer evaluates every command's signature, ~0.5 ms
    # each), only when that group runs or help/completion lists it.
    lazy_groups: ClassVar[Mapping[str, str]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        loaders = {name: (lambda name=name: self._load_group(name)) for name in self.lazy_groups}
        self.commands = _LazyCommands(self.commands, loaders)

    def _sub_app(self, name: str) -> typer.Typer:
        # __import__, not importlib.import_module: only the former shows in `python -X importtime`.
        sub = __import__(self.lazy_groups[name], fromlist=["app"]).app
        assert isinstance(sub, typer.Typer)
        return sub

    def _load_group(self, name: str) -> Command:
        # What `root.add_typer(sub_app, name=name)` would build, with the root's help settings.
        # (pretty_exceptions_short only matters with pretty exceptions, which the root disables.)
        return get_group_from_info(
            TyperInfo(self._sub_app(name), name=name, cls=_SubGroup),
            pretty_exceptions_short=True,
            rich_markup_mode=self.rich_markup_mode,
            suggest_commands=self.suggest_commands,
        )

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)  # names only: builds nothing

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The command list of --help, without building the groups that are not built yet."""
        commands = self.commands
        if not isinstance(commands, _LazyCommands):
            return _write_commands(formatter, _listed(self, ctx))
        rows = []
        for name in self.list_commands(ctx):
            if not commands.is_built(name) and name in self.lazy_groups:
                info = self._sub_app(name).info  # the sub-app's own help=/hidden=, without building it
                if isinstance(info.help, str):
                    if info.hidden is not True:
                        rows.append((name, _summary(info.help)))
                    continue
            cmd = commands[name]
            if not cmd.hidden:
                rows.append((name, cmd.short_help or _summary(cmd.help or "")))
        _write_commands(formatter, rows)

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        # Errors in the root options happen before invoke(); they get the same `error: …`
        # (or, under --json, one JSON line on stderr) as every other error.
        wants_json = "--json" in args or env_wants_json()  # before parsing consumes `args`
        try:
            if ctx.parent is None:
                _check_arguments(args)
                ctx.meta[_ARGV_KEY] = list(args)
            return super().parse_args(ctx, args)
        except NoArgsIsHelpError:
            raise
        except (ClickException, InvalidInput) as exc:
            if ctx.parent is not None:
                raise
            error = exc if isinstance(exc, InvalidInput) else _usage_error(exc)
            try:
                Output(json=wants_json).error(error)
            except BrokenPipeError:
                raise _closed_pipe() from None
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:  # --help or --version into a closed pipe
            raise _closed_pipe() from None

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            result = self._invoke(ctx)
            sys.stdout.flush()  # a closed pipe shows here, not as a traceback at exit
        except BrokenPipeError:
            raise _closed_pipe() from None
        out = getattr(ctx.find_root().obj, "out", None)
        if isinstance(out, Output) and out.pipe_closed:  # a stream (worker run) stopped on it
            raise _closed_pipe()
        return result

    def _invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise
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
            _output_of(ctx).error(_usage_error(exc))
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
            if out.verbose:  # exception texts can quote outside data: escaped like any message
                sys.stderr.write(for_terminal(traceback.format_exc(), keep_newlines=True))
            raise typer.Exit(1) from None
        finally:
            obj = ctx.find_root().obj
            close = getattr(obj, "close", None)
            if callable(close):
                close()
