"""Flutterwave's error answers and transport failures as zigznote errors: the one place they stop.

Every v3 answer is the envelope ``{"status": "success" | "error", "message": …, "data": …}``
("All errors have the same response format: a status set to error and a message describing
the error", https://developer.flutterwave.com/v3.0/docs/common-errors). Which error is which:

=================================  =====================  ======================================
Flutterwave answer                 zigznote error (exit)  why
=================================  =====================  ======================================
401, 403                           ConfigError (6)        FLUTTERWAVE_SECRET_KEY missing/refused
                                                          ("Authorization required"); the
                                                          message is never quoted
404, or "… not found" / "No        NotFound (3)           no such plan, transaction, subscription
transaction was found …"
message naming insufficient        ProviderRefused (5)    a refund the balance cannot pay: top up,
balance/funds                                             run the command again (a new request:
                                                          nothing was refunded)
400/409/422 on a state change      Conflict (4)           refund over the remainder, already
(refunds; ``conflict=True``)                              refunded
other 400/409/422                  InvalidInput (2)       validation ("Cardno is required")
429                                ProviderRefused (5)    rate limit, after the retries (refused
                                                          before processing: nothing was made)
5xx, timeouts, connection errors   ProviderError (5)      retryable; a payment-creating call
                                                          raises :class:`Unanswered` so the
                                                          caller queries by ``tx_ref`` first
=================================  =====================  ======================================

Flutterwave's message is outside text: it passes ``untrusted.storable_text`` (one line, bounded)
before it enters ours. Secrets never appear in these messages.
"""

from __future__ import annotations

import re
from typing import Final

from zigznote.billing.providers._shared import message_line, unexpected_answer
from zigznote.billing.providers.base import ProviderRefused
from zigznote.errors import ConfigError, Conflict, InvalidInput, NotFound, ProviderError, ZigznoteError

__all__ = ["KEY_HINT", "Unanswered", "clean_message", "translate", "unexpected"]

KEY_HINT: Final = "check FLUTTERWAVE_SECRET_KEY (Flutterwave Dashboard → Settings → API keys)"
_MAX_MESSAGE: Final = 300
_NOT_FOUND_RE: Final = re.compile(r"not found|no transaction was found|does not exist", re.IGNORECASE)
_BALANCE_RE: Final = re.compile(r"insufficient\s+(?:wallet\s+)?(?:balance|funds)", re.IGNORECASE)


class Unanswered(ProviderError):
    """A request whose outcome is unknown: a timeout, a dropped connection or a 5xx answer
    (Flutterwave answers a timeout with 503, "A timeout does not always mean request failure;
    it could also mean the request is still processing",
    https://developer.flutterwave.com/docs/handling-error-timeouts). For a call that creates a
    payment the caller queries the transaction by ``tx_ref`` before anything is sent again."""

    code = "flutterwave_unanswered"


def clean_message(value: object) -> str:
    """Flutterwave's ``message`` as one bounded, storable line (``""`` when absent)."""
    return message_line(value, _MAX_MESSAGE)


def unexpected(what: str) -> ProviderError:
    """An answer zigznote cannot read (a field missing, a value of the wrong kind):
    ``"Flutterwave answered <what>"``, code ``flutterwave_unexpected_answer`` (exit 5)."""
    return unexpected_answer("Flutterwave", what)


def translate(status: int, message: object, *, what: str, conflict: bool = False) -> ZigznoteError:
    """The zigznote error for an HTTP ``status`` and Flutterwave ``message`` (table above).

    ``what`` names the request in words ("refund transaction 288200108"); ``conflict``: a 400 on
    this request is the object's state refusing it (refunds), not our parameters."""
    text = clean_message(message)
    said = f"{what}: {text}" if text else what
    if status in (401, 403):
        return ConfigError(
            f"Flutterwave refused the secret key ({status}) for {what}", hint=KEY_HINT, code="flutterwave_key_rejected"
        )
    if status == 429:
        return ProviderRefused(
            f"Flutterwave's rate limit was reached ({what})",
            hint="try again in a minute; retrying the same command is safe",
            code="flutterwave_rate_limited",
        )
    if status >= 500:
        return Unanswered(
            f"Flutterwave failed to answer ({status}) {said}",
            hint="run the same command again: zigznote checks what Flutterwave did before sending anything twice",
        )
    if _BALANCE_RE.search(text):
        return ProviderRefused(
            f"Flutterwave refused {said}",
            hint="refunds are paid from your Flutterwave balance: top it up, then run the command again",
            code="flutterwave_insufficient_balance",
        )
    if status == 404 or _NOT_FOUND_RE.search(text):
        return NotFound(f"not found at Flutterwave ({said})", code="flutterwave_not_found")
    if conflict:
        return Conflict(f"Flutterwave refused {said}", code="flutterwave_refused")
    return InvalidInput(f"Flutterwave refused {said}", code="flutterwave_invalid_request")
