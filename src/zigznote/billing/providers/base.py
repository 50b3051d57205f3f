"""The payment-provider interface every provider folder implements (Stripe, Flutterwave, …).

A provider is a :class:`PaymentProvider` subclass registered by name in
:mod:`zigznote.billing.providers`. Services only see this interface and the types of
:mod:`zigznote.billing.types`; amounts cross it as :class:`~zigznote.billing.money.Money` and are
converted at the provider's edge with ``money.to_provider_amount``/``from_provider_amount``.

Errors every method may raise (third-party exceptions never leave a provider module):

- :class:`~zigznote.errors.InvalidInput` (exit 2): the provider refused the parameters
  (Stripe ``invalid_request_error``), an amount it cannot take, or an operation it does not
  support (code ``unsupported_by_provider``; see :class:`Capabilities`).
- :class:`~zigznote.errors.NotFound` (exit 3): no such object at the provider.
- :class:`~zigznote.errors.Conflict` (exit 4): the object's state forbids it (refund over the
  remainder, a canceled subscription), or an idempotency key reused with other parameters.
- :class:`~zigznote.errors.ProviderError` (exit 5): network failure, timeout, rate limit,
  provider 5xx; retrying with the same idempotency key is safe. The outcome of a create is
  then unknown: its pending operation stays open and the next attempt resends it.
- :class:`ProviderRefused` (a ProviderError, exit 5): the provider *answered* and did not do
  it (a refund its balance cannot pay, a rate limit before processing): nothing was made, so
  the pending operation is closed as failed and the next attempt is a new request.
- :class:`~zigznote.errors.ConfigError` (exit 6): keys missing; ``CredentialsRejected``: refused.
- :class:`~zigznote.errors.SignatureInvalid` (exit 7): ``construct_event`` only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

from zigznote.billing import money
from zigznote.billing.money import Money
from zigznote.billing.types import (
    BillingInterval,
    CheckoutRequest,
    CheckoutSession,
    Customer,
    CustomerInput,
    CustomerUpdate,
    Invoice,
    Payment,
    PaymentMethod,
    PaymentRequest,
    Plan,
    Price,
    PriceSpec,
    ProductSpec,
    ProductUpdate,
    Proration,
    ProviderEvent,
    Refund,
    Subscription,
    SubscriptionRequest,
)
from zigznote.errors import InvalidInput, ProviderError

if TYPE_CHECKING:  # config imports nothing heavy, but providers are built by services only
    from zigznote.config import Settings

__all__ = ["OPTIONAL_OPERATIONS", "Capabilities", "PaymentProvider", "ProviderRefused", "unsupported"]

#: Capability flag → the methods it governs. A provider whose flag is False keeps the base
#: implementations, which raise ``unsupported_by_provider``; ``providers.check_provider`` holds
#: both directions (a True flag needs its methods implemented).
OPTIONAL_OPERATIONS: dict[str, tuple[str, ...]] = {
    "delete_customers": ("delete_customer",),
    "payment_methods": (
        "list_payment_methods",
        "attach_payment_method",
        "detach_payment_method",
        "set_default_payment_method",
    ),
    "undo_cancel": ("undo_cancel_subscription",),
    "pause_subscriptions": ("pause_subscription", "resume_subscription"),
    "checkout": ("create_checkout_session",),
}

_WORDS: dict[str, str] = {
    "delete_customers": "delete customers",
    "payment_methods": "manage saved payment methods",
    "create_subscriptions": "create subscriptions outside checkout",
    "change_plan": "change a subscription's plan",
    "cancel_now": "cancel a subscription at once (--now)",
    "undo_cancel": "undo a scheduled cancellation",
    # Only pausing: resuming a *paused* subscription needs one, and `subscriptions resume` of a
    # scheduled cancellation is ``undo_cancel``.
    "pause_subscriptions": "pause subscriptions",
    "checkout": "hosted checkout pages",
    "partial_refunds": "partial refunds",
    "cancel_at_period_end": "cancel at the end of the period",
    "invoices": "invoices",
    "product_features": "feature lists on products",
}


class ProviderRefused(ProviderError):
    """The provider answered a request and did not carry it out (Flutterwave "Insufficient
    balance" on a refund; a rate limit on a create, refused before processing). Exit 5 like
    every provider error, but the outcome is known: ``services/billing/ops.py`` closes the
    pending operation as failed instead of resending it as an unanswered one."""

    code = "provider_refused"


def unsupported(provider: str, operation: str) -> InvalidInput:
    """The error for an operation ``provider`` cannot do (exit 2, code ``unsupported_by_provider``)."""
    return InvalidInput(
        f"{provider} cannot {operation}",
        hint="`zigznote billing providers` lists what each provider can do",
        code="unsupported_by_provider",
    )


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do, shown by ``billing providers``. Each ``False`` flag makes the
    governed operations (``OPTIONAL_OPERATIONS``) raise InvalidInput ``unsupported_by_provider``.

    The services check the flags of operations every provider implements before anything is
    read or sent: ``create_subscriptions`` (a subscription made by API, not only by a customer
    paying through checkout), ``change_plan`` (``subscriptions change``), ``cancel_now``
    (``cancel --now``: end a paid period early), ``invoices`` (the provider has invoices; without
    them ``invoices list`` is empty). These default to True: they are the interface's own methods.

    ``prorations``: the ``Proration`` choices ``change_subscription`` accepts (listed among what
    it cannot do only when it can change plans at all). ``intervals``: the billing intervals
    prices may use. ``notes``: further limits, one sentence each. Not shown by ``as_json``:
    ``product_descriptions`` (the provider keeps a product's description, so the plan sync
    compares it; Flutterwave v3 has no product object to keep it on) and ``checkout_cancel_url``
    (the hosted page sends a customer who turns back to a cancel URL; Flutterwave's returns to
    the success URL either way, so ``billing checkout`` needs none there),
    ``customer_email_required`` (a customer is its email, and a checkout needs the customer:
    Flutterwave v3), checked by the services before anything is sent.
    """

    delete_customers: bool = False
    payment_methods: bool = False
    create_subscriptions: bool = True
    change_plan: bool = True
    cancel_now: bool = True
    cancel_at_period_end: bool = False
    undo_cancel: bool = False
    pause_subscriptions: bool = False
    checkout: bool = False
    partial_refunds: bool = False
    invoices: bool = True
    product_features: bool = False
    product_descriptions: bool = True
    checkout_cancel_url: bool = True
    customer_email_required: bool = False
    prorations: frozenset[Proration] = frozenset({Proration.NONE})
    intervals: frozenset[BillingInterval] = frozenset(BillingInterval)
    notes: tuple[str, ...] = field(default=())

    def cannot(self) -> list[str]:
        """What the provider cannot do, in words (``["pause subscriptions"]``)."""
        missing = [words for flag, words in _WORDS.items() if not getattr(self, flag)]
        absent = [p.value for p in Proration if p not in self.prorations]
        if absent and self.change_plan:
            missing.append(f"prorate plan changes as {', '.join(absent)}")
        no_intervals = [i.value for i in BillingInterval if i not in self.intervals]
        if no_intervals:
            missing.append(f"bill by {', '.join(no_intervals)}")
        return missing

    def as_json(self) -> dict[str, Any]:
        """Every flag, the choices as sorted lists, and ``cannot``."""
        data: dict[str, Any] = {flag: getattr(self, flag) for flag in _WORDS}
        data["prorations"] = sorted(p.value for p in self.prorations)
        data["intervals"] = [i.value for i in BillingInterval if i in self.intervals]
        data["notes"] = list(self.notes)
        data["cannot"] = self.cannot()
        return data


class PaymentProvider(ABC):
    """One payment provider behind zigznote's neutral billing model.

    Subclasses set ``name`` (the registry key, ``"stripe"``), ``title`` (``"Stripe"``) and
    ``capabilities``, implement :meth:`from_settings` and every abstract method, and override
    the optional methods their capabilities allow. Methods are synchronous and may block on the
    network (every call has a timeout). ``idempotency_key`` on every create: a key derived from
    zigznote's own IDs and the operation; the same key with the same parameters returns the
    first result instead of creating twice (Stripe ``Idempotency-Key``, Flutterwave ``tx_ref``).
    Lists are iterators that page through the provider lazily (a ``ProviderError`` may come
    from any step). Errors: see the module docstring.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> Self:
        """Build the provider from zigznote's settings (keys, API base). Raises ConfigError
        naming the missing setting (``STRIPE_SECRET_KEY``) without its value."""

    def close(self) -> None:  # noqa: B027 - optional hook: most providers hold nothing to release
        """Release connections; the default holds none."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def unsupported(self, operation: str) -> InvalidInput:
        """The ``unsupported_by_provider`` error for ``operation`` ("pause subscriptions")."""
        return unsupported(self.title, operation)

    def check_proration(self, proration: Proration) -> None:
        """Raise ``unsupported_by_provider`` unless ``proration`` is in ``capabilities.prorations``."""
        if proration not in self.capabilities.prorations:
            raise self.unsupported(f"prorate a plan change as {proration.value}")

    @classmethod
    def check_product(cls, product: ProductSpec) -> None:
        """Raise InvalidInput for a product this provider would refuse, without keys and before
        anything is sent (``billing plans sync`` checks the whole catalog first, dry run too).
        The default accepts everything; providers add their own limits."""
        return None

    @classmethod
    def check_price(cls, price: PriceSpec) -> None:
        """Raise InvalidInput (exit 2) for a price this provider would refuse, without keys and
        before anything is sent: :meth:`create_price` must not be the first to find out midway
        through a sync. The default refuses an interval outside ``capabilities.intervals``
        (``unsupported_by_provider``) and an amount ``money.to_provider_amount`` cannot send to
        this provider; providers add their own rules (Stripe's longest interval, Flutterwave's
        few intervals) and call this one."""
        if price.interval not in cls.capabilities.intervals:
            raise unsupported(cls.title, f"bill by {BillingInterval(price.interval).value}")
        if cls.name in money.PROVIDERS:
            money.to_provider_amount(price.amount, cls.name)

    # -- customers ----------------------------------------------------------------------

    @abstractmethod
    def create_customer(self, customer: CustomerInput, *, idempotency_key: str) -> Customer:
        """Create a customer."""

    @abstractmethod
    def get_customer(self, customer_id: str) -> Customer:
        """One customer; a deleted one comes back with ``deleted=True`` where the provider keeps
        it, else NotFound."""

    @abstractmethod
    def update_customer(self, customer_id: str, changes: CustomerUpdate) -> Customer:
        """Apply ``changes`` (``None`` fields untouched, metadata merged); returns the result."""

    def delete_customer(self, customer_id: str) -> None:
        """Delete a customer (its subscriptions end at once at Stripe). Capability ``delete_customers``."""
        raise self.unsupported("delete customers")

    # -- payment methods ------------------------------------------------------------------

    def list_payment_methods(self, customer_id: str) -> list[PaymentMethod]:
        """The customer's saved methods, ``is_default`` set on the default. Capability ``payment_methods``."""
        raise self.unsupported("list saved payment methods")

    def attach_payment_method(self, customer_id: str, payment_method_id: str) -> PaymentMethod:
        """Save a method (collected by the provider's UI) to the customer."""
        raise self.unsupported("attach payment methods")

    def detach_payment_method(self, payment_method_id: str) -> None:
        """Remove a saved method from its customer."""
        raise self.unsupported("detach payment methods")

    def set_default_payment_method(self, customer_id: str, payment_method_id: str) -> Customer:
        """Make a saved method the one invoices and subscriptions charge."""
        raise self.unsupported("set a default payment method")

    # -- products (plans) and prices -----------------------------------------------------------

    @abstractmethod
    def list_products(self, *, active: bool | None = None) -> Iterator[Plan]:
        """Every product (``active=None``) or only active/inactive ones. The plan sync reads
        ``Plan.slug`` (metadata ``zigznote_plan``) to find zigznote's."""

    @abstractmethod
    def create_product(self, product: ProductSpec, *, idempotency_key: str) -> Plan:
        """Create a product for one plan."""

    @abstractmethod
    def update_product(self, product_id: str, changes: ProductUpdate) -> Plan:
        """Change a product's name, description, features or ``active`` (archive/unarchive)."""

    @abstractmethod
    def list_prices(self, *, product_id: str | None = None, active: bool | None = None) -> Iterator[Price]:
        """Prices, of one product or all, active/inactive or both (``None``)."""

    @abstractmethod
    def create_price(self, price: PriceSpec, *, idempotency_key: str) -> Price:
        """Create a recurring price. Raises InvalidInput for an amount or interval the provider
        cannot take (checked before anything is sent)."""

    @abstractmethod
    def deactivate_price(self, price_id: str) -> Price:
        """Stop offering a price (subscriptions on it continue); idempotent."""

    # -- subscriptions ----------------------------------------------------------------------

    @abstractmethod
    def create_subscription(self, request: SubscriptionRequest, *, idempotency_key: str) -> Subscription:
        """Subscribe a customer to a price. The result may be ``incomplete`` when the first
        payment needs the customer (3-D Secure)."""

    @abstractmethod
    def get_subscription(self, subscription_id: str) -> Subscription:
        """One subscription, as the provider has it now."""

    @abstractmethod
    def list_subscriptions(self, *, customer_id: str | None = None) -> Iterator[Subscription]:
        """Subscriptions of one customer or all, every status (canceled included)."""

    @abstractmethod
    def change_subscription(
        self, subscription_id: str, *, price_id: str, proration: Proration, quantity: int | None = None
    ) -> Subscription:
        """Move the subscription's item to ``price_id`` (``quantity=None`` keeps it), prorating as
        ``proration`` says (:meth:`check_proration` first). Raises Conflict if it is canceled."""

    @abstractmethod
    def cancel_subscription(self, subscription_id: str, *, at_period_end: bool) -> Subscription:
        """``at_period_end=True``: schedule the end (Stripe ``cancel_at_period_end=true``; needs
        capability ``cancel_at_period_end``); ``False``: end it now. Canceling a canceled
        subscription returns it unchanged."""

    def undo_cancel_subscription(self, subscription_id: str) -> Subscription:
        """Withdraw a scheduled cancellation (Stripe ``cancel_at_period_end=false``; Stripe's
        ``resume`` is for paused subscriptions). Capability ``undo_cancel``. Conflict when
        already canceled."""
        raise self.unsupported("undo a scheduled cancellation")

    def pause_subscription(self, subscription_id: str) -> Subscription:
        """Stop collecting payments until resumed. Capability ``pause_subscriptions``."""
        raise self.unsupported("pause subscriptions")

    def resume_subscription(self, subscription_id: str) -> Subscription:
        """Resume a paused subscription. Capability ``pause_subscriptions``."""
        raise self.unsupported("resume paused subscriptions")

    # -- one-time payments, invoices, refunds ------------------------------------------------------

    @abstractmethod
    def create_payment(self, request: PaymentRequest, *, idempotency_key: str) -> Payment:
        """Create (and, with a payment method, confirm) a one-time payment."""

    @abstractmethod
    def get_payment(self, payment_id: str) -> Payment:
        """One payment, with ``amount_refunded`` as the provider reports it now."""

    @abstractmethod
    def list_payments(self, *, customer_id: str | None = None) -> Iterator[Payment]:
        """Payments, newest first."""

    @abstractmethod
    def list_invoices(self, *, customer_id: str | None = None, subscription_id: str | None = None) -> Iterator[Invoice]:
        """Invoices, newest first."""

    @abstractmethod
    def get_invoice(self, invoice_id: str) -> Invoice:
        """One invoice."""

    @abstractmethod
    def create_refund(
        self,
        payment_id: str,
        *,
        idempotency_key: str,
        amount: Money | None = None,
        reason: str | None = None,
    ) -> Refund:
        """Refund ``amount`` of a payment (``None``: everything still refundable; a partial amount
        needs capability ``partial_refunds``). The caller checks ``amount`` against
        ``get_payment(...).refundable`` first; the provider's own refusal is Conflict."""

    @abstractmethod
    def list_refunds(self, *, payment_id: str | None = None) -> Iterator[Refund]:
        """Refunds, of one payment or all, newest first."""

    # -- checkout and inbound events ----------------------------------------------------------------

    def create_checkout_session(self, request: CheckoutRequest, *, idempotency_key: str) -> CheckoutSession:
        """A hosted payment page; its ``url`` is where the customer goes. Capability ``checkout``."""
        raise self.unsupported("create hosted checkout pages")

    @abstractmethod
    def construct_event(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verify an inbound webhook on its exact raw bytes and headers (names case-insensitive)
        and normalize it. Raises SignatureInvalid (bad or missing signature, stale timestamp)
        and InvalidInput (verified but not an event). Never calls the provider."""
