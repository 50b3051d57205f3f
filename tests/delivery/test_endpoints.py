"""``load_endpoints``: the one secrets loader never raises for one bad row."""

from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa

from tests.support import factory
from zigznote.delivery.endpoints import load_endpoints
from zigznote.store.engine import Database
from zigznote.timeutil import utcnow
from zigznote.vault import Vault
from zigznote.webhooks.signing import decode_secret, generate_secret
from zigznote.webhooks.ssrf import parse_allow_nets

LOOPBACK = parse_allow_nets("127.0.0.0/8")


def update(db: Database, webhook_id: str, **values: object) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    with db.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE webhook SET {sets} WHERE id = :id"), {"id": webhook_id, **values})


def test_a_healthy_endpoint_with_caps_and_a_rotation(engine_db: Database, vault: Vault) -> None:
    org = factory.add_org(engine_db)
    wh, secret = factory.add_webhook(engine_db, vault, org, "http://127.0.0.1:9/hook", headers={"X-Tenant": "a"})
    previous = generate_secret()
    update(
        engine_db,
        wh,
        previous_secret_enc=vault.encrypt(previous, table="webhook", row=wh, field="previous_secret_enc"),
        previous_secret_expires_at=utcnow() + timedelta(hours=1),
        max_concurrency=3,
        rate_limit=2.5,
        consecutive_failures=4,
    )
    [endpoint] = load_endpoints(engine_db.engine, vault, [wh, "wh_gone"], allow_nets=LOOPBACK, now=utcnow()).values()
    assert endpoint.refused is None
    assert endpoint.keys == [decode_secret(secret), decode_secret(previous)]
    assert endpoint.headers["X-Tenant"] == "a" and endpoint.headers["content-type"] == "application/json"
    assert (endpoint.max_concurrency, endpoint.rate_limit, endpoint.failures, endpoint.enabled) == (3, 2.5, 4, True)
    assert str(endpoint.target) == "http://127.0.0.1:9/hook"


def test_bad_rows_are_refused_not_raised(sqlite_db: Database, vault: Vault) -> None:
    org = factory.add_org(sqlite_db)
    private, _ = factory.add_webhook(sqlite_db, vault, org, "http://10.1.2.3/hook")
    tampered, _ = factory.add_webhook(sqlite_db, vault, org, "http://127.0.0.1:9/hook")
    update(sqlite_db, tampered, secret_enc="zv1:0000000000000000:AAAA")
    not_object, _ = factory.add_webhook(sqlite_db, vault, org, "http://127.0.0.1:9/hook")
    update(
        sqlite_db,
        not_object,
        headers_enc=vault.encrypt(json.dumps(["x"]), table="webhook", row=not_object, field="headers_enc"),
    )
    good, _ = factory.add_webhook(sqlite_db, vault, org, "http://127.0.0.1:9/hook")
    loaded = load_endpoints(
        sqlite_db.engine, vault, [private, tampered, not_object, good], allow_nets=LOOPBACK, now=utcnow()
    )
    assert (loaded[private].refused or "").startswith("refused by SSRF guard: ")
    assert (loaded[tampered].refused or "").startswith("cannot decrypt the signing secret: ")
    assert loaded[not_object].refused == "custom headers are not a JSON object of strings; set them again"
    assert loaded[good].refused is None and len(loaded[good].keys) == 1


def test_no_ids_no_query(sqlite_db: Database, vault: Vault) -> None:
    assert load_endpoints(sqlite_db.engine, vault, [], allow_nets=LOOPBACK, now=utcnow()) == {}
