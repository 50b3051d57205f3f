"""Contact search: by email (batched ``IN`` searches) or by free text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from zigznote.errors import InvalidInput
from zigznote.services.hubspot._common import connection, open_client, with_token

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.integrations.hubspot.search import Contact
    from zigznote.store.engine import Database
    from zigznote.vault import Vault

#: Most emails one command looks up (each 100 is one search request).
MAX_EMAILS = 1000


def _row(contact: Contact | None, searched: str | None = None) -> dict[str, Any]:
    return {
        "searched": searched,
        "id": contact.id if contact else None,
        "name": contact.name if contact else None,
        "email": contact.email if contact else None,
        "company": contact.company if contact else None,
        "additional_emails": list(contact.additional_emails) if contact else [],
    }


def contacts(
    db: Database,
    vault: Vault,
    settings: Settings,
    *,
    org_ref: str,
    emails: Sequence[str] = (),
    query: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Search HubSpot contacts by ``emails`` or by ``query`` (exactly one of them).

    By email: every email is lowercased and looked up in ``email`` and ``hs_additional_emails``
    (``IN``, 100 values per request, all pages); one row per distinct email asked, in the order
    given, with ``id`` None when no contact has it. By query: HubSpot's free-text search over
    its default searchable properties, at most ``limit`` rows (1-10,000), ``searched`` None.
    Rows: ``{"searched", "id", "name", "email", "company", "additional_emails"}``.

    Raises InvalidInput (2: neither or both, an email that is not one, more than
    :data:`MAX_EMAILS`), NotFound (3), CredentialsRejected (6), ConfigError (6,
    ``missing_scope``), ProviderError (5).
    """
    if bool(emails) == bool(query):
        raise InvalidInput(
            "give email addresses or --query TEXT (one of the two)",
            hint="e.g. `hubspot contacts ada@example.com` or `hubspot contacts --query Lovelace`",
            code="usage_error",
        )
    wanted = list(dict.fromkeys(e.strip().lower() for e in emails))
    bad = [e for e in wanted if "@" not in e or any(c.isspace() for c in e) or len(e) > 254]
    if bad:
        raise InvalidInput(
            f"not an email address: {bad[0]!r}",
            hint="give email addresses (ada@example.com), or --query TEXT to search names and companies",
            code="invalid_email",
        )
    if len(wanted) > MAX_EMAILS:
        raise InvalidInput(
            f"at most {MAX_EMAILS} email addresses at once, not {len(wanted)}",
            hint=f"look them up in batches of up to {MAX_EMAILS}",
            code="too_many_emails",
        )
    org_id, _ = connection(db, org_ref)
    with open_client(settings) as client:
        if query:
            text = query
            found = with_token(
                db, vault, settings, org_id, client, lambda t: client.search_contacts(t, text, limit=limit)
            )
            return [_row(c) for c in found]
        matched = with_token(db, vault, settings, org_id, client, lambda t: client.contacts_by_email(t, wanted))
    return [_row(matched.get(email), email) for email in wanted]
