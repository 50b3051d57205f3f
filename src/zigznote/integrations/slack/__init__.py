"""The Slack adapter: the edge between zigznote and the Slack Web API.

- :mod:`.client`: :class:`~.client.SlackClient`, the Web API calls (``auth.test``,
  ``conversations.list``, ``chat.postMessage``, ``auth.revoke``, ``apps.uninstall``) with rate
  limits waited out; :mod:`.errors` maps Slack's ``ok: false`` answers to the error tree.
- :mod:`.oauth`: :class:`~.oauth.SlackOAuth` (OAuth v2 bot install, token rotation) and
  :func:`~.oauth.grant_from_bot_token` for a token pasted with ``--token-stdin``.
- :mod:`.blocks`: :func:`~.blocks.summary_messages`, a meeting summary as Block Kit messages
  within Slack's limits (pure; the caller posts the first one and the rest as thread replies).

- :mod:`.handlers`: the ``slack.summary`` job (auto-send) run by the delivery worker, on top of
  ``services.slack`` (the one module here that reaches the database, through the job's context).

Nothing else here touches the database or the vault; the submodules import httpx, so this
package imports none of them itself (``--help`` stays cheap).
"""
