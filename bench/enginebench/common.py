"""Shared pieces of the engine benchmark: processes, databases, report helpers."""

from __future__ import annotations

import base64
import contextlib
import ctypes
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ALLOW_NETS = "127.0.0.0/8"

GOAL_SQLITE_RATE = 3000.0
GOAL_BARE_RATIO = 0.40
GOAL_SQL_PER_EVENT = 2.0
GOAL_CLAIM_RATIO = 2.0
GOAL_RSS_MB = 150.0
GOAL_LAT_SQLITE = 1.0
GOAL_LAT_PG = 0.050


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# process helpers
# ---------------------------------------------------------------------------------------------
def _die_with_parent() -> None:
    """preexec_fn: SIGTERM this child if the benchmark process dies (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_process(proc: subprocess.Popen[Any] | None, timeout: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL: always leaves the process reaped."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(10)


def wait_rusage(
    proc: subprocess.Popen[Any], timeout: float, on_tick: Callable[[], None] | None = None, tick: float = 0.1
) -> tuple[int | None, Any]:
    """Wait for ``proc`` (bounded) with os.wait4 so we get *its own* rusage (ru_maxrss = peak RSS)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if on_tick is not None:
            on_tick()
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage
        time.sleep(tick)
    return None, None


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS/VmHWM in kB from /proc/<pid>/status ({} once the process is gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return {}
    return out


# ---------------------------------------------------------------------------------------------
# databases: temp SQLite files and private Postgres schemas, filled with set-based SQL
# ---------------------------------------------------------------------------------------------
@dataclass
class Ctx:
    tmp: Path
    pg_base: str | None
    master_key: str
    schemas: list[str] = field(default_factory=list)

    @property
    def vault(self) -> Any:
        from zigznote.vault import MasterKey, Vault

        return Vault([MasterKey(base64.b64decode(self.master_key), "env")])

    def sqlite_url(self, name: str) -> str:
        return f"sqlite:///{self.tmp / (name + '-' + uuid.uuid4().hex[:6] + '.db')}"

    @contextlib.contextmanager
    def pg_schema(self) -> Iterator[str]:
        import sqlalchemy as sa

        assert self.pg_base is not None
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(self.pg_base)
        try:
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            self.schemas.append(schema)
            sep = "&" if "?" in self.pg_base else "?"
            yield f"{self.pg_base}{sep}options=-csearch_path%3D{schema}"
        finally:
            with contextlib.suppress(Exception), admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                self.schemas.remove(schema)
            admin.dispose()

    @contextlib.contextmanager
    def database(self, backend: str, name: str) -> Iterator[Any]:
        """A migrated, empty Database on ``backend`` ('sqlite' | 'postgres'), disposed (and dropped) after."""
        from zigznote.store import migrate
        from zigznote.store.engine import Database

        with contextlib.ExitStack() as stack:
            url = self.sqlite_url(name) if backend == "sqlite" else stack.enter_context(self.pg_schema())
            db = Database(url, check=False, create=True)
            stack.callback(db.dispose)
            migrate.upgrade(db.engine)
            yield db

    def env(self, db: Any, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZIGZNOTE_")}
        env.update(
            {
                "ZIGZNOTE_DB": db.engine.url.render_as_string(hide_password=False),
                "ZIGZNOTE_MASTER_KEY": self.master_key,
                "ZIGZNOTE_KEYRING": "0",
                "ZIGZNOTE_WEBHOOK_ALLOW_NETS": ALLOW_NETS,
                "XDG_CONFIG_HOME": str(self.tmp / "xdg-config"),
                "XDG_DATA_HOME": str(self.tmp / "xdg-data"),
                "NO_COLOR": "1",
            }
        )
        env.update(extra)
        return env


def add_org(db: Any, slug: str = "bench") -> str:
    from zigznote.ids import new_id
    from zigznote.store.models import Organization

    org_id = new_id("org")
    with db.session() as s:
        s.add(Organization(id=org_id, slug=slug, name=slug))
    return org_id


def add_webhooks(db: Any, vault: Any, org_id: str, urls: Sequence[str]) -> list[str]:
    from zigznote.ids import new_id
    from zigznote.store.models import Webhook
    from zigznote.webhooks.signing import generate_secret

    ids = []
    with db.session() as s:
        for url in urls:
            wh = new_id("wh")
            s.add(
                Webhook(
                    id=wh,
                    org_id=org_id,
                    name=f"bench-{len(ids)}",
                    url=url,
                    event_types=["*"],
                    secret_enc=vault.encrypt(generate_secret(), table="webhook", row=wh, field="secret_enc"),
                )
            )
            ids.append(wh)
    return ids


def fill(db: Any, org_id: str, webhook_ids: Sequence[str], total: int, *, pending_due: int | None = None) -> float:
    """Insert ``total`` deliveries (one per (event, webhook), webhooks interleaved as emit does) in
    two set-based statements. Deliveries [0, pending_due) are pending and due (default: all); the
    rest are succeeded. Events: ceil(total / len(webhooks)). Returns seconds taken."""
    import sqlalchemy as sa

    from zigznote.timeutil import utcnow

    started = time.perf_counter()
    w = len(webhook_ids)
    pending = total if pending_due is None else pending_due
    events = math.ceil(total / w)
    tag = uuid.uuid4().hex[:8]
    now = utcnow()
    params = {"org": org_id, "tag": tag, "now": now, "due": now - timedelta(seconds=1)}
    values = ", ".join(f"({k}, '{wh}')" for k, wh in enumerate(webhook_ids))
    cols = (
        "id, org_id, event_id, webhook_id, kind, status, attempts, cycle_attempts, next_trigger, "
        "next_attempt_at, claim_token, last_status_code, last_error, delivered_at, created_at, updated_at"
    )
    tail = (
        f"CASE WHEN n < {pending} THEN 'pending' ELSE 'succeeded' END, "
        f"CASE WHEN n < {pending} THEN 0 ELSE 1 END, 0, 'scheduled', "
        f"CASE WHEN n < {pending} THEN :due END, NULL, "
        f"CASE WHEN n < {pending} THEN NULL ELSE 200 END, NULL, "
        f"CASE WHEN n < {pending} THEN NULL ELSE :now END, :now, :now"
    )
    if db.is_sqlite:
        seq = "WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < {count})"
        ev_sql = (
            seq.format(count=events) + " INSERT INTO event (id, org_id, type, data, created_at) "
            "SELECT 'evt_' || :tag || printf('%010d', n), :org, 'meeting.ended', "
            "json_object('meeting_id', 'mtg_' || n, 'n', n), :now FROM seq"
        )
        dl_sql = (
            seq.format(count=total) + f", w(k, id) AS (VALUES {values}) "
            f"INSERT INTO webhook_delivery ({cols}) "
            f"SELECT 'msg_' || :tag || printf('%010d', n), :org, 'evt_' || :tag || printf('%010d', n / {w}), "
            f"w.id, 'webhook', {tail} FROM seq CROSS JOIN w WHERE w.k = n % {w}"
        )
    else:
        ev_sql = (
            "INSERT INTO event (id, org_id, type, data, created_at) "
            "SELECT 'evt_' || :tag || lpad(n::text, 10, '0'), :org, 'meeting.ended', "
            "json_build_object('meeting_id', 'mtg_' || n, 'n', n), :now "
            f"FROM generate_series(0, {events - 1}) AS seq(n)"
        )
        dl_sql = (
            f"INSERT INTO webhook_delivery ({cols}) "
            f"SELECT 'msg_' || :tag || lpad(n::text, 10, '0'), :org, "
            f"'evt_' || :tag || lpad((n / {w})::text, 10, '0'), w.id, 'webhook', {tail} "
            f"FROM generate_series(0, {total - 1}) AS seq(n) JOIN (VALUES {values}) AS w(k, id) "
            f"ON w.k = n % {w}"
        )
    binds = [sa.bindparam("now", type_=sa.DateTime()), sa.bindparam("due", type_=sa.DateTime())]
    with db.engine.begin() as conn:
        conn.execute(sa.text(ev_sql).bindparams(binds[0]), {k: params[k] for k in ("org", "tag", "now")})
        conn.execute(sa.text(dl_sql).bindparams(*binds), params)
    if not db.is_sqlite:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE event"))
            conn.execute(sa.text("ANALYZE webhook_delivery"))
    return time.perf_counter() - started


def status_counts(db: Any) -> Counter[str]:
    import sqlalchemy as sa

    with db.engine.connect() as conn:
        return Counter(
            {
                r[0]: int(r[1])
                for r in conn.execute(sa.text("SELECT status, count(*) FROM webhook_delivery GROUP BY status"))
            }
        )


def sample_body() -> bytes:
    """A body the same size as the engine sends for the filled events."""
    from zigznote.ids import new_id
    from zigznote.timeutil import utcnow
    from zigznote.webhooks.envelope import body_bytes

    return body_bytes(new_id("evt"), "meeting.ended", utcnow(), new_id("org"), {"meeting_id": "mtg_12345", "n": 12345})


# ---------------------------------------------------------------------------------------------
# report helpers
# ---------------------------------------------------------------------------------------------
def fmt(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def ratio(a: float | None, b: float | None, digits: int = 2) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(q * len(s)) - 1))]


def goal(ok: bool) -> str:
    return "**met**" if ok else "**missed**"
