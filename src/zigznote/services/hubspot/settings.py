"""The organization's HubSpot settings: auto-sync (the job rule), contact creation, the
default task owner."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zigznote.errors import InvalidInput, NotFound
from zigznote.services.hubspot._common import APP, connection, open_client, with_token
from zigznote.services.integrations import common

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.store.engine import Database
    from zigznote.vault import Vault

_EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s]{1,252}\.[^@\s.]{1,63}")


def _public(conf: Mapping[str, Any], rule: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "auto_sync": bool(conf.get("auto_sync")),
        "create_contacts": bool(conf.get("create_contacts")),
        "default_owner": conf.get("default_owner"),
        "default_owner_id": conf.get("default_owner_id"),
        "rule": rule,
    }


def update_settings(
    db: Database,
    vault: Vault,
    settings: Settings,
    *,
    org_ref: str,
    auto_sync: bool | None = None,
    create_contacts: bool | None = None,
    default_owner: str | None = None,
) -> dict[str, Any]:
    """Change any of the three settings; with none given, show them.

    ``auto_sync`` True writes the organization's job rule (``summary.ready`` and
    ``action_items.ready`` → one ``hubspot.sync`` job for the portal: ``zigznote jobs rules
    list`` shows it), False removes it; settings and rule change in one transaction.
    ``create_contacts``: syncs create a contact for each participant without one.
    ``default_owner``: an email that must be a HubSpot owner (checked with the owners list;
    ``""`` clears it); tasks whose assignee is not an owner go to that owner.

    Returns ``{"auto_sync", "create_contacts", "default_owner", "default_owner_id", "rule"}``.
    Raises NotFound (3: ``not_connected``, ``owner_not_found``), InvalidInput (2:
    ``invalid_email``), CredentialsRejected (6), ProviderError (5).
    """
    org_id, shown = connection(db, org_ref)
    changes: dict[str, Any] = {}
    if default_owner is not None:
        email = default_owner.strip().lower()
        if not email:
            changes["default_owner"] = changes["default_owner_id"] = None
        else:
            if not _EMAIL_RE.fullmatch(email):
                raise InvalidInput(
                    f"--default-owner must be an email address, not {default_owner!r}",
                    hint="give the email of a HubSpot user who can own tasks, or '' to clear the default owner",
                    code="invalid_email",
                )
            with open_client(settings) as client:
                owners = with_token(db, vault, settings, org_id, client, client.owners)
            if email not in owners:
                raise NotFound(
                    f"{email} is not a HubSpot owner (a user of the portal who can own records)",
                    hint="add the user in HubSpot (Settings → Users & Teams), or pick another email",
                    code="owner_not_found",
                )
            changes["default_owner"], changes["default_owner_id"] = email, owners[email]
    if auto_sync is not None:
        changes["auto_sync"] = auto_sync
    if create_contacts is not None:
        changes["create_contacts"] = create_contacts
    hub_id = str(shown["account_id"])
    conf, rule = common.save_settings(
        db, org_id, APP, changes, rule=lambda now: common.KEEP if auto_sync is None else hub_id if auto_sync else None
    )
    return _public(conf, rule)
