"""What every HubSpot service function shares: the provider's description for the shared
integration code (``services/integrations/common.py``), the API client, the refresher, calls
with the stored token and the connection lookup."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from zigznote.integrations.hubspot.client import HubSpotClient
from zigznote.integrations.hubspot.oauth import HubSpotOAuth
from zigznote.services import integrations
from zigznote.services.integrations import common

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.integrations.base import TokenSet
    from zigznote.store.engine import Database
    from zigznote.vault import Vault

T = TypeVar("T")

PROVIDER = "hubspot"
#: The integration-job kind of auto-sync (handler: ``integrations/hubspot/handlers.py``).
KIND = "hubspot.sync"
#: The events that make an auto-sync job (a summary, then action items, may arrive separately).
AUTO_SYNC_EVENTS = ("summary.ready", "action_items.ready")
#: The connection settings ``hubspot settings`` manages (IntegrationConnection.settings).
SETTING_KEYS = ("auto_sync", "create_contacts", "default_owner")
APP = common.ProviderApp(
    provider=PROVIDER,
    title="HubSpot",
    kind=KIND,
    events=AUTO_SYNC_EVENTS,
    auto_setting="auto_sync",
    credentials_page="Client ID and Client secret from the app's Auth page on HubSpot's developer platform",
    # What missing credentials block, unless said otherwise: the OAuth flow, which a static
    # token pasted on stdin avoids.
    token_stdin_instead="to store a service key instead, use `hubspot connect --token-stdin`",
)


@contextmanager
def open_client(settings: Settings, *, sleep: Callable[[float], None] | None = None) -> Iterator[HubSpotClient]:
    """A :class:`HubSpotClient` on ``HUBSPOT_API_BASE`` and ``HUBSPOT_API_VERSION`` for one
    service call, closed afterwards. ``sleep``: how rate-limit waits sleep (tests)."""
    extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    with HubSpotClient(
        api_base=str(settings.hubspot_api_base), version=str(settings.hubspot_api_version), **extra
    ) as client:
        yield client


def oauth(
    settings: Settings, client: HubSpotClient, *, needed_for: str, instead: str | None = APP.token_stdin_instead
) -> HubSpotOAuth:
    """The app's :class:`HubSpotOAuth` (authorize URL, code exchange, refresh, revoke) over
    ``client``. Raises ConfigError (6, ``hubspot_not_configured``, the hint offering
    ``instead``) without HUBSPOT_CLIENT_ID/SECRET."""
    client_id, secret = common.app_credentials(settings, APP, needed_for=needed_for, instead=instead)
    return HubSpotOAuth(
        client_id=client_id,
        client_secret=secret,
        redirect_uri=str(settings.hubspot_redirect_uri),
        authorize_url=str(settings.hubspot_oauth_authorize_url),
        scopes=common.scopes_setting(settings, APP),
        client=client,
    )


def with_token(
    db: Database, vault: Vault, settings: Settings, org_id: str, client: HubSpotClient, call: Callable[[str], T]
) -> T:
    """``call(access_token)`` through ``services.integrations.call_with_token``: the stored
    token, refreshed first when it expires within 5 minutes (HubSpot's last 30), and exactly
    one refresh-and-retry when HubSpot refuses it. The app's credentials are only required when
    a refresh really happens (a service key never needs them). Raises NotFound
    (``not_connected``, 3), CredentialsRejected (6, "connect again"), and what ``call`` raises."""

    def refresh(tokens: TokenSet) -> TokenSet:
        return oauth(settings, client, needed_for="renewing the HubSpot access token").refresh(tokens)

    return integrations.call_with_token(db, vault, org_id=org_id, provider=PROVIDER, refresher=refresh, call=call)


def connection(db: Database, org_ref: str) -> tuple[str, dict[str, Any]]:
    """``(org_id, public view)`` of the organization's HubSpot connection; NotFound
    (``not_connected``, exit 3, hint: the connect command) when there is none."""
    return common.connection(db, org_ref, PROVIDER)
