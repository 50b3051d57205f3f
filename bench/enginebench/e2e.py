"""Part 1: end-to-end deliveries/s (claim → sign → POST → record → commit) vs a bare aiohttp loop."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from typing import Any

from enginebench.common import (
    ALLOW_NETS,
    GOAL_BARE_RATIO,
    GOAL_SQLITE_RATE,
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
    sample_body,
    status_counts,
    stop_process,
    table,
    wait_rusage,
)
from enginebench.receiver import ReceiverProc, receiver_rate


# ---------------------------------------------------------------------------------------------
# 1. end-to-end throughput
# ---------------------------------------------------------------------------------------------
async def _bare_loop(url: str, body: bytes, n: int, concurrency: int) -> tuple[float, int]:
    import aiohttp

    headers = {
        "content-type": "application/json",
        "user-agent": "zigznote-webhooks/1",
        "webhook-id": "msg_" + "0" * 26,
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": "v1," + base64.b64encode(os.urandom(32)).decode(),
    }
    left = n
    ok = 0

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal left, ok
        while left > 0:
            left -= 1
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                await resp.content.read(1024)
                ok += resp.status == 200

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(one(session) for _ in range(concurrency))), timeout=300)
        return time.perf_counter() - started, ok


def bare_loop(rc: ReceiverProc, body: bytes, n: int, concurrency: int) -> dict[str, Any]:
    import resource

    rc.reset()
    rcpu0, u0 = rc.cpu(), resource.getrusage(resource.RUSAGE_SELF)
    seconds, ok = asyncio.run(_bare_loop(rc.url("/bare"), body, n, concurrency))
    rcpu1, u1 = rc.cpu(), resource.getrusage(resource.RUSAGE_SELF)
    st = rc.stats()
    cpu = (u1.ru_utime + u1.ru_stime) - (u0.ru_utime + u0.ru_stime)
    return {
        "mode": "bare aiohttp loop",
        "c": concurrency,
        "n": n,
        "ok": ok,
        "received": st["count"],
        "engine_rate": None,
        "recv_rate": receiver_rate(st),
        "client_rate": n / seconds,
        "wall": seconds,
        "client_cpu_us": cpu / max(st["count"], 1) * 1e6,
        "recv_cpu_us": (rcpu1 - rcpu0) / max(st["count"], 1) * 1e6,
    }


def run_sweeps(
    ctx: Ctx, db: Any, rc: ReceiverProc, n: int, procs: int, concurrency: int, cap: float, timeout: float = 400.0
) -> dict[str, Any]:
    """``procs`` concurrent `zigznote worker sweep` subprocesses on a pre-filled database."""
    env = ctx.env(db)
    cmd = [
        sys.executable,
        "-m",
        "zigznote",
        "--json",
        "worker",
        "sweep",
        "--concurrency",
        str(concurrency),
        "--per-endpoint",
        str(concurrency),
        "--per-endpoint-max",
        str(concurrency),
        "--max-seconds",
        f"{cap:g}",
    ]
    rc.reset()
    rcpu0 = rc.cpu()
    running: list[subprocess.Popen[bytes]] = []
    outputs: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        for i in range(procs):
            err = open(ctx.tmp / f"sweep-{uuid.uuid4().hex[:6]}-{i}.err", "wb")  # noqa: SIM115 (closed below)
            running.append(
                subprocess.Popen(
                    cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, preexec_fn=_die_with_parent
                )
            )
            err.close()
        deadline = time.monotonic() + timeout
        cpu = 0.0
        for p in running:
            # the summary is one small JSON document: it fits the pipe, so waiting before reading is safe
            code, usage = wait_rusage(p, max(1.0, deadline - time.monotonic()), tick=0.02)
            if code is None:
                raise RuntimeError(f"sweep did not finish within {timeout:g} s")
            assert p.stdout is not None
            out = p.stdout.read()
            if code != 0:
                raise RuntimeError(f"sweep exited {code}: {out[-500:]!r}")
            outputs.append(json.loads(out))
            cpu += usage.ru_utime + usage.ru_stime
    finally:
        for p in running:
            stop_process(p)
    wall = time.perf_counter() - started
    st = rc.stats()
    received = max(st["count"], 1)
    counts = status_counts(db)
    delivered = sum(o["delivered"] for o in outputs)
    engine_rate = sum(o["rate_per_second"] for o in outputs) if procs == 1 else None
    return {
        "n": n,
        "received": st["count"],
        "delivered": delivered,
        "succeeded": counts.get("succeeded", 0),
        "engine_rate": engine_rate,
        "engine_seconds": [o["seconds"] for o in outputs],
        "recv_rate": receiver_rate(st),
        "client_rate": None,
        "wall": wall,
        "client_cpu_us": cpu / received * 1e6,
        "recv_cpu_us": (rc.cpu() - rcpu0) / received * 1e6,
        "cpu_s": cpu,
        "cmd": " ".join(shlex.quote(c) for c in cmd[1:]),
    }


def worker_run(
    ctx: Ctx, backend: str, rc: ReceiverProc, n: int, procs: int, concurrency: int, webhooks: int, cap: float
) -> dict[str, Any]:
    with ctx.database(backend, "e2e") as db:
        org = add_org(db)
        hooks = add_webhooks(db, ctx.vault, org, [rc.url(f"/hook/{k}") for k in range(webhooks)])
        fill_s = fill(db, org, hooks, n) if n else 0.0
        res = run_sweeps(ctx, db, rc, n, procs, concurrency, cap)
    label = f"{procs} worker{'s' if procs > 1 else ''}, {'SQLite' if backend == 'sqlite' else 'Postgres'}"
    res.update(mode=label, c=concurrency, fill_s=fill_s)
    return res


def part_e2e(ctx: Ctx, args: argparse.Namespace) -> list[str]:
    n, cs, webhooks = args.n, args.concurrency, args.webhooks
    body = sample_body()
    rows: list[dict[str, Any]] = []
    with ReceiverProc() as rc:
        # warm the receiver (first connections, code paths) so the first measured mode is not penalised
        bare_loop(rc, body, 2000, 50)
        # CPU of a sweep with nothing to do (interpreter + imports + connect), subtracted below
        startup = {
            b: worker_run(ctx, b, rc, 0, 1, 50, webhooks, args.cap)["cpu_s"]
            for b in (["sqlite", "postgres"] if ctx.pg_base else ["sqlite"])
        }
        for c in cs:
            log(f"e2e c={c}: bare loop")
            bare = bare_loop(rc, body, n, c)
            rows.append(bare)
            modes = [("sqlite", 1)] + ([("postgres", 1), ("postgres", 2)] if ctx.pg_base else [])
            for backend, procs in modes:
                log(f"e2e c={c}: {procs} worker(s) on {backend}, {n:,} deliveries")
                res = worker_run(ctx, backend, rc, n, procs, c, webhooks, args.cap)
                res["bare"] = bare["recv_rate"]
                rows.append(res)
    cmd = rows[1]["cmd"] if len(rows) > 1 else ""
    md = [
        "## 1. End-to-end deliveries/s (claim → sign → POST → record → commit)",
        "",
        f"{n:,} deliveries per run (1 org, {webhooks} webhooks → one receiver process, `--per-endpoint` = "
        f"`--concurrency`), a fresh database per run, filled with set-based SQL; each sweep is capped at "
        f"`--max-seconds {args.cap:g}` so a slow engine still finishes (rates stay valid; *notes* say when the "
        "cap cut a run short). Worker command: "
        f"`python {cmd}` (subprocess; `ZIGZNOTE_WEBHOOK_ALLOW_NETS={ALLOW_NETS}`). Bare loop: one aiohttp "
        f"ClientSession in the benchmark process, same body size ({len(body)} B), same concurrency, "
        f"{n:,} requests. *engine* = `rate_per_second` the sweep prints (measured inside the engine); "
        "*receiver* = (count - 1) / (last - first arrival) at the receiver; ratio = receiver rate / bare "
        "loop receiver rate at the same concurrency. *Sender CPU* = user + system CPU of the worker "
        "process(es) (from `os.wait4`) minus the CPU of a sweep with nothing to do (start-up: "
        + ", ".join(f"{b} {v:.2f} s" for b, v in startup.items())
        + ") or of the bare loop, per request "
        "received; *receiver CPU* likewise from /proc/<pid>/stat. The machine has 2 cores shared by sender, "
        "receiver (and Postgres).",
        "",
    ]
    trows = []
    for r in rows:
        if r["mode"].startswith("bare"):
            trows.append(
                [
                    r["mode"],
                    r["c"],
                    f"{r['received']:,}",
                    "-",
                    fmt(r["recv_rate"]),
                    "1.00",
                    fmt(r["client_cpu_us"]),
                    fmt(r["recv_cpu_us"]),
                    f"{r['wall']:.1f}",
                    "client-side rate: " + fmt(r["client_rate"]) + "/s",
                ]
            )
        else:
            note = f"succeeded {r['succeeded']:,}/{r['n']:,}"
            if r["succeeded"] < r["n"]:
                note += " (capped)"
            if r["received"] != r["succeeded"]:
                note += f"; received {r['received']:,} (≠ succeeded)"
            if r["delivered"] != r["succeeded"]:
                note += f"; sweep summary says delivered {r['delivered']:,}"
            if len(r["engine_seconds"]) > 1:
                note += "; per-process engine s: " + ", ".join(f"{s:.1f}" for s in r["engine_seconds"])
            procs = len(r["engine_seconds"])
            base_cpu = startup["sqlite" if "SQLite" in r["mode"] else "postgres"] * procs
            net = (r["cpu_s"] - base_cpu) / max(r["received"], 1) * 1e6
            trows.append(
                [
                    r["mode"],
                    r["c"],
                    f"{r['received']:,}",
                    fmt(r["engine_rate"]),
                    fmt(r["recv_rate"]),
                    ratio(r["recv_rate"], r["bare"]),
                    fmt(net),
                    fmt(r["recv_cpu_us"]),
                    f"{r['wall']:.1f}",
                    note,
                ]
            )
    md += table(
        [
            "mode",
            "concurrency",
            "requests received",
            "engine del/s",
            "receiver del/s",
            "÷ bare loop",
            "sender CPU µs/request",
            "receiver CPU µs/request",
            "wall s (incl. start-up)",
            "notes",
        ],
        trows,
    )
    md.append("")
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["recv_rate"] is not None and (r["mode"] not in best or r["recv_rate"] > best[r["mode"]]["recv_rate"]):
            best[r["mode"]] = r
    md.append(
        "Best per mode (receiver rate): "
        + "; ".join(
            f"{m} {fmt(r['recv_rate'])}/s at c={r['c']}"
            + (f" ({ratio(r['recv_rate'], r['bare'])}x bare)" if "bare" in r else "")
            for m, r in best.items()
        )
        + "."
    )
    sq = best.get("1 worker, SQLite")
    if sq is not None:
        md += [
            "",
            f"Goals (one SQLite worker, best concurrency c={sq['c']}): ≥ {GOAL_SQLITE_RATE:,.0f} deliveries/s "
            f"— {fmt(sq['recv_rate'])}/s receiver, {fmt(sq['engine_rate'])}/s engine: "
            f"{goal(min(sq['recv_rate'], sq['engine_rate'] or 0) >= GOAL_SQLITE_RATE)}; ≥ "
            f"{GOAL_BARE_RATIO:.0%} of the bare loop — {ratio(sq['recv_rate'], sq['bare'])}: "
            f"{goal(sq['recv_rate'] / sq['bare'] >= GOAL_BARE_RATIO)}.",
        ]
    return md
