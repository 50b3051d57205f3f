"""Part 8: where a delivery's CPU goes: the HTTP client, and the engine without HTTP.

Three measurements in one run, on one receiver process:

- the bare aiohttp loop (concurrency 32) and the same loop over the engine's own client
  (`delivery/http1.py`), CPU per request on the client side;
- the engine in-process (default settings, one endpoint) with its real sender, and with
  the sender replaced by an instant 200: what the engine itself costs per delivery
  (claim, body, signature, accounting, recording) and what the HTTP exchange adds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import time
from typing import Any

from enginebench.common import ALLOW_NETS, Ctx, add_org, add_webhooks, fill, fmt, log, ratio, sample_body, table
from enginebench.e2e import bare_loop
from enginebench.receiver import ReceiverProc, receiver_rate

CONCURRENCY = 32


def _cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


async def _http1_loop(url: str, body: bytes, n: int, concurrency: int) -> tuple[float, int]:
    from yarl import URL

    from zigznote.delivery.http1 import Http1Client
    from zigznote.webhooks.ssrf import parse_allow_nets

    headers = {
        "content-type": "application/json",
        "user-agent": "zigznote-webhooks/1",
        "webhook-id": "msg_" + "0" * 26,
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": "v1," + base64.b64encode(os.urandom(32)).decode(),
    }
    target = URL(url)
    left, ok = n, 0

    async def one(client: Http1Client) -> None:
        nonlocal left, ok
        while left > 0:
            left -= 1
            ok += (await client.post(target, body, headers)).status == 200

    async with Http1Client(allow_nets=parse_allow_nets(ALLOW_NETS), timeout=30) as client:
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(one(client) for _ in range(concurrency))), timeout=300)
        return time.perf_counter() - started, ok


def http1_loop(rc: ReceiverProc, body: bytes, n: int, concurrency: int) -> dict[str, Any]:
    rc.reset()
    cpu0 = _cpu()
    seconds, ok = asyncio.run(_http1_loop(rc.url("/bare"), body, n, concurrency))
    st = rc.stats()
    return {
        "client_rate": n / seconds,
        "ok": ok,
        "recv_rate": receiver_rate(st),
        "client_cpu_us": (_cpu() - cpu0) / max(st["count"], 1) * 1e6,
    }


def engine_in_process(ctx: Ctx, rc: ReceiverProc, n: int, *, instant: bool) -> dict[str, Any]:
    """One in-process `run(once=True)` at default settings; ``instant`` replaces the sender."""
    import zigznote.delivery.sender as sender
    from zigznote.delivery.engine import EngineConfig, Worker
    from zigznote.delivery.result import AttemptResult
    from zigznote.webhooks.ssrf import parse_allow_nets

    real_post = sender.post

    async def instant_post(*_: Any, **__: Any) -> AttemptResult:
        await asyncio.sleep(0)
        return AttemptResult(200, None, 0, "ok", None)

    with ctx.database("sqlite", f"http-{'instant' if instant else 'real'}") as db:
        org = add_org(db)
        hooks = add_webhooks(db, ctx.vault, org, [rc.url("/hook/0")])
        fill(db, org, hooks, n)
        cfg = EngineConfig(allow_nets=parse_allow_nets(ALLOW_NETS))
        if instant:
            sender.post = instant_post  # type: ignore[assignment]
        try:
            cpu0, t0 = _cpu(), time.perf_counter()
            stats = asyncio.run(asyncio.wait_for(Worker(db, ctx.vault, cfg).run(once=True), timeout=600))
            wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
        finally:
            sender.post = real_post
    return {"delivered": stats.delivered, "rate": stats.delivered / wall, "cpu_us": cpu / max(stats.delivered, 1) * 1e6}


def part_http(ctx: Ctx, args: argparse.Namespace) -> list[str]:
    n = args.n
    with ReceiverProc() as rc:
        body = sample_body()
        bare_loop(rc, body, 2000, CONCURRENCY)  # warm the receiver
        log(f"http: aiohttp and http1 loops, c={CONCURRENCY}, {n:,} requests each")
        aio = bare_loop(rc, body, n, CONCURRENCY)
        h1 = http1_loop(rc, body, n, CONCURRENCY)
        log(f"http: engine in-process, {n:,} deliveries, real sender and instant sender")
        real = engine_in_process(ctx, rc, n, instant=False)
        instant = engine_in_process(ctx, rc, n, instant=True)
    rows = [
        ["bare aiohttp loop", fmt(aio["client_rate"]), "1.00", fmt(aio["client_cpu_us"])],
        ["bare http1 loop (delivery/http1.py)", fmt(h1["client_rate"]), ratio(h1["client_rate"], aio["client_rate"]),
         fmt(h1["client_cpu_us"])],
        ["engine, real sender (1 endpoint, defaults)", fmt(real["rate"]), ratio(real["rate"], aio["client_rate"]),
         fmt(real["cpu_us"])],
        ["engine, instant sender (no HTTP)", fmt(instant["rate"]), ratio(instant["rate"], aio["client_rate"]),
         fmt(instant["cpu_us"])],
    ]  # fmt: skip
    return [
        "## 8. HTTP client and the engine's own cost",
        "",
        f"{n:,} requests or deliveries each, one receiver process, concurrency {CONCURRENCY} for the loops; the "
        "engine runs in the benchmark process at default settings (`EngineConfig()`), SQLite. *CPU/req* = this "
        "process's user + system CPU per request (the receiver is another process). The instant sender answers "
        "200 without any I/O: the difference between the two engine rows is what the HTTP exchange costs the engine.",
        "",
        *table(["client", "req/s", "vs aiohttp", "CPU µs/req"], rows),
    ]
