"""Part 0: throughput at default settings, as an operator runs it.

The issue's reproduction: N due deliveries, then `zigznote worker run --once` with NO
options, timed as a whole process (start-up, claim, send, record, exit) with its JSON
lines going to a file, against a bare aiohttp loop (concurrency 32) on the same
receiver in the same run. Three shapes:

- one fast loopback endpoint;
- ten fast loopback endpoints;
- 200 endpoints that each answer after 50 ms (remote endpoints: concurrency-bound).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from typing import Any

from enginebench.common import (
    ROOT,
    Ctx,
    _die_with_parent,
    add_org,
    add_webhooks,
    fill,
    fmt,
    goal,
    log,
    ratio,
    status_counts,
    table,
)
from enginebench.e2e import bare_loop
from enginebench.receiver import SLOW_SECONDS, ReceiverProc, receiver_rate

GOAL_FAST_RATE = 3000.0
GOAL_FAST_RATIO = 0.40
GOAL_SLOW_RATE = 2000.0
BARE_CONCURRENCY = 32
SLOW_ENDPOINTS = 200


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run_once(ctx: Ctx, rc: ReceiverProc, n: int, paths: list[str], timeout: float) -> dict[str, Any]:
    """Fill a fresh SQLite database and time `zigznote worker run --once` over it."""
    with ctx.database("sqlite", "defaults") as db:
        org = add_org(db)
        hooks = add_webhooks(db, ctx.vault, org, [rc.url(p) for p in paths])
        fill(db, org, hooks, n)
        cmd = [sys.executable, "-m", "zigznote", "worker", "run", "--once"]
        rc.reset()
        rcpu0 = rc.cpu()
        lines = ctx.tmp / f"run-{time.monotonic_ns()}.jsonl"
        with open(lines, "wb") as out:
            started = time.perf_counter()
            proc = subprocess.Popen(
                cmd, env=ctx.env(db), cwd=ROOT, stdout=out, stderr=subprocess.PIPE, preexec_fn=_die_with_parent
            )
            try:
                _, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise RuntimeError(f"`{' '.join(cmd[1:])}` did not finish within {timeout:g} s") from None
            wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"worker exited {proc.returncode}: {err[-500:]!r}")
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        counts = status_counts(db)
        st = rc.stats()
        stopped = _last_line(lines)
    return {
        "n": n,
        "wall": wall,
        "succeeded": counts.get("succeeded", 0),
        "received": st["count"],
        "recv_rate": receiver_rate(st),
        "engine_rate": stopped.get("rate_per_second"),
        "cpu_children": usage.ru_utime + usage.ru_stime,
        "recv_cpu_us": (rc.cpu() - rcpu0) / max(st["count"], 1) * 1e6,
        "cmd": "zigznote worker run --once > events.jsonl",
    }


def _last_line(path: Any) -> dict[str, Any]:
    import json

    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 4096))
        tail = f.read().splitlines()
    return dict(json.loads(tail[-1])) if tail else {}


def part_defaults(ctx: Ctx, args: argparse.Namespace) -> list[str]:
    n = args.n
    slow = [f"/slow/{k}" for k in range(SLOW_ENDPOINTS)]
    shapes = [
        ("1 fast endpoint", ["/hook/0"]),
        ("10 fast endpoints", [f"/hook/{k}" for k in range(10)]),
        (f"{SLOW_ENDPOINTS} endpoints, {SLOW_SECONDS * 1000:.0f} ms each", slow),
    ]
    load_before = loadavg()
    rows: list[list[Any]] = []
    verdicts: list[str] = []
    with ReceiverProc() as rc:
        from enginebench.common import sample_body

        body = sample_body()
        bare_loop(rc, body, 2000, BARE_CONCURRENCY)  # warm the receiver
        log(f"defaults: bare loop c={BARE_CONCURRENCY}, {n:,} requests")
        bare = bare_loop(rc, body, n, BARE_CONCURRENCY)
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        prev_cpu = cpu_before.ru_utime + cpu_before.ru_stime
        for label, paths in shapes:
            log(f"defaults: {label}, {n:,} deliveries")
            r = run_once(ctx, rc, n, paths, timeout=max(120.0, n / 200))
            cpu = r["cpu_children"] - prev_cpu
            prev_cpu = r["cpu_children"]
            rate = r["succeeded"] / r["wall"]
            fast = "fast" in label
            rows.append(
                [
                    label,
                    f"{r['succeeded']:,}/{n:,}",
                    f"{r['wall']:.2f}",
                    fmt(rate),
                    fmt(r["engine_rate"]),
                    fmt(r["recv_rate"]),
                    ratio(rate, bare["client_rate"]) if fast else "-",
                    fmt(cpu / max(r["succeeded"], 1) * 1e6),
                ]
            )
            if fast:
                ok = rate >= GOAL_FAST_RATE and rate / bare["client_rate"] >= GOAL_FAST_RATIO
                verdicts.append(
                    f"{label}: {fmt(rate)}/s (goal ≥ {GOAL_FAST_RATE:,.0f}) and "
                    f"{ratio(rate, bare['client_rate'])}x bare (goal ≥ {GOAL_FAST_RATIO:.2f}): {goal(ok)}"
                )
            else:
                verdicts.append(
                    f"{label}: {fmt(rate)}/s (goal ≥ {GOAL_SLOW_RATE:,.0f}): {goal(rate >= GOAL_SLOW_RATE)}"
                )
    md = [
        "## 0. Throughput at default settings (`zigznote worker run --once`, no options)",
        "",
        f"{n:,} due deliveries in a fresh SQLite database per shape; the worker is a subprocess run as "
        "`zigznote worker run --once > events.jsonl` (no options: default concurrency, per-endpoint "
        "start and ceiling, batch), timed as a whole process (start-up and exit included). *del/s* = "
        "succeeded rows / process wall time. *Bare loop*: one aiohttp session in the benchmark process, "
        f"concurrency {BARE_CONCURRENCY}, same body and receiver, client-side rate {fmt(bare['client_rate'])}/s. "
        f"Load average before: {load_before}; after: {loadavg()} (2 cores, shared with the receiver).",
        "",
    ]
    md += table(
        [
            "shape",
            "succeeded",
            "wall s",
            "del/s (whole process)",
            "engine del/s",
            "receiver del/s",
            "÷ bare loop",
            "worker CPU µs/delivery",
        ],
        rows,
    )
    md += ["", *[f"- {v}" for v in verdicts]]
    return md
