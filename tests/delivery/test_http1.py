"""The engine's HTTP/1.1 client against raw asyncio servers that control every byte."""

from __future__ import annotations

import asyncio
import functools
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from yarl import URL

from zigznote.delivery.http1 import ConnectFailed, Http1Client, ProtocolFailed
from zigznote.delivery.result import RESPONSE_EXCERPT_BYTES
from zigznote.delivery.sender import post
from zigznote.errors import InvalidInput
from zigznote.webhooks.ssrf import parse_allow_nets

NETS = parse_allow_nets("127.0.0.0/8,::1/128")
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


def run(test: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """Run an async test in its own event loop, bounded in time."""

    @functools.wraps(test)
    def wrapper() -> None:
        asyncio.run(asyncio.wait_for(test(), 30))

    return wrapper


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback server; yields its URL and a list that counts connections."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections))
        try:
            await handler(reader, writer, len(connections))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook?x=1", connections
    finally:
        srv.close()


async def keep_answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
    while True:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()


@run
async def test_keep_alive_reuses_one_connection_and_sends_exact_request() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while True:
            seen.append(await read_request(reader))
            writer.write(OK)
            await writer.drain()

    async with server(record) as (url, connections), Http1Client(allow_nets=NETS) as client:
        for i in range(5):
            resp = await client.post(URL(url), b'{"n":%d}' % i, {"content-type": "application/json", "webhook-id": "m"})
            assert (resp.status, resp.excerpt) == (200, b"ok")
    assert len(connections) == 1
    head, body = seen[4]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /hook?x=1 HTTP/1.1"
    port = URL(url).port
    assert lines[1:6] == [
        f"host: 127.0.0.1:{port}",
        "content-length: 7",
        "content-type: application/json",
        "webhook-id: m",
        "",
    ]
    assert body == b'{"n":4}'


@run
async def test_server_closing_idle_connection_is_retried_on_a_new_one() -> None:
    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(OK)  # keep-alive by the headers, but the server then drops the connection
        await writer.drain()

    bodies: list[int] = []

    async def counting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        bodies.append(n)
        await one_then_close(reader, writer, n)

    async with server(counting) as (url, connections), Http1Client(allow_nets=NETS) as client:
        assert (await client.post(URL(url), b"{}", {})).status == 200
        await asyncio.sleep(0.05)  # the close reaches the client; the pool may still hold it
        assert (await client.post(URL(url), b"{}", {})).status == 200
    assert len(connections) == 2 and bodies == [1, 2]


@run
async def test_informational_answer_is_skipped_and_chunked_body_excerpted() -> None:
    async def early_hints(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n")
        writer.write(b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\nretry-after: 7\r\n\r\n")
        writer.write(b"5\r\nhello\r\n" + b"%x\r\n" % 3000 + b"x" * 3000 + b"\r\n0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    async with server(early_hints) as (url, _), Http1Client(allow_nets=NETS) as client:
        resp = await client.post(URL(url), b"{}", {})
    assert resp.status == 201 and resp.retry_after == "7"
    assert resp.excerpt == (b"hello" + b"x" * 3000)[:RESPONSE_EXCERPT_BYTES]


@run
async def test_http10_answer_read_until_close_and_gzip_excerpt_decoded() -> None:
    async def old_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 500 Oops\r\ncontent-encoding: gzip\r\n\r\n" + gzip.compress(b"database down"))
        await writer.drain()

    async with server(old_server) as (url, _), Http1Client(allow_nets=NETS) as client:
        result = await post(client, url, b"{}", {}, allow_nets=NETS)
    assert (result.status_code, result.error, result.response_excerpt) == (500, "HTTP 500", "database down")


@run
async def test_garbage_answer_and_early_close_are_protocol_errors() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()

    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)

    async with server(garbage) as (url, _), Http1Client(allow_nets=NETS) as client:
        with pytest.raises(ProtocolFailed, match="invalid HTTP response"):
            await client.post(URL(url), b"{}", {})
    async with server(close_at_once) as (url, _), Http1Client(allow_nets=NETS) as client:
        result = await post(client, url, b"{}", {}, allow_nets=NETS)
    assert (result.status_code, result.error) == (None, "connection closed before an answer")


@run
async def test_header_injection_is_refused_before_sending() -> None:
    async with server(keep_answering) as (url, connections), Http1Client(allow_nets=NETS) as client:
        with pytest.raises(ProtocolFailed, match="line break"):
            await client.post(URL(url), b"{}", {"x-custom": "a\r\nx-evil: 1"})
    assert connections == []


@run
async def test_guard_refuses_loopback_name_and_connect_errors_are_named() -> None:
    async with Http1Client(allow_nets=None) as client:
        with pytest.raises(InvalidInput):
            await client.post(URL("http://localhost:9/hook"), b"{}", {})
    async with Http1Client(allow_nets=NETS) as client:
        with pytest.raises(ConnectFailed, match="refused"):
            await client.post(URL("http://127.0.0.1:9/hook"), b"{}", {})
        result = await post(client, "http://nonexistent.invalid/hook", b"{}", {}, allow_nets=NETS)
    assert result.status_code is None and result.error is not None
    assert result.error.startswith("connection failed: cannot resolve nonexistent.invalid")


@run
async def test_redirect_is_not_followed() -> None:
    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 302 Found\r\nlocation: https://elsewhere.example/\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()

    async with server(redirect) as (url, connections), Http1Client(allow_nets=NETS) as client:
        result = await post(client, url, b"{}", {}, allow_nets=NETS)
    assert (result.status_code, result.error) == (302, "redirect to https://elsewhere.example/ not followed")
    assert len(connections) == 1
