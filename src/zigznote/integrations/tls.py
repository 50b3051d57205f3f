"""The certificate of the https loopback callback server.

Slack accepts only https redirect URLs, so ``https://localhost:PORT/...`` needs a certificate:
either the operator's (``--tls-cert``/``--tls-key`` or config, e.g. made with mkcert and trusted by
the browser), or a self-signed one for ``localhost``, ``127.0.0.1`` and ``::1`` generated once into
``<data dir>/tls/`` and reused until it nears expiry. The browser warns about the generated one the
first time; the CLI says so when :func:`localhost_tls` reports it was generated now.

``cryptography`` is imported only when a certificate has to be generated or inspected.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from zigznote.errors import ConfigError

__all__ = ["GENERATED_DAYS", "TlsFiles", "localhost_tls", "server_context"]

#: Lifetime of a generated certificate. 825 days is the longest validity browsers (Apple's
#: platforms, followed by Chromium) accept for a TLS server certificate.
GENERATED_DAYS = 825
# Regenerate a little before expiry so a certificate cannot expire in the middle of a flow.
_RENEW_BEFORE = timedelta(days=1)
_CERT_NAME = "localhost-cert.pem"
_KEY_NAME = "localhost-key.pem"


@dataclass(frozen=True)
class TlsFiles:
    """PEM certificate (chain) and private key of the https callback server."""

    cert: Path
    key: Path


def server_context(tls: TlsFiles) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or newer) loaded with ``tls``.

    Raises :class:`ConfigError` (``tls_unreadable``: a file cannot be read; ``tls_invalid``:
    not a PEM certificate and matching key).
    """
    for path in (tls.cert, tls.key):
        try:
            with open(path, "rb"):  # load_cert_chain's own error does not say which file
                pass
        except OSError as exc:
            raise ConfigError(
                f"cannot read the TLS file {path} ({exc.strerror or type(exc).__name__})",
                hint="check the paths given with --tls-cert/--tls-key and that this user can read them",
                code="tls_unreadable",
            ) from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=tls.cert, keyfile=tls.key)
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or "not a PEM certificate and matching key"
        raise ConfigError(
            f"the TLS certificate {tls.cert} and key {tls.key} cannot be used ({reason})",
            hint="give a PEM certificate and its matching unencrypted private key",
            code="tls_invalid",
        ) from None
    return context


def localhost_tls(data_dir: Path, *, cert: Path | None, key: Path | None) -> tuple[TlsFiles, bool]:
    """The certificate for an https loopback redirect: ``(files, generated_now)``.

    With ``cert`` and ``key`` (both or neither), the operator's files are checked (loaded once)
    and returned with ``False``. Otherwise ``data_dir/tls/localhost-{cert,key}.pem`` is reused when
    it is a valid pair that is not expired (nor expiring within a day); else a new self-signed
    certificate (EC P-256, SAN ``DNS:localhost``, ``IP:127.0.0.1``, ``IP:::1``, 825 days) is
    written there (key file 0600, directory 0700) and returned with ``True``.

    Raises :class:`ConfigError`: ``tls_incomplete`` (only one of cert/key), ``tls_unreadable``,
    ``tls_invalid``, ``tls_write_failed`` (the data directory cannot be written).
    """
    if (cert is None) != (key is None):
        raise ConfigError(
            "give both a TLS certificate and its key, or neither",
            hint="--tls-cert and --tls-key go together; without them a self-signed localhost certificate is used",
            code="tls_incomplete",
        )
    if cert is not None and key is not None:
        files = TlsFiles(cert=Path(cert), key=Path(key))
        server_context(files)
        return files, False
    directory = Path(data_dir) / "tls"
    files = TlsFiles(cert=directory / _CERT_NAME, key=directory / _KEY_NAME)
    if _reusable(files, now=datetime.now(UTC)):
        return files, False
    _generate(files, now=datetime.now(UTC))
    return files, True


def _reusable(files: TlsFiles, *, now: datetime) -> bool:
    """True when the stored pair loads together and stays valid for more than a day."""
    if not (files.cert.is_file() and files.key.is_file()):
        return False
    try:
        server_context(files)  # also proves the key matches the certificate
    except ConfigError:
        return False
    from cryptography import x509

    try:
        certificate = x509.load_pem_x509_certificate(files.cert.read_bytes())
    except (OSError, ValueError):
        return False
    return certificate.not_valid_after_utc - now > _RENEW_BEFORE


def _generate(files: TlsFiles, *, now: datetime) -> None:
    """Write a new self-signed localhost certificate and key to ``files``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "zigznote local callback"),
        ]
    )
    public_key = private_key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # A minute in the past: a browser whose clock is slightly behind still accepts it.
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=GENERATED_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(private_key, hashes.SHA256())
    )
    key_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    try:
        files.cert.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Key first, then certificate: each replaced atomically. A concurrent generator could
        # leave a mismatched pair; _reusable() then fails to load it and the next run regenerates.
        _write_atomically(files.key, key_pem, mode=0o600)
        _write_atomically(files.cert, cert_pem, mode=0o644)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the generated TLS certificate under {files.cert.parent} "
            f"({exc.strerror or type(exc).__name__})",
            hint="check the data directory's permissions, or give --tls-cert and --tls-key",
            code="tls_write_failed",
        ) from None


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Write ``data`` to a new file created with ``mode`` (never wider), then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed it; never widened beyond ``mode``
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
