"""Part 3: claim time with a small vs a large table."""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta
from typing import Any

from enginebench.common import GOAL_CLAIM_RATIO, Ctx, add_org, add_webhooks, fill, goal, log, pct, status_counts, table


# ---------------------------------------------------------------------------------------------
# 3. claim time vs table size
# ---------------------------------------------------------------------------------------------
def time_claims(ctx: Ctx, backend: str, total: int, due: int, reps: int) -> dict[str, Any]:
    import sqlalchemy as sa

    from zigznote.delivery import queue
    from zigznote.timeutil import utcnow

    with ctx.database(backend, "claim") as db:
        org = add_org(db)
        hooks = add_webhooks(db, ctx.vault, org, [f"http://127.0.0.1:9/claim/{k}" for k in range(4)])
        fill_s = fill(db, org, hooks, total, pending_due=due)
        counts = status_counts(db)
        reset = sa.text(
            "UPDATE webhook_delivery SET status = 'pending', claim_token = NULL, next_attempt_at = :due WHERE id = :id"
        ).bindparams(sa.bindparam("due", type_=sa.DateTime()))
        times = []
        sizes = []
        for i in range(reps + 3):  # 3 warm-up claims
            now = utcnow()
            t0 = time.perf_counter()
            claimed = queue.claim(db.engine, limit=100, lease_seconds=30, now=now)
            dt = time.perf_counter() - t0
            if i >= 3:
                times.append(dt)
                sizes.append(len(claimed))
            with db.engine.begin() as conn:  # untimed: give them back so the due set stays the same
                conn.execute(reset, [{"id": c.id, "due": now - timedelta(seconds=1)} for c in claimed])
    return {
        "backend": backend,
        "total": total,
        "due": due,
        "counts": counts,
        "fill_s": fill_s,
        "median": statistics.median(times),
        "p90": pct(times, 0.9),
        "min": min(times),
        "claimed": sorted(set(sizes)),
    }


def part_claim(ctx: Ctx, args: argparse.Namespace) -> list[str]:
    sizes, due, reps = args.claim_rows, 500, 30
    backends = ["sqlite"] + (["postgres"] if ctx.pg_base else [])
    res = []
    for backend in backends:
        for total in sizes:
            log(f"claim: {backend}, {total:,} rows")
            res.append(time_claims(ctx, backend, total, due, reps))
    md = [
        "## 3. Claim time vs table size",
        "",
        f"`zigznote.delivery.queue.claim(engine, limit=100, lease_seconds=30, now=utcnow())`, timed {reps}x after "
        "3 warm-up claims; after each claim its rows are put back (pending, due; untimed) so every claim sees "
        f"the same {due} due rows. Rows: 4 webhooks, events = rows ÷ 4; filled with one INSERT…SELECT. "
        "Postgres tables are ANALYZEd after the fill (what autovacuum would do); SQLite is left as a user's "
        "file would be (no ANALYZE).",
        "",
    ]
    trows = []
    for r in res:
        mix = ", ".join(f"{k} {v:,}" for k, v in sorted(r["counts"].items()))
        trows.append(
            [
                r["backend"],
                f"{r['total']:,}",
                mix,
                f"{r['fill_s']:.1f}",
                "/".join(map(str, r["claimed"])),
                f"{r['median'] * 1000:.2f}",
                f"{r['p90'] * 1000:.2f}",
                f"{r['min'] * 1000:.2f}",
            ]
        )
    md += table(
        ["backend", "rows in webhook_delivery", "mix", "fill s", "rows per claim", "median ms", "p90 ms", "min ms"],
        trows,
    )
    md.append("")
    for backend in backends:
        rs = sorted((r for r in res if r["backend"] == backend), key=lambda r: r["total"])
        if len(rs) >= 2:
            small, big = rs[0], rs[-1]
            q = big["median"] / small["median"]
            md.append(
                f"- {backend}: median {big['total']:,} rows ÷ {small['total']:,} rows = {q:.2f}x "
                f"(p90 {big['p90'] / small['p90']:.2f}x) — goal within {GOAL_CLAIM_RATIO:g}x: "
                f"{goal(q <= GOAL_CLAIM_RATIO)}."
            )
    return md
