"""Benchmark: `events emit --jsonl` fan-out (events x subscribed webhooks → delivery rows).

Builds a fresh database (a temporary SQLite file unless --db is given) with one org and
N webhooks subscribed to `*`, writes M events as JSON Lines, then measures

1. the service call (`services.events.emit_jsonl`) in-process: validation, fan-out and the
   single transaction with Core bulk inserts;
2. the whole CLI as a subprocess (`zigznote events emit --jsonl FILE`) against a second,
   identically prepared database: interpreter start, imports, schema check included.

    python bench/emit_fanout.py                      # 10,000 events x 10 webhooks on SQLite
    python bench/emit_fanout.py --events 2000 --webhooks 5
    python bench/emit_fanout.py --db postgresql+psycopg://postgres@127.0.0.1:5432/bench

A Postgres URL is used as given for run 1 and run 2, so point it at an empty database
(schemas are not created or dropped by this script).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from zigznote.services import events, orgs, setup, webhooks
from zigznote.store.engine import Database
from zigznote.vault import MasterKey, Vault, generate_key

ALLOW_NETS = "127.0.0.0/8"


def prepare(url: str, n_webhooks: int, vault: Vault) -> Database:
    db = Database(url, check=False, create=True)
    setup.db_upgrade(db)
    with db.engine.begin() as conn:  # a rerun against the same Postgres starts clean
        for table in ("delivery_attempt", "webhook_delivery", "event", "webhook", "meeting", "organization"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
    orgs.create(db, "bench", "Bench Org")
    for i in range(n_webhooks):
        # Port 9 (discard) on loopback: nothing is sent, the allow-list admits the URL.
        webhooks.create(
            db, vault, "bench", url=f"http://127.0.0.1:9/hook/{i}", events="*", name=f"hook-{i}", nets=ALLOW_NETS
        )
    return db


def write_events(path: Path, count: int) -> None:
    kinds = ["meeting.started", "meeting.ended", "transcript.ready", "summary.ready", "action_items.ready"]
    with path.open("w", encoding="utf-8") as fh:
        for i in range(count):
            data = {"meeting_id": f"mtg_{i:06d}", "title": f"Weekly sync #{i}", "duration_seconds": 1800 + i % 600}
            fh.write(json.dumps({"type": kinds[i % len(kinds)], "data": data}) + "\n")


def count_rows(db: Database) -> tuple[int, int]:
    with db.engine.connect() as conn:
        n_events = conn.execute(sa.text("SELECT COUNT(*) FROM event")).scalar_one()
        n_deliveries = conn.execute(sa.text("SELECT COUNT(*) FROM webhook_delivery")).scalar_one()
    return int(n_events), int(n_deliveries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--webhooks", type=int, default=10)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file per run)")
    args = parser.parse_args()

    key = generate_key()
    vault = Vault([MasterKey(key, "env")])
    with tempfile.TemporaryDirectory(prefix="zigznote-bench-") as tmp:
        tmpdir = Path(tmp)
        jsonl = tmpdir / "events.jsonl"
        write_events(jsonl, args.events)
        raw = jsonl.read_bytes()
        url_service = args.db or f"sqlite:///{tmpdir / 'service.db'}"
        url_cli = args.db or f"sqlite:///{tmpdir / 'cli.db'}"
        backend = "postgresql" if url_service.startswith("postgres") else "sqlite"

        print(f"zigznote emit fan-out benchmark: {args.events:,} events x {args.webhooks} webhooks ({backend})")
        print(f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs")
        print(f"input: {jsonl.stat().st_size:,} bytes of JSON Lines")

        # 1. The service function, in-process.
        db = prepare(url_service, args.webhooks, vault)
        started = time.perf_counter()
        result = events.emit_jsonl(db, "bench", raw)
        elapsed = time.perf_counter() - started
        n_events, n_deliveries = count_rows(db)
        db.dispose()
        assert (n_events, n_deliveries) == (result["events"], result["deliveries"]), (n_events, n_deliveries, result)
        print()
        print("service  events.emit_jsonl (validate + fan-out + one transaction)")
        print(f"  events written      {n_events:>10,}")
        print(f"  deliveries written  {n_deliveries:>10,}")
        print(f"  time                {elapsed:>10.3f} s")
        print(f"  deliveries/s        {n_deliveries / elapsed:>10,.0f}")
        print(f"  rows/s (all)        {(n_events + n_deliveries) / elapsed:>10,.0f}")

        # 2. The whole CLI in a subprocess, on an identically prepared database.
        db = prepare(url_cli, args.webhooks, vault)
        db.dispose()
        env = dict(
            os.environ,
            XDG_CONFIG_HOME=str(tmpdir / "config"),
            XDG_DATA_HOME=str(tmpdir / "data"),
            ZIGZNOTE_KEYRING="0",
            ZIGZNOTE_MASTER_KEY=base64.b64encode(key).decode(),
        )
        argv = [
            sys.executable,
            "-m",
            "zigznote",
            "--db",
            url_cli,
            "--org",
            "bench",
            "--json",
            "events",
            "emit",
            "--jsonl",
            str(jsonl),
        ]
        started = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"CLI failed (exit {proc.returncode}): {proc.stderr}")
        cli_result = json.loads(proc.stdout)
        print()
        print("cli      zigznote events emit --jsonl FILE (subprocess wall time)")
        print(f"  deliveries written  {cli_result['deliveries']:>10,}")
        print(f"  wall time           {wall:>10.3f} s")
        print(f"  deliveries/s        {cli_result['deliveries'] / wall:>10,.0f}")


if __name__ == "__main__":
    main()
