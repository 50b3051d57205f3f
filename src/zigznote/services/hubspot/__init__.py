"""HubSpot for an organization: connect, check, settings, contacts, sync a meeting, disconnect.

The service layer of ``zigznote hubspot …`` and of the ``hubspot.sync`` job handler. It joins
the HubSpot adapter (``integrations/hubspot``: dated CRM and OAuth APIs, batch writes read per
item, contact search) with the connection store (``services/integrations``: encrypted tokens,
serialized refresh, one refresh-and-retry) and the link store (``integration_link``: which
HubSpot object is which meeting, action item or participant). Every call to HubSpot goes
through ``call_with_token``; nothing here prints.

Modules: ``connection`` (connect, status, test, disconnect), ``settings`` (auto-sync rule,
contact creation, default owner), ``contacts`` (search), ``plan`` (what a meeting becomes:
pure), ``sync`` (sending the plan, recording links), ``links`` (the link store),
``associations`` (which contacts each synced object is associated with), ``_common``
(the provider's description, client, token calls). What HubSpot and Slack share (app
credentials, the job rule, the connect orchestration, ``disconnect --local-only``) is
``services.integrations.common``. Functions take ``(db, vault, settings)`` first.
"""

from __future__ import annotations

from zigznote.services.hubspot._common import AUTO_SYNC_EVENTS, KIND, PROVIDER
from zigznote.services.hubspot.connection import connect, disconnect, status, test
from zigznote.services.hubspot.contacts import contacts
from zigznote.services.hubspot.settings import update_settings
from zigznote.services.hubspot.sync import sync_meeting

__all__ = [
    "AUTO_SYNC_EVENTS",
    "KIND",
    "PROVIDER",
    "connect",
    "contacts",
    "disconnect",
    "status",
    "sync_meeting",
    "test",
    "update_settings",
]
