"""The connect flow up to the code exchange: authorize URL → browser or paste → code → grant.

:func:`obtain_grant` prints the authorize URL first (always, before any browser is tried), then
either waits on the loopback callback server while a browser opens it, or — with ``--no-browser``
or where no graphical browser can open — asks for the URL the browser was redirected to
(:func:`parse_pasted_redirect`; any registered redirect URI works, no local server needed). The
code is exchanged exactly once. Nothing here stores anything: the caller saves the grant.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Mapping
from urllib.parse import parse_qs, urlsplit

from zigznote.errors import InvalidInput, SignatureInvalid
from zigznote.integrations.base import Grant, OAuthIntegration
from zigznote.integrations.browser import browser_mode, open_browser
from zigznote.integrations.loopback import access_denied, wait_for_code
from zigznote.integrations.tls import TlsFiles

__all__ = ["PASTE_PROMPT", "STRAY_NOTICE", "obtain_grant", "parse_pasted_redirect"]

PASTE_PROMPT = "Paste the full URL your browser was redirected to: "
#: Said (at most every 5 s) when the callback server turns away a redirect of another sign-in.
STRAY_NOTICE = "ignored a redirect that was not from this sign-in (state did not match); still waiting"
# Far above any real redirect URL; refuses a pasted file before parsing it.
_MAX_PASTED = 16_384


def obtain_grant(
    integration: OAuthIntegration,
    *,
    no_browser: bool,
    timeout: float,
    tls: TlsFiles | None,
    env: Mapping[str, str],
    notify: Callable[[str], None],
    read_pasted: Callable[[str], str],
) -> Grant:
    """Run the authorization flow for ``integration`` and exchange the code: the :class:`Grant`.

    ``notify`` receives human lines for stderr; the first two, before anything else happens, are
    an introduction and the authorize URL alone on its line (easy to copy);
    ``read_pasted(prompt)`` returns the URL the user pastes (paste mode only). ``timeout``:
    seconds to wait for the loopback callback. ``tls``: certificate for an https redirect URI.
    ``env``: the process environment (``BROWSER``, ``DISPLAY``, ``SSH_CONNECTION`` …).

    Paste mode when ``no_browser`` or :func:`~zigznote.integrations.browser.browser_mode` says
    so; otherwise :func:`~zigznote.integrations.loopback.wait_for_code` with the browser opened
    once the port is bound (if it cannot be opened, the user opens the printed URL); a redirect
    of another sign-in reaching the server (wrong ``state``) is told with :data:`STRAY_NOTICE`.

    Raises what :func:`~zigznote.integrations.loopback.wait_for_code`,
    :func:`parse_pasted_redirect` and ``integration.exchange_code`` raise; ``KeyboardInterrupt``
    propagates. The code is exchanged exactly once, after the flow succeeded.
    """
    request = integration.authorization_request()
    notify(f"Open this URL in a browser to authorize zigznote with {integration.title or integration.provider}:")
    notify(request.url)
    mode = "paste" if no_browser else browser_mode(env)
    if mode == "paste":
        notify(
            f"After you approve, the browser goes to {integration.redirect_uri} (that page may not load "
            "here: that is fine). Copy the full address from the address bar."
        )
        code = parse_pasted_redirect(
            read_pasted(PASTE_PROMPT), state=request.state, redirect_uri=integration.redirect_uri
        )
    else:
        finished = threading.Event()

        def ready() -> None:  # runs in its own thread once the port is bound
            notify(f"Waiting up to {timeout:g} s for the redirect to {integration.redirect_uri}; opening a browser.")
            # A browser command may return only when the browser exits, after the flow ended:
            # then there is nothing left to say.
            if not open_browser(request.url, env) and not finished.is_set():
                notify("Could not open a browser: open the URL above yourself.")

        try:
            code = wait_for_code(
                integration.redirect_uri,
                state=request.state,
                timeout=timeout,
                tls=tls,
                ready=ready,
                on_stray=lambda: notify(STRAY_NOTICE),
            )
        finally:
            finished.set()
    return integration.exchange_code(code, code_verifier=request.code_verifier)


def parse_pasted_redirect(pasted: str, *, state: str, redirect_uri: str) -> str:
    """The authorization code from the redirect URL a user pasted.

    Any absolute http(s) URL is accepted (its scheme and host need not be localhost: the provider
    may redirect to any registered URI); its query must carry the right ``state``.
    Raises :class:`InvalidInput` (``invalid_input``: not such a URL; ``missing_code``),
    :class:`SignatureInvalid` (``state_mismatch``: missing or other state, checked before
    anything else), :class:`ConfigError` (``access_denied``: ``error=`` with the right state).
    ``redirect_uri`` is only named in hints.
    """
    text = pasted.strip()
    hint = f"paste the whole address the browser shows after approving (it starts like {redirect_uri}?code=…)"
    if not text or len(text) > _MAX_PASTED:
        raise InvalidInput("nothing that looks like a redirect URL was pasted", hint=hint)
    try:
        parts = urlsplit(text)
        params = parse_qs(parts.query, keep_blank_values=True, max_num_fields=64)
    except ValueError:
        raise InvalidInput("the pasted text is not a URL", hint=hint) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(c.isspace() for c in text):
        raise InvalidInput("the pasted text is not an http(s) URL", hint=hint)
    states = params.get("state", [])
    if len(states) != 1 or not hmac.compare_digest(states[0].encode(), state.encode()):
        raise SignatureInvalid(
            "the pasted URL does not belong to this authorization (its state does not match)",
            hint="paste the address from the browser tab of this attempt, or run the connect command again",
            code="state_mismatch",
        )
    errors = params.get("error")
    if errors:
        raise access_denied(errors[0])
    codes = params.get("code", [])
    if len(codes) != 1 or not codes[0]:
        raise InvalidInput("the pasted URL carries no authorization code", hint=hint, code="missing_code")
    return codes[0]
