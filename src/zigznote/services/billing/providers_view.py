"""``billing providers``: every registered payment provider, whether it is set up, and what it
cannot do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zigznote.billing import providers
from zigznote.errors import ConfigError

if TYPE_CHECKING:
    from zigznote.config import Settings

__all__ = ["list_providers"]


def list_providers(settings: Settings) -> list[dict[str, Any]]:
    """One entry per registered provider, by name: ``{"name", "title", "default", "configured",
    "problem", "capabilities"}``. ``configured``: its keys are set (it could be built; nothing is
    sent); ``problem``: the ConfigError message otherwise (never a key's value);
    ``capabilities``: ``Capabilities.as_json()`` (flags, prorations, intervals, notes, cannot)."""
    rows = []
    for name in providers.names():
        cls = providers.get(name)
        problem = None
        try:
            cls.from_settings(settings).close()
        except ConfigError as exc:
            problem = exc.message
        rows.append(
            {
                "name": name,
                "title": cls.title,
                "default": name == settings.billing_provider,
                "configured": problem is None,
                "problem": problem,
                "capabilities": cls.capabilities.as_json(),
            }
        )
    return rows
