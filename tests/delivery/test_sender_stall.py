"""A receiver that sends its status line and then stalls: the status decides the outcome.

A raw asyncio server (not aiohttp.web) so the test controls every byte: it writes the
status line and headers (optionally part of the body), then holds the connection open.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.delivery.conftest import fast_config, run_until
from tests.support import factory
from zigznote.delivery.result import AttemptResult
from zigznote.delivery.sender import EXCERPT_SECONDS, make_session, post
from zigznote.store.engine import Database
from zigznote.vault import Vault
from zigznote.webhooks.ssrf import parse_allow_nets

NETS = parse_allow_nets("127.0.0.0/8")


@contextmanager
def stalling_server(head: bytes, *, hold: float = 30.0) -> Iterator[str]:
    """Serve ``head`` to every request, then keep the connection open for ``hold`` s."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []
    holds: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the request head; the body is never read
        writer.write(head)
        await writer.drain()
        task = asyncio.current_task()
        if task is not None:
            holds.append(task)
        try:
            await asyncio.sleep(hold)
        finally:
            writer.close()

    async def serve() -> asyncio.Server:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        return server

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(serve())
        started.set()
        loop.run_forever()
        server.close()
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(5)
    try:
        yield f"http://127.0.0.1:{port[0]}/hook"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


async def post_once(url: str, timeout: float) -> tuple[float, AttemptResult]:
    async with make_session(allow_nets=NETS, timeout=timeout) as session:
        started = time.monotonic()
        result = await post(session, url, b"{}", {"content-type": "application/json"}, allow_nets=NETS)
        return time.monotonic() - started, result


def test_200_then_stall_is_a_success_with_no_excerpt() -> None:
    with stalling_server(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n") as url:
        elapsed, result = asyncio.run(post_once(url, timeout=5.0))
    assert (result.status_code, result.error, result.response_excerpt) == (200, None, None)
    assert result.ok
    # Bounded by the excerpt's own limit, not by the 5 s attempt timeout.
    assert EXCERPT_SECONDS * 0.9 <= elapsed < 4.0


def test_partial_body_then_stall_keeps_what_arrived() -> None:
    with stalling_server(b"HTTP/1.1 202 Accepted\r\nContent-Length: 10\r\n\r\nhel") as url:
        elapsed, result = asyncio.run(post_once(url, timeout=5.0))
    assert (result.status_code, result.error, result.response_excerpt) == (202, None, "hel")
    assert elapsed < 4.0


def test_500_then_stall_is_an_http_error_not_a_timeout() -> None:
    with stalling_server(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 10\r\n\r\n") as url:
        _, result = asyncio.run(post_once(url, timeout=5.0))
    assert (result.status_code, result.error) == (500, "HTTP 500")


def test_stall_before_the_status_line_is_a_timeout() -> None:
    with stalling_server(b"") as url:
        elapsed, result = asyncio.run(post_once(url, timeout=1.0))
    assert (result.status_code, result.error) == (None, "timed out")
    assert 0.9 <= elapsed < 3.5


def test_untrusted_excerpt_and_headers_are_storable() -> None:
    head = b"HTTP/1.1 200 OK\r\nRetry-After: 5\r\nContent-Length: 6\r\n\r\na\x00b\xff\xfe!"
    with stalling_server(head) as url:
        _, result = asyncio.run(post_once(url, timeout=5.0))
    assert result.response_excerpt == "a\ufffdb\ufffd\ufffd!"
    assert result.retry_after == "5"


@pytest.mark.parametrize("head", [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"])
def test_engine_records_200_then_stall_as_delivered(engine_db: Database, vault: Vault, head: bytes) -> None:
    org = factory.add_org(engine_db)
    with stalling_server(head) as url:
        wh, _ = factory.add_webhook(engine_db, vault, org, url)
        msgs = factory.emit(engine_db, org, [wh], 3)
        stats = run_until(
            engine_db,
            vault,
            fast_config(attempt_timeout=4.0),
            lambda: all(factory.deliveries(engine_db)[m].status == "succeeded" for m in msgs),
        )
    assert stats.delivered == 3 and stats.retrying == 0 and stats.failed == 0
    for m in msgs:
        [attempt] = factory.attempts(engine_db, m)
        assert (attempt.status_code, attempt.error) == (200, None)
    assert factory.webhook(engine_db, wh).consecutive_failures == 0
