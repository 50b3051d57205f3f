#!/usr/bin/env python
"""Delivery engine benchmark: measured throughput, SQL per event, claim cost, RSS, latency.

    python bench/engine.py                 # everything (default sizes, < 10 min on 2 cores)
    python bench/engine.py defaults        # 0. deliveries/s at default settings (`worker run --once`)
    python bench/engine.py e2e             # 1. end-to-end deliveries/s vs a bare aiohttp loop
    python bench/engine.py sql             # 2. SQL statements per delivered event
    python bench/engine.py claim           # 3. claim time with 1,000 vs 1,000,000 rows
    python bench/engine.py rss             # 4. worker peak RSS with 1,000,000 pending deliveries
    python bench/engine.py latency         # 5. emit → receipt latency with an idle worker
    python bench/engine.py stop            # 7. stopping under load: results lost / rows left delivering?
    python bench/engine.py http            # 8. HTTP client cost (aiohttp vs delivery/http1.py) and engine without HTTP
    python bench/engine.py profile         # cProfile of one in-process SQLite sweep (not in `all`)

Options: --no-postgres, --pg-url URL, --n N, --cap S, --concurrency 50,100,200, --sql-n N,
--sql-cap S, --claim-rows 1000,1000000, --rss-rows N, --rss-seconds S, --latency-samples K, --stop-caps 1.5,2.2.
One module per part under bench/enginebench/.
Progress goes to stderr; the Markdown report to stdout and to bench/results/engine-<timestamp>.md.

Everything runs in temp dirs and private Postgres schemas (dropped at the end); every subprocess
is killed in `finally` (and gets SIGTERM if this script dies: PR_SET_PDEATHSIG); every wait is
bounded. All numbers in the report are measured in this run; compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import platform
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from enginebench.claim import part_claim
from enginebench.common import DEFAULT_PG, RESULTS, ROOT, Ctx, log
from enginebench.defaults import part_defaults
from enginebench.e2e import part_e2e
from enginebench.http import part_http
from enginebench.latency import part_latency
from enginebench.profile import part_profile
from enginebench.receiver import receiver_main
from enginebench.rss import part_rss
from enginebench.sql import part_sql
from enginebench.stop import part_stop


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
def machine(pg_base: str | None) -> list[str]:
    mem = "?"
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    pg = "not used"
    if pg_base:
        import sqlalchemy as sa

        eng = sa.create_engine(pg_base)
        try:
            with eng.connect() as conn:
                pg = str(conn.execute(sa.text("SHOW server_version")).scalar())
        finally:
            eng.dispose()
    import aiohttp
    import sqlalchemy

    git = "?"
    with contextlib.suppress(Exception):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.splitlines()
        git = f"{head}" + (f" + {len(dirty)} uncommitted change(s) under src/" if dirty else " (src/ clean)")
    return [
        f"- Machine: `{platform.platform()}`, {os.cpu_count()} CPUs, {mem} RAM",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, PostgreSQL {pg}, "
        f"aiohttp {aiohttp.__version__}, SQLAlchemy {sqlalchemy.__version__}",
        f"- Code: git {git}",
    ]


def drop_schemas(ctx: Ctx) -> None:
    """Belt and braces: the context managers drop their schemas already."""
    if not ctx.schemas or not ctx.pg_base:
        return
    import sqlalchemy as sa

    eng = sa.create_engine(ctx.pg_base)
    try:
        with eng.begin() as conn:
            for schema in list(ctx.schemas):
                log(f"dropping leftover schema {schema}")
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                ctx.schemas.remove(schema)
    finally:
        eng.dispose()


PARTS: dict[str, Callable[[Ctx, argparse.Namespace], list[str]]] = {
    "defaults": part_defaults,
    "e2e": part_e2e,
    "sql": part_sql,
    "claim": part_claim,
    "rss": part_rss,
    "latency": part_latency,
    "stop": part_stop,
    "http": part_http,
    "profile": part_profile,
}
ALL = ["defaults", "e2e", "sql", "claim", "rss", "latency", "stop"]


def ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("part", nargs="?", default="all", choices=["all", *PARTS, "receiver"])
    p.add_argument("--record", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    p.add_argument("--pg-url", default=os.environ.get("ZIGZNOTE_TEST_POSTGRES_URL", DEFAULT_PG))
    p.add_argument("--n", type=int, default=20_000, help="deliveries per end-to-end run (default 20000)")
    p.add_argument("--cap", type=float, default=12.0, help="--max-seconds per end-to-end sweep (default 12)")
    p.add_argument("--webhooks", type=int, default=4, help="webhooks in the end-to-end runs (default 4)")
    p.add_argument("--concurrency", type=ints, default=[50, 100, 200], help="e.g. 50,100,200")
    p.add_argument("--sql-n", type=int, default=3_000, help="deliveries per SQL-count run (default 3000)")
    p.add_argument("--sql-cap", type=float, default=8.0, help="max_seconds per SQL-count run (default 8)")
    p.add_argument("--claim-rows", type=ints, default=[1_000, 1_000_000], help="table sizes (default 1000,1000000)")
    p.add_argument(
        "--stop-caps",
        type=lambda t: [float(x) for x in t.split(",")],
        default=[1.5, 2.2],
        help="max_seconds values for the stop part (default 1.5,2.2)",
    )
    p.add_argument("--rss-rows", type=int, default=1_000_000)
    p.add_argument("--rss-seconds", type=float, default=20.0)
    p.add_argument("--latency-samples", type=int, default=30)
    args = p.parse_args(argv)
    if args.part == "receiver":
        receiver_main(args.record)
        return 0

    sys.path.insert(0, str(ROOT / "src"))
    from zigznote.store.engine import normalize_url

    pg_base = None if args.no_postgres else normalize_url(args.pg_url)
    if pg_base:
        import sqlalchemy as sa

        try:
            eng = sa.create_engine(pg_base, connect_args={"connect_timeout": 5})
            with eng.connect():
                pass
            eng.dispose()
        except Exception as exc:  # no server: run SQLite only, and say so
            log(f"Postgres unavailable ({type(exc).__name__}); SQLite only")
            pg_base = None
    parts = ALL if args.part == "all" else [args.part]
    command = "python bench/engine.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    started = datetime.now().astimezone()
    md = [
        "# Delivery engine — measured throughput",
        "",
        f"- Command: `{command.strip()}`",
        f"- Date: {started.isoformat(timespec='seconds')}",
    ]
    md += machine(pg_base)
    md += ["- Noisy shared machine: compare the ratios measured within this run, not absolutes across runs.", ""]
    with tempfile.TemporaryDirectory(prefix="zigznote-bench-") as tmp:
        ctx = Ctx(Path(tmp), pg_base, base64.b64encode(os.urandom(32)).decode())
        try:
            for part in parts:
                t0 = time.monotonic()
                try:
                    md += PARTS[part](ctx, args)
                except Exception as exc:  # report the failure, carry on with the next part
                    log(f"{part} failed: {type(exc).__name__}: {exc}")
                    md += [f"## {part}: FAILED", "", f"`{type(exc).__name__}: {exc}`"]
                md += ["", f"*({part}: {time.monotonic() - t0:.0f} s)*", ""]
        finally:
            drop_schemas(ctx)
    md.append(f"Total: {(datetime.now().astimezone() - started).total_seconds():.0f} s.")
    text = "\n".join(md) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"engine-{started.strftime('%Y%m%d-%H%M%S')}.md"
    out.write_text(text)
    print(text)
    log(f"written {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
