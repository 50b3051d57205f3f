"""The one place that writes to the terminal: tables, JSON, JSON Lines and errors.

Data goes to stdout; notices, progress and errors go to stderr. Under ``--json``
stdout carries exactly one JSON document (or one object per line for streams) and
nothing else, so scripts can pipe it.

Everything shown to people is data, never instructions: every cell, title, message and
hint goes through :func:`zigznote.untrusted.for_terminal` (control characters and bidi
overrides shown as ``\\x1b``-style escapes) and reaches Rich as a ``Text``, never as markup,
so a receiver's ``\\x1b[2J`` or a meeting titled ``[red]x[/red]`` prints literally. JSON stays
exact: the same values, with C1 controls, bidi overrides and lone surrogates written as
``\\uXXXX`` escapes (JSON already escapes C0).
"""

from __future__ import annotations

import errno
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zigznote.cli._output_layout import Layout, is_time, is_whole, to_second
from zigznote.errors import ZigznoteError
from zigznote.untrusted import for_terminal

if TYPE_CHECKING:  # Rich costs ~25 ms to import: only human output loads it, on first use
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

Column = tuple[str, str] | tuple[str, str, Callable[[Any], str]]

#: Exit status when the reader of stdout or stderr went away (``| head``, a pager quitting):
#: 128 + SIGPIPE, what a shell reports for a program a closed pipe stopped.
EXIT_BROKEN_PIPE = 141


def silence_streams() -> None:
    """Point stdout and stderr at the null device (Python's documented recipe for a closed
    pipe): what is still buffered, and any later write, goes nowhere instead of raising
    BrokenPipeError again, at exit too. Streams without a file descriptor are left alone."""
    for stream in (sys.stdout, sys.stderr):
        try:
            fd = stream.fileno()
        except (AttributeError, ValueError, OSError):  # a test runner's in-memory stream
            continue
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# json.dumps(ensure_ascii=False) escapes C0 controls only; these pass raw and a terminal may
# act on them (C1 CSI, bidi overrides) or the stream cannot encode them (lone surrogates).
_JSON_UNSAFE_RE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")


def dumps(data: Any, *, indent: int | None = 2) -> str:
    """JSON text of ``data`` (datetimes ISO-8601); characters a terminal could act on are
    ``\\uXXXX``-escaped, which parses back to exactly the same value."""
    text = json.dumps(data, default=_default, ensure_ascii=False, indent=indent)
    # Such characters only occur inside JSON strings, where an escape is equivalent.
    return _JSON_UNSAFE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _text(value: str, style: str = "") -> Text:
    """Data as a Rich Text: controls escaped, never parsed as markup or emoji codes."""
    from rich.text import Text

    return Text(for_terminal(value), style=style)


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


def _new_console(**options: Any) -> Console:
    """A Rich console that lets a closed pipe surface as BrokenPipeError: Rich's own handling
    exits with status 1 from inside print(), past the CLI's exit-status mapping."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, "the reader closed the pipe")

    return _Console(**options)


def _terminate_gracefully() -> None:
    import signal

    # Handled by the stream's own SIGTERM handler (asyncio), which ends it cleanly.
    signal.raise_signal(signal.SIGTERM)


@dataclass
class Output:
    """How one command prints: JSON (``json``), only results and errors (``quiet``), or with
    detail (``verbose``). Human output goes through Rich, created on first use."""

    json: bool = False
    quiet: bool = False
    verbose: bool = False
    #: Called once when a stream's reader goes away mid-stream (e.g. to stop a worker).
    on_broken_pipe: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    #: Set once stdout or stderr turned out to be closed; the command then exits 141.
    pipe_closed: bool = field(default=False, init=False, compare=False)
    _console: Console | None = field(default=None, init=False, repr=False, compare=False)
    _err_console: Console | None = field(default=None, init=False, repr=False, compare=False)

    # Rich honours NO_COLOR and drops ANSI codes when the stream is not a terminal.
    @property
    def console(self) -> Console:
        """stdout for people, created on first use (never needed under --json)."""
        if self._console is None:
            self._console = _new_console(highlight=False, soft_wrap=False)
        return self._console

    @property
    def err_console(self) -> Console:
        """stderr for people, created on first use."""
        if self._err_console is None:
            self._err_console = _new_console(stderr=True, highlight=False)
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

        table = Table(title=_text(title) if title else None, show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for col in fields or [(k, k) for k in data]:
            key, label = col[0], col[1]
            fmt = col[2] if len(col) == 3 else _cell
            table.add_row(_text(label), _text(fmt(data.get(key))))
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
        cells = [
            [for_terminal((col[2] if len(col) == 3 else _cell)(row.get(col[0]))) for col in columns] for row in rows
        ]
        self.console.print(self._table(columns, cells, title=title))

    def _table(self, columns: Sequence[Column], cells: list[list[str]], *, title: str | None) -> Table:
        """A table that fits the console: IDs, identifiers and timestamps whole, other columns
        folded between words, the layout compact and the rightmost columns hidden (with a
        notice) when narrow."""
        from rich import box
        from rich.table import Table
        from rich.text import Text

        labels = [col[1] for col in columns]
        whole = [is_whole(col[0], [row[i] for row in cells]) for i, col in enumerate(columns)]
        width = self.console.width
        layout = Layout.of(labels, whole, cells)
        shown = layout.fit(width, compact=False)
        compact = len(shown) < len(columns)
        if compact:
            times = [i for i, col in enumerate(columns) if is_time(col[0], [row[i] for row in cells])]
            cells = [[to_second(c) if i in times else c for i, c in enumerate(row)] for row in cells]
            layout = Layout.of(labels, whole, cells)
            shown = layout.fit(width, compact=True)
        hidden = [labels[i] for i in range(len(columns)) if i not in shown]
        if hidden:
            self.notice(
                f"{width} columns wide: not showing {', '.join(hidden)} "
                "(widen the terminal, set COLUMNS, or use --json)"
            )
        table = Table(
            title=_text(title) if title else None,
            box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD,
            pad_edge=not compact,
            show_edge=not compact,
            collapse_padding=compact,
        )
        for i, size in zip(shown, layout.widths(shown, width, compact=compact), strict=True):
            if whole[i]:
                table.add_column(_text(labels[i]), no_wrap=True, overflow="ignore", width=size)
            else:
                table.add_column(_text(labels[i]), overflow="fold", width=size)
        for row in cells:
            table.add_row(*(Text(row[i]) for i in shown))
        return table

    def line(self, data: Mapping[str, Any]) -> None:
        """One JSON Lines record (streams), flushed at once.

        Raises BrokenPipeError when the reader has gone (after silencing the streams and
        calling ``on_broken_pipe`` the first time): a stream must stop, not run on unread.
        """
        try:
            sys.stdout.write(dumps(data, indent=None) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            self.broken_pipe()
            raise

    def stop_on_broken_pipe(self) -> None:
        """For a long-running stream (``worker run``, ``webhooks listen``): when its reader goes
        away, stop the way SIGTERM does (the command's own graceful path), then exit 141."""
        self.on_broken_pipe = _terminate_gracefully

    def broken_pipe(self) -> None:
        """Record that a reader went away: silence the streams, tell ``on_broken_pipe`` once."""
        first = not self.pipe_closed
        self.pipe_closed = True
        silence_streams()
        if first and self.on_broken_pipe is not None:
            self.on_broken_pipe()

    def lines(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """JSON Lines: one record per row (see ``line``)."""
        for row in rows:
            self.line(row)

    def raw(self, text: str) -> None:
        """One line that is the result itself (a key shown once, a received request), without
        Rich; controls (newlines too) are escaped, so one call prints exactly one line."""
        try:
            sys.stdout.write(for_terminal(text.removesuffix("\n")) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            self.broken_pipe()
            raise

    def print(self, renderable: Any) -> None:
        """A Rich renderable for people (never under --json)."""
        if not self.json:
            self.console.print(renderable)

    # -- messages -----------------------------------------------------------
    # Messages may quote outside text (a provider's error, a response excerpt): each is one
    # line of Text, controls escaped, never markup.
    def _message(self, prefix: str, style: str, message: str) -> None:
        from rich.text import Text

        line = Text.assemble((prefix, style), " ", for_terminal(message)) if prefix else Text(for_terminal(message))
        self.err_console.print(line, soft_wrap=True)

    def success(self, message: str) -> None:
        """A confirmation for people; silent under --json and --quiet."""
        if not (self.json or self.quiet):
            self._message("✓", "green", message)

    def notice(self, message: str) -> None:
        """Progress or a remark for people on stderr; silent under --quiet."""
        if not self.quiet:
            self._message("", "", message)

    def warn(self, message: str) -> None:
        """``warning: …`` on stderr (also under --quiet)."""
        self._message("warning:", "yellow", message)

    def debug(self, message: str) -> None:
        """Detail on stderr only with --verbose."""
        if self.verbose:
            self._message("", "", message)

    def error(self, exc: ZigznoteError) -> None:
        """``error: …`` and ``hint: …`` for people; one JSON line ``{"error": {…}}`` under --json."""
        if self.json:
            sys.stderr.write(dumps({"error": exc.to_dict()}, indent=None) + "\n")
            sys.stderr.flush()
            return
        self._message("error:", "bold red", exc.message)
        if exc.hint:
            self._message("hint:", "dim", exc.hint)

    def _write(self, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
