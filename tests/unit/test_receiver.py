"""Tests for the loopback test receiver (tests/support/receiver.py), with real HTTP clients."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.receiver import ReceivedRequest, Receiver, Reply


def post(url: str, body: bytes = b"{}", headers: dict[str, str] | None = None) -> int:
    """POST with urllib and return the status, including error statuses."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def test_records_requests_and_answers_200_by_default() -> None:
    with Receiver() as r:
        assert r.url == f"http://127.0.0.1:{r.port}/hook"
        status = post(r.url, b'{"a": 1}', {"Webhook-Id": "msg_1", "Content-Type": "application/json"})
        assert status == 200
        assert r.wait_for(1, timeout=5)
        [req] = r.requests
        assert isinstance(req, ReceivedRequest)
        assert req.path == "/hook"
        assert req.method == "POST"
        assert req.body == b'{"a": 1}'
        assert req.headers["webhook-id"] == "msg_1"
        assert req.headers["content-type"] == "application/json"
        assert all(name == name.lower() for name in req.headers)
        assert req.status == 200
        assert abs(req.wall - time.time()) < 5
        assert req.received_at <= time.monotonic()


def test_script_is_consumed_in_order_then_default() -> None:
    with Receiver() as r:
        r.script([Reply(status=500), Reply(status=503, headers={"Retry-After": "7"}), 201])
        assert r.pending_script == 3
        with httpx.Client(timeout=10) as client:
            responses = [client.post(r.url, content=b"x") for _ in range(5)]
        assert [resp.status_code for resp in responses] == [500, 503, 201, 200, 200]
        assert responses[1].headers["retry-after"] == "7"
        assert responses[0].content == b"ok"
        assert r.pending_script == 0
        assert [req.status for req in r.requests] == [500, 503, 201, 200, 200]


def test_default_is_settable() -> None:
    with Receiver(default=Reply(status=202, body=b"queued")) as r:
        assert post(r.url) == 202
        r.set_default(Reply(status=410, body=b"gone"))
        assert post(r.url) == 410
        r.default = 204
        with httpx.Client(timeout=10) as client:
            resp = client.post(r.url, content=b"x")
        assert resp.status_code == 204
        assert resp.content == b""
        assert r.default.status == 204


def test_script_replaces_previous_script() -> None:
    with Receiver() as r:
        r.script([500, 500, 500])
        r.script([418])
        assert post(r.url) == 418
        assert post(r.url) == 200


def test_delay_holds_the_reply() -> None:
    with Receiver() as r:
        r.script([Reply(delay=0.5)])
        started = time.monotonic()
        assert post(r.url) == 200
        assert time.monotonic() - started >= 0.45
        # Recorded on arrival, not after the delay.
        assert r.requests[0].received_at - started < 0.4


def test_delay_longer_than_client_timeout_times_out() -> None:
    with Receiver() as r:
        r.script([Reply(delay=2.0)])
        with httpx.Client(timeout=0.3) as client, pytest.raises(httpx.ReadTimeout):
            client.post(r.url, content=b"x")
        assert r.count == 1


def test_redirect_not_followed_is_observable() -> None:
    with Receiver() as r:
        r.script([Reply(status=307, headers={"Location": r.url_for("/elsewhere")})])
        with httpx.Client(timeout=10, follow_redirects=False) as client:
            resp = client.post(r.url, content=b"x")
        assert resp.status_code == 307
        assert resp.headers["location"] == r.url_for("/elsewhere")
        assert r.requests_for("/elsewhere") == []
        # And a client that does follow it would be caught: the target path records a request.
        r.script([Reply(status=307, headers={"Location": r.url_for("/elsewhere")})])
        with httpx.Client(timeout=10, follow_redirects=True) as client:
            client.post(r.url, content=b"x")
        assert len(r.requests_for("/elsewhere")) == 1


def test_wait_for_times_out_and_wakes() -> None:
    with Receiver() as r:
        started = time.monotonic()
        assert r.wait_for(1, timeout=0.2) is False
        assert time.monotonic() - started >= 0.19

        timer = threading.Timer(0.2, post, args=(r.url,))
        timer.start()
        try:
            started = time.monotonic()
            assert r.wait_for(1, timeout=5) is True
            assert time.monotonic() - started < 4
        finally:
            timer.join()


def test_other_paths_and_query_are_recorded() -> None:
    with Receiver() as r:
        assert post(r.url_for("/other") + "?a=1") == 200
        [req] = r.requests
        assert req.path == "/other"
        assert req.query == "a=1"


def test_clear_forgets_requests() -> None:
    with Receiver() as r:
        post(r.url)
        r.clear()
        assert r.requests == []
        assert r.count == 0


def test_requests_is_a_snapshot() -> None:
    with Receiver() as r:
        post(r.url)
        snapshot = r.requests
        post(r.url)
        assert len(snapshot) == 1
        assert len(r.requests) == 2


def test_many_concurrent_requests() -> None:
    total = 400
    with (
        Receiver() as r,
        httpx.Client(timeout=10, limits=httpx.Limits(max_connections=50)) as client,
    ):
        r.script([Reply(delay=0.05)] * total)

        def send(i: int) -> int:
            return client.post(r.url, content=str(i).encode()).status_code

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(send, range(total)))
        elapsed = time.monotonic() - started
        assert statuses == [200] * total
        assert r.wait_for(total, timeout=5)
        assert sorted(int(req.body) for req in r.requests) == list(range(total))
        # 400 replies delayed 50 ms each, served concurrently: far below the 20 s serial time.
        assert elapsed < 10


def test_stop_frees_the_port() -> None:
    r = Receiver().start()
    port = r.port
    assert post(r.url) == 200
    r.stop()
    with (
        pytest.raises(ConnectionRefusedError, match="Connection refused"),
        socket.create_connection(("127.0.0.1", port), timeout=2),
    ):
        pass
    # Records survive stop; stop is idempotent.
    assert r.count == 1
    r.stop()
    # The port can be bound again at once.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_stop_does_not_wait_for_hanging_replies() -> None:
    r = Receiver().start()
    r.set_default(Reply(delay=30))
    thread = threading.Thread(target=lambda: _swallow(r.url), daemon=True)
    thread.start()
    assert r.wait_for(1, timeout=5)
    started = time.monotonic()
    r.stop()
    assert time.monotonic() - started < 5


def _swallow(url: str) -> None:
    # The receiver is stopped under this request; whatever the client sees is fine.
    with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
        post(url)


def test_refuse_url_really_refuses() -> None:
    url = Receiver.refuse_url()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/hook")
    with pytest.raises(urllib.error.URLError) as info:
        post(url)
    assert isinstance(info.value.reason, ConnectionRefusedError)
    with pytest.raises(httpx.ConnectError, match=r"[Cc]onnect|refused"):
        httpx.post(url, content=b"x", timeout=5)


def test_two_receivers_get_distinct_ports() -> None:
    with Receiver() as a, Receiver(path="/other") as b:
        assert a.port != b.port
        assert b.url.endswith("/other")
        post(a.url)
        assert a.count == 1 and b.count == 0
