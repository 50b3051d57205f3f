"""`init`, `doctor`, `status` and the `db` commands' services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from zigznote.config import Settings, mask_url, read_config_file
from zigznote.config_file import write_config_file
from zigznote.errors import ConfigError, InvalidInput, ZigznoteError
from zigznote.services import keys as keys_service
from zigznote.store import migrate
from zigznote.store.engine import Database, current_revision, sqlite_path, translate_db_error
from zigznote.store.migrations.revisions import HEAD_REVISION, KNOWN_REVISIONS
from zigznote.vault import keyring_available
from zigznote.wording import plural


def open_unchecked(settings: Settings, *, create: bool = False) -> Database:
    return Database(settings.db_url, check=False, create=create)


def db_upgrade(db: Database, revision: str = "head") -> dict[str, Any]:
    before = db_current(db)
    try:
        migrate.upgrade(db.engine, revision)
    except DBAPIError as exc:
        raise translate_db_error(exc, db.url) from None
    return {"from": before, "to": db_current(db), "head": HEAD_REVISION}


def db_downgrade(db: Database, revision: str) -> dict[str, Any]:
    if revision not in (*KNOWN_REVISIONS, "base") and not revision.startswith("-"):
        raise InvalidInput(f"unknown revision {revision!r}", hint=f"known: base, {', '.join(KNOWN_REVISIONS)} or -N")
    before = db_current(db)
    try:
        migrate.downgrade(db.engine, revision)
    except DBAPIError as exc:
        raise translate_db_error(exc, db.url) from None
    return {"from": before, "to": db_current(db)}


def db_current(db: Database) -> str | None:
    try:
        with db.engine.connect() as conn:
            return current_revision(conn)
    except DBAPIError as exc:
        raise translate_db_error(exc, db.url) from None


def db_history(db: Database | None) -> list[dict[str, Any]]:
    current = db_current(db) if db is not None else None
    rows = migrate.history()
    for row in rows:
        row["current"] = row["revision"] == current
    return rows


def init(settings: Settings, *, key_file: Path | None = None) -> dict[str, Any]:
    """Create config, database (migrated) and master key; a second run changes nothing.

    The key is checked first: if none exists and none can be created, nothing else is
    touched (no half-initialised installation).
    """
    have_key = bool(keys_service.available_keys(settings))
    if not have_key and key_file is None and not (settings.keyring and keyring_available()):
        from zigznote.errors import VaultError

        raise VaultError(
            "no master key exists and no OS keyring is available to create one in",
            hint="run `zigznote init --key-file PATH` (a 0600 key file) or set ZIGZNOTE_MASTER_KEY",
        )
    report: dict[str, Any] = {}
    path = settings.config_path
    if path is None:  # load_settings always sets it; a hand-built Settings may not
        raise ConfigError("no config file path is known", hint="set ZIGZNOTE_CONFIG or XDG_CONFIG_HOME")
    if path.exists():
        report["config"] = {"path": str(path), "created": False}
    else:
        write_config_file(path, {})
        report["config"] = {"path": str(path), "created": True}
    db = open_unchecked(settings, create=True)
    try:
        up = db_upgrade(db)
    finally:
        db.dispose()
    report["database"] = {"url": mask_url(db.url), "from": up["from"], "to": up["to"], "created": up["from"] is None}
    # `init --db URL` is how an operator picks the database once: remember it (only once it
    # has been reached and migrated), so later commands need no --db.
    report["config"]["saved"] = _remember_db_url(path, settings) if settings.sources.get("db_url") == "flag" else []
    report["key"] = keys_service.init(settings, file=key_file)
    return report


def _remember_db_url(path: Path, settings: Settings) -> list[str]:
    """Save the --db URL in the config file; the names of the settings written (rerun: [])."""
    url = str(settings.db_url)
    file = sqlite_path(url)
    if file is not None and not file.is_absolute():
        # A relative SQLite path would name a different file from every other directory.
        scheme = url.split(":///", 1)[0]
        query = url.partition("?")[2]
        url = f"{scheme}:///{file.resolve()}" + (f"?{query}" if query else "")
    values = read_config_file(path)
    if values.get("db_url") == url:
        return []
    values["db_url"] = url
    write_config_file(path, values)
    if "@" in url and ":" in url.partition("://")[2].rpartition("@")[0]:
        path.chmod(0o600)  # the URL carries a password
    return ["db_url"]


def doctor(settings: Settings) -> dict[str, Any]:
    """Run every check and report each; never stops at the first failure.

    Returns ``{"ok": bool, "checks": [{"check", "ok", "detail", "hint"?, "warnings"?}]}``;
    ``warnings`` (a list of ``{"message", "hint"}``) flag stored data that needs a look
    without failing the check (see services/doctor_webhooks.py).
    """
    checks: list[dict[str, Any]] = []

    def check(name: str, fn: Any) -> Any:
        try:
            detail = fn()
            checks.append({"check": name, "ok": True, "detail": detail})
            return detail
        except ZigznoteError as exc:
            checks.append({"check": name, "ok": False, "detail": exc.message, "hint": exc.hint})
            return None

    def config_file() -> str:
        path = settings.config_path
        return f"{path} ({'present' if path and path.exists() else 'absent, defaults used'})"

    check("config", config_file)
    db_holder: list[Database] = []

    def database() -> str:
        db = Database(settings.db_url, check=True)
        db_holder.append(db)
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return f"{mask_url(db.url)} at {HEAD_REVISION}"

    database_ok = check("database", database) is not None

    def master_key() -> str:
        vault = keys_service.open_vault(settings)
        detail = f"{vault.current.source} (key {vault.current.kid})"
        if db_holder:
            info = keys_service.status(settings, db_holder[0])
            if info["unreadable_secrets"]:
                from zigznote.errors import VaultError

                raise VaultError(
                    f"{info['unreadable_secrets']} secret(s) were encrypted with a key that is not loaded",
                    hint="load the key that encrypted them beside the current one "
                    "(ZIGZNOTE_MASTER_KEY_PREVIOUS, the keyring's master-key-next or <key file>.next); "
                    "`zigznote keys status` shows the key IDs in use",
                )
            detail += f", protects {info['secrets']} secret(s)"
        return detail

    check("master key", master_key)

    def allow_nets() -> str:
        from zigznote.webhooks.ssrf import parse_allow_nets

        nets = parse_allow_nets(settings.webhook_allow_nets)
        return ", ".join(map(str, nets)) if nets else "none (SSRF guard fully on)"

    check("webhook allow-list", allow_nets)

    def retry_schedule() -> str:
        from zigznote.delivery.retry import parse_schedule
        from zigznote.timeutil import format_duration

        return ", ".join(format_duration(s) for s in parse_schedule(settings.retry_schedule))

    check("retry schedule", retry_schedule)

    def webhooks() -> str:
        from zigznote.services.doctor_webhooks import webhook_warnings
        from zigznote.webhooks.ssrf import parse_allow_nets

        # Skipped parts are not failures of their own: the check they depend on already failed.
        if not database_ok:
            return "skipped (needs the database)"
        try:
            nets: list[Any] | None = parse_allow_nets(settings.webhook_allow_nets)
        except InvalidInput:
            nets = None
        total, warnings = webhook_warnings(db_holder[0], allow_nets=nets)
        webhook_warnings_found.extend(warnings)
        skipped = "" if nets is not None else " (refused URLs not checked: the allow-list is invalid)"
        return f"{plural(total, 'webhook')}, {plural(len(warnings), 'warning')}{skipped}"

    webhook_warnings_found: list[dict[str, Any]] = []
    check("webhooks", webhooks)
    if webhook_warnings_found:
        checks[-1]["warnings"] = webhook_warnings_found
    for db in db_holder:
        db.dispose()
    return {"ok": all(c["ok"] for c in checks), "checks": checks}


def status(db: Database) -> dict[str, Any]:
    """A one-screen overview: what is stored, what the delivery queue looks like, and which
    endpoints are failing (``webhooks_failing``; the longest-failing in ``failing_webhooks``
    with streak, adaptive level, caps and last failure; the latest ``endpoint_events``)."""
    from sqlmodel import func, select

    from zigznote.delivery.queue import views
    from zigznote.services.webhooks import health
    from zigznote.store.models import Event, Meeting, Organization, Webhook
    from zigznote.timeutil import iso, utcnow

    with db.session() as session:

        def count(model: Any, *where: Any) -> int:
            return int(session.exec(select(func.count()).select_from(model).where(*where)).one())

        conn = session.connection()
        due, oldest = views.due_overview(conn, now=utcnow())
        return {
            "database": mask_url(db.url),
            "schema": HEAD_REVISION,
            "organizations": count(Organization),
            "meetings": count(Meeting),
            "webhooks": count(Webhook),
            "webhooks_disabled": count(Webhook, Webhook.enabled == False),  # noqa: E712
            "events": count(Event),
            "deliveries": views.status_counts(conn),
            "due_now": due,
            "oldest_pending_due_at": iso(oldest),
            **health.overview(session),
        }
