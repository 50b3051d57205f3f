"""Part 2: SQL statements per delivered event."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from typing import Any

from enginebench.common import (
    ALLOW_NETS,
    GOAL_SQL_PER_EVENT,
    Ctx,
    add_org,
    add_webhooks,
    fill,
    fmt,
    goal,
    log,
    status_counts,
    table,
)
from enginebench.receiver import ReceiverProc


# ---------------------------------------------------------------------------------------------
# 2. SQL statements per delivered event
# ---------------------------------------------------------------------------------------------
def count_statements(
    ctx: Ctx, backend: str, rc: ReceiverProc, n: int, webhooks: int, config: dict[str, Any], cap: float
) -> dict[str, Any]:
    from sqlalchemy import event

    from zigznote.delivery.engine import EngineConfig, Worker
    from zigznote.webhooks.ssrf import parse_allow_nets

    with ctx.database(backend, "sql") as db:
        org = add_org(db)
        hooks = add_webhooks(db, ctx.vault, org, [rc.url(f"/sql/{k}") for k in range(webhooks)])
        fill(db, org, hooks, n)
        kinds: Counter[str] = Counter()
        c = {"executions": 0, "rows": 0, "executemany": 0, "commits": 0, "checkouts": 0}

        def on_execute(
            conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
        ) -> None:
            c["executions"] += 1
            c["rows"] += len(parameters) if executemany else 1
            c["executemany"] += executemany
            words = statement.split()
            kind = words[0].upper() if words else "?"
            if kind == "WITH":
                kind = "WITH…(claim)"
            elif kind in ("UPDATE", "INSERT") and len(words) > 1:
                kind = f"{kind} {words[1]}"
            elif kind == "SELECT" and " FROM " in statement:
                kind = "SELECT " + statement.split(" FROM ", 1)[1].split()[0]
            kinds[kind] += 1

        def on_commit(conn: Any) -> None:
            c["commits"] += 1

        def on_checkout(*_: Any) -> None:
            c["checkouts"] += 1

        event.listen(db.engine, "before_cursor_execute", on_execute)
        event.listen(db.engine, "commit", on_commit)
        event.listen(db.engine.pool, "checkout", on_checkout)
        cfg = EngineConfig(allow_nets=parse_allow_nets(ALLOW_NETS), **config)
        try:
            started = time.perf_counter()
            worker = Worker(db, ctx.vault, cfg)
            stats = asyncio.run(asyncio.wait_for(worker.run(once=True, max_seconds=cap), timeout=300))
            seconds = time.perf_counter() - started
        finally:
            event.remove(db.engine, "before_cursor_execute", on_execute)
            event.remove(db.engine, "commit", on_commit)
            event.remove(db.engine.pool, "checkout", on_checkout)
        counts = status_counts(db)
    events_delivered = stats.delivered / webhooks
    return {
        "backend": backend,
        "n": n,
        "webhooks": webhooks,
        "config": config,
        "delivered": stats.delivered,
        "released": stats.released,
        "events": events_delivered,
        "succeeded": counts.get("succeeded", 0),
        "seconds": seconds,
        "kinds": kinds,
        **c,
    }


def part_sql(ctx: Ctx, args: argparse.Namespace) -> list[str]:
    n = args.sql_n
    configs = [
        ("c=100, per-endpoint=100, 1 webhook", 1, {"concurrency": 100, "per_endpoint": 100}),
        ("defaults (c=256, per-endpoint=10 adaptive), 1 webhook", 1, {}),
        ("defaults (c=256, per-endpoint=10 adaptive), 4 webhooks", 4, {}),
    ]
    backends = ["sqlite"] + (["postgres"] if ctx.pg_base else [])
    results = []
    with ReceiverProc() as rc:
        for backend in backends:
            for label, hooks, cfg in configs:
                log(f"sql: {backend} {label}")
                r = count_statements(ctx, backend, rc, n, hooks, cfg, args.sql_cap)
                r["label"] = label
                results.append(r)
    md = [
        "## 2. SQL statements per delivered event",
        "",
        f"In-process `Worker(db, vault, EngineConfig(...)).run(once=True, max_seconds={args.sql_cap:g})` over "
        f"{n:,} due deliveries (the cap bounds slow configurations; counts are per event actually delivered), "
        "with a "
        "`before_cursor_execute` listener on `db.engine` (an executemany is one execution; its parameter "
        "sets are counted as rows). *events* = distinct events delivered (deliveries ÷ webhooks). Commits "
        "are counted with the `commit` event, pool checkouts with the pool's `checkout` event (on Postgres "
        "each checkout also costs a `pool_pre_ping` round trip, which the listener does not see).",
        "",
    ]
    trows = []
    for r in results:
        ev = r["events"] or float("nan")
        trows.append(
            [
                r["backend"],
                r["label"],
                f"{r['delivered']:,}",
                fmt(r["events"]),
                f"{r['executions']:,}",
                f"{r['executions'] / ev:.3f}",
                f"{r['executions'] / max(r['delivered'], 1):.3f}",
                f"{r['rows'] / ev:.2f}",
                f"{r['commits'] / ev:.3f}",
                f"{r['checkouts'] / ev:.3f}",
                f"{r['released']:,}",
                f"{r['delivered'] / r['seconds']:,.0f}",
            ]
        )
    md += table(
        [
            "backend",
            "config",
            "delivered",
            "events",
            "statements",
            "statements / event",
            "statements / delivery",
            "rows / event",
            "commits / event",
            "checkouts / event",
            "released (over-claimed)",
            "del/s in-process",
        ],
        trows,
    )
    md += ["", "Statements by kind (executions):", ""]
    kind_names = sorted({k for r in results for k in r["kinds"]})
    md += table(
        ["backend", "config"] + [f"`{k}`" for k in kind_names],
        [[r["backend"], r["label"]] + [f"{r['kinds'].get(k, 0):,}" for k in kind_names] for r in results],
    )
    worst = max(r["executions"] / (r["events"] or 1) for r in results)
    md += [
        "",
        f"Goal ≤ {GOAL_SQL_PER_EVENT:g} statements per delivered event: worst case {worst:.3f} — "
        f"{goal(worst <= GOAL_SQL_PER_EVENT)}.",
    ]
    return md
