"""Receiver-side tools (no database): `webhooks verify` judges a received message as a
Standard Webhooks receiver would, `webhooks listen` runs a development receiver."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from zigznote.errors import InvalidInput
from zigznote.timeutil import iso, parse_duration
from zigznote.webhooks import signing

_REQUEST_LINE_RE = re.compile(r"^[A-Z]+ \S+ HTTP/\d(?:\.\d)?$")


def parse_headers_text(raw: bytes) -> dict[str, str]:
    """Headers from a file: ``Name: value`` lines (an HTTP request line and ``#`` comments
    are skipped), or one JSON object."""
    from zigznote.services.records import decode_utf8

    text = decode_utf8(raw, what="headers file").strip()
    if text.startswith("{"):
        from zigznote.untrusted import load_json  # the one input parser: depth, Unicode, position

        doc = load_json(text, where="headers file")
        if not isinstance(doc, dict):
            raise InvalidInput("headers file must be a JSON object of name: value", code="invalid_headers_file")
        return {str(k): str(v) for k, v in doc.items()}
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or (number == 1 and _REQUEST_LINE_RE.match(stripped)):
            continue
        name, sep, value = stripped.partition(":")
        if not sep or not name.strip():
            raise InvalidInput(
                f"headers file line {number} is not 'Name: value': {stripped[:80]!r}",
                code="invalid_headers_file",
            )
        headers[name.strip().lower()] = value.strip()
    return headers


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, tolerance: int = signing.DEFAULT_TOLERANCE
) -> dict[str, Any]:
    """Judge a received message as a Standard Webhooks receiver would (SignatureInvalid if not)."""
    if tolerance < 0:
        raise InvalidInput("--tolerance must not be negative", code="invalid_tolerance")
    signing.verify(secret, headers, body, tolerance=tolerance)
    lowered = {k.lower(): v for k, v in headers.items()}
    return {
        "valid": True,
        "webhook_id": lowered.get(signing.HEADER_ID),
        "timestamp": int(lowered[signing.HEADER_TIMESTAMP].strip()),
        "size": len(body),
    }


def listen(
    *,
    host: str,
    port: int,
    path: str | None,
    secret: str | None,
    status: int,
    fail_rate: float,
    fail_status: int,
    delay: str | None,
    reject_invalid: bool,
    tolerance: int,
    on_event: Callable[[dict[str, Any]], None],
    on_ready: Callable[[str], None],
) -> None:
    """Run the development receiver until SIGINT or SIGTERM, then return normally."""
    import asyncio
    import contextlib
    import signal

    from zigznote.webhooks.listen import ListenOptions, ReceivedEvent, serve

    options = ListenOptions(
        host=host,
        port=port,
        path=path,
        secret=secret,
        status=status,
        fail_rate=fail_rate,
        fail_status=fail_status,
        delay=parse_duration(delay) if delay else 0.0,
        tolerance=tolerance,
        reject_invalid=reject_invalid,
    )
    options.validate()

    def report(event: ReceivedEvent) -> None:
        on_event(
            {
                "time": iso(event.time),
                "method": event.method,
                "path": event.path,
                "webhook_id": event.webhook_id,
                "event_type": event.event_type,
                "size": event.size,
                "signature": event.signature,
                "reason": event.reason,
                "status": event.status_returned,
            }
        )

    def ready(bound: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        on_ready(f"http://{shown}:{bound}{path or '/'}")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
                pass
        try:
            await serve(options, report, stop=stop, ready=ready)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    # A Ctrl-C that lands before the handlers are installed is still a clean stop.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
