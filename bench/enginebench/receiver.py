"""The benchmark's HTTP receiver: its own process, counting arrivals (and delaying `/slow/` paths)."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

from enginebench.common import ROOT, _die_with_parent, stop_process

# How long a /slow/ path takes to answer: a remote endpoint's latency.
SLOW_SECONDS = 0.05


def receiver_main(record: bool) -> None:
    """aiohttp.web: any POST → 200 "ok" at once (after SLOW_SECONDS under /slow/).
    GET /stats, GET /reset, GET /arrival?id=&timeout=."""
    from aiohttp import web

    state: dict[str, Any] = {"count": 0, "first": None, "last": None}
    arrivals: dict[str, float] = {}
    waiters: dict[str, asyncio.Future[float]] = {}

    async def hook(request: web.Request) -> web.Response:
        now = time.time()
        await request.read()
        if request.path.startswith("/slow/"):
            # A remote endpoint: answers after SLOW_SECONDS (counted on arrival, like the others).
            await asyncio.sleep(SLOW_SECONDS)
        state["count"] += 1
        if state["first"] is None:
            state["first"] = now
        state["last"] = now
        if record:
            msg_id = request.headers.get("webhook-id", "")
            arrivals.setdefault(msg_id, now)
            fut = waiters.pop(msg_id, None)
            if fut is not None and not fut.done():
                fut.set_result(now)
        return web.Response(text="ok")

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(state)

    async def reset(_: web.Request) -> web.Response:
        state.update(count=0, first=None, last=None)
        arrivals.clear()
        return web.json_response(state)

    async def arrival(request: web.Request) -> web.Response:
        msg_id = request.query.get("id", "")
        timeout = min(float(request.query.get("timeout", "5")), 30.0)
        if msg_id in arrivals:
            return web.json_response({"id": msg_id, "wall": arrivals[msg_id]})
        fut = waiters.setdefault(msg_id, asyncio.get_running_loop().create_future())
        try:
            wall = await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            return web.json_response({"id": msg_id, "wall": None})
        return web.json_response({"id": msg_id, "wall": wall})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/stats", stats)
        app.router.add_get("/reset", reset)
        app.router.add_get("/arrival", arrival)
        app.router.add_route("POST", "/{tail:.*}", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())


class ReceiverProc:
    def __init__(self, *, record: bool = False) -> None:
        self.record = record
        self.proc: subprocess.Popen[str] | None = None
        self.base = ""

    def __enter__(self) -> ReceiverProc:
        args = [sys.executable, str(ROOT / "bench" / "engine.py"), "receiver"] + (["--record"] if self.record else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, preexec_fn=_die_with_parent)
        try:
            ready, _, _ = select.select([self.proc.stdout], [], [], 20)
            if not ready:
                raise RuntimeError("receiver did not start within 20 s")
            assert self.proc.stdout is not None
            port = int(self.proc.stdout.readline().strip())
        except BaseException:
            stop_process(self.proc)
            raise
        self.base = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        stop_process(self.proc)

    def url(self, path: str) -> str:
        return self.base + path

    def get(self, path: str, timeout: float = 10.0) -> dict[str, Any]:
        with urllib.request.urlopen(self.base + path, timeout=timeout) as resp:
            return dict(json.loads(resp.read()))

    def reset(self) -> None:
        self.get("/reset")

    def cpu(self) -> float:
        """The receiver process's CPU seconds so far (user + system)."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stats(self) -> dict[str, Any]:
        return self.get("/stats")

    def arrival(self, msg_id: str, timeout: float = 5.0) -> float | None:
        wall = self.get(f"/arrival?id={msg_id}&timeout={timeout}", timeout=timeout + 5)["wall"]
        return float(wall) if wall is not None else None

    def wait_count(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stats()["count"] >= n:
                return True
            time.sleep(0.1)
        return self.stats()["count"] >= n


def receiver_rate(st: dict[str, Any]) -> float | None:
    if not st["count"] or st["first"] is None or st["last"] is None or st["last"] <= st["first"]:
        return None
    return (st["count"] - 1) / (st["last"] - st["first"])
