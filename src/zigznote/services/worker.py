"""Running the delivery engine: configuration from settings, signals, one asyncio run."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import Callable
from typing import Any

from zigznote.config import Settings
from zigznote.delivery import handlers
from zigznote.delivery.engine import EngineConfig, Stats, Worker
from zigznote.delivery.retry import RetryPolicy, parse_schedule
from zigznote.errors import EXIT_INTERRUPTED, ConfigError, InvalidInput
from zigznote.services.retention import RetentionPolicy
from zigznote.services.retention import background as prune_in_background
from zigznote.store.engine import Database
from zigznote.vault import Vault
from zigznote.webhooks.ssrf import parse_allow_nets


def engine_config(settings: Settings, **overrides: Any) -> EngineConfig:
    """The engine's configuration: the settings, with ``overrides`` (the `worker run` flags;
    None: not given) on top. Raises ConfigError (exit 6) when the settings are unusable, and
    InvalidInput (exit 2, naming the flag) when only the flags make them so."""
    try:
        policy = RetryPolicy(
            schedule=parse_schedule(settings.retry_schedule),
            disable_after=settings.disable_after,
            disable_after_period=settings.disable_after_period,
        )
        nets = parse_allow_nets(settings.webhook_allow_nets)
    except InvalidInput as exc:
        raise ConfigError(exc.message, hint=exc.hint) from None
    values: dict[str, Any] = {
        "policy": policy,
        "lease_seconds": settings.lease_seconds,
        "attempt_timeout": settings.attempt_timeout,
        "per_endpoint_max": settings.per_endpoint_max,
        "allow_nets": nets,
    }
    # The settings alone first: what is wrong there is configuration (ConfigError, exit 6).
    _configured(values).validate()
    given = {k: v for k, v in overrides.items() if v is not None}
    config = _configured({**values, **given})
    try:
        config.validate()
    except ConfigError as exc:
        # Only the command's own flags made it invalid: a usage error (exit 2) naming them.
        message = exc.message
        for name in given:
            message = re.sub(rf"\b{name}\b(?!_)", _FLAGS.get(name, name), message)
        raise InvalidInput(message, hint=exc.hint, code="invalid_option") from None
    return config


#: The `worker run` flag of each engine_config override, for error messages.
_FLAGS = {
    "concurrency": "--concurrency",
    "per_endpoint": "--per-endpoint",
    "per_endpoint_max": "--per-endpoint-max",
    "batch": "--batch",
    "grace_seconds": "--grace",
}


def _configured(values: dict[str, Any]) -> EngineConfig:
    values = dict(values)
    if "per_endpoint" not in values:
        # The default starting level never conflicts with a lower ceiling (ZIGZNOTE_PER_ENDPOINT_MAX=5).
        values["per_endpoint"] = min(EngineConfig.per_endpoint, values["per_endpoint_max"])
    return EngineConfig(**values)


def run(
    db: Database,
    vault: Vault,
    config: EngineConfig,
    *,
    settings: Settings,
    once: bool = False,
    max_seconds: float | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_batch_end: Callable[[], None] | None = None,
    handle_signals: bool = True,
    retention: RetentionPolicy | None = None,
) -> Stats:
    """Run a worker to completion. SIGINT/SIGTERM stop it gracefully; a second one
    exits at once (leases then expire and other workers take the work over).

    ``on_batch_end`` is called after each written batch's events (flush output there).
    The worker runs every registered integration-job kind (``delivery/handlers.py``), their
    handlers built with this database, vault and ``settings`` (``handlers.JobContext``). With
    ``retention`` (and not ``once``), expired history is pruned in the background.
    """
    job_handlers = handlers.handlers(handlers.JobContext(db=db, vault=vault, settings=settings))

    async def main() -> Stats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals_seen = 0

        def on_signal() -> None:
            nonlocal signals_seen
            signals_seen += 1
            if signals_seen > 1:
                os._exit(EXIT_INTERRUPTED)
            stop.set()

        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, on_signal)
        worker = Worker(db, vault, config, on_event=on_event, handlers=job_handlers, on_batch_end=on_batch_end)
        if retention is None or once:
            return await worker.run(once=once, max_seconds=max_seconds, stop=stop)
        # Its own stop: the worker may also end on max_seconds; a running batch finishes first.
        prune_stop = asyncio.Event()
        pruner = asyncio.create_task(prune_in_background(db, retention, prune_stop, on_event=on_event))
        try:
            return await worker.run(once=once, max_seconds=max_seconds, stop=stop)
        finally:
            prune_stop.set()
            await pruner

    return asyncio.run(main())
