"""`webhooks listen` and `verify` refuse what cannot work before anything starts (exit 2), with a
hint that fits the actual cause; weak secrets are refused everywhere one is accepted."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator

import pytest

from tests.conftest import Cli, Ran


def run(*args: str, input: str | None = None) -> Ran:
    return Cli("unused")(*args, db=False, input=input)


def secret_of(size: int) -> str:
    return "whsec_" + base64.b64encode(bytes(range(size))).decode()


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("nope", "webhook secret is too short: it decodes to 3 bytes of key material"),
        ("whsec_AA", "webhook secret is too short: it decodes to 1 byte of"),
        (secret_of(23), "too short: it decodes to 23 bytes"),
        (secret_of(65), "too long: it decodes to 65 bytes"),
        ("whsec_!!!", "webhook secret is malformed"),
    ],
)
def test_listen_refuses_a_bad_secret_before_binding(
    env: dict[str, str], busy_port: int, secret: str, message: str
) -> None:
    # The port is taken: had it tried to bind first, the error would be about the port.
    ran = run("--json", "webhooks", "listen", "--port", str(busy_port), "--secret", secret)
    assert ran.exit_code == 2, ran.stderr
    assert message in ran.error["message"]
    assert ran.stdout == ""


@pytest.mark.parametrize("size", [1, 23, 65])
def test_verify_refuses_a_weak_secret(env: dict[str, str], size: int) -> None:
    ran = run(
        "--json", "webhooks", "verify", "--secret", secret_of(size),
        "--id", "msg_1", "--timestamp", "1", "--signature", "v1,AAAA", input="{}",
    )  # fmt: skip
    assert ran.exit_code == 2
    assert ran.error["code"] == "secret_size"
    assert f"decodes to {size} byte" in ran.error["message"] and "24 to 64" in ran.error["message"]


@pytest.mark.parametrize("host", ["999.1.1.1", "1.2.3.256", "☃.local", "p\u0430ypal.local"])
def test_listen_refuses_a_host_that_is_no_address(env: dict[str, str], host: str) -> None:
    ran = run("--json", "webhooks", "listen", "--port", "0", "--host", host)
    assert ran.exit_code == 2, ran.stderr
    err = ran.error
    assert err["message"].startswith(f"invalid --host {host!r}")
    # The cause is the host: the hint says which addresses work, not to try another port.
    assert "port" not in err["hint"]
    assert "127.0.0.1" in err["hint"]


def test_listen_on_an_address_of_another_machine(env: dict[str, str]) -> None:
    ran = run("--json", "webhooks", "listen", "--port", "0", "--host", "192.0.2.1")
    assert ran.exit_code == 2, ran.stderr
    err = ran.error
    assert err["message"].startswith("cannot listen on 192.0.2.1:0: 192.0.2.1 is not an address of this machine")
    assert "port" not in err["hint"] and "127.0.0.1" in err["hint"]


def test_listen_on_a_busy_port_suggests_another_port(env: dict[str, str], busy_port: int) -> None:
    ran = run("--json", "webhooks", "listen", "--port", str(busy_port))
    assert ran.exit_code == 2, ran.stderr
    err = ran.error
    assert err["message"].startswith(f"cannot listen on 127.0.0.1:{busy_port}: ")
    assert err["hint"] == "pick another --port (0 picks a free one) or stop the process using it"
