"""Tests for zigznote.integrations.connect: the connect flow end to end, on real sockets.

A fake integration records its code exchanges. The "browser" is either a real ``BROWSER`` command
(a Python script that follows the authorize URL's redirect_uri and state, and exits only once the
callback page arrived, as a blocking browser wrapper does) or a client thread started in place of
the browser launch.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from zigznote.errors import ConfigError, InvalidInput, ProviderError, SignatureInvalid
from zigznote.integrations import connect
from zigznote.integrations.base import Grant, OAuthIntegration, TokenSet
from zigznote.integrations.connect import PASTE_PROMPT, obtain_grant, parse_pasted_redirect
from zigznote.integrations.tls import localhost_tls

from .test_loopback import assert_port_free, free_port, request


class FakeIntegration(OAuthIntegration):
    provider = "fake"

    def __init__(self, redirect_uri: str) -> None:
        super().__init__(
            client_id="cid",
            client_secret="csecret",
            redirect_uri=redirect_uri,
            authorize_url="https://auth.example/oauth/authorize",
            scopes=["read"],
        )
        self.exchanges: list[tuple[str, str | None]] = []

    def exchange_code(self, code: str, *, code_verifier: str | None) -> Grant:
        self.exchanges.append((code, code_verifier))
        return Grant(tokens=TokenSet(f"access-for-{code}"), account_id="T1", account_name="Team", details={})

    def refresh(self, tokens: TokenSet) -> TokenSet:
        raise AssertionError("not used")


class FakePkceIntegration(FakeIntegration):
    uses_pkce = True


class Flow:
    """Collects what obtain_grant says, in order, with other events of the test."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def notify(self, line: str) -> None:
        self.events.append(("notify", line))

    @property
    def url(self) -> str:
        return self.events[1][1]

    def params(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.url).query).items()}


def callback_url(authorize_url: str, **extra: str) -> str:
    """Where a provider would redirect: redirect_uri?code=...&state=... taken from the authorize URL."""
    params = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    query = {"state": params["state"], **extra}
    return f"{params['redirect_uri']}?{urlencode(query)}"


def no_paste(prompt: str) -> str:
    raise AssertionError("paste mode was not expected")


def test_loopback_flow_with_a_real_browser_command(tmp_path: Path) -> None:
    port = free_port()
    integration = FakeIntegration(f"http://localhost:{port}/callback")
    browser = tmp_path / "fake-browser"
    seen = tmp_path / "seen.txt"
    browser.write_text(
        f"#!{sys.executable}\n"
        "import sys, urllib.parse, urllib.request\n"
        "q = urllib.parse.parse_qs(urllib.parse.urlsplit(sys.argv[1]).query)\n"
        "target = q['redirect_uri'][0] + '?' + urllib.parse.urlencode({'code': 'code-1', 'state': q['state'][0]})\n"
        "page = urllib.request.urlopen(target.replace('localhost', '127.0.0.1'), timeout=10).read().decode()\n"
        f"open({str(seen)!r}, 'w').write(page)\n"
    )
    browser.chmod(0o755)
    flow = Flow()
    grant = obtain_grant(
        integration, no_browser=False, timeout=30, tls=None, env={"BROWSER": str(browser)},
        notify=flow.notify, read_pasted=no_paste,
    )  # fmt: skip
    assert grant.tokens == TokenSet("access-for-code-1")
    assert integration.exchanges == [("code-1", None)]
    for _ in range(100):  # the browser process writes the page once it has read it all
        if seen.exists() and seen.read_text():
            break
        time.sleep(0.1)
    assert "Connected \N{EM DASH} you can close this tab." in seen.read_text()
    assert flow.events[0] == ("notify", "Open this URL in a browser to authorize zigznote with fake:")
    assert flow.url.startswith("https://auth.example/oauth/authorize?")
    assert flow.events[2] == (
        "notify",
        f"Waiting up to 30 s for the redirect to http://localhost:{port}/callback; opening a browser.",
    )
    assert len(flow.events) == 3
    assert_port_free(port)


class ClientBrowser:
    """Stands in for the browser launch: a thread that sends ``requests`` (query extras) in order.

    ``{"bad_state": "1", ...}`` sends a state that is not the flow's. ``answers``: (status, body).
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = [{"code": "the-code"}]
        self.context: ssl.SSLContext | None = None
        self.opened = True
        self.answers: list[tuple[int, str]] = []
        self.done = threading.Event()  # set once every answer has been read

    def open(self, url: str, env: object) -> bool:
        def browse() -> None:
            if not self.opened:
                time.sleep(0.3)  # the user opens the URL by hand, after being told to
            for extra in self.requests:
                wrong = extra.pop("bad_state", None) is not None
                target = callback_url(url, **extra)
                if wrong:
                    target = target.replace("state=", "state=x", 1)
                status, _, body = request(target, context=self.context)
                self.answers.append((status, body))
            self.done.set()

        threading.Thread(target=browse, daemon=True).start()
        return self.opened


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> ClientBrowser:
    fake = ClientBrowser()
    monkeypatch.setattr(connect, "open_browser", fake.open)
    return fake


def test_https_flow_with_generated_certificate_ignores_a_mismatched_state_first(
    tmp_path: Path, client: ClientBrowser
) -> None:
    files, generated = localhost_tls(tmp_path, cert=None, key=None)
    assert generated is True
    client.context = ssl.create_default_context(cafile=str(files.cert))
    client.requests = [{"bad_state": "1", "code": "forged"}, {"code": "real-code"}]
    port = free_port()
    integration = FakePkceIntegration(f"https://localhost:{port}/cb")
    flow = Flow()
    grant = obtain_grant(
        integration, no_browser=False, timeout=30, tls=files, env={"BROWSER": "/opt/anything"},
        notify=flow.notify, read_pasted=no_paste,
    )  # fmt: skip
    assert grant.account_id == "T1"
    [(code, verifier)] = integration.exchanges
    assert code == "real-code"
    assert verifier is not None and len(verifier) >= 43
    assert flow.params()["code_challenge_method"] == "S256"
    assert client.done.wait(10)
    assert [status for status, _ in client.answers] == [400, 200]
    assert "Connected" in client.answers[1][1] and "Not this sign-in" in client.answers[0][1]
    # The terminal was told of the turned-away redirect (before the browser got its page).
    stray = [line for kind, line in flow.events if kind == "notify" and line.startswith("ignored")]
    assert stray == ["ignored a redirect that was not from this sign-in (state did not match); still waiting"]
    assert_port_free(port)


def test_a_browser_that_cannot_open_leaves_the_user_the_printed_url(client: ClientBrowser) -> None:
    client.opened = False
    port = free_port()
    integration = FakeIntegration(f"http://127.0.0.1:{port}/cb")
    flow = Flow()
    obtain_grant(
        integration, no_browser=False, timeout=30, tls=None, env={"BROWSER": "/opt/anything"},
        notify=flow.notify, read_pasted=no_paste,
    )  # fmt: skip
    assert flow.events[3] == ("notify", "Could not open a browser: open the URL above yourself.")
    assert integration.exchanges == [("the-code", None)]


def test_access_denied_in_the_browser_exchanges_nothing(client: ClientBrowser) -> None:
    client.requests = [{"error": "access_denied"}]
    integration = FakeIntegration(f"http://localhost:{free_port()}/cb")
    with pytest.raises(ConfigError) as caught:
        obtain_grant(
            integration, no_browser=False, timeout=30, tls=None, env={"BROWSER": "/opt/anything"},
            notify=Flow().notify, read_pasted=no_paste,
        )  # fmt: skip
    assert caught.value.code == "access_denied"
    assert integration.exchanges == []


def test_timeout_exchanges_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connect, "open_browser", lambda url, env: True)
    integration = FakeIntegration(f"http://localhost:{free_port()}/cb")
    with pytest.raises(ProviderError) as caught:
        obtain_grant(
            integration, no_browser=False, timeout=0.3, tls=None, env={"BROWSER": "/opt/anything"},
            notify=Flow().notify, read_pasted=no_paste,
        )  # fmt: skip
    assert caught.value.code == "authorization_timeout"
    assert integration.exchanges == []


@pytest.mark.parametrize(("no_browser", "env"), [(True, {"BROWSER": "/opt/anything", "DISPLAY": ":0"}), (False, {})])
def test_paste_mode_needs_no_local_server(
    no_browser: bool, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not no_browser and sys.platform not in ("linux", "freebsd"):
        pytest.skip("automatic paste mode without a display applies to Linux/BSD")
    monkeypatch.setattr(connect, "open_browser", lambda url, env: pytest.fail("no browser in paste mode"))
    port = free_port()
    integration = FakeIntegration(f"https://localhost:{port}/callback")
    flow = Flow()
    prompts: list[str] = []

    def read_pasted(prompt: str) -> str:
        prompts.append(prompt)
        with socket.socket() as probe:  # nothing listens on the redirect port meanwhile
            probe.bind(("127.0.0.1", port))
        # The provider may redirect to any registered URI: only state and code matter.
        return f"  https://example.org/oauth/done?code=pasted-code&state={flow.params()['state']}\n"

    grant = obtain_grant(
        integration, no_browser=no_browser, timeout=30, tls=None, env=env, notify=flow.notify, read_pasted=read_pasted
    )
    assert grant.tokens.access_token == "access-for-pasted-code"
    assert prompts == [PASTE_PROMPT]
    assert integration.exchanges == [("pasted-code", None)]
    assert flow.events[2][1].startswith(f"After you approve, the browser goes to https://localhost:{port}/callback")


def test_paste_mode_errors_and_ctrl_c_exchange_nothing() -> None:
    integration = FakeIntegration("https://localhost:8765/callback")
    with pytest.raises(SignatureInvalid):
        obtain_grant(
            integration, no_browser=True, timeout=1, tls=None, env={}, notify=Flow().notify,
            read_pasted=lambda prompt: "https://localhost:8765/callback?code=c&state=someone-elses",
        )  # fmt: skip

    def interrupted(prompt: str) -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        obtain_grant(
            integration, no_browser=True, timeout=1, tls=None, env={}, notify=Flow().notify, read_pasted=interrupted
        )
    assert integration.exchanges == []


STATE = "S" * 43
REDIRECT = "https://localhost:8765/callback"


@pytest.mark.parametrize(
    ("pasted", "code"),
    [
        (f"https://localhost:8765/callback?code=abc&state={STATE}", "abc"),
        (f"\thttp://127.0.0.1:9/x?state={STATE}&code=a%2Fb%20c \n", "a/b c"),
        (f"https://app.example.com/slack/oauth?code=x.y-z&state={STATE}#frag", "x.y-z"),
    ],
)
def test_parse_pasted_redirect_returns_the_code(pasted: str, code: str) -> None:
    assert parse_pasted_redirect(pasted, state=STATE, redirect_uri=REDIRECT) == code


@pytest.mark.parametrize(
    "pasted",
    [
        f"{REDIRECT}?code=abc&state=other",
        f"{REDIRECT}?code=abc",
        f"{REDIRECT}?code=abc&state={STATE}&state=other",
        f"{REDIRECT}?error=access_denied",
    ],
)
def test_parse_pasted_redirect_state_mismatch(pasted: str) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        parse_pasted_redirect(pasted, state=STATE, redirect_uri=REDIRECT)
    assert (caught.value.code, caught.value.exit_code) == ("state_mismatch", 7)


def test_parse_pasted_redirect_denied_and_missing_code() -> None:
    with pytest.raises(ConfigError) as denied:
        parse_pasted_redirect(f"{REDIRECT}?error=access_denied&state={STATE}", state=STATE, redirect_uri=REDIRECT)
    assert (denied.value.code, denied.value.exit_code) == ("access_denied", 6)
    for pasted in (
        f"{REDIRECT}?state={STATE}",
        f"{REDIRECT}?state={STATE}&code=",
        f"{REDIRECT}?state={STATE}&code=a&code=b",
    ):
        with pytest.raises(InvalidInput) as missing:
            parse_pasted_redirect(pasted, state=STATE, redirect_uri=REDIRECT)
        assert (missing.value.code, missing.value.exit_code) == ("missing_code", 2)


@pytest.mark.parametrize(
    "pasted",
    ["", "   ", "hello", f"code=abc&state={STATE}", f"javascript:alert(1)?code=a&state={STATE}",
     f"https:///x?code=a&state={STATE}", f"https://host/x?code=a b&state={STATE}", "https://h/?" + "a" * 20_000],
)  # fmt: skip
def test_parse_pasted_redirect_refuses_garbage(pasted: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_pasted_redirect(pasted, state=STATE, redirect_uri=REDIRECT)
    assert caught.value.code == "invalid_input"
    assert caught.value.hint is not None and REDIRECT in caught.value.hint
