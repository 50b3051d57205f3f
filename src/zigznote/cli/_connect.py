"""The command plumbing `slack` and `hubspot` share: the connect flow's stderr lines and stdin
reads, option checks, the opening of the store, and the rendering of status, connect and
disconnect results. The provider modules keep only what differs (fields, wording)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from zigznote.cli._context import AppContext, get_app
from zigznote.cli._output import Column
from zigznote.errors import InvalidInput
from zigznote.untrusted import for_terminal

if TYPE_CHECKING:
    from zigznote.services.integrations.common import OAuthFlow

#: ``--timeout`` of the connect commands.
Timeout = Annotated[
    str | None, typer.Option("--timeout", metavar="DURATION", help="Wait this long for the redirect (5m).")
]
#: ``--no-browser`` of the connect commands.
NoBrowser = Annotated[
    bool, typer.Option("--no-browser", help="Print the URL and paste the redirect URL back (SSH, no display).")
]
#: ``--local-only`` of the disconnect commands.
LocalOnly = Annotated[
    bool,
    typer.Option(
        "--local-only",
        help="Delete the stored connection without revoking at the provider (its token stays valid there).",
    ),
]


def say(line: str) -> None:
    """A line of the connect flow on stderr, also under --quiet and --json: the user needs the
    authorize URL and the prompts to finish the flow at all."""
    sys.stderr.write(for_terminal(line) + "\n")
    sys.stderr.flush()


def read_pasted(prompt: str) -> str:
    """The pasted redirect URL (one line of stdin), the prompt on stderr. The line the prompt
    opened is always ended, so what follows (the result, an error, "interrupted") starts a line."""
    sys.stderr.write(prompt)
    sys.stderr.flush()
    try:
        pasted = sys.stdin.readline(20_000)
    except KeyboardInterrupt:  # Ctrl-C at the prompt: the terminal echoes no newline
        sys.stderr.write("\n")
        raise
    if not sys.stdin.isatty():  # a terminal echoes the Enter; piped input leaves the line open
        sys.stderr.write("\n")
    return pasted


def read_token(prompt: str) -> str:
    """A token from stdin: hidden input after ``prompt`` on a terminal, else everything piped in
    (at most 10,000 characters)."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt, stream=sys.stderr)
    return sys.stdin.read(10_000)


def duration(value: str | None) -> float | None:
    """``--timeout`` in seconds (None when not given). Raises InvalidInput (exit 2) for a
    malformed duration, or one not above zero (``invalid_timeout``)."""
    if value is None:
        return None
    from zigznote.timeutil import parse_duration

    seconds = parse_duration(value)
    if seconds <= 0:
        raise InvalidInput(f"--timeout must be above zero, not {value!r}", code="invalid_timeout")
    return seconds


def token_stdin_alone(token_stdin: bool, flow_options: Mapping[str, object]) -> None:
    """Refuse (exit 2, ``usage_error``) ``--token-stdin`` beside options of the OAuth flow
    (``flow_options``: option name → its value; any truthy value was given)."""
    given = [name for name, value in flow_options.items() if value]
    if token_stdin and given:
        names = list(flow_options)
        listed = f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else names[0]
        raise InvalidInput(
            f"--token-stdin stores a token without the OAuth flow: {listed} do not apply",
            code="usage_error",
        )


def flow(*, no_browser: bool, timeout: str | None) -> OAuthFlow:
    """The connect flow of a command: its lines on stderr, the paste prompt on stdin, this
    process's environment, ``--timeout`` parsed (InvalidInput, exit 2, when malformed)."""
    from zigznote.services.integrations.common import OAuthFlow

    return OAuthFlow(
        no_browser=no_browser, notify=say, read_pasted=read_pasted, env=os.environ, timeout=duration(timeout)
    )


def opened() -> tuple[AppContext, str, Any, Any]:
    """``(ctx, org, db, vault)`` of the running command: its context, the ``--org`` reference,
    and the database and vault, opened before anything talks to the provider (a missing
    ``--org``, key or schema fails first, with nothing sent)."""
    ctx = get_app()
    org = ctx.org_ref()
    return ctx, org, ctx.db(), ctx.vault()


def check_cell(check: Mapping[str, Any] | None) -> str:
    """The ``check`` cell of a status table: ``ok``, ``failed: <message>`` or ``-``."""
    if not check:
        return "-"
    return "ok" if check["ok"] else f"failed: {check['error']['message']}"


def rule_cell(rule: Mapping[str, Any] | None) -> str:
    """The ``job rule`` cell of a settings table: ``events → targets`` or ``-``."""
    return f"{', '.join(rule['events'])} → {', '.join(rule['targets'])}" if rule else "-"


def expiry(data: Mapping[str, Any], *, token: str) -> str:
    """``the <token> expires … and is renewed automatically``, or that it does not expire."""
    if data.get("token_expires_at"):
        return f"the {token} expires {data['token_expires_at']} and is renewed automatically"
    return "the token does not expire"


def show_status(ctx: AppContext, data: Mapping[str, Any], fields: list[Column]) -> None:
    """A status result: the fields, then the failed check's hint (people only)."""
    ctx.out.item(data, fields=fields)
    if not ctx.out.json and not data["check"]["ok"] and data["check"]["error"].get("hint"):
        ctx.out.notice(f"hint: {data['check']['error']['hint']}")


def show_connected(ctx: AppContext, data: Mapping[str, Any], *, title: str, connected: str, token: str) -> bool:
    """A connect result: the JSON document, or ``connected`` with the scopes, the token's expiry
    and the released jobs for people. True when the caller may add its own lines (people)."""
    if ctx.out.json:
        ctx.out.item(data)
        return False
    ctx.out.success(connected)
    ctx.out.notice(f"scopes: {', '.join(data['scopes']) or f'({title} did not say)'}; {expiry(data, token=token)}")
    if data["released_jobs"]:
        released = data["released_jobs"]
        ctx.out.notice(f"released {released} held {title} job{'s' if released != 1 else ''}: they run again now")
    return True


def show_tested(ctx: AppContext, data: Mapping[str, Any], *, accepted: str, where: str) -> None:
    """A test result: the JSON document, or ``accepted`` for people; then, in both modes, the
    scopes the token lacks and ``where`` to add them."""
    if ctx.out.json:
        ctx.out.item(data)
    else:
        ctx.out.success(accepted)
    if data["missing_scopes"]:
        ctx.out.warn(f"the token lacks {', '.join(data['missing_scopes'])}: add them {where} and connect again")


def show_disconnected(ctx: AppContext, data: Mapping[str, Any], *, what: str, how: str) -> bool:
    """A disconnect result: the JSON document, or ``disconnected <what>: <how>`` for people.
    After ``--local-only`` the warning that the token stays valid at the provider goes to
    stderr in both modes (and replaces ``how``). True when the caller may add its own lines."""
    if data.get("local_only"):
        if not ctx.out.json:
            ctx.out.success(f"disconnected {what}: the stored connection was deleted without revoking")
        else:
            ctx.out.item(data)
        ctx.out.warn(str(data["still_valid"]))
        return False
    if ctx.out.json:
        ctx.out.item(data)
        return False
    ctx.out.success(f"disconnected {what}: {how}")
    return True
