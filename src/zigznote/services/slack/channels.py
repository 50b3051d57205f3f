"""Slack channels: the listing, and the organization's Slack settings (default channel,
auto-send)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zigznote.errors import InvalidInput, NotFound
from zigznote.services.integrations import common
from zigznote.services.slack._common import APP, channels_command, connection, open_client, parse_channel, with_token
from zigznote.untrusted import storable_text

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.store.engine import Database
    from zigznote.vault import Vault


def channels(db: Database, vault: Vault, settings: Settings, *, org_ref: str) -> list[dict[str, Any]]:
    """Every public and private channel the bot can see, archived ones left out:
    ``[{"id", "name", "private", "member"}]`` in Slack's order.

    ``conversations.list`` (https://docs.slack.dev/reference/methods/conversations.list) with
    ``types=public_channel,private_channel``, ``exclude_archived=true``, ``limit=1000``, following
    ``next_cursor`` until it is empty (a short or empty page may still carry one; a 429 is
    waited out and the same cursor asked again). Raises NotFound (3), CredentialsRejected (6),
    ConfigError (6, ``missing_scope``: ``channels:read``/``groups:read``), ProviderError (5).
    """
    org_id, _ = connection(db, org_ref)
    with open_client(settings) as client:
        found = with_token(db, vault, settings, org_id, client, lambda token: list(client.conversations(token)))
    return [{"id": c["id"], "name": c["name"], "private": c["is_private"], "member": c["is_member"]} for c in found]


def resolve_channel(db: Database, vault: Vault, settings: Settings, *, org_id: str, value: str) -> dict[str, Any]:
    """``{"id", "name", "private", "member"}`` of a channel given by ID or ``#name``, looked up
    once in ``conversations.list``. Raises InvalidInput (2, ``invalid_channel``), NotFound (3,
    ``channel_not_found``: the bot cannot see it), and what :func:`channels` raises."""
    listing = channels_command(db, org_id)
    channel_id, name = parse_channel(value, listing=listing)
    for channel in channels(db, vault, settings, org_ref=org_id):
        if channel_id is not None and channel["id"] == channel_id:
            return channel
        if name is not None and (channel["name"] or "").lower() == name.lower():
            return channel
    shown = channel_id or f"#{name}"
    raise NotFound(
        f"the Slack app cannot see a channel {shown} (archived channels do not count)",
        hint=f"`{listing}` lists the channels the app can see; a private channel must invite the app first "
        "(/invite @<bot> in the channel)",
        code="channel_not_found",
    )


def _public(shown: Mapping[str, Any], rule: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "channel_id": shown.get("channel_id"),
        "channel_name": shown.get("channel_name"),
        "auto_send": bool(shown.get("auto_send")),
        "rule": rule,
    }


def update_settings(
    db: Database,
    vault: Vault,
    settings: Settings,
    *,
    org_ref: str,
    channel: str | None,
    auto_send: bool | None,
    member_warning: list[str] | None = None,
) -> dict[str, Any]:
    """Set the default channel and/or auto-send; with neither, show them.

    ``channel``: an ID or ``#name``, resolved once through ``conversations.list`` and stored by
    ID and name. ``auto_send`` True writes the organization's job rule (``summary.ready`` →
    one ``slack.summary`` job for the channel: ``zigznote jobs rules list`` shows it), False
    removes it; changing the channel while auto-send is on moves the rule to the new channel.
    Settings and rule change in one transaction. ``member_warning``: when given, a line is
    appended if the bot is not in the chosen public channel and lacks ``chat:write.public``.

    Returns ``{"channel_id", "channel_name", "auto_send", "rule"}`` (``rule``: the job rule now
    in force, or None). Raises NotFound (3: ``not_connected``, ``channel_not_found``),
    InvalidInput (2: ``channel_required`` when auto-send is turned on without any channel,
    ``invalid_channel``), CredentialsRejected (6), ProviderError (5).
    """
    org_id, shown = connection(db, org_ref)
    current = shown.get("settings") or {}
    chosen: dict[str, Any] | None = None
    if channel is not None:
        chosen = resolve_channel(db, vault, settings, org_id=org_id, value=channel)
        public_scope = "chat:write.public" in (shown.get("scopes") or [])
        if member_warning is not None and not (chosen["member"] or chosen["private"] or public_scope):
            member_warning.append(
                f"the Slack app is not a member of #{chosen['name']}: invite it (/invite @<bot> in the "
                "channel) or add the chat:write.public scope and connect again, or posts will fail"
            )
    if auto_send and chosen is None and not current.get("channel_id"):
        command = common.command(db, org_id, "slack settings --channel '#name' --auto-send")
        raise InvalidInput(
            "auto-send needs a channel to post to, and none is set",
            hint=f"choose one in the same command: `{command}`",
            code="channel_required",
        )
    changes: dict[str, Any] = {}
    if chosen is not None:
        changes["channel_id"] = chosen["id"]
        changes["channel_name"] = storable_text(chosen["name"], max_chars=200)
    if auto_send is not None:
        changes["auto_send"] = auto_send

    def rule(now: Mapping[str, Any]) -> str | common.Keep | None:
        if auto_send is False:
            return None
        # Turned on, or a new channel while it is on: the rule follows the channel.
        if now.get("auto_send") and (auto_send or chosen is not None):
            return str(now["channel_id"])
        return common.KEEP

    now, in_force = common.save_settings(db, org_id, APP, changes, rule=rule)
    return _public(now, in_force)
