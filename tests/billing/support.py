"""Helpers for billing service and CLI tests: a plan catalog file, and JSON made comparable
across runs (our IDs and write times left out)."""

from __future__ import annotations

from typing import Any

__all__ = ["PLANS_TOML", "WRITE_TIMES", "stable", "write_plans"]


#: A catalog for tests: two plans, prices in USD (month, year), NGN and JPY.
PLANS_TOML = """
[plans.pro]
name = "Pro"
description = "For growing teams"
features = ["Unlimited meetings", "Slack and HubSpot"]
limits = { seats = 10, meetings_per_month = 500 }
prices = [
  { currency = "USD", interval = "month", amount = "29.00" },
  { currency = "USD", interval = "year", amount = "290.00" },
  { currency = "NGN", interval = "month", amount = "25000" },
]

[plans.team]
name = "Team"
prices = [
  { currency = "USD", interval = "month", amount = "99.00" },
  { currency = "JPY", interval = "month", amount = "15000" },
]
"""


#: Keys holding the time of one of our writes: they change from run to run.
WRITE_TIMES = frozenset({"synced_at", "created_at", "updated_at"})


def _ours(value: Any) -> bool:
    from zigznote.ids import PREFIXES, looks_like

    return isinstance(value, str) and value.partition("_")[0] in PREFIXES and looks_like(value, value.partition("_")[0])


def stable(data: Any) -> Any:
    """``data`` without what changes from run to run: our own IDs (``bcus_…``, ``pay_…``: values
    shaped like one, under any key) and the times of our writes, so the rest compares exactly."""
    if isinstance(data, list):
        return [stable(item) for item in data]
    if not isinstance(data, dict):
        return data
    return {k: stable(v) for k, v in data.items() if k not in WRITE_TIMES and not _ours(v)}


def write_plans(path: Any, text: str = PLANS_TOML) -> str:
    """Write a catalog file; its path as text for ``--file``."""
    path.write_text(text)
    return str(path)
