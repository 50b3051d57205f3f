"""Part 7: stopping under load — are results lost?"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

from enginebench.common import ALLOW_NETS, Ctx, add_org, add_webhooks, fill, log, status_counts, table
from enginebench.receiver import ReceiverProc, receiver_rate


def _cpu_self() -> float:
    import resource

    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def inprocess(
    ctx: Ctx,
    rc: ReceiverProc,
    backend: str,
    cls: Any,
    n: int,
    webhooks: int,
    cap: float,
    caches: bool = False,
    **config: Any,
) -> dict[str, Any]:
    from sqlalchemy import event

    from zigznote.delivery.engine import EngineConfig
    from zigznote.webhooks.ssrf import parse_allow_nets

    with ctx.database(backend, "fix") as db:
        org = add_org(db)
        hooks = add_webhooks(db, ctx.vault, org, [rc.url(f"/fix/{k}") for k in range(webhooks)])
        fill(db, org, hooks, n)
        cfg = EngineConfig(allow_nets=parse_allow_nets(ALLOW_NETS), **config)
        rc.reset()
        counts = Counter()

        def on_execute(*_: Any) -> None:
            counts["statements"] += 1

        def on_commit(*_: Any) -> None:
            counts["commits"] += 1

        event.listen(db.engine, "before_cursor_execute", on_execute)
        event.listen(db.engine, "commit", on_commit)
        try:
            with contextlib.nullcontext():
                worker = cls(db, ctx.vault, cfg)
                t0, cpu0 = time.perf_counter(), _cpu_self()
                stats = asyncio.run(asyncio.wait_for(worker.run(once=True, max_seconds=cap), timeout=cap + 60))
                seconds, cpu = time.perf_counter() - t0, _cpu_self() - cpu0
        finally:
            event.remove(db.engine, "before_cursor_execute", on_execute)
            event.remove(db.engine, "commit", on_commit)
        statuses = status_counts(db)
        succeeded = statuses.get("succeeded", 0)
    st = rc.stats()
    events = max(succeeded / webhooks, 1)
    return {
        "delivered": stats.delivered,
        "succeeded": succeeded,
        "delivering": statuses.get("delivering", 0),
        "released": stats.released,
        "rate": succeeded / seconds,
        "recv_rate": receiver_rate(st),
        "received": st["count"],
        "cpu_us": cpu / max(succeeded, 1) * 1e6,
        "per_event": counts["statements"] / events,
        "commits_per_event": counts["commits"] / events,
    }


def part_stop(ctx: Ctx, args: argparse.Namespace) -> list[str]:
    from zigznote.delivery.engine import Worker

    n, c = 10_000, 200
    cfg = {"concurrency": c, "per_endpoint": c, "per_endpoint_max": c}
    variants = [("as shipped", Worker)]
    out = []
    with ReceiverProc() as rc:
        for backend in ["sqlite"] + (["postgres"] if ctx.pg_base else []):
            for label, cls in variants:
                for cap in args.stop_caps:
                    log(f"stop: {backend} {label} max_seconds={cap}")
                    r = inprocess(ctx, rc, backend, cls, n, 4, cap, False, **cfg)
                    r.update(backend=backend, label=label, cap=cap)
                    out.append(r)
    md = [
        "## 7. Stopping under load: are results lost?",
        "",
        f"In-process `Worker(...).run(once=True, max_seconds=S)` over {n:,} due deliveries (4 webhooks, c={c}), "
        "stopped by the deadline while requests and result writes are in flight. After the run: rows left "
        "`delivering` (their requests were answered but the result was never written: they are sent again "
        "after the lease), requests received vs rows `succeeded`, and the engine's own `delivered` count.",
        "",
    ]
    md += table(
        ["backend", "variant", "max_seconds", "received", "succeeded", "left `delivering`", "stats.delivered", "ok"],
        [
            [
                r["backend"],
                r["label"],
                f"{r['cap']:g}",
                f"{r['received']:,}",
                f"{r['succeeded']:,}",
                f"{r['delivering']:,}",
                f"{r['delivered']:,}",
                "yes" if r["received"] == r["succeeded"] == r["delivered"] and not r["delivering"] else "**no**",
            ]
            for r in out
        ],
    )
    return md
