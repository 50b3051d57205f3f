"""Tests for zigznote.webhooks.listen: the development receiver behind `webhooks listen`.

The server runs for real on 127.0.0.1 in a background thread with its own event loop; requests
are sent with httpx and signed independently here (hmac + base64, per Standard Webhooks), so a
bug in zigznote's own signing module cannot make these tests agree with it by accident.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from zigznote.errors import InvalidInput
from zigznote.timeutil import utcnow
from zigznote.webhooks.listen import ListenOptions, ReceivedEvent, serve

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another-key-another-key-another!").decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    body: bytes, *, secret: str = SECRET, msg_id: str = "msg_1", timestamp: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
        "content-type": "application/json",
    }


class Listener:
    """A running `serve` in a background thread, with the events it reported."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.events: list[ReceivedEvent] = []
        self._cond = threading.Condition()

    def record(self, event: ReceivedEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_events(self, count: int, timeout: float = 5.0) -> list[ReceivedEvent]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.events) >= count, timeout=timeout)
            return list(self.events)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def listening(options: ListenOptions) -> Iterator[Listener]:
    loops: list[asyncio.AbstractEventLoop] = []
    stops: list[asyncio.Event] = []
    ready = threading.Event()
    ports: list[int] = []
    errors: list[BaseException] = []
    holder: list[Listener] = []

    def on_ready(port: int) -> None:
        ports.append(port)
        holder.append(Listener(port))
        ready.set()

    def on_event(event: ReceivedEvent) -> None:
        holder[0].record(event)

    async def main() -> None:
        stop = asyncio.Event()
        loops.append(asyncio.get_running_loop())
        stops.append(stop)
        await serve(options, on_event, stop=stop, ready=on_ready)

    def run() -> None:
        # asyncio.run, as the CLI will use it, in a thread so the test body can stay synchronous.
        try:
            asyncio.run(main())
        except BaseException as exc:
            errors.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(timeout=10)
    if errors:
        thread.join(timeout=5)
        raise errors[0]
    assert ports and ports[0] > 0
    try:
        yield holder[0]
    finally:
        loops[0].call_soon_threadsafe(stops[0].set)
        thread.join(timeout=10)
        assert not thread.is_alive(), "serve() did not return after stop was set"
        assert not errors, errors


BASE = ListenOptions(port=0)


def test_valid_signature() -> None:
    body = json.dumps({"id": "evt_1", "type": "meeting.ended", "data": {}}).encode()
    before = utcnow()
    with listening(replace(BASE, secret=SECRET)) as listener:
        resp = httpx.post(listener.url(), content=body, headers=signed_headers(body))
        assert resp.status_code == 200
        [event] = listener.wait_events(1)
    assert event.signature == "valid"
    assert event.reason is None
    assert event.webhook_id == "msg_1"
    assert event.event_type == "meeting.ended"
    assert event.size == len(body)
    assert event.method == "POST"
    assert event.path == "/hook"
    assert event.status_returned == 200
    assert event.time.tzinfo is None
    assert before - timedelta(seconds=1) <= event.time <= utcnow()


def test_tampered_body_is_invalid_with_reason() -> None:
    body = b'{"type": "meeting.ended"}'
    headers = signed_headers(body)
    with listening(replace(BASE, secret=SECRET)) as listener:
        resp = httpx.post(listener.url(), content=body + b" ", headers=headers)
        # The listener observes by default: the configured status is still returned.
        assert resp.status_code == 200
        [event] = listener.wait_events(1)
    assert event.signature == "invalid"
    assert event.reason and "no v1 signature matches" in event.reason
    assert event.status_returned == 200


def test_wrong_secret_missing_headers_and_stale_timestamp_are_invalid() -> None:
    body = b'{"type": "summary.ready"}'
    stale = int(time.time()) - 3600
    with listening(replace(BASE, secret=SECRET, tolerance=60)) as listener:
        httpx.post(listener.url(), content=body, headers=signed_headers(body, secret=OTHER_SECRET))
        httpx.post(listener.url(), content=body, headers={"content-type": "application/json"})
        httpx.post(listener.url(), content=body, headers=signed_headers(body, timestamp=stale))
        events = listener.wait_events(3)
    assert [e.signature for e in events] == ["invalid", "invalid", "invalid"]
    assert events[1].reason and "missing" in events[1].reason
    assert events[1].webhook_id is None
    assert events[2].reason and "too old" in events[2].reason


def test_without_secret_signature_is_unchecked() -> None:
    with listening(BASE) as listener:
        httpx.post(listener.url("/anything"), content=b"not json")
        [event] = listener.wait_events(1)
    assert event.signature == "unchecked"
    assert event.reason is None
    assert event.event_type is None
    assert event.path == "/anything"


def test_reject_invalid_answers_401() -> None:
    body = b"{}"
    with listening(replace(BASE, secret=SECRET, reject_invalid=True)) as listener:
        bad = httpx.post(listener.url(), content=body, headers=signed_headers(b"other"))
        good = httpx.post(listener.url(), content=body, headers=signed_headers(body))
        events = listener.wait_events(2)
    assert (bad.status_code, good.status_code) == (401, 200)
    assert [e.status_returned for e in events] == [401, 200]


def test_fail_rate_one_always_fails() -> None:
    with listening(replace(BASE, fail_rate=1.0)) as listener:
        statuses = [httpx.post(listener.url(), content=b"{}").status_code for _ in range(5)]
        events = listener.wait_events(5)
    assert statuses == [500] * 5
    assert [e.status_returned for e in events] == [500] * 5


def test_fail_rate_with_custom_fail_status_and_partial_rate() -> None:
    with listening(replace(BASE, fail_rate=0.5, fail_status=503)) as listener, httpx.Client() as c:
        statuses = [c.post(listener.url(), content=b"{}").status_code for _ in range(200)]
    # P(all 200 identical) is 2 * 0.5**200: both outcomes must show up.
    assert set(statuses) == {200, 503}


def test_status_option_honoured() -> None:
    with listening(replace(BASE, status=202)) as listener:
        resp = httpx.post(listener.url(), content=b"{}")
        [event] = listener.wait_events(1)
    assert resp.status_code == 202
    assert event.status_returned == 202


def test_status_204_has_no_body() -> None:
    with listening(replace(BASE, status=204)) as listener:
        resp = httpx.post(listener.url(), content=b"{}")
    assert resp.status_code == 204
    assert resp.content == b""


def test_path_filter_answers_404_elsewhere() -> None:
    with listening(replace(BASE, path="/hook")) as listener:
        ok = httpx.post(listener.url("/hook"), content=b"{}")
        missed = httpx.post(listener.url("/nope"), content=b"{}")
        events = listener.wait_events(2)
    assert (ok.status_code, missed.status_code) == (200, 404)
    assert events[1].status_returned == 404
    assert events[1].reason and "/nope" in events[1].reason


def test_delay_is_applied() -> None:
    with listening(replace(BASE, delay=0.4)) as listener:
        started = time.monotonic()
        resp = httpx.post(listener.url(), content=b"{}")
        elapsed = time.monotonic() - started
    assert resp.status_code == 200
    assert elapsed >= 0.35


def test_client_timeout_during_delay_is_still_reported() -> None:
    with listening(replace(BASE, delay=0.5)) as listener:
        with pytest.raises(httpx.ReadTimeout, match="timed out"):
            httpx.post(listener.url(), content=b"{}", timeout=0.1)
        [event] = listener.wait_events(1)
    assert event.status_returned == 200


def test_ready_reports_the_real_port() -> None:
    # port=0 binds an ephemeral port; ready() must report that one, not 0. A full request (rather
    # than a bare connect) also lets the server finish with the connection before it stops.
    with listening(BASE) as listener:
        assert listener.port != 0
        resp = httpx.get(f"http://127.0.0.1:{listener.port}/probe")
        [event] = listener.wait_events(1)
    assert resp.status_code == 200
    assert (event.method, event.path, event.size) == ("GET", "/probe", 0)


def test_port_in_use_is_invalid_input() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with (
            pytest.raises(InvalidInput, match="cannot listen"),
            listening(replace(BASE, port=port)),
        ):
            pass


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ListenOptions(port=70000), "port 70000"),
        (ListenOptions(path="hook"), "path 'hook'"),
        (ListenOptions(status=99), "status 99"),
        (ListenOptions(fail_status=700), "fail-status 700"),
        (ListenOptions(fail_rate=1.5), "fail rate 1.5"),
        (ListenOptions(delay=-1), "delay -1"),
        (ListenOptions(tolerance=-1), "tolerance -1"),
        (ListenOptions(secret="whsec_!!!not base64!!!"), "secret is malformed"),
    ],
)
def test_invalid_options(options: ListenOptions, message: str) -> None:
    with pytest.raises(InvalidInput, match=f"(?i){re.escape(message)}"):
        options.validate()


def test_defaults() -> None:
    options = ListenOptions()
    assert (options.host, options.port, options.path, options.secret) == (
        "127.0.0.1",
        8787,
        None,
        None,
    )
    assert (options.status, options.fail_rate, options.fail_status) == (200, 0.0, 500)
    assert (options.delay, options.tolerance) == (0.0, 300)
    options.validate()
