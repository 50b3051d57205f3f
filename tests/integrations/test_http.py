"""integrations/http.py: the client factory, Retry-After, and the translation of transport failures.

Transport failures are exercised on real sockets (a refused port, a server that drips its body);
respx stands in for the provider where only the answer matters.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import respx

from zigznote.errors import ProviderError
from zigznote.integrations.http import USER_AGENT, make_client, retry_after_seconds, send

TOKEN = "xoxb-1111-2222-secretsecretsecret"


# -- make_client ----------------------------------------------------------------------------


def test_make_client_has_explicit_timeouts_no_redirects_and_a_user_agent() -> None:
    with make_client(timeout=7.5) as client:
        assert client.timeout == httpx.Timeout(7.5, connect=7.5)
        assert client.follow_redirects is False
        assert client.headers["User-Agent"] == USER_AGENT == "zigznote/0.1.0"
    with make_client(timeout=30) as client:
        assert client.timeout.connect == 10.0
        assert (client.timeout.read, client.timeout.write, client.timeout.pool) == (30, 30, 30)


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan")])
def test_make_client_refuses_a_timeout_that_is_not_positive(bad: float) -> None:
    with pytest.raises(ValueError):
        make_client(timeout=bad)


@respx.mock
def test_redirects_are_not_followed() -> None:
    respx.post("https://slack.test/api/auth.test").respond(302, headers={"Location": "https://evil.test/"})
    evil = respx.post("https://evil.test/")
    with make_client() as client:
        reply = send(client, "POST", "https://slack.test/api/auth.test", what="Slack auth.test")
    assert reply.status == 302
    assert not evil.called


# -- retry_after_seconds ----------------------------------------------------------------------

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("Mon, 30 Nov 2026 12:02:00 GMT", 120.0),  # HTTP-date two minutes ahead
        ("Mon, 30 Nov 2026 11:00:00 GMT", 0.0),  # a date in the past: no wait
        ("5000", 600.0),  # clamped to the cap
        (None, 2.0),
        ("", 2.0),
        ("soon", 2.0),
        ("-5", 2.0),
        ("inf", 2.0),
        ("nan", 2.0),
    ],
)
def test_retry_after_seconds(value: str | None, expected: float) -> None:
    assert retry_after_seconds(value, default=2.0, cap=600.0, now=NOW) == expected


def test_retry_after_default_is_clamped_too() -> None:
    assert retry_after_seconds(None, default=90.0, cap=60.0) == 60.0
    assert retry_after_seconds("x", default=-3.0, cap=60.0) == 0.0


# -- transport failures on real sockets -----------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refused_connection_is_a_provider_error_naming_the_host_not_the_token() -> None:
    port = _closed_port()
    with make_client(timeout=5) as client, pytest.raises(ProviderError) as caught:
        send(
            client,
            "POST",
            f"http://127.0.0.1:{port}/api/auth.test",
            what="Slack auth.test",
            headers={"Authorization": f"Bearer {TOKEN}"},
            secrets=[TOKEN],
        )
    err = caught.value
    assert err.code == "provider_unreachable"
    assert err.exit_code == 5
    assert err.message.startswith("cannot reach 127.0.0.1 for Slack auth.test: ConnectError: ")
    assert TOKEN not in str(err.to_dict())


def test_a_secret_in_an_error_text_is_scrubbed() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"weird proxy said {TOKEN}", request=request)

    with respx.mock:
        respx.post("https://slack.test/api/x.y").mock(side_effect=boom)
        with make_client() as client, pytest.raises(ProviderError) as caught:
            send(client, "POST", "https://slack.test/api/x.y", what="Slack x.y", secrets=[TOKEN])
    assert caught.value.message == "cannot reach slack.test for Slack x.y: ConnectError: weird proxy said [redacted]"


def test_timeout_is_a_provider_error() -> None:
    with respx.mock:
        respx.post("https://slack.test/api/x.y").mock(side_effect=httpx.ReadTimeout("read timed out"))
        with make_client() as client, pytest.raises(ProviderError) as caught:
            send(client, "POST", "https://slack.test/api/x.y", what="Slack x.y")
    assert caught.value.code == "provider_unreachable"
    assert caught.value.message == "cannot reach slack.test for Slack x.y: timed out"


class _Drip(BaseHTTPRequestHandler):
    """Answers 200, then sends its body one byte every 0.2 s (for 10 s): a server that never
    finishes but never lets a read time out either."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for _ in range(50):
                self.wfile.write(b"1\r\n \r\n")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            return

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def drip_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Drip)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_body_that_drips_forever_is_refused_after_max_seconds(drip_server: str) -> None:
    started = time.monotonic()
    with make_client(timeout=5) as client, pytest.raises(ProviderError) as caught:
        send(client, "POST", f"{drip_server}/api/x.y", what="Slack x.y", max_seconds=0.6)
    elapsed = time.monotonic() - started
    assert caught.value.code == "provider_bad_response"
    assert caught.value.message == "Slack x.y: the answer from 127.0.0.1 took longer than 0.6 s to arrive; refused"
    assert 0.6 <= elapsed < 5.0


def test_a_body_over_the_cap_is_refused() -> None:
    with respx.mock:
        respx.post("https://slack.test/api/x.y").respond(200, content=b"x" * 5000)
        with make_client() as client, pytest.raises(ProviderError) as caught:
            send(client, "POST", "https://slack.test/api/x.y", what="Slack x.y", max_bytes=4096)
    assert caught.value.code == "provider_bad_response"
    assert caught.value.message == "Slack x.y: the answer from slack.test is larger than 4096 bytes; refused"


def test_basic_auth_and_form_are_sent() -> None:
    with respx.mock:
        route = respx.post("https://slack.test/api/oauth.v2.access").respond(200, json={"ok": True})
        with make_client() as client:
            reply = send(
                client,
                "POST",
                "https://slack.test/api/oauth.v2.access",
                what="Slack oauth.v2.access",
                data={"code": "abc"},
                auth=("id", "secret"),
            )
    assert reply.status == 200
    assert reply.body == b'{"ok":true}'
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Basic aWQ6c2VjcmV0"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.content == b"code=abc"


@pytest.mark.parametrize("url", ["ftp://slack.test/api/x.y", "http://[::1/api/x.y", "https:///api/x.y"])
def test_a_malformed_api_base_is_a_provider_error(url: str) -> None:
    with make_client() as client, pytest.raises(ProviderError) as caught:
        send(client, "POST", url, what="Slack x.y")
    assert caught.value.code == "provider_unreachable"
    assert caught.value.message.startswith("cannot reach ")
