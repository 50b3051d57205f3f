"""Webhook secrets and custom header values never reach the store in plaintext, ciphertexts are
bound to their row and column, and a missing or wrong master key is a clear exit 6."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import sqlalchemy as sa

from tests.cli._webhooks_support import allow_loopback, create_webhook, emit, set_webhook, sql
from tests.conftest import Cli
from tests.support.receiver import Receiver
from tests.support.snapshot import rows
from zigznote.store.engine import normalize_url
from zigznote.timeutil import utcnow

HEADER_VALUE = "sup3r-s3cret-header"
OTHER_HEADER_VALUE = "an0ther-s3cret-value"


def _schema(db_url: str) -> str:
    options = parse_qs(urlsplit(db_url).query).get("options", [""])[0]
    return unquote(options).split("search_path=", 1)[1]


def stored_bytes(db_url: str) -> bytes:
    """Everything the store holds, as bytes: the SQLite file and its WAL, or a Postgres dump."""
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    schema = _schema(db_url)
    pg_dump = shutil.which("pg_dump")
    if pg_dump:
        base = urlsplit(normalize_url(db_url))
        plain = base._replace(scheme="postgresql", query="").geturl()
        proc = subprocess.run(
            [pg_dump, "--data-only", f"--schema={schema}", plain], capture_output=True, timeout=60, check=False
        )
        if proc.returncode == 0:
            return proc.stdout
    # No usable pg_dump: every row of every table, as text.
    engine = sa.create_engine(normalize_url(db_url))
    try:
        with engine.connect() as conn:
            chunks = []
            for table in sa.inspect(conn).get_table_names():
                for row in conn.execute(sa.text(f'SELECT t::text FROM "{table}" AS t')):
                    chunks.append(str(row[0]))
            return "\n".join(chunks).encode()
    finally:
        engine.dispose()


def test_secrets_and_header_values_are_encrypted_at_rest(
    cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    allow_loopback(monkeypatch)
    with Receiver() as receiver:
        first = create_webhook(cli, receiver.url, "*", "--header", f"X-Api-Key: {HEADER_VALUE}")
        second = create_webhook(cli, receiver.url, "*", "--header", f"Authorization: Bearer {OTHER_HEADER_VALUE}")
        rotated = cli.ok("--org", "acme", "webhooks", "rotate-secret", first["id"], "--grace", "1h")["secret"]
        emit(cli)
        assert cli.ok("--org", "acme", "webhooks", "test", first["id"])["ok"] is True
        assert receiver.wait_for(1)
        assert receiver.requests[0].headers["x-api-key"] == HEADER_VALUE  # it is really sent

    data = stored_bytes(cli.db_url)
    # Positive controls: the scan sees the store (URLs are plaintext, ciphertexts are there).
    assert receiver.url.encode() in data
    assert b"zv1:" in data
    for secret in (first["secret"], second["secret"], rotated):
        body = secret.removeprefix("whsec_")
        assert body.encode() not in data, "a webhook secret is stored in plaintext"
        assert base64.b64decode(body) not in data, "raw secret key bytes are stored"
    for value in (HEADER_VALUE, OTHER_HEADER_VALUE):
        assert value.encode() not in data, "a custom header value is stored in plaintext"


def test_json_output_never_contains_the_secret(cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    allow_loopback(monkeypatch)
    hook = create_webhook(cli, "http://127.0.0.1:9/", "*", "--header", f"X-Api-Key: {HEADER_VALUE}")
    wid = hook["id"]
    for args in (
        ["list"], ["show", wid], ["update", wid, "--name", "n"], ["disable", wid], ["enable", wid],
        ["deliveries", wid], ["stats", wid],
    ):  # fmt: skip
        ran = cli("--json", "--org", "acme", "webhooks", *args)
        assert ran.exit_code == 0, ran.stderr
        assert hook["secret"] not in ran.stdout + ran.stderr and HEADER_VALUE not in ran.stdout + ran.stderr


def test_copied_ciphertext_does_not_decrypt(cli: Cli, org: dict[str, Any]) -> None:
    in_one_hour = utcnow() + timedelta(hours=1)
    first = create_webhook(cli, "https://93.184.215.14/a")
    second = create_webhook(cli, "https://93.184.215.14/b")
    [(token,)] = sql(cli.db_url, "SELECT secret_enc FROM webhook WHERE id = :id", id=first["id"])
    set_webhook(cli.db_url, second["id"], secret_enc=token)
    before = rows(cli.db_url)
    err = cli.fails(6, "--org", "acme", "webhooks", "show", second["id"], "--show-secret")
    assert err["code"] == "vault_error"
    assert "failed authentication" in err["message"] and "copied from another row" in err["message"]
    assert cli.fails(6, "--org", "acme", "webhooks", "test", second["id"])["code"] == "vault_error"
    assert cli.fails(6, "--org", "acme", "webhooks", "rotate-secret", second["id"])["code"] == "vault_error"
    assert rows(cli.db_url) == before
    # The row it came from still decrypts, and a ciphertext moved to another column fails too.
    assert cli.ok("--org", "acme", "webhooks", "show", first["id"], "--show-secret")["secret"] == first["secret"]
    set_webhook(cli.db_url, first["id"], previous_secret_enc=token, previous_secret_expires_at=in_one_hour)
    err = cli.fails(6, "--org", "acme", "webhooks", "show", first["id"], "--show-secret")
    assert "previous_secret_enc" in err["message"]


def test_missing_master_key(cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    hook = create_webhook(cli, "https://93.184.215.14/a")
    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")
    before = rows(cli.db_url)
    err = cli.fails(6, "--org", "acme", "webhooks", "create", "--url", "https://93.184.215.14/b", "--events", "*")
    assert err["code"] == "vault_error" and err["message"] == "no master key found"
    assert "keys init" in err["hint"]
    assert cli.fails(6, "--org", "acme", "webhooks", "show", hook["id"], "--show-secret")["code"] == "vault_error"
    assert cli.fails(6, "--org", "acme", "webhooks", "rotate-secret", hook["id"])["code"] == "vault_error"
    assert cli.fails(6, "--org", "acme", "webhooks", "test", hook["id"])["code"] == "vault_error"
    assert cli.fails(6, "--org", "acme", "webhooks", "update", hook["id"], "--header", "X-A: b")["code"] == (
        "vault_error"
    )
    assert rows(cli.db_url) == before
    # Reading what is not secret needs no key.
    assert cli.ok("--org", "acme", "webhooks", "show", hook["id"])["id"] == hook["id"]
    ran = cli("--org", "acme", "webhooks", "create", "--url", "https://93.184.215.14/b", "--events", "*")
    assert ran.exit_code == 6 and ran.stdout == "" and "error: no master key found" in ran.stderr


def test_wrong_master_key(cli: Cli, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    hook = create_webhook(cli, "https://93.184.215.14/a")
    monkeypatch.setenv("ZIGZNOTE_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    before = rows(cli.db_url)
    err = cli.fails(6, "--org", "acme", "webhooks", "show", hook["id"], "--show-secret")
    assert err["code"] == "vault_error"
    assert "was encrypted with master key" in err["message"] and "but the current key is" in err["message"]
    assert cli.fails(6, "--org", "acme", "webhooks", "test", hook["id"])["code"] == "vault_error"
    assert cli.fails(6, "--org", "acme", "webhooks", "rotate-secret", hook["id"])["code"] == "vault_error"
    assert rows(cli.db_url) == before
    ran = cli("--org", "acme", "webhooks", "show", hook["id"], "--show-secret")
    assert ran.exit_code == 6 and ran.stdout == "" and "encrypted with master key" in ran.stderr
