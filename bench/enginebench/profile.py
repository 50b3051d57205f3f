"""Profile (not in `all`): one in-process SQLite sweep under cProfile."""

from __future__ import annotations

import argparse
import asyncio
import time

from enginebench.common import ALLOW_NETS, RESULTS, ROOT, Ctx, add_org, add_webhooks, fill
from enginebench.receiver import ReceiverProc


# ---------------------------------------------------------------------------------------------
# profile (not part of `all`): one in-process SQLite sweep under cProfile
# ---------------------------------------------------------------------------------------------
def part_profile(ctx: Ctx, args: argparse.Namespace) -> list[str]:
    import cProfile
    import io
    import pstats

    from zigznote.delivery.engine import EngineConfig, Worker
    from zigznote.webhooks.ssrf import parse_allow_nets

    c = args.concurrency[0]
    with ReceiverProc() as rc, ctx.database("sqlite", "profile") as db:
        org = add_org(db)
        hooks = add_webhooks(db, ctx.vault, org, [rc.url(f"/p/{k}") for k in range(args.webhooks)])
        fill(db, org, hooks, args.n)
        cfg = EngineConfig(
            allow_nets=parse_allow_nets(ALLOW_NETS), concurrency=c, per_endpoint=c, per_endpoint_max=max(c, 100)
        )
        prof = cProfile.Profile()
        prof.enable()
        stats = asyncio.run(asyncio.wait_for(Worker(db, ctx.vault, cfg).run(once=True), timeout=600))
        prof.disable()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"engine-profile-{time.strftime('%Y%m%d-%H%M%S')}.prof"
    prof.dump_stats(path)
    md = [
        "## Profile: one in-process SQLite sweep under cProfile",
        "",
        f"{args.n:,} deliveries, c={c}, {stats.delivered:,} delivered at {stats.rate():,.0f}/s under the "
        f"profiler; raw profile: `{path.relative_to(ROOT)}`.",
        "",
    ]
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(30)
        md += [f"Top 30 by {key}:", "", "```", buf.getvalue().strip(), "```", ""]
    return md
