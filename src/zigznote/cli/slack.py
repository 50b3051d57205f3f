"""`zigznote slack`: connect a Slack workspace, check it, pick a channel, post meeting summaries."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from zigznote.cli._context import AppContext, get_app
from zigznote.cli._output import Column
from zigznote.errors import InvalidInput
from zigznote.untrusted import for_terminal

app = typer.Typer(
    help="Connect Slack, list its channels, choose where summaries go, and post them.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Channel = Annotated[
    str | None, typer.Option("--channel", metavar="ID|#NAME", help="Slack channel: an ID (C0123ABCD) or #name.")
]


def _check(check: Mapping[str, Any] | None) -> str:
    if not check:
        return "-"
    return "ok" if check["ok"] else f"failed: {check['error']['message']}"


STATUS_FIELDS: list[Column] = [
    ("team", "workspace"),
    ("team_id", "workspace ID"),
    ("status", "state"),
    ("check", "check", _check),
    ("bot_user", "bot user"),
    ("bot_user_id", "bot user ID"),
    ("scopes", "scopes"),
    ("token_expires_at", "token expires"),
    ("refreshable", "renewable"),
    ("channel_name", "channel"),
    ("channel_id", "channel ID"),
    ("auto_send", "auto-send"),
    ("last_error", "last error"),
    ("last_error_at", "last error at"),
    ("connected_at", "connected"),
    ("refreshed_at", "token renewed"),
]
CHANNEL_COLUMNS = [("id", "id"), ("name", "name"), ("private", "private"), ("member", "member")]


def _say(line: str) -> None:
    """A line of the connect flow on stderr, also under --quiet and --json: the user needs the
    authorize URL and the prompts to finish the flow at all."""
    sys.stderr.write(for_terminal(line) + "\n")
    sys.stderr.flush()


def _read_pasted(prompt: str) -> str:
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


def _read_token() -> str:
    """The bot token from stdin: hidden input on a terminal, else everything piped in."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Slack bot token (xoxb-…, not shown): ", stream=sys.stderr)
    return sys.stdin.read(10_000)


def _duration(value: str | None) -> float | None:
    if value is None:
        return None
    from zigznote.timeutil import parse_duration

    seconds = parse_duration(value)
    if seconds <= 0:
        raise InvalidInput(f"--timeout must be above zero, not {value!r}", code="invalid_timeout")
    return seconds


def _services(ctx: AppContext) -> tuple[Any, Any]:
    """The database and the vault, opened before anything talks to Slack (a missing key or
    schema fails first, with nothing sent)."""
    return ctx.db(), ctx.vault()


def _expiry(data: Mapping[str, Any]) -> str:
    if data.get("token_expires_at"):
        return f"the token expires {data['token_expires_at']} and is renewed automatically"
    return "the token does not expire"


@app.command("connect")
def connect(
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the URL and paste the redirect URL back (SSH, no display).")
    ] = False,
    token_stdin: Annotated[
        bool, typer.Option("--token-stdin", help="Store a bot token (xoxb-…) read from stdin instead of OAuth.")
    ] = False,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", metavar="PEM", help="Certificate for the https callback (mkcert).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", metavar="PEM", help="Private key of --tls-cert.")] = None,
    timeout: Annotated[
        str | None, typer.Option("--timeout", metavar="DURATION", help="Wait this long for the redirect (5m).")
    ] = None,
) -> None:
    """Connect the organization's Slack workspace and store its bot token encrypted.

    OAuth v2 in the browser: the authorize URL is printed first; without a graphical browser
    (or with --no-browser) paste the URL the browser ends on. Needs SLACK_CLIENT_ID and
    SLACK_CLIENT_SECRET, except with --token-stdin (a bot token from the app's settings).

    Example: zigznote --org acme slack connect
    """
    from zigznote.services import slack

    ctx = get_app()
    if token_stdin and (no_browser or tls_cert or tls_key or timeout):
        raise InvalidInput(
            "--token-stdin stores a token without the OAuth flow: --no-browser, --tls-cert, --tls-key "
            "and --timeout do not apply",
            code="usage_error",
        )
    if (tls_cert is None) != (tls_key is None):
        # A usage slip (exit 2), found before the flow starts, not a configuration problem (6).
        raise InvalidInput(
            "--tls-cert and --tls-key go together: give both (the certificate and its private key) or neither",
            hint="e.g. `slack connect --tls-cert localhost+2.pem --tls-key localhost+2-key.pem` (mkcert's file names)",
            code="usage_error",
        )
    seconds = _duration(timeout)
    org = ctx.org_ref()
    db, vault = _services(ctx)
    data = slack.connect(
        db,
        vault,
        ctx.settings,
        org_ref=org,
        no_browser=no_browser,
        token=_read_token() if token_stdin else None,
        notify=_say,
        read_pasted=_read_pasted,
        env=os.environ,
        tls_cert=tls_cert,
        tls_key=tls_key,
        timeout=seconds,
    )
    if ctx.out.json:
        ctx.out.item(data)
        return
    bot = f"bot user {data['bot_user_id']}" if data.get("bot_user_id") else "a bot token"
    ctx.out.success(f"connected Slack workspace {data['team'] or '?'} ({data['team_id']}) with {bot}")
    ctx.out.notice(f"scopes: {', '.join(data['scopes']) or '(Slack did not say)'}; {_expiry(data)}")
    if data["released_jobs"]:
        released = data["released_jobs"]
        ctx.out.notice(f"released {released} held Slack job{'s' if released != 1 else ''}: they run again now")
    if data["auto_send_dropped"]:
        ctx.out.warn("another workspace: auto-send was turned off (choose a channel here with `slack settings`)")


@app.command("status")
def status() -> None:
    """Show the connection and check it live with Slack's auth.test.

    Workspace, bot user, scopes, token expiry, channel, auto-send and the last error. A failed
    check is shown (exit 0), not an error: use `slack test` in scripts.

    Example: zigznote --org acme slack status
    """
    from zigznote.services import slack

    ctx = get_app()
    org = ctx.org_ref()
    db, vault = _services(ctx)
    data = slack.status(db, vault, ctx.settings, org_ref=org)
    ctx.out.item(data, fields=STATUS_FIELDS)
    if not ctx.out.json and not data["check"]["ok"] and data["check"]["error"].get("hint"):
        ctx.out.notice(f"hint: {data['check']['error']['hint']}")


@app.command("channels")
def channels() -> None:
    """List the channels the app can see: ID, name, private, member.

    Public and private channels, archived ones left out.

    Example: zigznote --org acme slack channels
    """
    from zigznote.services import slack

    ctx = get_app()
    org = ctx.org_ref()
    db, vault = _services(ctx)
    rows = slack.channels(db, vault, ctx.settings, org_ref=org)
    ctx.out.items(rows, CHANNEL_COLUMNS, empty="the Slack app sees no channels")


@app.command("test")
def test() -> None:
    """Check that Slack accepts the stored token (auth.test); exit 6 if not.

    Example: zigznote --org acme slack test
    """
    from zigznote.services import slack

    ctx = get_app()
    org = ctx.org_ref()
    db, vault = _services(ctx)
    data = slack.test(db, vault, ctx.settings, org_ref=org)
    if ctx.out.json:
        ctx.out.item(data)
    else:
        ctx.out.success(
            f"Slack accepts the token: workspace {data['team'] or '?'} ({data['team_id']}), "
            f"bot {data['bot_user'] or '?'} ({data['bot_user_id']})"
        )
    if data["missing_scopes"]:
        ctx.out.warn(
            f"the token lacks {', '.join(data['missing_scopes'])}: add them in the Slack app settings and connect again"
        )


@app.command("settings")
def settings(
    channel: Channel = None,
    auto_send: Annotated[
        bool | None,
        typer.Option("--auto-send/--no-auto-send", help="Post every summary.ready meeting to the channel."),
    ] = None,
) -> None:
    """Choose the default channel and turn auto-send on or off (no options: show them).

    The channel is an ID or #name. Auto-send makes each summary.ready event queue a
    slack.summary job for that channel (see `jobs rules list`).

    Example: zigznote --org acme slack settings --channel '#meetings' --auto-send
    """
    from zigznote.services import slack

    ctx = get_app()
    org = ctx.org_ref()
    db, vault = _services(ctx)
    warnings: list[str] = []
    data = slack.update_settings(
        db, vault, ctx.settings, org_ref=org, channel=channel, auto_send=auto_send, member_warning=warnings
    )
    ctx.out.item(
        data,
        fields=[
            ("channel_name", "channel"),
            ("channel_id", "channel ID"),
            ("auto_send", "auto-send"),
            ("rule", "job rule", lambda r: f"{', '.join(r['events'])} → {', '.join(r['targets'])}" if r else "-"),
        ],
    )
    for line in warnings:
        ctx.out.warn(line)


@app.command("send")
def send(
    meeting: Annotated[str, typer.Argument(metavar="MEETING", help="Meeting ID or external ID.")],
    channel: Channel = None,
) -> None:
    """Post a meeting's summary to a channel (the default one unless --channel).

    Title, date, participants, summary, action items and a link, as Block Kit; a long summary
    continues as replies in the message's thread.

    Example: zigznote --org acme slack send m-123 --channel '#meetings'
    """
    from zigznote.services import slack

    ctx = get_app()
    org = ctx.org_ref()
    db, vault = _services(ctx)
    data = slack.send_summary(db, vault, ctx.settings, org_id=org, meeting_ref=meeting, channel=channel)
    if ctx.out.json:
        ctx.out.item(data)
        return
    count = len(data["messages"])
    more = f" and {count - 1} repl{'ies' if count > 2 else 'y'} in its thread" if count > 1 else ""
    ctx.out.success(f"posted the summary of {meeting} to {data['channel']}: message {data['ts']}{more}")


@app.command("disconnect")
def disconnect(
    uninstall: Annotated[
        bool, typer.Option("--uninstall", help="Also remove the app from the workspace (apps.uninstall).")
    ] = False,
) -> None:
    """Revoke the bot token at Slack and delete the stored connection.

    Auto-send goes too. A token Slack already refuses counts as revoked.

    Example: zigznote --org acme slack disconnect
    """
    from zigznote.services import slack

    ctx = get_app()
    org = ctx.org_ref()
    db, vault = _services(ctx)
    data = slack.disconnect(db, vault, ctx.settings, org_ref=org, uninstall=uninstall)
    if ctx.out.json:
        ctx.out.item(data)
        return
    how = "the token was already invalid" if data["already_invalid"] else "token revoked"
    if data["uninstalled"]:
        how = "app uninstalled from the workspace (all its tokens revoked)"
    ctx.out.success(f"disconnected Slack workspace {data['team'] or '?'} ({data['team_id']}): {how}")
    if data["uninstalled"] is False:
        ctx.out.warn("the app could not be uninstalled with an invalid token: remove it in Slack's app management")
    if data["auto_send_dropped"]:
        ctx.out.notice("auto-send is off (its job rule was removed)")
