"""`zigznote slack`: connect a Slack workspace, check it, pick a channel, post meeting summaries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zigznote.cli import _connect
from zigznote.cli._output import Column
from zigznote.errors import InvalidInput

app = typer.Typer(
    help="Connect Slack, list its channels, choose where summaries go, and post them.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Channel = Annotated[
    str | None, typer.Option("--channel", metavar="ID|#NAME", help="Slack channel: an ID (C0123ABCD) or #name.")
]


STATUS_FIELDS: list[Column] = [
    ("team", "workspace"),
    ("team_id", "workspace ID"),
    ("status", "state"),
    ("check", "check", _connect.check_cell),
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


@app.command("connect")
def connect(
    no_browser: _connect.NoBrowser = False,
    token_stdin: Annotated[
        bool, typer.Option("--token-stdin", help="Store a bot token (xoxb-…) read from stdin instead of OAuth.")
    ] = False,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", metavar="PEM", help="Certificate for the https callback (mkcert).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", metavar="PEM", help="Private key of --tls-cert.")] = None,
    timeout: _connect.Timeout = None,
) -> None:
    """Connect the organization's Slack workspace and store its bot token encrypted.

    OAuth v2 in the browser: the authorize URL is printed first; without a graphical browser
    (or with --no-browser) paste the URL the browser ends on. Needs SLACK_CLIENT_ID and
    SLACK_CLIENT_SECRET, except with --token-stdin (a bot token from the app's settings).

    Example: zigznote --org acme slack connect
    """
    from zigznote.services import slack

    oauth_options = {"--no-browser": no_browser, "--tls-cert": tls_cert, "--tls-key": tls_key, "--timeout": timeout}
    _connect.token_stdin_alone(token_stdin, oauth_options)
    if (tls_cert is None) != (tls_key is None):
        # A usage slip (exit 2), found before the flow starts, not a configuration problem (6).
        raise InvalidInput(
            "--tls-cert and --tls-key go together: give both (the certificate and its private key) or neither",
            hint="e.g. `slack connect --tls-cert localhost+2.pem --tls-key localhost+2-key.pem` (mkcert's file names)",
            code="usage_error",
        )
    how = _connect.flow(no_browser=no_browser, timeout=timeout)
    ctx, org, db, vault = _connect.opened()
    data = slack.connect(
        db,
        vault,
        ctx.settings,
        org_ref=org,
        token=_connect.read_token("Slack bot token (xoxb-…, not shown): ") if token_stdin else None,
        flow=how,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    bot = f"bot user {data['bot_user_id']}" if data.get("bot_user_id") else "a bot token"
    connected = f"connected Slack workspace {data['team'] or '?'} ({data['team_id']}) with {bot}"
    shown = _connect.show_connected(ctx, data, title="Slack", connected=connected, token="token")
    if shown and data["auto_send_dropped"]:
        ctx.out.warn("another workspace: auto-send was turned off (choose a channel here with `slack settings`)")


@app.command("status")
def status() -> None:
    """Show the connection and check it live with Slack's auth.test.

    Workspace, bot user, scopes, token expiry, channel, auto-send and the last error. A failed
    check is shown (exit 0), not an error: use `slack test` in scripts.

    Example: zigznote --org acme slack status
    """
    from zigznote.services import slack

    ctx, org, db, vault = _connect.opened()
    _connect.show_status(ctx, slack.status(db, vault, ctx.settings, org_ref=org), STATUS_FIELDS)


@app.command("channels")
def channels() -> None:
    """List the channels the app can see: ID, name, private, member.

    Public and private channels, archived ones left out.

    Example: zigznote --org acme slack channels
    """
    from zigznote.services import slack

    ctx, org, db, vault = _connect.opened()
    rows = slack.channels(db, vault, ctx.settings, org_ref=org)
    ctx.out.items(rows, CHANNEL_COLUMNS, empty="the Slack app sees no channels")


@app.command("test")
def test() -> None:
    """Check that Slack accepts the stored token (auth.test); exit 6 if not.

    Example: zigznote --org acme slack test
    """
    from zigznote.services import slack

    ctx, org, db, vault = _connect.opened()
    data = slack.test(db, vault, ctx.settings, org_ref=org)
    accepted = (
        f"Slack accepts the token: workspace {data['team'] or '?'} ({data['team_id']}), "
        f"bot {data['bot_user'] or '?'} ({data['bot_user_id']})"
    )
    _connect.show_tested(ctx, data, accepted=accepted, where="in the Slack app settings")


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

    ctx, org, db, vault = _connect.opened()
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
            ("rule", "job rule", _connect.rule_cell),
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

    ctx, org, db, vault = _connect.opened()
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
    local_only: _connect.LocalOnly = False,
) -> None:
    """Revoke the bot token at Slack and delete the stored connection.

    Auto-send goes too. A token Slack already refuses counts as revoked. When Slack cannot be
    reached or the token cannot be used (e.g. SLACK_CLIENT_SECRET lost), --local-only deletes
    the stored connection without revoking: the token then stays valid at Slack until revoked there.

    Example: zigznote --org acme slack disconnect
    """
    from zigznote.services import slack

    ctx, org, db, vault = _connect.opened()
    data = slack.disconnect(db, vault, ctx.settings, org_ref=org, uninstall=uninstall, local_only=local_only)
    how = "the token was already invalid" if data["already_invalid"] else "token revoked"
    if data["uninstalled"]:
        how = "app uninstalled from the workspace (all its tokens revoked)"
    what = f"Slack workspace {data['team'] or '?'} ({data['team_id']})"
    if _connect.show_disconnected(ctx, data, what=what, how=how) and data["uninstalled"] is False:
        ctx.out.warn("the app could not be uninstalled with an invalid token: remove it in Slack's app management")
    if data["auto_send_dropped"] and not ctx.out.json:
        ctx.out.notice("auto-send is off (its job rule was removed)")
