"""Transaction verification: is a Flutterwave payment the one zigznote asked for, fully paid?

Never from a redirect's query string or a webhook body: those are hints that a payment may
have happened. The transaction is read from the API (``GET /transactions/{id}/verify``, or
``GET /transactions/verify_by_reference?tx_ref=`` when only our reference is known) and checked
as Flutterwave says to (https://developer.flutterwave.com/docs/transaction-verification):

    "Verify that the transaction reference matches the one you generated. Verify that the status
    of the transaction is successful. Verify that the currency of the payment is as expected.
    Verify if the amount paid is greater or equal to the amount you expect. If the amount was
    greater, you can give the customer value and refund the rest."

The amount checked is ``amount`` (what the customer was asked for), never ``charged_amount``
(which includes fees the customer bore). getlago/lago's Flutterwave webhook is the
counter-example: it checks ``status == "successful"`` and records the verified ``amount``
without comparing it (or the currency) with the invoice, so a short payment marks the invoice
paid (``app/services/payment_providers/flutterwave/webhooks/charge_completed_service.rb``).

Verdicts (:class:`Verdict`): ``paid`` and ``overpaid`` are paid (the surplus is recorded in
:attr:`Verification.overpaid`, to refund or keep); ``underpaid``, ``wrong_currency`` and
``wrong_reference`` are successful transactions that are *not* this payment as asked: never
marked paid, flagged for a person; ``not_successful`` (pending, failed) and ``not_found``
(nothing under that reference yet) are not paid yet; ``unknown`` (a timeout, a 5xx, a rate
limit) is not an answer: the payment stays as it was and is queried again later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final
from urllib.parse import quote

from zigznote.billing import money as money_mod
from zigznote.billing.money import Money
from zigznote.billing.providers.flutterwave import mapping
from zigznote.billing.providers.flutterwave.client import FlutterwaveClient
from zigznote.billing.types import PaymentStatus
from zigznote.errors import InvalidInput, NotFound, ProviderError
from zigznote.untrusted import storable_text

__all__ = ["PAID", "Expected", "Verdict", "Verification", "check", "verify"]


class Verdict(StrEnum):
    """What a transaction is, measured against what was expected (module docstring)."""

    PAID = "paid"
    OVERPAID = "overpaid"
    UNDERPAID = "underpaid"
    WRONG_CURRENCY = "wrong_currency"
    WRONG_REFERENCE = "wrong_reference"
    NOT_SUCCESSFUL = "not_successful"
    NOT_FOUND = "not_found"
    UNKNOWN = "unknown"


#: The verdicts that are paid.
PAID: Final = frozenset({Verdict.PAID, Verdict.OVERPAID})
_FLAGGED: Final = frozenset({Verdict.UNDERPAID, Verdict.WRONG_CURRENCY, Verdict.WRONG_REFERENCE})


@dataclass(frozen=True)
class Expected:
    """What zigznote asked for: our ``tx_ref`` and the ``amount`` (from our own records, never
    from the payment being checked)."""

    tx_ref: str
    amount: Money


@dataclass(frozen=True)
class Verification:
    """The outcome of checking one transaction against :class:`Expected`.

    ``status``: Flutterwave's transaction status; ``amount``: its ``amount`` (``None`` when it
    could not be read in its currency); ``currency``: the currency it reports; ``overpaid`` /
    ``shortfall``: the difference from the expected amount; ``reason``: one sentence for people.
    """

    verdict: Verdict
    expected: Expected
    transaction_id: str | None = None
    status: str | None = None
    amount: Money | None = None
    currency: str | None = None
    overpaid: Money | None = None
    shortfall: Money | None = None
    reason: str = ""

    @property
    def paid(self) -> bool:
        """Whether the expected amount was received (``paid`` or ``overpaid``)."""
        return self.verdict in PAID

    @property
    def flagged(self) -> bool:
        """A successful transaction that does not match: a person must look (refund, collect)."""
        return self.verdict in _FLAGGED

    def payment_status(self) -> PaymentStatus:
        """The neutral status to record: ``succeeded`` only when paid; a flagged transaction is
        ``requires_action``; otherwise what Flutterwave says (``pending`` while unknown)."""
        if self.paid:
            return PaymentStatus.SUCCEEDED
        if self.flagged:
            return PaymentStatus.REQUIRES_ACTION
        return {"failed": PaymentStatus.FAILED, "cancelled": PaymentStatus.CANCELED}.get(
            self.status or "", PaymentStatus.PENDING
        )


def _shown(money: Money) -> str:
    return money_mod.display(money)


def check(tx: Mapping[str, Any], expected: Expected) -> Verification:
    """Check a transaction object (the ``data`` of a verify answer) against ``expected``; pure.
    Order: reference, status, currency, amount."""
    tx_id = mapping.flw_id(mapping.field(tx, "id", "a transaction"), "transaction ID")
    status = tx.get("status") if isinstance(tx.get("status"), str) else None

    def made(verdict: Verdict, reason: str, **found: Any) -> Verification:
        return Verification(verdict, expected, tx_id, status, reason=reason, **found)

    reference = tx.get("tx_ref")
    if reference != expected.tx_ref:
        shown = storable_text(str(reference), max_chars=100)
        return made(Verdict.WRONG_REFERENCE, f"transaction {tx_id} has tx_ref {shown!r}, not {expected.tx_ref!r}")
    if status != "successful":
        return made(Verdict.NOT_SUCCESSFUL, f"transaction {tx_id} is {status or 'of no status'}")
    currency = tx.get("currency")
    try:
        code = money_mod.normalize_currency(currency)
    except InvalidInput:
        code = None
    if code != expected.amount.currency:
        shown = storable_text(str(currency), max_chars=10)
        reason = f"transaction {tx_id} was paid in {shown}, not {expected.amount.currency}"
        return made(Verdict.WRONG_CURRENCY, reason, currency=code)
    amount = mapping.money(mapping.field(tx, "amount", "a transaction"), code)
    want = expected.amount
    if amount < want:
        short = want - amount
        reason = f"transaction {tx_id} paid {_shown(amount)} of {_shown(want)} ({_shown(short)} short)"
        return made(Verdict.UNDERPAID, reason, amount=amount, currency=code, shortfall=short)
    if amount > want:
        extra = amount - want
        reason = f"transaction {tx_id} paid {_shown(amount)} for {_shown(want)} ({_shown(extra)} over)"
        return made(Verdict.OVERPAID, reason, amount=amount, currency=code, overpaid=extra)
    return made(Verdict.PAID, f"transaction {tx_id} paid {_shown(amount)}", amount=amount, currency=code)


def verify(client: FlutterwaveClient, expected: Expected, *, transaction_id: str | None = None) -> Verification:
    """Read the transaction from Flutterwave and :func:`check` it. With ``transaction_id`` (from
    a webhook or the redirect, a hint only): ``GET /transactions/{id}/verify``; without:
    ``GET /transactions/verify_by_reference?tx_ref=``.

    A timeout, 5xx or rate limit gives ``unknown`` (never an assumption either way); nothing
    under the reference gives ``not_found``. ConfigError (a refused key) is raised."""
    try:
        if transaction_id is not None:
            tx_id = mapping.flw_id(transaction_id, "transaction ID")
            answer = client.get(f"/transactions/{quote(tx_id)}/verify", what=f"verify transaction {tx_id}")
        else:
            answer = client.get(
                "/transactions/verify_by_reference",
                {"tx_ref": expected.tx_ref},
                what=f"verify tx_ref {expected.tx_ref}",
            )
    except NotFound:
        return Verification(
            Verdict.NOT_FOUND,
            expected,
            transaction_id,
            reason=f"Flutterwave has no transaction {transaction_id or expected.tx_ref}",
        )
    except ProviderError as exc:
        return Verification(Verdict.UNKNOWN, expected, transaction_id, reason=f"not verified yet: {exc.message}")
    if not isinstance(answer.data, Mapping):
        return Verification(
            Verdict.UNKNOWN, expected, transaction_id, reason="Flutterwave answered without a transaction"
        )
    return check(answer.data, expected)
