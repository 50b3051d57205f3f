"""`billing serve` over real HTTP on loopback: the answers (413, 404, 405, 400, 500, 200), no
secret or traceback in any body, a provider plugged in through the same path, a burst of 1,000
concurrent deliveries with 10 % duplicates stored exactly once, and SIGTERM finishing a request
in flight (the real command in a subprocess, against a fake Stripe on loopback)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import respx
import sqlalchemy as sa
from aiohttp import web

from tests.billing.fake_provider import fake_billing
from tests.billing.fake_world import World
from tests.billing.stripe_world import API, CUS, SECRET_KEY, SUB, WEBHOOK_SECRET, StripeWorld, event, fixture, sign
from tests.conftest import Cli
from zigznote.billing import events
from zigznote.billing.serve import MAX_BODY, ServeOptions, serve
from zigznote.config import load_settings
from zigznote.services.billing.events import Receiver
from zigznote.store.engine import Database

__all__ = ["fake_billing"]

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # stripe's HTTPXClient
Scenario = Callable[[str, list[dict[str, Any]]], Awaitable[None]]
SECRETS = (WEBHOOK_SECRET, SECRET_KEY)


@pytest.fixture
def stripe_db(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Database, str]]:
    for name in ("FLUTTERWAVE_SECRET_KEY", "FLUTTERWAVE_WEBHOOK_SECRET", "FLUTTERWAVE_PUBLIC_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STRIPE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", API)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    org = cli.ok("orgs", "create", "acme")
    db = Database(cli.db_url)
    yield db, org["id"]
    db.dispose()


def run(db: Database, scenario: Scenario, *, workers: int = 8) -> list[dict[str, Any]]:
    """Serve on a free loopback port while ``scenario(base_url, records)`` runs; the records."""
    receiver = Receiver(db, load_settings({"db_url": db.url}))
    records: list[dict[str, Any]] = []

    async def main() -> None:
        stop, bound = asyncio.Event(), asyncio.get_running_loop().create_future()
        options = ServeOptions(port=0, workers=workers)
        server = asyncio.create_task(
            serve(options, receiver.ingest, healthy=receiver.healthy, on_request=records.append, stop=stop,
                  ready=bound.set_result)
        )  # fmt: skip
        port = await asyncio.wait_for(bound, 10)
        try:
            await scenario(f"http://127.0.0.1:{port}", records)
        finally:
            stop.set()
            await server

    try:
        asyncio.run(main())
    finally:
        receiver.close()
    return records


def count(db: Database, sql: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


def clean(status: int, text: str, headers: Any) -> None:
    """No secret, traceback, provider message or server software in an answer."""
    assert "Traceback" not in text and 'File "' not in text
    assert not any(secret in text for secret in SECRETS)
    assert "Stripe" not in text and "aiohttp" not in text.lower()
    assert headers.get("Server") == "zigznote", headers.get("Server")
    assert json.loads(text) is not None, (status, text)


def test_answers_carry_no_detail(stripe_db: tuple[Database, str]) -> None:
    db, org_id = stripe_db
    seen: list[tuple[str, int, dict[str, Any]]] = []

    async def scenario(base: str, records: list[dict[str, Any]]) -> None:
        async with aiohttp.ClientSession() as http:

            async def call(method: str, path: str, data: Any = None, **headers: str) -> None:
                async with http.request(method, base + path, data=data, headers=headers) as answer:
                    text = await answer.text()
                    clean(answer.status, text, answer.headers)
                    seen.append((path, answer.status, json.loads(text)))

            body = event("evt_a", "customer.subscription.updated", fixture("subscription"))
            await call("GET", "/healthz")
            await call("POST", "/nope", b"{}")
            await call("GET", "/billing/webhooks/stripe")
            await call("POST", "/billing/webhooks/flutterwave", body, **{"verif-hash": "x"})
            await call("POST", "/billing/webhooks/no_such", body)
            await call(
                "POST",
                "/billing/webhooks/stripe",
                body,
                **{"Stripe-Signature": sign(body, "whsec_wrong_0123456789abcdef")},
            )
            tampered = body.replace(b'"active"', b'"canceled"')
            await call("POST", "/billing/webhooks/stripe", tampered, **{"Stripe-Signature": sign(body)})
            stale = sign(body, timestamp=int(time.time()) - 301)
            await call("POST", "/billing/webhooks/stripe", body, **{"Stripe-Signature": stale})
            await call("POST", "/billing/webhooks/stripe", b"x" * (MAX_BODY + 1), **{"Stripe-Signature": sign(b"x")})

            async def chunks() -> Any:
                for _ in range(4):
                    yield b"y" * (MAX_BODY // 2)

            await call("POST", "/billing/webhooks/stripe", chunks(), **{"Stripe-Signature": sign(b"y")})
            await call("POST", "/billing/webhooks/stripe", b"z" * MAX_BODY, **{"Stripe-Signature": sign(b"z")})
            with respx.mock(base_url=API, assert_all_called=False) as router:
                world = StripeWorld(router, org_id)
                world.failing.add(SUB)
                await call("POST", "/billing/webhooks/stripe", body, **{"Stripe-Signature": sign(body)})
                world.failing.clear()
                await call("POST", "/billing/webhooks/stripe", body, **{"Stripe-Signature": sign(body)})
                await call("POST", "/billing/webhooks/stripe", body, **{"Stripe-Signature": sign(body)})

    records = run(db, scenario)
    assert [(path, status, answer) for path, status, answer in seen] == [
        ("/healthz", 200, {"status": "ok"}),
        ("/nope", 404, {"error": "not found"}),
        ("/billing/webhooks/stripe", 405, {"error": "method not allowed"}),
        ("/billing/webhooks/flutterwave", 404, {"error": "provider not configured"}),
        ("/billing/webhooks/no_such", 404, {"error": "not found"}),  # no such provider: a path like any other
        ("/billing/webhooks/stripe", 400, {"error": "invalid signature"}),  # wrong secret
        ("/billing/webhooks/stripe", 400, {"error": "invalid signature"}),  # tampered body
        ("/billing/webhooks/stripe", 400, {"error": "invalid signature"}),  # older than 300 s
        ("/billing/webhooks/stripe", 413, {"error": "request body too large"}),
        ("/billing/webhooks/stripe", 413, {"error": "request body too large"}),
        ("/billing/webhooks/stripe", 400, {"error": "invalid signature"}),  # exactly 1 MiB: read, then refused
        ("/billing/webhooks/stripe", 500, {"error": "event not applied"}),
        ("/billing/webhooks/stripe", 200, {"received": True}),  # Stripe's retry: applied now
        ("/billing/webhooks/stripe", 200, {"received": True}),  # a duplicate
    ]
    assert count(db, "SELECT count(*) FROM provider_event") == 1
    assert count(db, "SELECT attempts FROM provider_event") == 2
    # The access records say what the answers do not (and still no secret).
    assert [(r["status"], r["outcome"]) for r in records[-3:]] == [
        (500, "failed"),
        (200, "processed"),
        (200, "duplicate"),
    ]
    assert records[-3]["reason"].startswith("Stripe")
    assert records[5]["reason"].startswith("the Stripe-Signature header does not match")
    assert records[7]["reason"].startswith("the Stripe-Signature timestamp is more than 300 s old")
    assert not any(s in json.dumps(records) for s in SECRETS)


def test_another_provider_plugs_into_the_same_path(stripe_db: tuple[Database, str], fake_billing: World) -> None:
    db, _ = stripe_db
    applied: list[str] = []

    def done(ctx: events.EventContext) -> str:
        applied.append(ctx.event.id)
        return events.PROCESSED

    events.register_handlers("fake", {"thing.done": done})
    answers: list[int] = []

    async def scenario(base: str, _records: list[dict[str, Any]]) -> None:
        async with aiohttp.ClientSession() as http:
            for sig in ("ok", "forged"):
                body = json.dumps({"id": "f1", "type": "thing.done"}).encode()
                async with http.post(f"{base}/billing/webhooks/fake", data=body, headers={"Fake-Signature": sig}) as r:
                    answers.append(r.status)

    try:
        run(db, scenario)
    finally:
        events.unregister_handlers("fake")
    assert (answers, applied) == ([200, 400], ["f1"])


@pytest.mark.slow
def test_a_burst_of_1000_with_duplicates_is_stored_exactly_once(stripe_db: tuple[Database, str]) -> None:
    db, org_id = stripe_db
    unique = [event(f"evt_burst{i:04d}", "customer.subscription.updated", fixture("subscription")) for i in range(900)]
    rng = random.Random(12)
    bodies = unique + [rng.choice(unique) for _ in range(100)]
    rng.shuffle(bodies)
    statuses: list[int] = []

    async def scenario(base: str, _records: list[dict[str, Any]]) -> None:
        connector = aiohttp.TCPConnector(limit=0)  # every request on its own connection, at once
        timeout = aiohttp.ClientTimeout(total=240)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

            async def post(body: bytes) -> int:
                headers = {"Stripe-Signature": sign(body), "Content-Type": "application/json"}
                async with http.post(f"{base}/billing/webhooks/stripe", data=body, headers=headers) as answer:
                    await answer.read()
                    return answer.status

            statuses.extend(await asyncio.gather(*(post(b) for b in bodies)))

    with respx.mock(base_url=API, assert_all_called=False) as router:
        StripeWorld(router, org_id)
        started = time.monotonic()
        run(db, scenario)
        elapsed = time.monotonic() - started
    assert len(statuses) == 1000 and set(statuses) == {200}, sorted(set(statuses))
    assert count(db, "SELECT count(*) FROM provider_event") == 900
    assert count(db, "SELECT count(DISTINCT provider_event_id) FROM provider_event") == 900
    assert count(db, "SELECT count(*) FROM provider_event WHERE status = 'processed'") == 900
    assert count(db, "SELECT count(*) FROM billing_subscription") == 1  # every event touched one object
    assert count(db, f"SELECT count(*) FROM billing_customer WHERE provider_customer_id = '{CUS}'") == 1
    print(f"1000 deliveries in {elapsed:.1f}s")


# -- SIGTERM: the real command in a subprocess ------------------------------------------------------


class SlowStripe:
    """Stripe on loopback (aiohttp) answering subscription and customer GETs after ``delay``."""

    def __init__(self, org_id: str, delay: float) -> None:
        self.org_id, self.delay, self.port = org_id, delay, 0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        async def get(request: web.Request) -> web.Response:
            await asyncio.sleep(self.delay)
            kind = request.match_info["kind"]
            obj = fixture("subscription" if kind == "subscriptions" else "customer")
            obj["metadata"] = {"zigznote_org": self.org_id}
            return web.json_response(obj)

        app = web.Application()
        app.router.add_get("/v1/{kind}/{id}", get)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        stop = self._stop = asyncio.Event()
        self._ready.set()
        await stop.wait()
        await runner.cleanup()

    def __enter__(self) -> SlowStripe:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(timeout=0.1)


@pytest.mark.slow
def test_sigterm_finishes_the_request_in_flight_and_exits_0(
    cli: Cli, stripe_db: tuple[Database, str], tmp_path: Path
) -> None:
    db, org_id = stripe_db
    with SlowStripe(org_id, delay=2.0) as stripe:
        environ = {**os.environ, "STRIPE_API_BASE": f"http://127.0.0.1:{stripe.port}"}
        argv = [sys.executable, "-m", "zigznote", "--db", cli.db_url, "billing", "serve", "--port", "0"]
        proc = subprocess.Popen(argv, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            assert "listening on http://127.0.0.1:" in line, line + proc.stderr.read()
            base = line.split("listening on ", 1)[1].split()[0]
            body = event("evt_term", "customer.subscription.updated", fixture("subscription"))
            answer: dict[str, Any] = {}

            def post() -> None:
                import httpx

                response = httpx.post(
                    f"{base}/billing/webhooks/stripe",
                    content=body,
                    headers={"Stripe-Signature": sign(body)},
                    timeout=30,
                )
                answer.update(status=response.status_code, body=response.json())

            sender = threading.Thread(target=post)
            sender.start()
            time.sleep(1.0)  # the request waits on the slow Stripe
            proc.send_signal(signal.SIGTERM)
            sender.join(30)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert answer == {"status": 200, "body": {"received": True}}
    assert proc.returncode == 0, err
    assert "stopped" in err
    lines = [json.loads(x) for x in out.splitlines()]  # stdout is a pipe: JSON access lines
    assert [(r["method"], r["path"], r["status"], r["outcome"]) for r in lines] == [
        ("POST", "/billing/webhooks/stripe", 200, "processed")
    ]
    assert count(db, "SELECT count(*) FROM provider_event WHERE status = 'processed'") == 1
