"""Slack for an organization: connect, check, list channels, settings, send, disconnect.

The service layer of ``zigznote slack …`` and of the ``slack.summary`` job handler. It joins
the Slack adapter (``integrations/slack``: Web API client, OAuth v2, Block Kit messages) with
the connection store (``services/integrations``: encrypted tokens, serialized refresh, one
refresh-and-retry). Every call to Slack goes through ``call_with_token``; nothing here prints.

Modules: ``connection`` (connect, status, test, disconnect), ``channels`` (channels, settings
and the auto-send job rule), ``send`` (send_summary), ``_common`` (the provider's description,
client, token calls, channel references). What Slack and HubSpot share (app credentials, the
job rule, the connect orchestration, ``disconnect --local-only``) is ``services.integrations.common``.
Functions take ``(db, vault, settings)`` first: the database, the vault and the loaded
:class:`zigznote.config.Settings` (``SLACK_*``, ``ZIGZNOTE_TLS_*``, ``ZIGZNOTE_OAUTH_TIMEOUT``).
"""

from __future__ import annotations

from zigznote.services.slack._common import AUTO_SEND_EVENTS, KIND, PROVIDER
from zigznote.services.slack.channels import channels, resolve_channel, update_settings
from zigznote.services.slack.connection import connect, disconnect, status, test
from zigznote.services.slack.send import send_summary

__all__ = [
    "AUTO_SEND_EVENTS",
    "KIND",
    "PROVIDER",
    "channels",
    "connect",
    "disconnect",
    "resolve_channel",
    "send_summary",
    "status",
    "test",
    "update_settings",
]
