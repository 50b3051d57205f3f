"""Part 4: worker peak RSS with many pending deliveries."""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

from enginebench.common import (
    GOAL_RSS_MB,
    ROOT,
    Ctx,
    _die_with_parent,
    add_org,
    add_webhooks,
    fill,
    fmt,
    goal,
    log,
    proc_status,
    stop_process,
    table,
    wait_rusage,
)
from enginebench.receiver import ReceiverProc


# ---------------------------------------------------------------------------------------------
# 4. worker peak RSS with 1M pending
# ---------------------------------------------------------------------------------------------
def part_rss(ctx: Ctx, args: argparse.Namespace) -> list[str]:
    rows, seconds, webhooks = args.rss_rows, args.rss_seconds, 10
    with ReceiverProc() as rc, ctx.database("sqlite", "rss") as db:
        org = add_org(db)
        hooks = add_webhooks(db, ctx.vault, org, [rc.url(f"/rss/{k}") for k in range(webhooks)])
        log(f"rss: filling {rows:,} pending deliveries")
        fill_s = fill(db, org, hooks, rows)
        size_mb = Path(db.engine.url.database).stat().st_size / 2**20
        rc.reset()
        cmd = [sys.executable, "-m", "zigznote", "worker", "run", "--max-seconds", f"{seconds:g}"]
        log(f"rss: {' '.join(cmd[1:])}")
        out = open(ctx.tmp / "rss-worker.out", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            cmd, env=ctx.env(db), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        out.close()
        samples: list[tuple[float, int]] = []
        hwm = [0]
        t0 = time.monotonic()

        def tick() -> None:
            st = proc_status(proc.pid)
            if st:
                samples.append((time.monotonic() - t0, st.get("VmRSS", 0)))
                hwm[0] = max(hwm[0], st.get("VmHWM", 0))

        try:
            code, usage = wait_rusage(proc, seconds + 60, on_tick=tick)
        finally:
            stop_process(proc)
        received = rc.stats()["count"]
    max_rss = max((kb for _, kb in samples), default=0)
    first5 = [kb for t, kb in samples if t <= 5.0]
    peak = max(max_rss, hwm[0], (usage.ru_maxrss if usage else 0)) / 1024
    md = [
        "## 4. Worker peak RSS with 1,000,000 pending deliveries",
        "",
        f"{rows:,} pending, due deliveries ({webhooks} webhooks, {math.ceil(rows / webhooks):,} events; SQLite "
        f"file {size_mb:,.0f} MB, filled in {fill_s:.1f} s), then `python {' '.join(cmd[1:])}` (subprocess, "
        "default concurrency, stdout = JSON line per attempt, to a file) against the fast receiver. RSS polled "
        "every 100 ms from /proc/<pid>/status; `ru_maxrss` from `os.wait4` on exit.",
        "",
    ]
    md += table(
        [
            "exit code",
            "delivered (receiver)",
            "samples",
            "RSS at ~5 s MB",
            "max VmRSS MB",
            "last VmHWM MB",
            "ru_maxrss MB",
            "peak MB",
        ],
        [
            [
                code,
                f"{received:,}",
                len(samples),
                fmt(max(first5, default=0) / 1024, 1),
                fmt(max_rss / 1024, 1),
                fmt(hwm[0] / 1024, 1),
                fmt(usage.ru_maxrss / 1024, 1) if usage else "-",
                fmt(peak, 1),
            ]
        ],
    )
    md += ["", f"Goal < {GOAL_RSS_MB:g} MB: peak {peak:.1f} MB — {goal(peak < GOAL_RSS_MB)}."]
    return md
