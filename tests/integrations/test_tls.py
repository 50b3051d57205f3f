"""Tests for zigznote.integrations.tls: operator certificates and the generated localhost one."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from zigznote.errors import ConfigError
from zigznote.integrations import tls
from zigznote.integrations.tls import GENERATED_DAYS, TlsFiles, localhost_tls, server_context


def _load(files: TlsFiles) -> x509.Certificate:
    return x509.load_pem_x509_certificate(files.cert.read_bytes())


def test_generates_a_localhost_certificate_once(tmp_path: Path) -> None:
    files, generated = localhost_tls(tmp_path, cert=None, key=None)
    assert generated is True
    assert files == TlsFiles(cert=tmp_path / "tls" / "localhost-cert.pem", key=tmp_path / "tls" / "localhost-key.pem")
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.key.parent.stat().st_mode) == 0o700
    certificate = _load(files)
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"
    assert certificate.subject == certificate.issuer  # self-signed
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime == timedelta(days=GENERATED_DAYS, minutes=1)
    assert abs(certificate.not_valid_before_utc - (datetime.now(UTC) - timedelta(minutes=1))) < timedelta(minutes=1)
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False

    cert_bytes, key_bytes = files.cert.read_bytes(), files.key.read_bytes()
    again, generated_again = localhost_tls(tmp_path, cert=None, key=None)
    assert (again, generated_again) == (files, False)
    assert (files.cert.read_bytes(), files.key.read_bytes()) == (cert_bytes, key_bytes)


def _handshake(files: TlsFiles, name: str) -> Any:
    """A TLS handshake in memory: our server context, a client trusting only ``files.cert``."""
    s_in, s_out, c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_context(files).wrap_bio(s_in, s_out, server_side=True)
    client = ssl.create_default_context(cafile=str(files.cert)).wrap_bio(c_in, c_out, server_hostname=name)
    for _ in range(10):
        for end in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                end.do_handshake()
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    client.do_handshake()  # raises SSLCertVerificationError when the name does not match
    return client.getpeercert() or {}


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "::1"])
def test_the_generated_certificate_verifies_for_every_loopback_name(tmp_path: Path, name: str) -> None:
    files, _ = localhost_tls(tmp_path, cert=None, key=None)
    peer = _handshake(files, name)
    assert peer["subject"] == ((("commonName", "localhost"),), (("organizationName", "zigznote local callback"),))


def test_the_generated_certificate_does_not_verify_for_other_names(tmp_path: Path) -> None:
    files, _ = localhost_tls(tmp_path, cert=None, key=None)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(files, "example.com")


def test_an_expired_certificate_is_regenerated(tmp_path: Path) -> None:
    files, _ = localhost_tls(tmp_path, cert=None, key=None)
    tls._generate(files, now=datetime.now(UTC) - timedelta(days=GENERATED_DAYS + 1))
    old = _load(files)
    assert old.not_valid_after_utc < datetime.now(UTC)
    renewed, generated = localhost_tls(tmp_path, cert=None, key=None)
    assert generated is True
    assert _load(renewed).not_valid_after_utc > datetime.now(UTC) + timedelta(days=GENERATED_DAYS - 1)


def test_a_certificate_expiring_within_a_day_is_regenerated(tmp_path: Path) -> None:
    files, _ = localhost_tls(tmp_path, cert=None, key=None)
    tls._generate(files, now=datetime.now(UTC) - timedelta(days=GENERATED_DAYS) + timedelta(hours=12))
    assert localhost_tls(tmp_path, cert=None, key=None)[1] is True


def test_a_damaged_or_mismatched_pair_is_regenerated(tmp_path: Path) -> None:
    files, _ = localhost_tls(tmp_path, cert=None, key=None)
    other, _ = localhost_tls(tmp_path / "other", cert=None, key=None)
    files.key.write_bytes(other.key.read_bytes())  # the key of another certificate
    fixed, generated = localhost_tls(tmp_path, cert=None, key=None)
    assert generated is True
    server_context(fixed)  # loads: the pair matches again
    files.cert.write_text("not a certificate")
    assert localhost_tls(tmp_path, cert=None, key=None)[1] is True
    files.key.unlink()
    assert localhost_tls(tmp_path, cert=None, key=None)[1] is True
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600


def test_operator_files_are_used_as_given(tmp_path: Path) -> None:
    made, _ = localhost_tls(tmp_path / "elsewhere", cert=None, key=None)
    files, generated = localhost_tls(tmp_path, cert=made.cert, key=made.key)
    assert (files, generated) == (made, False)
    assert not (tmp_path / "tls").exists()


@pytest.mark.parametrize("which", ["cert", "key"])
def test_cert_and_key_go_together(tmp_path: Path, which: str) -> None:
    made, _ = localhost_tls(tmp_path / "elsewhere", cert=None, key=None)
    kwargs = {"cert": made.cert, "key": None} if which == "cert" else {"cert": None, "key": made.key}
    with pytest.raises(ConfigError) as caught:
        localhost_tls(tmp_path, **kwargs)
    assert caught.value.code == "tls_incomplete"


def test_unreadable_or_invalid_operator_files_are_config_errors(tmp_path: Path) -> None:
    made, _ = localhost_tls(tmp_path / "elsewhere", cert=None, key=None)
    with pytest.raises(ConfigError) as missing:
        localhost_tls(tmp_path, cert=tmp_path / "absent.pem", key=made.key)
    assert missing.value.code == "tls_unreadable"
    assert str(tmp_path / "absent.pem") in missing.value.message
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError) as invalid:
        localhost_tls(tmp_path, cert=garbage, key=made.key)
    assert invalid.value.code == "tls_invalid"
    other, _ = localhost_tls(tmp_path / "other", cert=None, key=None)
    with pytest.raises(ConfigError) as mismatched:
        localhost_tls(tmp_path, cert=made.cert, key=other.key)
    assert mismatched.value.code == "tls_invalid"
    assert "BEGIN" not in mismatched.value.message  # never quotes key material


def test_an_unwritable_data_dir_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")
    with pytest.raises(ConfigError) as caught:
        localhost_tls(blocker, cert=None, key=None)
    assert caught.value.code == "tls_write_failed"


def test_the_key_is_never_world_readable_even_with_a_lax_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        files, _ = localhost_tls(tmp_path, cert=None, key=None)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.cert.stat().st_mode) == 0o644
    assert not list(files.key.parent.glob(".*.tmp"))
