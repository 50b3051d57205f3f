"""`ListenOptions.fail_first`: a retry rehearsed deterministically (what `zigznote demo` uses)."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from tests.unit.test_listen import BASE, listening
from zigznote.errors import InvalidInput
from zigznote.webhooks.listen import ListenOptions, bind_host


def test_the_first_requests_fail_then_the_configured_status() -> None:
    with listening(replace(BASE, fail_first=2, fail_status=503)) as listener:
        statuses = [httpx.post(listener.url(), content=b"{}").status_code for _ in range(4)]
        events = listener.wait_events(4)
    assert statuses == [503, 503, 200, 200]
    assert [e.status_returned for e in events] == [503, 503, 200, 200]


def test_requests_outside_the_served_path_do_not_count() -> None:
    with listening(replace(BASE, path="/hook", fail_first=1)) as listener:
        assert httpx.post(listener.url("/other"), content=b"{}").status_code == 404
        assert httpx.post(listener.url("/hook"), content=b"{}").status_code == 500
        assert httpx.post(listener.url("/hook"), content=b"{}").status_code == 200


def test_negative_fail_first_is_refused() -> None:
    with pytest.raises(InvalidInput, match="invalid fail-first -1"):
        ListenOptions(fail_first=-1).validate()


@pytest.mark.parametrize(
    ("host", "bound"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("localhost", "localhost"),
        ("Bücher.local", "xn--bcher-kva.local"),
    ],
)
def test_bind_host(host: str, bound: str) -> None:
    assert bind_host(host) == bound
