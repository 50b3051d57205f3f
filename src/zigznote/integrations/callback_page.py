"""What the loopback callback server answers: one HTTP exchange, its page and its verdict.

The server and its sockets are in :mod:`zigznote.integrations.loopback`; this module is the
request side: which requests end the wait (a GET on the exact path with the right state),
which are answered and ignored (other paths, HEAD, prefetches, a wrong state), and the small
pages the browser shows. Every page is HTML-escaped and travels with ``no-store`` and
``Referrer-Policy: no-referrer`` (its URL carries the authorization code).
"""

from __future__ import annotations

import hmac
import html
from http.server import BaseHTTPRequestHandler
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from zigznote.errors import ConfigError, InvalidInput, ZigznoteError
from zigznote.untrusted import storable_text

__all__ = ["CONNECTION_TIMEOUT", "CallbackHandler", "CallbackServer", "access_denied", "verdict"]

#: Seconds a connection may stay silent (per read or write, TLS handshake included).
CONNECTION_TIMEOUT = 10.0
AGAIN = "run the connect command again and approve the request"
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>zigznote: {title}</title>
<style>body{{font-family:sans-serif;margin:3em auto;max-width:36em;line-height:1.5}}</style></head>
<body><h1>{title}</h1><p>{text}</p></body></html>
"""


class CallbackServer(Protocol):
    """What a :class:`CallbackHandler` needs of its server (``loopback._Callback``)."""

    path: str
    state: str

    def stray(self) -> None: ...

    def claim(self) -> bool: ...

    def finish(self, outcome: str | ZigznoteError) -> None: ...


def access_denied(error: str) -> ConfigError:
    """The error for a redirect carrying ``error=`` (RFC 6749 section 4.1.2.1) with the right state."""
    said = storable_text(error, max_chars=100) or "(empty)"
    return ConfigError(
        f"the authorization was not granted (the provider answered error={said})",
        hint=AGAIN,
        code="access_denied",
    )


def verdict(params: dict[str, list[str]]) -> tuple[str | ZigznoteError, int, str]:
    """What a callback with the right state ends with: (code or error, HTTP status, page text)."""
    errors, codes = params.get("error"), params.get("code", [])
    if errors:
        return access_denied(errors[0]), 200, "The authorization was not granted. You can close this tab."
    if len(codes) != 1 or not codes[0]:
        missing = InvalidInput(
            "the provider redirected back without an authorization code", hint=AGAIN, code="missing_code"
        )
        return missing, 400, "The redirect carried no authorization code. Return to the terminal."
    return codes[0], 200, "Connected \N{EM DASH} you can close this tab."


class CallbackHandler(BaseHTTPRequestHandler):
    """One HTTP exchange on a callback connection; the outcome goes to ``server``."""

    server: CallbackServer  # type: ignore[assignment]
    server_version = "zigznote"
    sys_version = ""
    timeout = CONNECTION_TIMEOUT

    def log_message(self, format: str, *args: object) -> None:
        # The default writes request lines (which carry the code) to stderr: never.
        return

    def do_HEAD(self) -> None:
        self._answer(405, "Not served", "Only GET is served here.", body=False, extra=(("Allow", "GET"),))

    def do_GET(self) -> None:
        target = self.path
        if not target.startswith("/"):  # absolute-form request target (RFC 9112 section 3.2.2)
            parts = urlsplit(target)
            path, query = parts.path or "/", parts.query
        else:
            path, _, query = target.partition("#")[0].partition("?")
        if path != self.server.path:
            self._answer(404, "Not found", "Nothing here. Return to the terminal.")
            return
        if self._is_prefetch():
            # A speculative fetch must not consume the code; failing it makes the browser fetch
            # again when the user actually navigates.
            self._answer(503, "Not prefetched", "Open this page directly.")
            return
        try:
            params = parse_qs(query, keep_blank_values=True, max_num_fields=64)
        except ValueError:
            self._answer(400, "Bad request", "This address could not be read.")
            return
        states = params.get("state", [])
        if len(states) != 1 or not hmac.compare_digest(states[0].encode(), self.server.state.encode()):
            self.server.stray()
            self._answer(
                400, "Not this sign-in", "This address does not belong to the authorization in progress. "
                "Return to the terminal.",
            )  # fmt: skip
            return
        if not self.server.claim():
            self._answer(409, "Already done", "This authorization has already been received. You can close this tab.")
            return
        outcome, status, text = verdict(params)
        title = "Connected" if isinstance(outcome, str) else "Not connected"
        try:
            self._answer(status, title, text)
        finally:
            self.server.finish(outcome)

    def _is_prefetch(self) -> bool:
        # Chromium: Sec-Purpose (and the older Purpose); Firefox: X-Moz; Safari: X-Purpose.
        for name in ("Sec-Purpose", "Purpose", "X-Purpose", "X-Moz"):
            value = self.headers.get(name, "")
            if "prefetch" in value.lower() or "preview" in value.lower():
                return True
        return False

    def _answer(
        self, status: int, title: str, text: str, *, body: bool = True, extra: tuple[tuple[str, str], ...] = ()
    ) -> None:
        page = PAGE.format(title=html.escape(title), text=html.escape(text)).encode("utf-8")
        self.close_connection = True
        self.send_response(status)
        for name, value in (
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(page))),
            ("Cache-Control", "no-store"),
            # The page's own URL carries the code: it must never travel on as a Referer.
            ("Referrer-Policy", "no-referrer"),
            ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
            ("X-Content-Type-Options", "nosniff"),
            ("Connection", "close"),
            *extra,
        ):
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(page)
        self.wfile.flush()
