"""A loopback receiver with a capacity: it answers 429 above N concurrent requests.

Built on ``tests.support.receiver.Receiver`` (same thread/loop handling); only the
request handler differs. Counters are touched on the receiver's loop only and read by
the test after the engine stopped.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from tests.support.receiver import Receiver


class CapacityReceiver(Receiver):
    """Answer 200 after ``delay`` s, or 429 at once when more than ``capacity``
    requests are being handled (``capacity=None``: never)."""

    def __init__(self, *, capacity: int | None, delay: float) -> None:
        super().__init__()
        self.capacity = capacity
        self.delay = delay
        self.active = 0
        self.peak = 0  # most requests handled at once (accepted ones)
        self.accepted = 0
        self.rejected = 0
        self.starts: list[float] = []  # time.monotonic() of every request's arrival

    def __enter__(self) -> CapacityReceiver:
        self.start()
        return self

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.starts.append(time.monotonic())
        self.active += 1
        try:
            if self.capacity is not None and self.active > self.capacity:
                self.rejected += 1
                return web.Response(status=429, body=b"slow down")
            self.accepted += 1
            self.peak = max(self.peak, self.active)
            await asyncio.sleep(self.delay)
            return web.Response(status=200, body=b"ok")
        finally:
            self.active -= 1
