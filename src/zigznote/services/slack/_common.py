"""What every Slack service function shares: the provider's description for the shared
integration code (``services/integrations/common.py``), the HTTP client, the refresher, calls
with the stored token, the connection lookup and channel references."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from zigznote.errors import InvalidInput
from zigznote.integrations.slack.client import SlackClient
from zigznote.integrations.slack.oauth import SlackOAuth
from zigznote.services import integrations
from zigznote.services.integrations import common

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.integrations.base import TokenSet
    from zigznote.store.engine import Database
    from zigznote.vault import Vault

T = TypeVar("T")

PROVIDER = "slack"
#: The integration-job kind of auto-send (handler: ``integrations/slack/handlers.py``).
KIND = "slack.summary"
#: The event that makes an auto-send job.
AUTO_SEND_EVENTS = ("summary.ready",)
APP = common.ProviderApp(
    provider=PROVIDER,
    title="Slack",
    kind=KIND,
    events=AUTO_SEND_EVENTS,
    auto_setting="auto_send",
    credentials_page="Client ID and Client Secret from the Basic Information page of the Slack app",
    # What missing credentials block, unless said otherwise: the OAuth flow, which a bot token
    # pasted on stdin avoids.
    token_stdin_instead="to store a bot token instead, use `slack connect --token-stdin`",
)

# Slack conversation IDs: C (public), G (private, older), D (direct message), then upper-case
# letters and digits (https://docs.slack.dev/reference/objects/conversation-object).
CHANNEL_ID_RE = re.compile(r"[CGD][A-Z0-9]{2,40}")
# Channel names: lower case, up to 80 characters, no spaces or periods in new names, but older
# workspaces have other names: anything printable without spaces, within bounds.
_CHANNEL_NAME_RE = re.compile(r"[^\s#,]{1,80}")


@contextmanager
def open_client(settings: Settings) -> Iterator[SlackClient]:
    """A :class:`SlackClient` on ``SLACK_API_BASE`` for one service call, closed afterwards."""
    with SlackClient(api_base=str(settings.slack_api_base)) as client:
        yield client


def oauth(settings: Settings, client: SlackClient, *, needed_for: str) -> SlackOAuth:
    """The app's :class:`SlackOAuth` (authorize URL, code exchange, refresh) over ``client``.
    Raises ConfigError (6, ``slack_not_configured``) without SLACK_CLIENT_ID/SECRET."""
    client_id, secret = common.app_credentials(settings, APP, needed_for=needed_for, instead=APP.token_stdin_instead)
    return SlackOAuth(
        client_id=client_id,
        client_secret=secret,
        redirect_uri=str(settings.slack_redirect_uri),
        authorize_url=str(settings.slack_oauth_authorize_url),
        scopes=common.scopes_setting(settings, APP),
        api_base=str(settings.slack_api_base),
        client=client,
    )


def with_token(
    db: Database, vault: Vault, settings: Settings, org_id: str, client: SlackClient, call: Callable[[str], T]
) -> T:
    """``call(access_token)`` through ``services.integrations.call_with_token``: the stored token,
    refreshed first when it expires within 5 minutes, and exactly one refresh-and-retry when
    Slack refuses it (a refusal that cannot be cured puts the connection in state ``error``).
    The app's credentials are only required when a refresh really happens (a bot token pasted
    with ``--token-stdin`` never needs them). Raises NotFound (``not_connected``, exit 3),
    CredentialsRejected (6), and what ``call`` raises."""

    def refresh(tokens: TokenSet) -> TokenSet:
        return oauth(settings, client, needed_for="renewing the Slack access token").refresh(tokens)

    return integrations.call_with_token(db, vault, org_id=org_id, provider=PROVIDER, refresher=refresh, call=call)


def connection(db: Database, org_ref: str) -> tuple[str, dict[str, Any]]:
    """``(org_id, public view)`` of the organization's Slack connection; NotFound
    (``not_connected``, exit 3, hint: the connect command) when there is none."""
    return common.connection(db, org_ref, PROVIDER)


def channels_command(db: Database, org_id: str) -> str:
    """``zigznote --org SLUG slack channels``: the listing hints point to."""
    return common.command(db, org_id, "slack channels")


def parse_channel(value: str, *, listing: str = "zigznote slack channels") -> tuple[str | None, str | None]:
    """``(channel_id, None)`` for an ID (``C0123ABCD``), ``(None, name)`` for ``#name`` or a bare
    name. Raises InvalidInput (exit 2, ``invalid_channel``) for anything else; its hint names
    ``listing`` (:func:`channels_command` when the organization is known)."""
    text = value.strip() if isinstance(value, str) else ""
    if CHANNEL_ID_RE.fullmatch(text):
        return text, None
    name = text.removeprefix("#")
    if _CHANNEL_NAME_RE.fullmatch(name) and name.isprintable():
        return None, name
    raise InvalidInput(
        f"not a Slack channel: {value!r}",
        hint=f"give a channel ID (C0123ABCD) or #name; `{listing}` lists them",
        code="invalid_channel",
    )
