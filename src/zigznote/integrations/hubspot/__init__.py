"""The HubSpot adapter: the edge between zigznote and HubSpot's date-versioned APIs.

- :mod:`.client`: :class:`~.client.HubSpotClient` (the request loop with rate limits waited
  out, account details, owners) and the path templates (``/crm/objects/{version}/…``,
  ``/oauth/{version}/…``; default version :data:`~.client.DEFAULT_API_VERSION`).
- :mod:`.search`: contacts by email (``IN`` on ``email`` and ``hs_additional_emails``), free-text
  contact search, objects by our external key (:class:`~.search.Contact`).
- :mod:`.batch`: batch create/update read item by item (:class:`~.batch.ItemResult`), whole-batch
  refusals split until the bad input is isolated.
- :mod:`.oauth`: :class:`~.oauth.HubSpotOAuth` (code exchange, refresh, revoke, introspect on the
  dated OAuth endpoints) and :func:`~.oauth.grant_from_static_token` (service keys and legacy
  private-app tokens pasted with ``--token-stdin``).
- :mod:`.errors`: HubSpot's error bodies as the zigznote error tree.

Sources for every path and field: ``tests/fixtures/hubspot/README.md``. Nothing here touches
the database or the vault; the submodules import httpx, so this package imports none of them
itself (``--help`` stays cheap).
"""
