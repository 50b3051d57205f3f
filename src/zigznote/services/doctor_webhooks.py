"""`doctor`'s look at the stored webhooks: problems a healthy configuration can still hide.

* A webhook whose URL the SSRF guard refuses *now* (the allow-list changed, or its host
  re-pointed to a private address) while deliveries are queued for it: each of those will be
  refused at connect time and only show up as retries. Doctor names it with the reason.
* A webhook that migration 0003 renamed because its organization had two of that name (names
  are unique per organization since then): commands that used the old name now reach the
  other one, so the operator should pick a name on purpose.

Warnings, not failures: the installation works, some of its data needs a look.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import func, select

from zigznote.errors import InvalidInput
from zigznote.store.engine import Database
from zigznote.webhooks import ssrf
from zigznote.wording import plural

# Refusal codes of the guard that mean "this address will never be connected to"; a host that
# does not resolve right now is a network question, not a refusal.
_REFUSED = frozenset({ssrf.CODE_NOT_ALLOWED, ssrf.CODE_INVALID_URL})
# Rows that will still be sent (held ones as soon as their webhook is enabled).
_QUEUED = ("pending", "delivering", "held")


def refusal(url: str, allow_nets: ssrf.AllowNets, resolve: ssrf.Resolver | None = None) -> str | None:
    """Why the SSRF guard refuses ``url`` today, or None if a delivery could connect.

    http is judged as allowed (whether it was created with --allow-http is not stored, and
    the sender does not refuse http): only the address matters here.
    """
    try:
        ssrf.validate_webhook_url(url, allow_nets=allow_nets, allow_http=True, resolve=resolve)
    except InvalidInput as exc:
        if exc.code in _REFUSED:
            return exc.message
    return None


def webhook_warnings(
    db: Database,
    *,
    allow_nets: list[ssrf.IPNetwork] | None,
    resolve: Callable[[str, int], list[str]] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """(number of webhooks, warnings); each warning has ``message`` and ``hint``.

    ``allow_nets`` is the parsed allow-list; None skips the refused-URL part (the allow-list
    could not be parsed, so no verdict would be right). Only webhooks with queued deliveries
    are resolved (a DNS lookup each), so the check costs nothing while the queue is empty.
    """
    from zigznote.delivery.queue import views
    from zigznote.store.models import Organization, Webhook

    warnings: list[dict[str, Any]] = []
    with db.session() as session:
        total = int(session.exec(select(func.count()).select_from(Webhook)).one())
        counts = views.queued_by_webhook(session.connection(), _QUEUED)
        hooks = session.exec(
            select(Webhook, Organization.slug)
            .join(Organization, Organization.id == Webhook.org_id)  # type: ignore[arg-type]
            .where(Webhook.id.in_(list(counts)))  # type: ignore[attr-defined]
            .order_by(Webhook.id)
        ).all()
        queued = [(hook, slug, counts[hook.id]) for hook, slug in hooks]
        renamed = session.exec(
            select(Webhook, Organization.slug)
            .join(Organization, Organization.id == Webhook.org_id)  # type: ignore[arg-type]
            .where(Webhook.renamed_from.is_not(None))  # type: ignore[union-attr]
            .order_by(Webhook.id)
        ).all()
    for hook, slug, count in queued if allow_nets is not None else []:
        why = refusal(hook.url, allow_nets, resolve)
        if why is not None:
            warnings.append(
                {
                    "message": f"webhook {hook.name} ({hook.id}, org {slug}) has "
                    f"{plural(count, 'queued delivery', 'queued deliveries')}, but its URL is refused: {why}",
                    "hint": f"point it at a reachable receiver with `zigznote --org {slug} webhooks update "
                    f"{hook.id} --url URL`, or fix the allow-list ({ssrf.ALLOW_NETS_ENV})",
                }
            )
    for hook, slug in renamed:
        warnings.append(
            {
                "message": f"webhook {hook.id} (org {slug}) was renamed from {hook.renamed_from!r} to "
                f"{hook.name!r} by the upgrade that made names unique per organization",
                "hint": f"rename it with `zigznote --org {slug} webhooks update {hook.id} --name NAME`",
            }
        )
    return total, warnings
