"""The one place that writes to the terminal: tables, JSON, JSON Lines and errors.

Data goes to stdout; notices, progress and errors go to stderr. Under ``--json``
stdout carries exactly one JSON document (or one object per line for streams) and
nothing else, so scripts can pipe it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zigznote.errors import ZigznoteError

if TYPE_CHECKING:  # Rich costs ~25 ms to import: only human output loads it, on first use
    from rich.console import Console

Column = tuple[str, str] | tuple[str, str, Callable[[Any], str]]


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(data: Any, *, indent: int | None = 2) -> str:
    return json.dumps(data, default=_default, ensure_ascii=False, indent=indent)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value) if value else "-"
    if isinstance(value, dict):
        return dumps(value, indent=None)
    return str(value)


@dataclass
class Output:
    json: bool = False
    quiet: bool = False
    verbose: bool = False
    _console: Console | None = field(default=None, init=False, repr=False, compare=False)
    _err_console: Console | None = field(default=None, init=False, repr=False, compare=False)

    # Rich honours NO_COLOR and drops ANSI codes when the stream is not a terminal.
    @property
    def console(self) -> Console:
        """stdout for people, created on first use (never needed under --json)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False, soft_wrap=False)
        return self._console

    @property
    def err_console(self) -> Console:
        """stderr for people, created on first use."""
        if self._err_console is None:
            from rich.console import Console

            self._err_console = Console(stderr=True, highlight=False)
        return self._err_console

    # -- data ---------------------------------------------------------------
    def item(
        self, data: Mapping[str, Any], *, title: str | None = None, fields: Sequence[Column] | None = None
    ) -> None:
        """One object: a JSON object, or a two-column table for people."""
        if self.json:
            self._write(dumps(data))
            return
        from rich.table import Table

        table = Table(title=title, show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for col in fields or [(k, k) for k in data]:
            key, label = col[0], col[1]
            fmt = col[2] if len(col) == 3 else _cell
            table.add_row(label, fmt(data.get(key)))
        self.console.print(table)

    def items(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[Column],
        *,
        title: str | None = None,
        empty: str = "nothing to show",
    ) -> None:
        """A list: a JSON array, or a table with the given columns."""
        if self.json:
            self._write(dumps(list(rows)))
            return
        if not rows:
            self.notice(empty)
            return
        from rich.table import Table

        table = Table(title=title)
        for col in columns:
            table.add_column(col[1], overflow="fold")
        for row in rows:
            cells = []
            for col in columns:
                fmt = col[2] if len(col) == 3 else _cell
                cells.append(fmt(row.get(col[0])))
            table.add_row(*cells)
        self.console.print(table)

    def line(self, data: Mapping[str, Any]) -> None:
        """One JSON Lines record (streams), flushed at once."""
        sys.stdout.write(dumps(data, indent=None) + "\n")
        sys.stdout.flush()

    def lines(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.line(row)

    def raw(self, text: str) -> None:
        """Text that is the result itself (a secret shown once, a script)."""
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()

    def print(self, renderable: Any) -> None:
        """A Rich renderable for people (never under --json)."""
        if not self.json:
            self.console.print(renderable)

    # -- messages -----------------------------------------------------------
    def success(self, message: str) -> None:
        """A confirmation for people; silent under --json and --quiet."""
        if not (self.json or self.quiet):
            self.err_console.print(f"[green]✓[/green] {_escape(message)}")

    def notice(self, message: str) -> None:
        if not self.quiet:
            self.err_console.print(_escape(message))

    def warn(self, message: str) -> None:
        self.err_console.print(f"[yellow]warning:[/yellow] {_escape(message)}")

    def debug(self, message: str) -> None:
        if self.verbose:
            self.err_console.print(f"[dim]{message}[/dim]")

    def error(self, exc: ZigznoteError) -> None:
        if self.json:
            sys.stderr.write(dumps({"error": exc.to_dict()}, indent=None) + "\n")
            sys.stderr.flush()
            return
        self.err_console.print(
            f"[bold red]error:[/bold red] {_escape(exc.message)}", markup=True, highlight=False, soft_wrap=True
        )
        if exc.hint:
            self.err_console.print(f"[dim]hint:[/dim] {_escape(exc.hint)}", soft_wrap=True)

    def _write(self, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
