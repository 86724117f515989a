"""A small private CA for a local cluster: the CA, the apiserver's serving and kubelet-client certificates,
one serving certificate per kubelet (its streams: exec, attach, logs), and each control-plane host's
etcd peer certificate."""
from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dlxc.client.certs import node_serving_request

__all__ = [
    "APISERVER_CLIENT_CN", "Pki", "ca_hash", "ensure_pki", "issue_apiserver_client", "issue_etcd_peer", "issue_kubelet_serving",
    "kubelet_serving_request",
    "ssl_context", "write_private",
]

# The CA outlives the leaf certificates it signs (825 days, renewed: `dlxc certs`, the kubelet's own
# renewal); it is never renewed itself, as every host pins its hash (kubeadm's is 10 years too).
CA_DAYS = 3650

# The subject a kubelet requires of the client of its streams (kubelet/streams.py checks it too).
APISERVER_CLIENT_CN = "dlxc-apiserver-kubelet-client"


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def ensure_pki(directory: Path, *, hosts: list[str] | None = None, days: int = 825) -> Pki:
    """Create the CA and the server certificate in `directory` unless they exist; return their paths.

    The server certificate names localhost, 127.0.0.1, ::1, this host's name and any `hosts`. One
    made earlier is kept while it names every host asked for (clients' trust is in the CA, which is
    never replaced); a new host (`dlxc init --advertise-address` of another address) gets a new
    server certificate from the same CA.
    """
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory / "ca.crt", directory / "apiserver.crt", directory / "apiserver.key")
    ca_key_file = directory / "ca.key"
    wanted = [socket.gethostname(), *(hosts or [])]
    if pki.ca_cert.exists() and ca_key_file.exists():
        ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_file.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        if pki.server_cert.exists() and pki.server_key.exists() and _names_all(pki.server_cert, wanted):
            return pki
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _make_ca(ca_key, days=CA_DAYS)
        _write_private(ca_key_file, _key_pem(ca_key))
        pki.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _make_server(ca, ca_key, server_key, wanted, days=days)
    _write_private(pki.server_key, _key_pem(server_key))
    pki.server_cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    return pki


def ca_hash(pem: bytes) -> str:
    """`sha256:HEX` of a CA certificate's DER bytes: what `dlxc join --ca-hash` pins."""
    cert = x509.load_pem_x509_certificate(pem)
    return "sha256:" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _names_all(cert_file: Path, hosts: list[str]) -> bool:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return all(_general_name(h) in names for h in hosts)


def _make_ca(ca_key: ec.EllipticCurvePrivateKey, *, days: int) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dlxc local CA")])
    return (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _make_server(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, server_key: ec.EllipticCurvePrivateKey, hosts: list[str], *, days: int
) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for address in ("127.0.0.1", "::1"):
        names.append(x509.IPAddress(ipaddress.ip_address(address)))
    for host in hosts:
        name = _general_name(host)
        if name not in names:
            names.append(name)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dlxc-apiserver")]))
        .issuer_name(ca.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return ca, key


def _issue(
    directory: Path, stem: str, *, common_name: str, usage: x509.ObjectIdentifier | list[x509.ObjectIdentifier],
    names: list[x509.GeneralName], days: int,
) -> tuple[Path, Path]:
    """A leaf certificate signed by the CA in `directory`, written as STEM.crt and STEM.key (kept if they exist)."""
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    ca, ca_key = _load_ca(directory)
    now = dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usage if isinstance(usage, list) else [usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def issue_apiserver_client(directory: Path, *, days: int = 825) -> tuple[Path, Path]:
    """The apiserver's client certificate towards kubelets (clientAuth only, so no kubelet can use it to serve)."""
    return _issue(
        directory, "apiserver-kubelet-client", common_name=APISERVER_CLIENT_CN, usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        names=[], days=days,
    )


def issue_kubelet_serving(directory: Path, node: str, *, days: int = 825) -> tuple[Path, Path]:
    """Kubelet NODE's serving certificate (serverAuth only). It names the node, not an address: the
    apiserver checks it against the node's name, so a kubelet can only answer for its own node."""
    return _issue(
        directory, f"kubelet-{node}", common_name=f"system:node:{node}", usage=ExtendedKeyUsageOID.SERVER_AUTH,
        names=[x509.DNSName(node)], days=days,
    )


def issue_etcd_peer(directory: Path, member: str, address: str, *, days: int = 825) -> tuple[Path, Path]:
    """This host's etcd member's peer certificate: it serves the peer port (the address in its SANs) and
    is the client certificate towards the other members (serverAuth and clientAuth), from the cluster CA."""
    return _issue(
        directory, "etcd-peer", common_name=f"dlxc-etcd-{member}",
        usage=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        names=[_general_name(address), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], days=days,
    )


def kubelet_serving_request(node: str) -> tuple[bytes, str]:
    """A new key (PEM) and a signing request for kubelet NODE's serving certificate (dlxc.client.certs)."""
    return node_serving_request(node)


def write_private(path: Path, data: bytes) -> None:
    """A file only its owner reads (a private key)."""
    _write_private(path, data)


def ssl_context(ca_file: str | Path) -> ssl.SSLContext:
    """A client context that trusts exactly this CA."""
    return ssl.create_default_context(cafile=str(ca_file))
