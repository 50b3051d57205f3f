"""Integrations with third-party providers (Slack; HubSpot next) on one OAuth core.

The core, shared by every provider:

- :mod:`.base`: :class:`~.base.TokenSet`, :class:`~.base.Grant`,
  :class:`~.base.AuthorizationRequest` and the :class:`~.base.OAuthIntegration` base class
  (authorize URL with ``state``, PKCE S256 where the provider accepts it for a confidential client).
- :mod:`.loopback`: the one-shot callback server bound to the redirect URI's loopback host and
  fixed port (http, or https with :mod:`.tls`).
- :mod:`.tls`: an operator certificate, or a generated self-signed ``localhost`` certificate.
- :mod:`.browser`: browser or paste mode, and opening a graphical browser (never a console one).
- :mod:`.connect`: :func:`~.connect.obtain_grant`, the whole connect flow up to the code exchange.

Providers live in sub-packages (``slack/``). Storage of tokens (encrypted through the vault) and
serialized refresh are in ``services/integrations.py``; nothing here touches the database. Every
module here is imported only by the commands that need it (``--help`` stays cheap).
"""
