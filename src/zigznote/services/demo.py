"""`zigznote demo`: the main job, end to end, offline, on a throw-away installation.

One run creates a temporary directory with its own config file, SQLite database and master
key file (never the operator's store, whatever ``ZIGZNOTE_*`` says), an organization, a
webhook pointing at an in-process ``webhooks listen`` receiver on a free loopback port, and a
few meeting events. The receiver answers the first request with 500, so one delivery fails
and succeeds on its retry (the demo's retry schedule is one second); the real delivery engine
delivers everything; the history of deliveries and attempts comes back from the database.

Everything runs in this process on one event loop: when :func:`run` returns, the receiver's
socket is closed and the directory is removed (unless ``keep``), so nothing is left running.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zigznote.config import load_settings
from zigznote.config_file import write_config_file
from zigznote.errors import ProviderError
from zigznote.store.engine import Database

ORG_SLUG = "demo"
WEBHOOK_NAME = "receiver"
#: What the demo emits, in order: a meeting's life as an integration sees it.
EVENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("meeting.started", {"meeting_id": "m-demo-1", "title": "Weekly product sync", "platform": "zoom"}),
    ("meeting.ended", {"meeting_id": "m-demo-1", "title": "Weekly product sync", "duration_seconds": 2848}),
    (
        "summary.ready",
        {"meeting_id": "m-demo-1", "summary": "Ship the checkout on the 18th; refunds stay manual for now."},
    ),
)
#: Retries after one second (the production default starts at 1 s too, then backs off).
RETRY_SCHEDULE = "1s,1s,1s"
#: Generous for three local requests and one retry, even on a loaded machine.
DEFAULT_TIMEOUT = 60.0

Step = Callable[[str], None]


def _settings_for(workdir: Path) -> Any:
    """Settings of the throw-away installation: its own config file, nothing from outside.

    The environment is built from scratch (not ``os.environ``) so that a ``ZIGZNOTE_DB`` or
    ``ZIGZNOTE_MASTER_KEY`` of the operator can never point the demo at real data.
    """
    config = workdir / "config.toml"
    write_config_file(
        config,
        {
            "db_url": f"sqlite:///{workdir / 'zigznote.db'}",
            "key_file": str(workdir / "master.key"),
            "keyring": False,
            "retry_schedule": RETRY_SCHEDULE,
            # The receiver is on loopback; only that one address is opened.
            "webhook_allow_nets": "127.0.0.1/32",
        },
    )
    env = {"HOME": str(workdir), "XDG_CONFIG_HOME": str(workdir), "XDG_DATA_HOME": str(workdir)}
    env["ZIGZNOTE_CONFIG"] = str(config)
    return load_settings({}, env)


def run(*, keep: bool = False, timeout: float = DEFAULT_TIMEOUT, step: Step | None = None) -> dict[str, Any]:
    """Run the demo; return what happened (JSON-ready).

    Result: ``workdir`` (None unless ``keep``), ``config`` (the kept config file or None),
    ``org``, ``webhook`` (without its secret), ``receiver_url``, ``events``, ``deliveries``
    (each with its ``attempts``), ``received`` (what the receiver saw), ``seconds``.
    ``step(text)`` is told about each stage as it starts (progress for people).

    Raises ProviderError (exit 5) if the deliveries do not all succeed within ``timeout``
    seconds (the result is then in the message); the directory is removed in any case
    unless ``keep``.
    """
    say = step or (lambda _text: None)
    workdir = Path(tempfile.mkdtemp(prefix="zigznote-demo-"))
    try:
        result = _run_in(workdir, timeout=timeout, say=say)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    result["workdir"] = str(workdir) if keep else None
    result["config"] = str(workdir / "config.toml") if keep else None
    return result


def _run_in(workdir: Path, *, timeout: float, say: Step) -> dict[str, Any]:
    from zigznote.services import keys, setup

    started = time.monotonic()
    settings = _settings_for(workdir)
    say(f"throw-away installation in {workdir}")
    keys.init(settings, file=workdir / "master.key")
    db = Database(settings.db_url, check=False, create=True)
    try:
        setup.db_upgrade(db)
        result = asyncio.run(_deliver(db, settings, timeout=timeout, say=say))
    finally:
        db.dispose()
    result["seconds"] = round(time.monotonic() - started, 2)
    return result


async def _deliver(db: Database, settings: Any, *, timeout: float, say: Step) -> dict[str, Any]:
    from zigznote.webhooks.listen import ListenOptions, ReceivedEvent, serve

    received: list[ReceivedEvent] = []
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    # The secret is set once the webhook exists (it is generated then); nothing is sent
    # before that, so every request the receiver sees is checked.
    options = ListenOptions(host="127.0.0.1", port=0, path="/hook", fail_first=1)
    stop_receiver = asyncio.Event()
    receiver = asyncio.create_task(
        serve(options, received.append, stop=stop_receiver, ready=lambda port: bound.set_result(port))
    )
    try:
        # Bound, or serve() failed (it raises InvalidInput before binding for bad options).
        waiting: set[asyncio.Future[Any]] = {bound, receiver}
        await asyncio.wait(waiting, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if receiver.done():
            receiver.result()  # raises serve()'s error
        if not bound.done():
            raise ProviderError("the demo's receiver did not start listening within 10 s", code="demo_incomplete")
        port = bound.result()
        url = f"http://127.0.0.1:{port}/hook"
        say(f"receiver (`webhooks listen`) on {url}, answering the first request with 500")
        org, webhook, secret, events = await asyncio.to_thread(_populate, db, settings, url)
        options.secret = secret
        say(f"org {org['slug']}, webhook {webhook['name']} → {url}, {len(events)} events emitted")
        say("delivering with the worker (retry schedule 1s)")
        deliveries = await _work(db, settings, webhook_id=webhook["id"], count=len(events), timeout=timeout)
    finally:
        stop_receiver.set()
        await receiver  # the socket is closed when this returns
    return {
        "org": org,
        "webhook": webhook,
        "receiver_url": url,
        "events": events,
        "deliveries": deliveries,
        "received": [
            {
                "time": r.time.isoformat(timespec="milliseconds") + "Z",
                "webhook_id": r.webhook_id,
                "event_type": r.event_type,
                "signature": r.signature,
                "status": r.status_returned,
            }
            for r in received
        ],
    }


Populated = tuple[dict[str, Any], dict[str, Any], str, list[dict[str, Any]]]


def _populate(db: Database, settings: Any, url: str) -> Populated:
    """Org, webhook and events through the same services the commands use."""
    from zigznote.services import events as events_service
    from zigznote.services import keys, orgs
    from zigznote.services import webhooks as webhooks_service

    org = orgs.create(db, ORG_SLUG, "Demo organization")
    vault = keys.open_vault(settings)
    created = webhooks_service.create(
        db,
        vault,
        ORG_SLUG,
        url=url,
        events="*",
        name=WEBHOOK_NAME,
        description="the demo's local receiver",
        nets=settings.webhook_allow_nets,
    )
    secret = str(created.pop("secret"))
    emitted = [events_service.emit(db, ORG_SLUG, type_, json.dumps(data).encode()) for type_, data in EVENTS]
    return org, created, secret, [{"id": e["id"], "type": e["type"]} for e in emitted]


async def _work(db: Database, settings: Any, *, webhook_id: str, count: int, timeout: float) -> list[dict[str, Any]]:
    """Run the delivery engine until the webhook's deliveries are all finished; their history."""
    from zigznote.delivery import handlers
    from zigznote.delivery.engine import Worker
    from zigznote.services import keys
    from zigznote.services import worker as worker_service

    config = worker_service.engine_config(settings)
    vault = keys.open_vault(settings)
    context = handlers.JobContext(db=db, vault=vault, settings=settings)
    worker = Worker(db, vault, config, handlers=handlers.handlers(context))
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop=stop))
    deadline = time.monotonic() + timeout
    history: list[dict[str, Any]] = []
    try:
        while time.monotonic() < deadline and not running.done():
            history = await asyncio.to_thread(_history, db, webhook_id)
            if len(history) == count and all(d["status"] in ("succeeded", "failed") for d in history):
                break
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await running  # graceful: in-flight requests finish, claims are released
    history = await asyncio.to_thread(_history, db, webhook_id)
    if not all(d["status"] == "succeeded" for d in history) or len(history) != count:
        states = ", ".join(f"{d['event_type']}: {d['status']}" for d in history) or "none"
        raise ProviderError(
            f"the demo's deliveries did not all succeed within {timeout:g} s ({states})",
            hint="rerun with `zigznote demo --keep` and inspect the kept store's `webhooks attempts`",
            code="demo_incomplete",
        )
    return history


def _history(db: Database, webhook_id: str) -> list[dict[str, Any]]:
    """The webhook's deliveries, oldest first, each with its attempts."""
    from zigznote.services import webhooks as webhooks_service

    rows = webhooks_service.list_deliveries(db, ORG_SLUG, webhook_id)
    rows.reverse()
    for row in rows:
        row["attempts_log"] = webhooks_service.list_attempts(db, ORG_SLUG, row["id"])
    return rows
