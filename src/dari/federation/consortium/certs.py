"""The consortium's keys: a project CA, TLS server certificates it signs, and SuperNode authentication keys.

Who holds what (docs/consortium.md): the hub keeps the CA key offline and the SuperLink's server key; each
hospital keeps its SuperNode's authentication key (an ECDSA P-256 key in OpenSSH format, the form flwr 1.41's
`flower-supernode --auth-supernode-private-key` reads) and hands only its public half to the hub, which registers
it on the SuperLink. The CA certificate is public: every SuperNode trusts the SuperLink through it. Private keys are
written with mode 0600 and never logged; their paths may be.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dari.atomic import atomic_path
from dari.errors import InputError

#: NIST P-256: accepted by flwr for node authentication, TLS's default curve, and several times cheaper than P-384
#: to sign with — the SuperNode signs every request it sends, and each hop of a round is a TLS request.
CURVE = ec.SECP256R1()
CA_DAYS = 3650
LEAF_DAYS = 825  # the CA/Browser ceiling for server certificates: renew at an upgrade, see docs/consortium.md


@dataclass(frozen=True)
class ServerCert:
    """A TLS server certificate signed by the CA: its PEM certificate and key files."""

    cert: Path
    key: Path


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never world-readable, not even briefly
        with os.fdopen(fd, "wb") as out:
            out.write(data)


def _write_public(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dari consortium"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def create_ca(folder: Path, common_name: str = "dari consortium CA") -> tuple[Path, Path]:
    """A self-signed CA (`ca.crt`, `ca.key`) in `folder`; refuses to overwrite an existing CA key."""
    cert_path, key_path = folder / "ca.crt", folder / "ca.key"
    if key_path.exists():
        raise InputError("a CA key is already there: keep it, or remove it on purpose", file=str(key_path))
    key = ec.generate_private_key(CURVE)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    _write_private(key_path, key, serialization.PrivateFormat.PKCS8)
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _san(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def issue_server_cert(folder: Path, name: str, hosts: list[str], ca_cert: Path, ca_key: Path) -> ServerCert:
    """A TLS server certificate `name.crt`/`name.key` for `hosts` (DNS names or IP addresses), signed by the CA."""
    if not hosts:
        raise InputError(f"server certificate {name!r}: give at least one host name or address")
    try:
        ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
        signer = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the CA: {type(exc).__name__}", file=str(ca_cert)) from None
    if not isinstance(signer, ec.EllipticCurvePrivateKey):
        raise InputError("the CA key is not an EC key", file=str(ca_key))
    key = ec.generate_private_key(CURVE)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        .sign(signer, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    _write_private(key_path, key, serialization.PrivateFormat.PKCS8)
    # The chain (leaf then CA): clients that know only the CA verify it either way.
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return ServerCert(cert=cert_path, key=key_path)


def create_node_key(folder: Path, name: str) -> tuple[Path, Path]:
    """A SuperNode authentication key pair: `name` (private, OpenSSH, 0600) and `name.pub` (what the hub registers)."""
    key = ec.generate_private_key(CURVE)
    private, public = folder / name, folder / f"{name}.pub"
    _write_private(private, key, serialization.PrivateFormat.OpenSSH)
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    _write_public(public, pub + f" dari-{name}\n".encode())
    return private, public
