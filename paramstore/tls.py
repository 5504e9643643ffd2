"""TLS for `paramstore serve`: uvicorn's SSL options from the settings, checked before the
server starts, and `admin dev-cert`'s local CA and server certificate.

Over TLS the ASGI scope's scheme is "https", which is what makes `aws:SecureTransport`
true in policies.  Behind a TLS-terminating proxy the server sees plain HTTP and
`aws:SecureTransport` is false: no forwarded header is trusted (README, "TLS")."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path
from typing import Any

from paramstore.settings import Settings


class TlsError(Exception):
    """The TLS files can't be used; the message names the file and why."""


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's ssl_* options, after loading the files once here so a wrong path, a key
    that doesn't match its certificate or a bad CA stops the start with one clear line."""
    if settings.tls_cert is None and settings.tls_key is None:
        if settings.tls_client_ca is not None:
            raise TlsError("--tls-client-ca needs --tls-cert and --tls-key")
        return {}
    if settings.tls_cert is None or settings.tls_key is None:
        raise TlsError("TLS needs both --tls-cert and --tls-key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot use the TLS certificate {settings.tls_cert} and key {settings.tls_key}: "
                       f"{getattr(exc, 'strerror', None) or exc}") from None
    options: dict[str, Any] = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
    if settings.tls_client_ca is not None:
        try:
            context.load_verify_locations(cafile=str(settings.tls_client_ca))
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(f"cannot use the client CA {settings.tls_client_ca}: "
                           f"{getattr(exc, 'strerror', None) or exc}") from None
        options.update(ssl_ca_certs=str(settings.tls_client_ca), ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options


def make_dev_cert(directory: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1"),
                  days: int = 825) -> dict[str, Path]:
    """A local CA and a server certificate for `hosts`, signed by it, plus a client
    certificate for mutual TLS: for development and tests, not production.  Keys are
    written 0600; `ca.pem` is what AWS_CA_BUNDLE points at."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "paramstore development"),
                          x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("paramstore development CA")).issuer_name(
        name("paramstore development CA")).public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))

    def leaf(common: str, usage: Any, alt_names: list) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(name(common)).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False))
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    alt: list = []
    for host in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt.append(x509.DNSName(host))
    server_key, server = leaf(hosts[0], ExtendedKeyUsageOID.SERVER_AUTH, alt)
    client_key, client = leaf("paramstore development client", ExtendedKeyUsageOID.CLIENT_AUTH, [])

    def pem(cert: Any) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)

    def private(key: Any) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    files = {"ca": ("ca.pem", pem(ca)), "ca_key": ("ca-key.pem", private(ca_key)),
             "cert": ("server.pem", pem(server)), "key": ("server-key.pem", private(server_key)),
             "client_cert": ("client.pem", pem(client)), "client_key": ("client-key.pem", private(client_key))}
    written: dict[str, Path] = {}
    for label, (filename, data) in files.items():
        path = directory / filename
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if "key" in label else 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        written[label] = path
    return written
