"""Posting a meeting summary to Slack: the first message in the channel, the rest in its thread."""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from zigznote.errors import InvalidInput, NotFound, ZigznoteError
from zigznote.integrations.slack.blocks import SlackMessage, summary_messages
from zigznote.integrations.slack.client import SlackClient
from zigznote.services import meetings, orgs
from zigznote.services.integrations import common
from zigznote.services.slack._common import channels_command, connection, open_client, parse_channel, with_token

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.store.engine import Database
    from zigznote.vault import Vault


def _channel_required(db: Database, org_id: str) -> InvalidInput:
    with db.session() as session:
        send = orgs.command(session, org_id, "slack send MEETING --channel '#name'")
        default = orgs.command(session, org_id, "slack settings --channel '#name'")
    return InvalidInput(
        "no Slack channel given, and the organization has no default channel",
        hint=f"name one: `{send}`, or set a default: `{default}`",
        code="channel_required",
    )


def _meeting_required(db: Database, org_id: str) -> InvalidInput:
    with db.session() as session:
        listing = orgs.command(session, org_id, "meetings list")
    return InvalidInput(
        "meeting reference is empty",
        hint=f"give a meeting ID or external ID; `{listing}` shows them",
        code="meeting_required",
    )


def _with_listing(exc: ZigznoteError, db: Database, org_id: str) -> None:
    """Give Slack's ``channel_not_found`` a hint naming this organization's channel listing
    (the adapter's hint cannot know the organization)."""
    if isinstance(exc, NotFound) and exc.code == "channel_not_found":
        exc.hint = (
            f"check the channel ID with `{channels_command(db, org_id)}`; a private channel must invite the app first"
        )


def _after_partial(exc: ZigznoteError, *, posted: int, total: int, thread_ts: str | None) -> ZigznoteError:
    """``exc`` (same class, code and hint) saying which messages did reach Slack."""
    message = (
        f"{exc.message} (message {posted + 1} of {total}; messages 1-{posted} were posted, "
        f"thread {thread_ts}: sending the meeting again posts it again from the start)"
    )
    again = type(exc)(message, hint=exc.hint, code=exc.code)
    return again


def _poster(
    client: SlackClient, *, channel: str, message: SlackMessage, thread_ts: str | None
) -> Callable[[str], dict[str, str]]:
    """One ``chat.postMessage`` of ``message``, given the token (what ``call_with_token`` calls)."""

    def post(token: str) -> dict[str, str]:
        return client.post_message(
            token, channel=channel, text=message["text"], blocks=message["blocks"], thread_ts=thread_ts
        )

    return post


def send_summary(
    db: Database,
    vault: Vault,
    settings: Settings,
    *,
    org_id: str,
    meeting_ref: str,
    channel: str | None,
    sent: Mapping[int, str] | None = None,
    on_posted: Callable[[int, str], None] | None = None,
) -> dict[str, Any]:
    """Post a meeting's summary as Block Kit messages: message 0 to the channel, the others as
    replies in its thread (``thread_ts`` = message 0's ``ts``).

    ``org_id``: the organization's ID or slug. ``meeting_ref``: meeting ID or external ID
    (``services.meetings.resolve``). ``channel``: ID or ``#name``; None uses the default
    channel of ``slack settings``. The messages are ``integrations.slack.blocks.summary_messages``
    (within Slack's limits; every word and action item once), posted with
    ``chat.postMessage`` (https://docs.slack.dev/reference/methods/chat.postMessage), each
    through ``call_with_token`` (refreshed once if Slack refuses the token).

    Resuming (the job handler's retries): ``sent`` maps message indexes (0-based) to the ``ts``
    of messages already posted by an earlier attempt; those are not posted again, and
    ``sent[0]`` is the thread. Each new post is reported at once: ``on_posted(index, ts)``,
    and recorded into ``sent`` itself when it is a mutable mapping (a dict), so a caller that
    catches an error knows what reached Slack. The split is deterministic for an unchanged
    meeting.

    Returns ``{"channel": <Slack's channel ID>, "ts": <message 0's ts>, "messages": [ts …],
    "meeting_id"}``. Raises InvalidInput (2: ``meeting_required`` for an empty meeting reference,
    checked first; ``channel_required``, ``invalid_channel``, ``invalid_blocks``/
    ``msg_blocks_too_long``, never retried), NotFound (3: ``not_connected``,
    ``meeting_not_found``, ``channel_not_found``), Conflict (4, ``not_in_channel`` with the
    invite hint), ConfigError (6, ``missing_scope``), CredentialsRejected (6), ProviderError
    (5). After a partial post the error says which messages were posted.
    """
    if not meeting_ref.strip():  # a usage slip: said before the connection or the channel is looked at
        raise _meeting_required(db, common.org_id_of(db, org_id))
    org, shown = connection(db, org_id)
    target = channel if channel is not None else (shown.get("settings") or {}).get("channel_id")
    if not target:
        raise _channel_required(db, org)
    channel_id, name = parse_channel(str(target), listing=channels_command(db, org))
    post_to = channel_id or f"#{name}"
    with db.session() as session:
        meeting = meetings.public(meetings.resolve(session, org, meeting_ref))
    messages = summary_messages(meeting)
    done = {i: ts for i, ts in (sent or {}).items() if isinstance(i, int) and 0 <= i < len(messages) and ts}
    posted: list[str] = []
    thread_ts: str | None = done.get(0)
    with open_client(settings) as client:
        for index, message in enumerate(messages):
            if index in done:
                posted.append(done[index])
                continue

            try:
                post = _poster(client, channel=post_to, message=message, thread_ts=thread_ts if index > 0 else None)
                answer = with_token(db, vault, settings, org, client, post)
            except ZigznoteError as exc:
                if not posted:
                    _with_listing(exc, db, org)
                    raise
                raise _after_partial(exc, posted=index, total=len(messages), thread_ts=thread_ts) from None
            post_to = answer["channel"]  # Slack's ID, also when the channel was given by name
            posted.append(answer["ts"])
            if index == 0:
                thread_ts = answer["ts"]
            if isinstance(sent, MutableMapping):
                sent[index] = answer["ts"]
            if on_posted is not None:
                on_posted(index, answer["ts"])
    return {"channel": post_to, "ts": posted[0], "messages": posted, "meeting_id": meeting["id"]}
