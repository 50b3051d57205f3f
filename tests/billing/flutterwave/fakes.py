"""A stateful Flutterwave v3 behind respx for the tests that need one: payment plans made by
POST and listed by GET, hosted links, transactions (by ID and by tx_ref), refunds paid from a
balance, subscriptions. Answers follow the fixtures' shapes (tests/fixtures/flutterwave/)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import httpx
import respx

from tests.billing.flutterwave.conftest import load

CREATED_AT = "2026-11-20T09:16:42.000Z"


def _json(data: Any, status: int = 200) -> httpx.Response:
    text = json.dumps(data, default=lambda d: float(d) if d % 1 else int(d))
    return httpx.Response(status, content=text.encode(), headers={"Content-Type": "application/json"})


def _page(items: list[dict[str, Any]], message: str) -> httpx.Response:
    info = {"total": len(items), "current_page": 1, "total_pages": 1}
    return _json({"status": "success", "message": message, "meta": {"page_info": info}, "data": items})


def _error(status: int, message: str) -> httpx.Response:
    return _json({"status": "error", "message": message, "data": None}, status)


class FlutterwaveFake:
    """What the account holds, and every write it received (``posts``, ``puts``)."""

    def __init__(self, router: respx.Router) -> None:
        self.plans: list[dict[str, Any]] = []
        self.transactions: list[dict[str, Any]] = []
        self.refunds: list[dict[str, Any]] = []
        self.subscriptions: list[dict[str, Any]] = []
        self.links: list[dict[str, Any]] = []
        self.posts: list[httpx.Request] = []
        self.puts: list[httpx.Request] = []
        self.balance = Decimal("1000000")
        #: how many of the next verify calls time out (Flutterwave not answering)
        self.verify_timeouts = 0
        self.verify_calls = 0
        #: how many of the next refund requests time out before Flutterwave makes anything
        self.refund_timeouts = 0
        self.router = router  # for a test's own routes
        router.get("/payment-plans").mock(side_effect=lambda r: _page(self.plans, "Payment plans fetched"))
        router.get(url__regex=r"/payment-plans/\d+$").mock(side_effect=self._plan)
        router.post("/payment-plans").mock(side_effect=self._create_plan)
        router.put(url__regex=r"/payment-plans/\d+$").mock(side_effect=self._update_plan)
        router.put(url__regex=r"/payment-plans/\d+/cancel$").mock(side_effect=self._cancel_plan)
        router.post("/payments").mock(side_effect=self._link)
        router.get("/transactions/verify_by_reference").mock(side_effect=self._by_reference)
        router.get(url__regex=r"/transactions/\d+/verify$").mock(side_effect=self._verify)
        router.get("/transactions").mock(side_effect=self._list_transactions)
        router.post(url__regex=r"/transactions/\d+/refund$").mock(side_effect=self._refund)
        router.get("/refunds").mock(side_effect=lambda r: _page(self.refunds, "Refunds fetched"))
        router.get("/subscriptions").mock(side_effect=self._list_subscriptions)
        router.put(url__regex=r"/subscriptions/\d+/(?:cancel|activate)$").mock(side_effect=self._subscription_status)

    @staticmethod
    def _id(request: httpx.Request, after: str) -> int:
        found = re.search(after + r"/(\d+)", request.url.path)
        assert found is not None
        return int(found.group(1))

    # -- plans --------------------------------------------------------------------------

    def _find_plan(self, plan_id: int) -> dict[str, Any] | None:
        return next((p for p in self.plans if p["id"] == plan_id), None)

    def _plan(self, request: httpx.Request) -> httpx.Response:
        plan = self._find_plan(self._id(request, "payment-plans"))
        if plan is None:
            return _error(404, "Plan not found")
        return _json({"status": "success", "message": "Payment plan fetched", "data": plan})

    def _create_plan(self, request: httpx.Request) -> httpx.Response:
        self.posts.append(request)
        sent = json.loads(request.content, parse_float=Decimal)
        plan = {
            "id": 60001 + len(self.plans), "name": sent["name"], "amount": str(sent["amount"]),
            "interval": sent["interval"], "duration": 0, "status": "active", "currency": sent["currency"],
            "plan_token": f"rpp_{len(self.plans):020d}", "created_at": CREATED_AT,
        }  # fmt: skip
        self.plans.append(plan)
        return _json({"status": "success", "message": "Payment plan created", "data": plan})

    def _update_plan(self, request: httpx.Request) -> httpx.Response:
        self.puts.append(request)
        plan = self._find_plan(self._id(request, "payment-plans"))
        assert plan is not None
        sent = json.loads(request.content)
        plan.update(name=sent["name"], status=sent["status"])
        return _json({"status": "success", "message": "Payment plan updated", "data": plan})

    def _cancel_plan(self, request: httpx.Request) -> httpx.Response:
        self.puts.append(request)
        plan = self._find_plan(self._id(request, "payment-plans"))
        assert plan is not None
        plan["status"] = "cancelled"
        return _json({"status": "success", "message": "Payment plan cancelled", "data": plan})

    # -- payments -------------------------------------------------------------------------

    def _link(self, request: httpx.Request) -> httpx.Response:
        self.posts.append(request)
        sent = json.loads(request.content, parse_float=Decimal)
        self.links.append(sent)
        link = f"https://checkout.flutterwave.com/v3/hosted/pay/fake{len(self.links)}"
        return _json({"status": "success", "message": "Hosted Link", "data": {"link": link}})

    def pay(self, reference: str, amount: Decimal | int, currency: str, email: str, **changes: Any) -> dict[str, Any]:
        """The customer pays on the page of ``reference``: a successful transaction appears."""
        tx = load("transaction")["data"]
        tx.update(
            id=288200108 + len(self.transactions), tx_ref=reference, amount=amount, currency=currency,
            charged_amount=amount, customer={**tx["customer"], "email": email}, **{"meta": None, **changes},
        )  # fmt: skip
        self.transactions.append(tx)
        return tx

    def _by_reference(self, request: httpx.Request) -> httpx.Response:
        reference = request.url.params["tx_ref"]
        tx = next((t for t in self.transactions if t["tx_ref"] == reference), None)
        if tx is None:
            return _error(400, "No transaction was found for this id")
        return _json({"status": "success", "message": "Transaction fetched successfully", "data": tx})

    def _verify(self, request: httpx.Request) -> httpx.Response:
        self.verify_calls += 1
        if self.verify_timeouts > 0:
            self.verify_timeouts -= 1
            raise httpx.ReadTimeout("no answer")
        tx_id = self._id(request, "transactions")
        tx = next((t for t in self.transactions if t["id"] == tx_id), None)
        if tx is None:
            return _error(400, "No transaction was found for this id")
        return _json({"status": "success", "message": "Transaction fetched successfully", "data": tx})

    def _list_transactions(self, request: httpx.Request) -> httpx.Response:
        email = request.url.params.get("customer_email")
        status = request.url.params.get("status")
        found = [
            t
            for t in reversed(self.transactions)
            if (email is None or t["customer"]["email"] == email) and (status is None or t["status"] == status)
        ]
        return _page(found, "Transactions fetched")

    def _refund(self, request: httpx.Request) -> httpx.Response:
        self.posts.append(request)
        if self.refund_timeouts > 0:
            self.refund_timeouts -= 1
            raise httpx.ReadTimeout("no answer")
        tx_id = self._id(request, "transactions")
        tx = next(t for t in self.transactions if t["id"] == tx_id)
        sent = json.loads(request.content, parse_float=Decimal)
        done = sum((Decimal(str(r["amount_refunded"])) for r in self.refunds if r["tx_id"] == tx_id), Decimal(0))
        amount = sent.get("amount", Decimal(str(tx["amount"])) - done)
        if amount > Decimal(str(tx["amount"])) - done:
            return _error(400, "Refund amount cannot be greater than the transaction amount")
        if amount > self.balance:
            return _error(400, "Insufficient balance in wallet to process this refund")
        self.balance -= amount
        refund = {
            "id": 75900 + len(self.refunds), "account_id": 17321, "tx_id": tx_id, "flw_ref": "URF_1",
            "wallet_id": 74639, "amount_refunded": amount, "status": "completed", "destination": "payment_source",
            "comments": sent.get("comments"), "meta": {"source": "availablebalance"},
            "created_at": "2026-11-21T09:18:37.366Z",
        }  # fmt: skip
        self.refunds.append(refund)
        return _json({"status": "success", "message": "Transaction refund initiated", "data": refund})

    # -- subscriptions --------------------------------------------------------------------------

    def subscribe(self, plan_id: int, email: str, *, created_at: str, status: str = "active") -> dict[str, Any]:
        """Flutterwave made a subscription (the customer's first payment on the plan)."""
        plan = self._find_plan(plan_id)
        assert plan is not None
        sub = {
            "id": 15376 + len(self.subscriptions), "amount": Decimal(str(plan["amount"])),
            "customer": {"id": 1500129, "customer_email": email}, "plan": plan_id, "status": status,
            "created_at": created_at,
        }  # fmt: skip
        self.subscriptions.append(sub)
        return sub

    def _list_subscriptions(self, request: httpx.Request) -> httpx.Response:
        email, wanted = request.url.params.get("email"), request.url.params.get("id")
        found = [
            s
            for s in self.subscriptions
            if (email is None or s["customer"]["customer_email"] == email)
            and (wanted is None or str(s["id"]) == wanted)
        ]
        return _page(found, "Plan subscriptions fetched")

    def _subscription_status(self, request: httpx.Request) -> httpx.Response:
        self.puts.append(request)
        sub_id = self._id(request, "subscriptions")
        sub = next(s for s in self.subscriptions if s["id"] == sub_id)
        action = request.url.path.rsplit("/", 1)[-1]
        sub["status"] = "cancelled" if action == "cancel" else "active"
        message = "Subscription cancelled" if action == "cancel" else "Subscription activated"
        return _json({"status": "success", "message": message, "data": sub})
