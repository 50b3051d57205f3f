"""Tests for zigznote.integrations.loopback: the one-shot OAuth callback server, on real sockets.

``wait_for_code`` runs in a background thread; ``ready`` tells the test the port is bound, then the
test plays the browser with http.client (stdlib, so a bug in our code cannot agree with itself).
Ports come from the OS (bind to port 0) and are checked free on both loopback addresses.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from zigznote.errors import ConfigError, Conflict, InvalidInput, ProviderError
from zigznote.integrations import loopback
from zigznote.integrations.loopback import callback_target, wait_for_code
from zigznote.integrations.tls import TlsFiles, localhost_tls

STATE = "s" * 43


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


HAS_IPV6 = _ipv6_loopback()


def free_port() -> int:
    """A port free on 127.0.0.1 (and ::1 when this machine has it)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not HAS_IPV6:
            return port
        try:
            with socket.socket(socket.AF_INET6) as sock6:
                sock6.bind(("::1", port))
            return port
        except OSError:
            continue
    raise AssertionError("no port free on both loopback addresses")


def assert_port_free(port: int) -> None:
    """Listening on the port again works at once (as a rerun would, with SO_REUSEADDR)."""
    families = [(socket.AF_INET, "127.0.0.1")] + ([(socket.AF_INET6, "::1")] if HAS_IPV6 else [])
    for family, address in families:
        with socket.socket(family) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(1)


def request(
    url: str, *, method: str = "GET", headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None
) -> tuple[int, dict[str, str], str]:
    """One request like a browser's: (status, headers, body)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=10, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        conn.close()


class Waiting:
    """``wait_for_code`` running in a thread; ``result()`` is its return value or exception."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        uri: str,
        *,
        timeout: float = 20,
        tls: TlsFiles | None = None,
        on_stray: Callable[[], None] | None = None,
    ) -> None:
        self.bound = threading.Event()
        self.future: Future[str] = pool.submit(
            wait_for_code, uri, state=STATE, timeout=timeout, tls=tls, ready=self.bound.set, on_stray=on_stray
        )
        if not self.bound.wait(10):
            self.future.result(timeout=1)  # raises the bind error, if that is what happened
            raise AssertionError("the callback server never became ready")

    def result(self) -> str:
        return self.future.result(timeout=20)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


@pytest.fixture
def port() -> int:
    return free_port()


def test_code_with_the_right_state_ends_the_wait_with_a_small_page(pool: ThreadPoolExecutor, port: int) -> None:
    waiting = Waiting(pool, f"http://localhost:{port}/callback")
    status, headers, body = request(f"http://127.0.0.1:{port}/callback?code=the-code&state={STATE}")
    assert waiting.result() == "the-code"
    assert status == 200
    assert "Connected \N{EM DASH} you can close this tab." in body
    assert "the-code" not in body and STATE not in body
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert_port_free(port)


@pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 loopback on this machine")
def test_localhost_listens_on_ipv6_loopback_too(pool: ThreadPoolExecutor, port: int) -> None:
    waiting = Waiting(pool, f"http://localhost:{port}/cb")
    status, _, _ = request(f"http://[::1]:{port}/cb?state={STATE}&code=six")
    assert (status, waiting.result()) == (200, "six")
    assert_port_free(port)


def test_an_ip_literal_redirect_binds_only_that_address(pool: ThreadPoolExecutor, port: int) -> None:
    waiting = Waiting(pool, f"http://127.0.0.1:{port}/cb")
    if HAS_IPV6:
        with socket.socket(socket.AF_INET6) as other:  # ::1 stays free for someone else
            other.bind(("::1", port))
    request(f"http://127.0.0.1:{port}/cb?state={STATE}&code=c")
    assert waiting.result() == "c"


def test_everything_but_the_right_callback_is_answered_and_ignored(pool: ThreadPoolExecutor, port: int) -> None:
    waiting = Waiting(pool, f"http://localhost:{port}/callback")
    base = f"http://127.0.0.1:{port}"
    assert request(f"{base}/favicon.ico")[0] == 404
    assert request(f"{base}/callback/extra?state={STATE}&code=x")[0] == 404
    assert request(f"{base}/callback?state={STATE}&code=x", method="HEAD")[0] == 405
    assert request(f"{base}/callback?state={STATE}&code=x", method="POST")[0] == 501
    assert request(f"{base}/callback?state={STATE}&code=x", headers={"Sec-Purpose": "prefetch;prerender"})[0] == 503
    assert request(f"{base}/callback?code=stolen")[0] == 400
    wrong = request(f"{base}/callback?state=other&code=stolen")
    assert wrong[0] == 400 and "does not belong" in wrong[2]
    assert request(f"{base}/callback?state=other&error=access_denied")[0] == 400
    assert request(f"{base}/callback?state={STATE}&state={STATE}&code=twice")[0] == 400
    assert request(f"{base}/callback?state=")[0] == 400
    assert not waiting.future.done()
    assert request(f"{base}/callback?state={STATE}&code=real")[0] == 200
    assert waiting.result() == "real"


def test_a_stray_redirect_is_told_once_per_interval(
    pool: ThreadPoolExecutor, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redirects with a wrong or missing state are told to ``on_stray`` (the terminal line), but
    a burst of them only once per interval (5 s; 2 s here); other requests never."""
    assert loopback.STRAY_NOTICE_INTERVAL == 5.0
    monkeypatch.setattr(loopback, "STRAY_NOTICE_INTERVAL", 2.0)
    told: list[float] = []
    waiting = Waiting(pool, f"http://localhost:{port}/callback", on_stray=lambda: told.append(time.monotonic()))
    base = f"http://127.0.0.1:{port}"
    assert request(f"{base}/favicon.ico")[0] == 404
    assert request(f"{base}/callback?state={STATE}&code=x", method="HEAD")[0] == 405
    assert told == []
    # Three local requests take milliseconds: well within the 2 s.
    for query in ("state=other&code=stolen", "code=stolen", "state=other&error=access_denied"):
        assert request(f"{base}/callback?{query}")[0] == 400
    assert len(told) == 1
    time.sleep(2.1)
    assert request(f"{base}/callback?state=other&code=again")[0] == 400
    assert len(told) == 2 and told[1] - told[0] >= 2.0
    assert request(f"{base}/callback?state={STATE}&code=real")[0] == 200
    assert waiting.result() == "real"
    assert len(told) == 2


def test_a_failing_stray_callback_does_not_stop_the_wait(pool: ThreadPoolExecutor, port: int) -> None:
    def broken() -> None:
        raise RuntimeError("stderr is gone")

    waiting = Waiting(pool, f"http://localhost:{port}/cb", on_stray=broken)
    assert request(f"http://127.0.0.1:{port}/cb?state=other&code=c")[0] == 400
    assert request(f"http://127.0.0.1:{port}/cb?state={STATE}&code=c")[0] == 200
    assert waiting.result() == "c"


def test_access_denied_with_the_right_state_ends_the_wait(pool: ThreadPoolExecutor, port: int) -> None:
    waiting = Waiting(pool, f"http://localhost:{port}/cb")
    status, _, body = request(f"http://127.0.0.1:{port}/cb?error=access_denied&state={STATE}")
    assert status == 200 and "not granted" in body
    with pytest.raises(ConfigError) as caught:
        waiting.result()
    assert caught.value.code == "access_denied"
    assert caught.value.message == "the authorization was not granted (the provider answered error=access_denied)"
    assert_port_free(port)


def test_a_missing_code_with_the_right_state_is_an_error(pool: ThreadPoolExecutor, port: int) -> None:
    waiting = Waiting(pool, f"http://localhost:{port}/cb")
    assert request(f"http://127.0.0.1:{port}/cb?state={STATE}&code=")[0] == 400
    with pytest.raises(InvalidInput) as caught:
        waiting.result()
    assert caught.value.code == "missing_code"
    assert_port_free(port)


def test_timeout_raises_and_frees_the_port(port: int) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        wait_for_code(f"http://localhost:{port}/cb", state=STATE, timeout=0.5, tls=None)
    elapsed = time.monotonic() - started
    assert caught.value.code == "authorization_timeout"
    assert caught.value.exit_code == 5
    assert 0.4 < elapsed < 5
    assert_port_free(port)


def test_a_taken_port_fails_at_once(port: int) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen(1)
        started = time.monotonic()
        with pytest.raises(Conflict) as caught:
            wait_for_code(f"http://localhost:{port}/cb", state=STATE, timeout=30, tls=None)
        assert time.monotonic() - started < 2
    assert caught.value.code == "port_in_use"
    assert caught.value.exit_code == 4
    assert f"localhost:{port}" in caught.value.message
    assert caught.value.hint is not None and "register that URI" in caught.value.hint
    assert_port_free(port)  # ::1 (bound before the conflict was found, or not) was released


@pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 loopback on this machine")
def test_a_port_taken_on_ipv6_only_also_conflicts(port: int) -> None:
    with socket.socket(socket.AF_INET6) as taken:
        taken.bind(("::1", port))
        taken.listen(1)
        with pytest.raises(Conflict):
            wait_for_code(f"http://localhost:{port}/cb", state=STATE, timeout=30, tls=None)
    assert_port_free(port)  # the 127.0.0.1 socket bound first was closed


def test_the_same_port_serves_a_second_run_right_after_the_first(pool: ThreadPoolExecutor, port: int) -> None:
    for code in ("first", "second"):
        waiting = Waiting(pool, f"http://localhost:{port}/cb")
        request(f"http://127.0.0.1:{port}/cb?state={STATE}&code={code}")
        assert waiting.result() == code


def test_ctrl_c_propagates_and_frees_the_port(port: int) -> None:
    def interrupt() -> None:
        time.sleep(0.2)  # let the main thread reach select()
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        wait_for_code(f"http://localhost:{port}/cb", state=STATE, timeout=30, tls=None, ready=interrupt)
    assert_port_free(port)


def test_a_silent_client_does_not_block_the_callback(pool: ThreadPoolExecutor, port: int) -> None:
    waiting = Waiting(pool, f"http://localhost:{port}/cb")
    with socket.create_connection(("127.0.0.1", port)) as silent, socket.create_connection(("127.0.0.1", port)) as half:
        half.sendall(b"GET /cb?state=")  # a request line that never ends
        started = time.monotonic()
        assert request(f"http://127.0.0.1:{port}/cb?state={STATE}&code=c")[0] == 200
        assert waiting.result() == "c"
        assert time.monotonic() - started < 3
        # On return the server shut the idle connections down instead of leaving them open.
        silent.settimeout(5)
        assert silent.recv(1) == b""
    assert_port_free(port)


def test_a_ready_callback_that_fails_does_not_stop_the_wait(pool: ThreadPoolExecutor, port: int) -> None:
    bound = threading.Event()

    def ready() -> None:
        bound.set()
        raise OSError("no browser")

    future = pool.submit(wait_for_code, f"http://localhost:{port}/cb", state=STATE, timeout=20, tls=None, ready=ready)
    assert bound.wait(10)
    request(f"http://127.0.0.1:{port}/cb?state={STATE}&code=c")
    assert future.result(timeout=20) == "c"


@pytest.fixture(scope="module")
def generated_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return localhost_tls(tmp_path_factory.mktemp("data"), cert=None, key=None)[0]


def test_https_with_the_generated_certificate(pool: ThreadPoolExecutor, port: int, generated_tls: TlsFiles) -> None:
    waiting = Waiting(pool, f"https://localhost:{port}/callback", tls=generated_tls)
    context = ssl.create_default_context(cafile=str(generated_tls.cert))
    # Without TLS at all (a plain-http client) the connection just fails; the server goes on.
    with socket.create_connection(("127.0.0.1", port)) as plain:
        plain.sendall(b"GET /callback HTTP/1.1\r\n\r\n")
        plain.settimeout(10)
        try:
            answer = plain.recv(1024)
        except ConnectionResetError:
            answer = b""
        assert b"HTTP/1" not in answer  # a TLS alert at most, never a page
    with socket.create_connection(("127.0.0.1", port)):  # connects, never starts the handshake
        assert request(f"https://localhost:{port}/callback?state=bad&code=x", context=context)[0] == 400
        status, _, body = request(f"https://localhost:{port}/callback?state={STATE}&code=tls-code", context=context)
    assert status == 200 and "Connected" in body
    assert waiting.result() == "tls-code"
    assert_port_free(port)


def test_https_needs_certificate_files(port: int, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        wait_for_code(f"https://localhost:{port}/cb", state=STATE, timeout=1, tls=None)
    assert caught.value.code == "tls_required"
    missing = TlsFiles(cert=tmp_path / "no-cert.pem", key=tmp_path / "no-key.pem")
    with pytest.raises(ConfigError) as unreadable:
        wait_for_code(f"https://localhost:{port}/cb", state=STATE, timeout=1, tls=missing)
    assert unreadable.value.code == "tls_unreadable"
    assert_port_free(port)


@pytest.mark.parametrize(
    "uri",
    [
        "http://example.com:8765/cb",
        "https://10.0.0.1:8765/cb",
        "http://0.0.0.0:8765/cb",
        "http://[::]:8765/cb",
        "http://localhost.example.com:8765/cb",
    ],
)
def test_non_loopback_hosts_are_refused(uri: str) -> None:
    with pytest.raises(ConfigError) as caught:
        wait_for_code(uri, state=STATE, timeout=1, tls=None)
    assert caught.value.code == "redirect_not_loopback"
    assert caught.value.exit_code == 6


@pytest.mark.parametrize(
    "uri", ["ftp://localhost:8765/cb", "localhost:8765/cb", "http://localhost:99999/cb", "http:///cb", "/cb"]
)
def test_redirects_that_are_not_http_urls_are_refused(uri: str) -> None:
    with pytest.raises(ConfigError) as caught:
        callback_target(uri)
    assert caught.value.code == "redirect_uri_invalid"


def test_callback_target_shapes() -> None:
    assert callback_target("https://LOCALHOST:8765/callback").addresses == ("127.0.0.1", "::1")
    target = callback_target("http://[::1]:9000")
    assert (target.scheme, target.host, target.port, target.path, target.addresses) == (
        "http", "::1", 9000, "/", ("::1",),
    )  # fmt: skip
    assert target.display == "[::1]:9000"
    assert callback_target("https://127.0.0.1/x").port == 443
    assert callback_target("http://127.0.0.2:80/x").addresses == ("127.0.0.2",)


def test_a_privileged_port_is_a_clear_config_error() -> None:
    if os.geteuid() == 0:
        pytest.skip("root may bind privileged ports")
    with pytest.raises(ConfigError) as caught:
        wait_for_code("http://127.0.0.1:1/cb", state=STATE, timeout=1, tls=None)
    assert caught.value.code == "bind_failed"
    assert "privileges" in (caught.value.hint or "")
