"""Payments, hosted checkout and refunds on Flutterwave v3, never charging twice.

- **Hosted payments** (``POST /payments``, "Flutterwave Standard": a link in ``data.link``;
  https://developer.flutterwave.com/docs/collecting-payments/standard) are keyed by ``tx_ref``,
  derived from the caller's idempotency key (:func:`.params.tx_ref`). Before a link is made, and
  again after a timeout or 5xx, the transaction is queried by ``tx_ref``
  (``GET /transactions/verify_by_reference``): if the customer already paid on a link a lost
  answer left behind, that transaction is the result and nothing is sent again ("query the
  status of the transaction to confirm if the payment is being processed before retrying",
  https://developer.flutterwave.com/docs/handling-error-timeouts). Only when Flutterwave has no
  transaction under the ``tx_ref`` is a link made (again), with the same ``tx_ref``.
- **Refunds** (``POST /transactions/{id}/refund``; no ``amount`` refunds it all,
  https://developer.flutterwave.com/docs/collecting-payments/refunds) have no idempotency key at
  Flutterwave. The remainder is computed from Flutterwave's own refunds first (``GET /refunds``,
  filtered by ``tx_id``): more than it is Conflict with nothing sent; ``comments`` carry our
  ``tx_ref`` so a refund whose answer was lost is recognised; after a timeout the refunds are
  read again before anything else happens. "The refund amount will be deducted from your
  available balance": a refusal for insufficient balance is a ProviderError saying so.
- **Payments** are transactions: ``GET /transactions/{id}/verify`` (or by ``tx_ref`` for an ID
  that is not a number), ``GET /transactions?customer_email=`` for a customer's list; what was
  refunded comes from ``GET /refunds``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from zigznote.billing.money import Money
from zigznote.billing.providers.flutterwave import mapping, params, verify
from zigznote.billing.providers.flutterwave.client import FlutterwaveClient
from zigznote.billing.providers.flutterwave.errors import Unanswered, unexpected
from zigznote.billing.types import Payment, PaymentStatus, Refund, RefundStatus
from zigznote.errors import Conflict, NotFound, ZigznoteError
from zigznote.untrusted import storable_text

__all__ = ["EXPECTED_KEY", "HostedLink", "PaymentDesk", "checked", "expected_of"]

_MAX_URL = 2048
#: ``meta`` key of a hosted payment holding what zigznote asked for (``"25000 NGN"``), so any
#: later read checks the transaction against it (:func:`checked`).
EXPECTED_KEY = "zigznote_expected"


def expected_of(tx: Mapping[str, Any]) -> Money | None:
    """What zigznote asked for when it made this payment's link (``meta.zigznote_expected``:
    sent server-side with the secret key, covered by ``payload_hash``), or None."""
    meta = tx.get("meta")
    text = meta.get(EXPECTED_KEY) if isinstance(meta, Mapping) else None
    if not isinstance(text, str) or text.count(" ") != 1:
        return None
    number, currency = text.split(" ")
    try:
        return mapping.money(number, currency, "expected amount")
    except ZigznoteError:
        return None


def checked(tx: Mapping[str, Any], payment: Payment) -> Payment:
    """``payment`` with its status from :func:`.verify.check` when zigznote knows what it asked
    for (:func:`expected_of`): a successful transaction that is short, in another currency or
    under another tx_ref is ``requires_action`` with the reason, never ``succeeded``."""
    expected = expected_of(tx)
    reference = tx.get("tx_ref")
    if expected is None or payment.status is not PaymentStatus.SUCCEEDED or not isinstance(reference, str):
        return payment
    result = verify.check(tx, verify.Expected(reference, expected))
    if result.paid:
        note = {"overpaid": str(result.overpaid.to_decimal())} if result.overpaid is not None else {}
        return replace(payment, metadata={**payment.metadata, "verdict": result.verdict.value, **note})
    return replace(
        payment,
        status=result.payment_status(),
        failure_message=result.reason,
        metadata={**payment.metadata, "verdict": result.verdict.value},
    )


class HostedLink:
    """What making a hosted payment came to: the ``link`` to send the customer to, or, when a
    transaction already exists under the ``tx_ref``, that ``transaction`` (and no link)."""

    def __init__(self, reference: str, link: str | None, transaction: Mapping[str, Any] | None) -> None:
        self.reference = reference
        self.link = link
        self.transaction = transaction


class PaymentDesk:
    """Transactions, hosted links and refunds over one client."""

    def __init__(self, client: FlutterwaveClient, secret_key: str) -> None:
        self._client = client
        self._secret_key = secret_key

    # -- transactions -----------------------------------------------------------------------

    def lookup(self, reference: str) -> dict[str, Any] | None:
        """The transaction under our ``tx_ref``, or None when Flutterwave has none. Any other
        failure is raised: an unanswered status query never counts as "nothing there"."""
        try:
            answer = self._client.get(
                "/transactions/verify_by_reference", {"tx_ref": reference}, what=f"look up tx_ref {reference}"
            )
        except NotFound:
            return None
        if not isinstance(answer.data, dict):
            raise unexpected(f"tx_ref {reference} with no transaction")
        return answer.data

    def transaction(self, payment_id: str) -> dict[str, Any]:
        """A transaction by Flutterwave ID (digits) or by our ``tx_ref``; NotFound otherwise."""
        if payment_id.isdigit():
            answer = self._client.get(
                f"/transactions/{quote(payment_id)}/verify", what=f"read transaction {payment_id}"
            )
            if not isinstance(answer.data, dict):
                raise unexpected(f"transaction {payment_id} with no transaction")
            return answer.data
        found = self.lookup(payment_id)
        if found is None:
            raise NotFound(f"Flutterwave has no transaction under tx_ref {payment_id!r}", code="flutterwave_not_found")
        return found

    def get(self, payment_id: str) -> Payment:
        """One payment, with what its refunds add up to."""
        tx = self.transaction(payment_id)
        return checked(tx, mapping.payment(tx, self._refunded(tx, self.refunds_of(tx))))

    def payments(self, *, customer_id: str | None = None) -> Iterator[Payment]:
        """Transactions, newest first (of one customer's email when given). Refunds are read
        once, on the first successful transaction."""
        query = {"customer_email": customer_id} if customer_id is not None else {}
        refunds: list[dict[str, Any]] | None = None
        for tx in self._client.pages("/transactions", query, what="list transactions"):
            if not isinstance(tx, dict):
                raise unexpected("a transaction that is not an object")
            if tx.get("status") == "successful" and refunds is None:
                refunds = list(self._refund_pages(None))
            mine = [r for r in refunds or [] if str(r.get("tx_id")) == str(tx.get("id"))]
            yield checked(tx, mapping.payment(tx, self._refunded(tx, mine)))

    # -- refunds -------------------------------------------------------------------------------

    def _refund_pages(self, since: datetime | None) -> Iterator[dict[str, Any]]:
        query = {"from": since.date().isoformat()} if since is not None else {}
        for item in self._client.pages("/refunds", query, what="list refunds"):
            if not isinstance(item, dict):
                raise unexpected("a refund that is not an object")
            yield item

    def refunds_of(self, tx: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The refunds of one transaction (none before it succeeded)."""
        if tx.get("status") != "successful":
            return []
        tx_id = str(tx.get("id"))
        return [r for r in self._refund_pages(mapping.timestamp(tx.get("created_at"))) if str(r.get("tx_id")) == tx_id]

    def _refunded(self, tx: Mapping[str, Any], refunds: list[dict[str, Any]]) -> Money:
        currency = tx.get("currency")
        total = Money.zero(mapping.money(tx.get("amount"), currency).currency)
        for item in refunds:
            made = mapping.refund(item, total.currency)
            if made.status is not RefundStatus.FAILED:
                total += made.amount
        return total

    def list_refunds(self, *, payment_id: str | None = None) -> Iterator[Refund]:
        """Refunds of one transaction, or all (each read in its transaction's currency)."""
        if payment_id is not None:
            tx = self.transaction(payment_id)
            currency = mapping.money(tx.get("amount"), tx.get("currency")).currency
            yield from (mapping.refund(r, currency) for r in self.refunds_of(tx))
            return
        currencies: dict[str, str] = {}
        for item in self._refund_pages(None):
            tx_id = mapping.flw_id(item.get("tx_id"), "transaction ID")
            if tx_id not in currencies:
                tx = self.transaction(tx_id)
                currencies[tx_id] = mapping.money(tx.get("amount"), tx.get("currency")).currency
            yield mapping.refund(item, currencies[tx_id])

    def refund(self, payment_id: str, *, idempotency_key: str, amount: Money | None, reason: str | None) -> Refund:
        """Refund ``amount`` (``None``: all that is left) of a successful transaction (module
        docstring). Conflict (nothing sent) for a transaction that is not successful, nothing
        left, or more than is left; ProviderError for insufficient balance."""
        tx = self.transaction(payment_id)
        tx_id = mapping.flw_id(tx.get("id"), "transaction ID")
        paid = mapping.payment(tx)
        if paid.status is not PaymentStatus.SUCCEEDED:
            raise Conflict(
                f"transaction {tx_id} is {paid.status.value}: only a successful payment can be refunded",
                code="payment_not_refundable",
            )
        marker = f"zigznote {params.tx_ref(idempotency_key)}"
        before = self.refunds_of(tx)
        for item in before:  # a retry of a refund whose answer was lost
            if marker in str(item.get("comments") or ""):
                return mapping.refund(item, paid.amount.currency)
        left = paid.amount - self._refunded(tx, before)
        if left <= Money.zero(left.currency):
            raise Conflict(f"transaction {tx_id} has nothing left to refund", code="nothing_to_refund")
        if amount is not None and amount > left:
            raise Conflict(
                f"a refund of {amount} is more than the {left} left on transaction {tx_id}",
                code="refund_exceeds_remainder",
            )
        full = amount is None and left == paid.amount
        value: Decimal | None = None if full else params.amount(amount or left)
        comments = marker + (f": {reason}" if reason else "")
        body = params.refund_create(value, comments)
        try:
            answer = self._client.post(
                f"/transactions/{quote(tx_id)}/refund", body, what=f"refund transaction {tx_id}", conflict=True
            )
        except Unanswered:
            known = {str(r.get("id")) for r in before}
            wanted = amount or left
            for item in self.refunds_of(tx):  # what did the lost request do?
                made = mapping.refund(item, paid.amount.currency)
                if made.id not in known and (made.amount == wanted or marker in str(item.get("comments") or "")):
                    return made
            raise
        if not isinstance(answer.data, dict):
            raise unexpected(f"refund of transaction {tx_id} with no refund")
        return mapping.refund(answer.data, paid.amount.currency)

    # -- hosted payments ------------------------------------------------------------------------

    def hosted(
        self,
        *,
        idempotency_key: str,
        money: Money,
        email: str,
        redirect_url: str,
        options: str,
        name: str | None = None,
        plan_id: str | None = None,
        title: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> HostedLink:
        """A Standard payment link for ``money`` under the key's ``tx_ref``, or the transaction
        already made under it (module docstring). Raises ProviderError when Flutterwave did not
        answer and has no transaction under the ``tx_ref`` (running it again is safe)."""
        reference = params.tx_ref(idempotency_key)
        expected = f"{params.amount_text(params.amount(money))} {money.currency}"
        body = params.payment_create(
            reference=reference, money=money, email=email, redirect_url=redirect_url, options=options,
            secret_key=self._secret_key, name=name, plan_id=plan_id, title=title, description=description,
            metadata={**(metadata or {}), EXPECTED_KEY: expected},
        )  # fmt: skip
        found = self.lookup(reference)
        if found is not None:
            return HostedLink(reference, None, found)
        try:
            answer = self._client.post("/payments", body, what=f"create a payment link for tx_ref {reference}")
        except Unanswered as exc:
            found = self.lookup(reference)  # the status query before anything is sent again
            if found is not None:
                return HostedLink(reference, None, found)
            raise Unanswered(
                f"{exc.message}; Flutterwave has no transaction under tx_ref {reference}, so nothing was charged",
                hint="run the same command again: it looks for the payment first and sends the same tx_ref",
            ) from None
        link = answer.data.get("link") if isinstance(answer.data, dict) else None
        if not isinstance(link, str) or not link.startswith(("https://", "http://")) or len(link) > _MAX_URL:
            raise unexpected(f"tx_ref {reference} without a payment link")
        return HostedLink(reference, storable_text(link, max_chars=_MAX_URL), None)
