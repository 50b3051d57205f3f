"""Stripe's exceptions as zigznote errors: the one edge where ``stripe.StripeError`` stops.

Which error is which (https://docs.stripe.com/error-codes,
and ``_api_requestor.specific_v1_api_error`` in stripe-python 16.1.0, which picks the class from
the HTTP status):

========================================  =====================  ============================
Stripe exception (HTTP status)            zigznote error (exit)  why
========================================  =====================  ============================
``InvalidRequestError`` ``resource_missing``  NotFound (3)       "No such customer: 'cus_…'"
``InvalidRequestError`` state codes       Conflict (4)           the object's state forbids it
                                                                 (:data:`CONFLICT_CODES`)
``InvalidRequestError`` other (400)       InvalidInput (2)       refused parameters
``CardError`` (402)                       Conflict (4)           the card/payment method was
                                                                 declined: its state, not our input
``IdempotencyError`` (400)                Conflict (4)           key reused with other parameters
``AuthenticationError`` (401)             ConfigError (6)        STRIPE_SECRET_KEY refused
``PermissionError`` (403)                 ConfigError (6)        a restricted key lacks a permission
``RateLimitError`` (429)                  ProviderError (5)      retry later, same key
``APIConnectionError``                    ProviderError (5)      network/timeout after retries (our
                                                                 message: the SDK's asks to write
                                                                 to Stripe's support)
``APIError`` (5xx, bad answers)           ProviderError (5)      Stripe's side; retry, same key
other ``StripeError``                     ProviderError (5)
========================================  =====================  ============================

Stripe's message is outside text: it passes ``untrusted.storable_text`` (bounded) before it
enters ours, and the request ID (``req_…``) is kept for support. An authentication failure
never quotes Stripe's message (it can echo part of the key).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Final, TypeVar

import stripe

from zigznote.billing.providers._shared import message_line
from zigznote.errors import ConfigError, Conflict, InvalidInput, NotFound, ProviderError, ZigznoteError

__all__ = ["CONFLICT_CODES", "call", "paged", "translate"]

T = TypeVar("T")
S = TypeVar("S", bound=stripe.StripeObject)

#: ``invalid_request_error`` codes that describe the object's state rather than our parameters
#: (https://docs.stripe.com/error-codes): Conflict, exit 4.
CONFLICT_CODES: Final = frozenset(
    {
        "charge_already_captured",
        "charge_already_refunded",
        "charge_disputed",
        "charge_expired_for_capture",
        "charge_not_refundable",
        "idempotency_key_in_use",
        "intent_invalid_state",
        "invalid_canceled_subscription_fields",
        "invoice_not_editable",
        "payment_intent_unexpected_state",
        "payment_method_unexpected_state",
        "product_inactive",
        "refund_disputed_payment",
        "resource_already_exists",
        "token_already_used",
        "token_in_use",
    }
)
_MAX_MESSAGE: Final = 500
_CODE_RE: Final = re.compile(r"[a-z0-9_]{1,64}")
_REQUEST_ID_RE: Final = re.compile(r"req_[A-Za-z0-9]{1,64}")
_KEY_HINT: Final = "check STRIPE_SECRET_KEY (Stripe Dashboard → Developers → API keys)"


def _code(exc: stripe.StripeError) -> str | None:
    code = exc.code
    return code if isinstance(code, str) and _CODE_RE.fullmatch(code) else None


def _message(exc: stripe.StripeError, what: str) -> str:
    """``"<what>: <Stripe's message> (request req_…)"`` with the message made storable."""
    # One line: the SDK's connection message spans several (wrapped text, "(Network error: …)").
    text = message_line(exc.user_message, _MAX_MESSAGE)
    message = f"{what}: {text}" if text else what
    request_id = exc.request_id
    if isinstance(request_id, str) and _REQUEST_ID_RE.fullmatch(request_id):
        message += f" (request {request_id})"
    return message


def _unreachable(exc: stripe.APIConnectionError) -> str:
    """Our own words for a request that got no answer: the SDK's message asks people to write
    to Stripe's support ("let us know at support@stripe.com"), which is not what to do about a
    network failure here. The transport's exception class (its ``__cause__``) says which kind."""
    cause = exc.__cause__
    kind = type(cause).__name__ if cause is not None else None
    if kind is not None and "Timeout" in kind:
        return f"Stripe did not answer in time ({kind})"
    return f"could not reach Stripe ({kind})" if kind else "could not reach Stripe"


def translate(exc: stripe.StripeError, *, conflict_params: Iterable[str] = ()) -> ZigznoteError:
    """The zigznote error for a Stripe exception (table in the module docstring).

    ``conflict_params``: parameters whose refusal is a state conflict for this call (a refund's
    ``amount`` over what is left to refund), so an ``InvalidRequestError`` naming one becomes
    Conflict rather than InvalidInput. The error's ``code`` is Stripe's code when it has one."""
    code = _code(exc)
    if isinstance(exc, stripe.AuthenticationError):
        return ConfigError("Stripe refused the secret key", hint=_KEY_HINT, code="stripe_key_rejected")
    if isinstance(exc, stripe.PermissionError):
        return ConfigError(
            _message(exc, "the Stripe key may not do this"),
            hint="give the restricted key this permission, or use a secret key",
            code="stripe_permission_denied",
        )
    if isinstance(exc, stripe.IdempotencyError):
        return Conflict(
            _message(exc, "Stripe refused a reused idempotency key"),
            hint="the key was first used with other parameters; a changed request needs a new operation",
            code="idempotency_key_reused",
        )
    if isinstance(exc, stripe.CardError):
        decline = getattr(exc.error, "decline_code", None) if exc.error is not None else None
        suffix = f" ({decline})" if isinstance(decline, str) and _CODE_RE.fullmatch(decline) else ""
        return Conflict(
            _message(exc, f"Stripe declined the payment{suffix}"),
            hint="the customer needs another payment method",
            code=code or "card_declined",
        )
    if isinstance(exc, stripe.InvalidRequestError):
        if code == "resource_missing" or exc.http_status == 404:
            return NotFound(_message(exc, "not found at Stripe"), code="stripe_not_found")
        param = exc.param if isinstance(exc.param, str) else None
        if code in CONFLICT_CODES or (param is not None and param in set(conflict_params)):
            return Conflict(_message(exc, "Stripe refused it in the object's current state"), code=code or "conflict")
        return InvalidInput(_message(exc, "Stripe refused the request"), code=code or "stripe_invalid_request")
    if isinstance(exc, stripe.RateLimitError):
        return ProviderError(
            _message(exc, "Stripe's rate limit was reached"),
            hint="try again in a moment; retrying with the same operation is safe",
            code="stripe_rate_limited",
        )
    if isinstance(exc, stripe.APIConnectionError):
        return ProviderError(
            _unreachable(exc),
            hint="check the network and STRIPE_API_BASE; retrying with the same operation is safe",
            code="stripe_unreachable",
        )
    return ProviderError(
        _message(exc, "Stripe failed to answer the request"),
        hint="retrying with the same operation is safe",
        code="stripe_error",
    )


def call(fn: Callable[[], T], *, conflict_params: Iterable[str] = ()) -> T:
    """``fn()`` with any ``stripe.StripeError`` it raises translated (:func:`translate`)."""
    try:
        return fn()
    except stripe.StripeError as exc:
        raise translate(exc, conflict_params=conflict_params) from None


def paged(first_page: Callable[[], stripe.ListObject[S]]) -> Iterator[S]:
    """Every item of a Stripe list, fetching pages lazily (``auto_paging_iter``), with errors
    translated at each step: a failure on page 3 is a ProviderError, not a StripeError."""
    pages = call(first_page).auto_paging_iter()
    while True:
        try:
            item = next(pages)
        except StopIteration:
            return
        except stripe.StripeError as exc:
            raise translate(exc) from None
        yield item
