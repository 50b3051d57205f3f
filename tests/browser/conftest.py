"""Fixtures for the end-to-end OAuth tests in headless Chromium.

- ``fake_slack``: a started :class:`tests.support.fake_slack.FakeSlack` (knobs as attributes).
- ``headless_chromium``: a :class:`tests.support.chromium.ChromiumWrapper`; skips without Chromium
  unless ``ZIGZNOTE_REQUIRE_BROWSER`` is set (CI), and fails a test that leaves a browser process.
- ``callback_port``: a loopback port free on both 127.0.0.1 and ::1, new for every test (the
  callback server binds both for ``localhost``).

Helpers: :func:`run_flow` (``obtain_grant`` as the connect commands run it, with the wrapper as
the browser) and :func:`only_page` (the page the browser's one launch ended on).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable

import pytest

from tests.support.chromium import ChromiumWrapper, headless_chromium
from tests.support.fake_slack import fake_slack
from zigznote.integrations.base import Grant, OAuthIntegration
from zigznote.integrations.connect import obtain_grant
from zigznote.integrations.tls import TlsFiles

__all__ = [
    "callback_port",
    "fake_slack",
    "free_loopback_port",
    "headless_chromium",
    "only_page",
    "port_is_free",
    "run_flow",
]


def port_is_free(port: int) -> bool:
    """True when a server could listen on ``port`` on 127.0.0.1 and (where IPv6 exists) ::1.

    Binds with ``SO_REUSEADDR`` as the callback server does: connections of a finished flow may sit
    in TIME_WAIT, which does not stop a new listener; a socket still listening does (Linux)."""
    families = [(socket.AF_INET, "127.0.0.1")]
    if socket.has_ipv6:
        families.append((socket.AF_INET6, "::1"))
    with contextlib.ExitStack() as stack:
        for family, host in families:
            try:
                sock = stack.enter_context(socket.socket(family, socket.SOCK_STREAM))
            except OSError:
                continue  # no IPv6 on this machine: the server will not bind it either
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((host, port))
                sock.listen(1)
            except OSError:
                return False
    return True


def free_loopback_port() -> int:
    """A port the kernel just handed out on 127.0.0.1 that is also free on ::1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port_is_free(port):
            return port
    raise RuntimeError("no loopback port free on both 127.0.0.1 and ::1 after 50 tries")


@pytest.fixture
def callback_port() -> int:
    """A fresh free loopback port for this test's redirect URI."""
    return free_loopback_port()


def _no_paste(prompt: str) -> str:
    raise AssertionError(f"the browser flow asked for a pasted URL: {prompt!r}")


def run_flow(
    app: OAuthIntegration,
    browser: ChromiumWrapper,
    *,
    timeout: float = 60.0,
    tls: TlsFiles | None = None,
    notify: Callable[[str], None] | None = None,
) -> Grant:
    """``obtain_grant`` as the connect commands run it, with ``BROWSER`` = the wrapper and nothing
    else in the environment; a request for a pasted URL fails the test."""
    return obtain_grant(
        app,
        no_browser=False,
        timeout=timeout,
        tls=tls,
        env={"BROWSER": str(browser.script)},
        notify=notify or (lambda line: None),
        read_pasted=_no_paste,
    )


def only_page(browser: ChromiumWrapper) -> str:
    """The page the browser's one launch ended on, once that browser exited."""
    [launch] = browser.wait_for_launches(1)
    assert browser.wait_until_exited(30)
    return browser.final_page(launch)
