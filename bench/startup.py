"""Start-up cost of the CLI, measured the way a user or cron sees it: a fresh process each time.

Three commands, run interleaved (a, b, c, a, b, c, ...) so that machine noise hits all alike:

  a. ``zigznote --help``                      goal: median < 150 ms
  b. ``python -c "import sqlmodel"``           the floor for any command that touches the store
  c. ``zigznote --json orgs list``             against a migrated SQLite DB holding 3 orgs
                                               goal: median(c) / median(b) <= 1.3

Usage: python bench/startup.py [-n 30] [--warmup 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELP_GOAL_MS = 150.0
RATIO_GOAL = 1.3


def _run(argv: list[str], env: dict[str, str]) -> float:
    """Wall time of one run in milliseconds; the command must succeed."""
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return elapsed


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=30, help="repetitions of each command (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first, to warm the page cache")
    args = parser.parse_args()

    exe = shutil.which("zigznote", path=str(Path(sys.executable).parent)) or shutil.which("zigznote")
    if exe is None:
        raise SystemExit("zigznote is not installed in this environment (pip install -e .)")

    with tempfile.TemporaryDirectory(prefix="zigznote-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZIGZNOTE_")}
        env.update(
            XDG_CONFIG_HOME=f"{tmp}/config",
            XDG_DATA_HOME=f"{tmp}/data",
            ZIGZNOTE_DB=f"sqlite:///{tmp}/bench.db",
            ZIGZNOTE_KEYRING="0",
            NO_COLOR="1",
        )
        _run([exe, "db", "upgrade"], env)
        for slug in ("acme", "globex", "initech"):
            _run([exe, "orgs", "create", slug], env)

        commands = {
            "a": ("zigznote --help", [exe, "--help"]),
            "b": ('python -c "import sqlmodel"', [sys.executable, "-c", "import sqlmodel"]),
            "c": ("zigznote --json orgs list", [exe, "--json", "orgs", "list"]),
        }
        for _ in range(args.warmup):
            for _label, argv in commands.values():
                _run(argv, env)
        times: dict[str, list[float]] = {key: [] for key in commands}
        for _ in range(args.n):
            for key, (_label, argv) in commands.items():
                times[key].append(_run(argv, env))

    med = {key: statistics.median(values) for key, values in times.items()}
    ratio = med["c"] / med["b"]
    print("# zigznote start-up")
    print()
    print(f"- command: `python bench/startup.py -n {args.n} --warmup {args.warmup}`")
    print(f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"- runs: {args.n} per command, interleaved, each a fresh process; SQLite DB with 3 orgs")
    print()
    print("| command | median ms | p90 ms | min ms | goal |")
    print("|---|---:|---:|---:|---|")
    goals = {
        "a": f"< {HELP_GOAL_MS:.0f} ms: {'met' if med['a'] < HELP_GOAL_MS else 'MISSED'}",
        "b": "baseline",
        "c": f"≤ {RATIO_GOAL}x baseline: {'met' if ratio <= RATIO_GOAL else 'MISSED'}",
    }
    for key, (label, _argv) in commands.items():
        values = times[key]
        print(f"| `{label}` | {med[key]:.1f} | {_p90(values):.1f} | {min(values):.1f} | {goals[key]} |")
    print()
    print(f"ratio (c)/(b) = {ratio:.2f} (goal ≤ {RATIO_GOAL})")


if __name__ == "__main__":
    main()
