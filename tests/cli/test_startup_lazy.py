"""What start-up leaves out: Rich (plain help; --json output), unused command groups, settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
sys.argv = ["zigznote", *json.loads(sys.argv[1])]
from zigznote.cli.app import main
try:
    main()
except SystemExit:
    pass
mods = sorted(m for m in sys.modules if m == "rich" or m.startswith(("rich.", "zigznote.cli.")))
print("MODULES=" + json.dumps(mods), file=sys.stderr)
"""


def probe(argv: list[str], tmp_path: Path, **extra_env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZIGZNOTE_")}
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        ZIGZNOTE_DB=f"sqlite:///{tmp_path / 'z.db'}",
        ZIGZNOTE_KEYRING="0",
        **extra_env,
    )
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True, text=True, env=env, timeout=60
    )
    return proc, json.loads(proc.stderr.rsplit("MODULES=", 1)[1])


def rich(modules: list[str]) -> list[str]:
    return [m for m in modules if m == "rich" or m.startswith("rich.")]


@pytest.mark.parametrize(
    ("argv", "shows"),
    [
        (["--help"], "Example: zigznote --org acme webhooks list"),
        (["orgs", "--help"], "Create and manage organizations."),
        (["webhooks", "create", "--help"], "Example: zigznote --org acme webhooks create"),
    ],
)
def test_help_is_plain_and_imports_no_rich(argv: list[str], shows: str, tmp_path: Path) -> None:
    proc, modules = probe(argv, tmp_path)
    assert proc.stdout.startswith("Usage: zigznote") and shows in proc.stdout
    assert "\n\n" in proc.stdout  # paragraphs stay apart
    assert rich(modules) == []


def test_root_help_lists_every_group_with_its_whole_summary(tmp_path: Path) -> None:
    proc, _ = probe(["--help"], tmp_path)
    listing = " ".join(proc.stdout.split("Commands:", 1)[1].split())
    for name in ("init", "doctor", "config", "db", "keys", "orgs", "meetings", "events", "webhooks", "worker"):
        assert f" {name} " in f" {listing} "
    assert "the master key; safe to rerun." in listing and "..." not in listing


def test_json_output_and_errors_import_no_rich_nor_other_groups(tmp_path: Path) -> None:
    probe(["db", "upgrade"], tmp_path)
    probe(["orgs", "create", "acme"], tmp_path)
    proc, modules = probe(["--json", "orgs", "list"], tmp_path)
    assert [o["slug"] for o in json.loads(proc.stdout)] == ["acme"]
    assert rich(modules) == []
    assert "zigznote.cli.orgs" in modules and "zigznote.cli.webhooks" not in modules
    proc, modules = probe(["--json", "orgs", "show", "nope"], tmp_path)
    assert json.loads(proc.stderr.splitlines()[0])["error"]["code"] == "org_not_found"
    assert rich(modules) == []


def test_a_bad_setting_does_not_break_help(tmp_path: Path) -> None:
    proc, _ = probe(["orgs", "--help"], tmp_path, ZIGZNOTE_DISABLE_AFTER="zero")
    assert "Usage: zigznote orgs" in proc.stdout and "error" not in proc.stderr.split("MODULES=")[0]
    proc, _ = probe(["--json", "orgs", "list"], tmp_path, ZIGZNOTE_DISABLE_AFTER="zero")
    err = json.loads(proc.stderr.splitlines()[0])["error"]
    assert err["code"] == "config_error" and "ZIGZNOTE_DISABLE_AFTER" in err["message"]
