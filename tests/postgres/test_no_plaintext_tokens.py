"""No Slack token in plaintext at rest (Postgres): after a real `slack connect` (OAuth with token
rotation, paste flow, loopback fake Slack) and a refresh, a `pg_dump` of the test's schema
(schema and data) holds none of the access and refresh tokens the fake issued, nor the client
secret. The scenario and the SQLite variant: tests/integrations/test_no_plaintext_tokens.py."""

from __future__ import annotations

import shutil
import subprocess
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.conftest import Cli
from tests.integrations.test_no_plaintext_tokens import assert_no_plaintext, connect_and_refresh
from tests.integrations.test_no_plaintext_tokens import rotating_slack as rotating_slack  # the fixture
from tests.support.fake_slack import FakeSlack
from zigznote.store.engine import normalize_url

pytestmark = pytest.mark.postgres


def pg_dump(db_url: str) -> bytes:
    """``pg_dump`` of the schema the test URL's search_path names (the pg_url fixture's)."""
    binary = shutil.which("pg_dump")
    if binary is None:
        pytest.fail("pg_dump is not installed (Debian: postgresql-client); this test needs it")
    options = parse_qs(urlsplit(db_url).query)["options"][0]
    schema = unquote(options).split("search_path=", 1)[1]
    libpq_url = urlsplit(normalize_url(db_url))._replace(scheme="postgresql", query="").geturl()
    dumped = subprocess.run(
        [binary, "--no-owner", f"--schema={schema}", libpq_url], capture_output=True, timeout=60, check=False
    )
    assert dumped.returncode == 0, dumped.stderr.decode(errors="replace")
    assert f"CREATE TABLE {schema}.integration_connection".encode() in dumped.stdout
    return dumped.stdout


def test_no_plaintext_token_in_a_pg_dump_after_connect_and_refresh(
    env: dict[str, str], pg_url: str, rotating_slack: FakeSlack
) -> None:
    cli = Cli(pg_url)
    assert cli("db", "upgrade").exit_code == 0
    secrets = connect_and_refresh(cli, rotating_slack)
    assert_no_plaintext(pg_dump(pg_url), secrets)
