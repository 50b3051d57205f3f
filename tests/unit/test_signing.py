"""Standard Webhooks signing: the spec's test vector, interop with the reference library, and
every way verification must fail."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from zigznote.errors import InvalidInput, SignatureInvalid
from zigznote.webhooks import signing

# Published test vector of the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

BODY = b'{"id":"evt_1","type":"meeting.ended","data":{"meeting_id":"mtg_1"}}'


def _verifies(secret: str, headers: dict[str, str], body: bytes, **kwargs: Any) -> bool:
    """True when ``signing.verify`` accepts the message, False when it raises SignatureInvalid."""
    try:
        signing.verify(secret, headers, body, **kwargs)
    except SignatureInvalid:
        return False
    return True


def _headers(secrets: list[str], ts: int, body: bytes = BODY, msg_id: str = "msg_1") -> dict:
    return signing.signed_headers(secrets, msg_id, ts, body)


# --- secrets --------------------------------------------------------------------------------


def test_generate_secret_format_and_uniqueness() -> None:
    a, b = signing.generate_secret(), signing.generate_secret()
    assert a.startswith("whsec_") and b.startswith("whsec_")
    assert a != b
    assert len(signing.decode_secret(a)) == 24
    # The reference library must accept our secrets as they are.
    Webhook(a)


def test_decode_secret_accepts_prefix_optional_and_missing_padding() -> None:
    key = signing.decode_secret(SPEC_SECRET)
    assert key == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert signing.decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == key
    key25 = b"0123456789abcdefghijklmno"  # 25 bytes: base64 ends in "=="
    unpadded = base64.b64encode(key25).decode().rstrip("=")
    assert signing.decode_secret("whsec_" + unpadded) == key25


@pytest.mark.parametrize("size", [24, 64])
def test_decode_secret_accepts_the_spec_range(size: int) -> None:
    key = bytes(range(size))
    assert signing.decode_secret("whsec_" + base64.b64encode(key).decode()) == key


@pytest.mark.parametrize(("size", "word"), [(1, "short"), (23, "short"), (65, "long")])
def test_decode_secret_refuses_keys_outside_the_spec_range(size: int, word: str) -> None:
    secret = "whsec_" + base64.b64encode(bytes(size)).decode()
    with pytest.raises(InvalidInput, match=f"too {word}: it decodes to {size} byte") as exc:
        signing.decode_secret(secret)
    assert exc.value.code == "secret_size"
    assert exc.value.exit_code == 2
    assert "24 to 64" in exc.value.message


@pytest.mark.parametrize("bad", ["", "whsec_", "whsec_not base64!", "whsec_@@@@", "whsec_A"])
def test_decode_secret_rejects_malformed(bad: str) -> None:
    with pytest.raises(InvalidInput, match="secret") as exc:
        signing.decode_secret(bad)
    assert "secret" in exc.value.message
    assert exc.value.exit_code == 2


# --- signing --------------------------------------------------------------------------------


def test_spec_test_vector() -> None:
    assert signing.sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIG


def test_spec_test_vector_verifies_at_its_own_time() -> None:
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TS),
        "webhook-signature": SPEC_SIG,
    }
    assert _verifies(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TS + 10)


def test_signed_headers_shape() -> None:
    headers = _headers([SPEC_SECRET], SPEC_TS, SPEC_BODY, SPEC_ID)
    assert headers == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TS),
        "webhook-signature": SPEC_SIG,
    }


def test_signature_header_one_per_secret_deduplicated() -> None:
    s1, s2 = signing.generate_secret(), signing.generate_secret()
    header = signing.signature_header([s1, s2, s1], "msg_1", 1700000000, BODY)
    parts = header.split(" ")
    assert parts == [
        signing.sign(s1, "msg_1", 1700000000, BODY),
        signing.sign(s2, "msg_1", 1700000000, BODY),
    ]


def test_signature_header_bare_string_is_one_secret() -> None:
    assert signing.signature_header(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIG


def test_signature_header_requires_a_secret() -> None:
    with pytest.raises(InvalidInput, match="at least one secret"):
        signing.signature_header([], "msg_1", 1700000000, BODY)


def test_reference_library_verifies_our_signatures() -> None:
    secret = signing.generate_secret()
    headers = _headers([secret], int(time.time()))
    assert Webhook(secret).verify(BODY, headers) == {
        "id": "evt_1",
        "type": "meeting.ended",
        "data": {"meeting_id": "mtg_1"},
    }


def test_reference_library_verifies_rotation_header_with_either_secret() -> None:
    new, old = signing.generate_secret(), signing.generate_secret()
    headers = _headers([new, old], int(time.time()))
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError, match="No matching signature found"):
        Webhook(signing.generate_secret()).verify(BODY, headers)


def test_we_verify_what_the_reference_library_signs() -> None:
    from datetime import UTC, datetime

    secret = signing.generate_secret()
    ts = int(time.time())
    sig = Webhook(secret).sign("msg_x", datetime.fromtimestamp(ts, tz=UTC), BODY.decode())
    headers = {"webhook-id": "msg_x", "webhook-timestamp": str(ts), "webhook-signature": sig}
    assert _verifies(secret, headers, BODY)


# --- verification ---------------------------------------------------------------------------

NOW = 1_700_000_000


def test_verify_accepts_valid_and_header_names_case_insensitively() -> None:
    secret = signing.generate_secret()
    headers = {k.upper(): v for k, v in _headers([secret], NOW).items()}
    assert _verifies(secret, headers, BODY, now=NOW)


def test_verify_rotation_either_secret() -> None:
    new, old = signing.generate_secret(), signing.generate_secret()
    headers = _headers([new, old], NOW)
    assert _verifies(new, headers, BODY, now=NOW)
    assert _verifies(old, headers, BODY, now=NOW)
    assert not _verifies(signing.generate_secret(), headers, BODY, now=NOW)  # a third secret fails


def test_verify_ignores_non_v1_and_garbage_entries() -> None:
    secret = signing.generate_secret()
    good = signing.sign(secret, "msg_1", NOW, BODY)
    headers = _headers([secret], NOW)
    headers["webhook-signature"] = f"v1a,AAAA v2,{good[3:]} v1,!!notbase64!! junk {good}"
    assert _verifies(secret, headers, BODY, now=NOW)


def test_verify_rejects_tampered_body() -> None:
    secret = signing.generate_secret()
    headers = _headers([secret], NOW)
    with pytest.raises(SignatureInvalid, match="no v1 signature matches"):
        signing.verify(secret, headers, BODY.replace(b"mtg_1", b"mtg_2"), now=NOW)


def test_verify_rejects_tampered_id() -> None:
    secret = signing.generate_secret()
    headers = _headers([secret], NOW)
    headers["webhook-id"] = "msg_2"
    with pytest.raises(SignatureInvalid, match="no v1 signature matches"):
        signing.verify(secret, headers, BODY, now=NOW)


def test_verify_rejects_wrong_secret() -> None:
    headers = _headers([signing.generate_secret()], NOW)
    with pytest.raises(SignatureInvalid) as exc:
        signing.verify(signing.generate_secret(), headers, BODY, now=NOW)
    assert exc.value.exit_code == 7


def test_verify_rejects_old_timestamp() -> None:
    secret = signing.generate_secret()
    headers = _headers([secret], NOW - 301)
    with pytest.raises(SignatureInvalid, match="too old"):
        signing.verify(secret, headers, BODY, now=NOW)
    # Just inside the window is fine, and the window is configurable.
    assert _verifies(secret, _headers([secret], NOW - 300), BODY, now=NOW)
    assert _verifies(secret, headers, BODY, now=NOW, tolerance=600)


def test_verify_rejects_future_timestamp() -> None:
    secret = signing.generate_secret()
    headers = _headers([secret], NOW + 301)
    with pytest.raises(SignatureInvalid, match="future"):
        signing.verify(secret, headers, BODY, now=NOW)
    assert _verifies(secret, _headers([secret], NOW + 300), BODY, now=NOW)


def test_verify_uses_wall_clock_by_default() -> None:
    secret = signing.generate_secret()
    assert _verifies(secret, _headers([secret], int(time.time())), BODY)
    with pytest.raises(SignatureInvalid, match="too old"):
        signing.verify(secret, _headers([secret], int(time.time()) - 3600), BODY)


@pytest.mark.parametrize("drop", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_verify_rejects_missing_header(drop: str) -> None:
    secret = signing.generate_secret()
    headers = _headers([secret], NOW)
    del headers[drop]
    with pytest.raises(SignatureInvalid, match=rf"missing required header\(s\): {drop}"):
        signing.verify(secret, headers, BODY, now=NOW)


def test_verify_names_all_missing_headers_and_treats_empty_as_missing() -> None:
    secret = signing.generate_secret()
    with pytest.raises(SignatureInvalid) as exc:
        signing.verify(secret, {"webhook-id": " "}, BODY, now=NOW)
    assert "webhook-id, webhook-timestamp, webhook-signature" in exc.value.message


@pytest.mark.parametrize("ts", ["abc", "1700000000.5", "+1700000000", "-5", "1_700_000_000"])
def test_verify_rejects_non_integer_timestamp(ts: str) -> None:
    secret = signing.generate_secret()
    headers = _headers([secret], NOW)
    headers["webhook-timestamp"] = ts
    with pytest.raises(SignatureInvalid, match="not an integer"):
        signing.verify(secret, headers, BODY, now=NOW)


def test_verify_reports_when_no_v1_signature_present() -> None:
    secret = signing.generate_secret()
    headers = _headers([secret], NOW)
    headers["webhook-signature"] = "v1a,abcd v2,xyz"
    with pytest.raises(SignatureInvalid, match="no v1 signature"):
        signing.verify(secret, headers, BODY, now=NOW)


def test_verify_with_malformed_secret_is_invalid_input() -> None:
    headers = _headers([signing.generate_secret()], NOW)
    with pytest.raises(InvalidInput, match="secret is malformed"):
        signing.verify("whsec_***", headers, BODY, now=NOW)
