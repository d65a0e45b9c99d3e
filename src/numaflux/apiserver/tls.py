"""First-start credentials of the local API server: a CA, a loopback server certificate, a bearer token,
and the kubeconfig that ties them together.

Layout under the data directory:

    DIR/pki/ca.crt, DIR/pki/ca.key          self-signed CA (generated once)
    DIR/pki/server.crt, DIR/pki/server.key  serving certificate for 127.0.0.1 and localhost, signed by the CA
    DIR/token                               bearer token every request must carry (mode 0600)
    DIR/kubeconfig                          cluster/user/context "numaflux-local" (mode 0600)
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CONTEXT_NAME = "numaflux-local"
_VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True)
class Credentials:
    """Paths of the generated material plus the token."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    token: str


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _generate_ca(now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "numaflux-local-ca")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _generate_server(
    ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, now: dt.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "numaflux-apiserver")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def ensure_credentials(data_dir: Path, now: dt.datetime | None = None) -> Credentials:
    """Create the CA, server certificate and token unless they already exist; return their locations."""
    when = now or dt.datetime.now(dt.UTC)
    pki = data_dir / "pki"
    ca_cert_path, ca_key_path = pki / "ca.crt", pki / "ca.key"
    server_cert_path, server_key_path = pki / "server.crt", pki / "server.key"
    if not (ca_cert_path.exists() and ca_key_path.exists()):
        ca_cert, ca_key = _generate_ca(when)
        _write_private(ca_key_path, _key_pem(ca_key))
        _write_private(ca_cert_path, ca_cert.public_bytes(serialization.Encoding.PEM))
        server_cert_path.unlink(missing_ok=True)
    if not (server_cert_path.exists() and server_key_path.exists()):
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{ca_key_path}: expected an EC private key")
        cert, key = _generate_server(ca_cert, loaded, when)
        _write_private(server_key_path, _key_pem(key))
        _write_private(server_cert_path, cert.public_bytes(serialization.Encoding.PEM))
    token_path = data_dir / "token"
    if not token_path.exists():
        _write_private(token_path, secrets.token_urlsafe(32).encode())
    token = token_path.read_text().strip()
    if not token:
        raise ValueError(f"{token_path} is empty; delete it to generate a new token")
    return Credentials(ca_cert_path, server_cert_path, server_key_path, token)


def server_ssl_context(creds: Credentials) -> ssl.SSLContext:
    """TLS context serving the loopback certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(creds.server_cert), str(creds.server_key))
    return context


def write_kubeconfig(path: Path, creds: Credentials, host: str, port: int) -> None:
    """Write a kubeconfig (mode 0600) pointing at https://host:port with the CA and the token."""
    ca_data = base64.b64encode(creds.ca_cert.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT_NAME,
                "cluster": {"server": f"https://{host}:{port}", "certificate-authority-data": ca_data},
            }
        ],
        "users": [{"name": CONTEXT_NAME, "user": {"token": creds.token}}],
        "contexts": [
            {
                "name": CONTEXT_NAME,
                "context": {"cluster": CONTEXT_NAME, "user": CONTEXT_NAME, "namespace": "default"},
            }
        ],
        "current-context": CONTEXT_NAME,
        "preferences": {},
    }
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
