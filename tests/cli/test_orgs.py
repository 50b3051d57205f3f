from __future__ import annotations

from tests.conftest import Cli
from tests.support.snapshot import file_digest, rows


def test_create_list_show_update_delete(cli: Cli) -> None:
    created = cli.ok("orgs", "create", "acme", "--name", "Acme Corp")
    assert created["slug"] == "acme" and created["name"] == "Acme Corp"
    assert created["id"].startswith("org_")
    assert set(created) == {"id", "slug", "name", "created_at", "updated_at"}

    assert cli.ok("orgs", "list") == [created]
    shown = cli.ok("orgs", "show", "acme")
    assert shown["counts"] == {"meetings": 0, "webhooks": 0, "events": 0}
    assert cli.ok("orgs", "show", created["id"])["slug"] == "acme"

    updated = cli.ok("orgs", "update", "acme", "--name", "Acme Inc", "--slug", "acme-inc")
    assert (updated["name"], updated["slug"]) == ("Acme Inc", "acme-inc")
    deleted = cli.ok("orgs", "delete", "acme-inc")
    assert deleted["deleted"] is True
    assert cli.ok("orgs", "list") == []


def test_human_output_is_a_table(cli: Cli) -> None:
    cli.ok("orgs", "create", "acme")
    ran = cli("orgs", "list")
    assert ran.exit_code == 0
    assert "acme" in ran.stdout and "slug" in ran.stdout
    assert "\x1b[" not in ran.stdout  # no ANSI codes when not a terminal


def test_duplicate_slug_is_a_conflict_and_changes_nothing(cli: Cli) -> None:
    cli.ok("orgs", "create", "acme")
    before, digest = rows(cli.db_url), file_digest(cli.db_url)
    err = cli.fails(4, "orgs", "create", "acme")
    assert err["code"] == "duplicate_slug"
    assert "already exists" in err["message"]
    assert rows(cli.db_url) == before
    assert file_digest(cli.db_url) == digest


def test_invalid_slug(cli: Cli) -> None:
    err = cli.fails(2, "orgs", "create", "Not A Slug")
    assert err["code"] == "invalid_slug"
    assert cli.ok("orgs", "list") == []


def test_unknown_org_is_not_found(cli: Cli) -> None:
    before = rows(cli.db_url)
    err = cli.fails(3, "orgs", "show", "nope")
    assert err == {
        "code": "org_not_found",
        "message": "organization 'nope' not found",
        "hint": "`zigznote orgs list` shows the organizations",
    }
    assert cli.fails(3, "orgs", "delete", "nope")["code"] == "org_not_found"
    assert cli.fails(3, "--org", "nope", "meetings", "list")["code"] == "org_not_found"
    assert rows(cli.db_url) == before


def test_human_error_is_one_line_on_stderr(cli: Cli) -> None:
    ran = cli("orgs", "show", "nope")
    assert ran.exit_code == 3
    assert ran.stdout == ""
    lines = ran.stderr.strip().splitlines()
    assert lines[0] == "error: organization 'nope' not found"
    assert lines[1].startswith("hint:")


def test_delete_refuses_while_org_has_data(cli: Cli) -> None:
    cli.ok("orgs", "create", "acme")
    cli.ok(
        "--org",
        "acme",
        "meetings",
        "import",
        "-",
        input='{"external_id": "m1", "title": "T", "started_at": "2026-11-01T10:00:00Z"}',
    )
    before = rows(cli.db_url)
    err = cli.fails(4, "orgs", "delete", "acme")
    assert err["code"] == "org_not_empty" and "1 meetings" in err["message"]
    assert rows(cli.db_url) == before
    assert cli.ok("orgs", "delete", "acme", "--force")["counts"]["meetings"] == 1
    assert cli.ok("orgs", "list") == []
