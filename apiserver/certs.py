"""Signing a kubelet's serving certificate request (its stream server) with the cluster CA, for its own node name only.

Why here and not on the node: the CA key stays on the control plane. A joining host makes its
key, sends a certificate signing request with its join (or later with its node:NAME token), and
gets back a certificate whose only names are the node's: CN `system:node:NAME` and the DNS SAN
NAME, the name the apiserver checks when it dials the node's streams. Whatever else the request
asks for (another name, an address, CA rights, client use) is refused, not dropped, so a wrong
request fails loudly instead of yielding a certificate its host did not expect.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dlxc.client.errors import Forbidden, Invalid

__all__ = ["NODE_CERT_DAYS", "node_common_name", "sign_node_csr", "check_node_csr"]

NODE_CERT_DAYS = 825  # not renewed yet: a node joins again (or an admin re-issues) before then


def node_common_name(node: str) -> str:
    return f"system:node:{node}"


def _refuse(field: str, message: str) -> Invalid:
    return Invalid(f"{field}: {message}", details=[{"field": field, "message": message}])


def check_node_csr(pem: object, node: str, *, field: str = "servingCSR") -> x509.CertificateSigningRequest:
    """The parsed request if it asks for exactly NODE's serving certificate; Invalid naming `field` otherwise."""
    if not isinstance(pem, str):
        raise _refuse(field, "must be a PEM certificate signing request (a string)")
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError:
        raise _refuse(field, "is not a PEM certificate signing request") from None
    if not csr.is_signature_valid:
        raise _refuse(field, "its signature does not match its key")
    if not isinstance(csr.public_key(), ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise _refuse(field, "its key must be EC or RSA")
    wanted = node_common_name(node)
    subject = [(a.oid, a.value) for a in csr.subject]
    if subject != [(NameOID.COMMON_NAME, wanted)]:
        raise _refuse(field, f"its subject is {csr.subject.rfc4514_string()!r}; node {node} may only ask for CN={wanted}")
    for extension in csr.extensions:
        if not isinstance(extension.value, x509.SubjectAlternativeName):
            raise _refuse(field, f"asks for extension {extension.oid.dotted_string}; only a subjectAltName of DNS:{node} is allowed")
        names = list(extension.value)
        if names != [x509.DNSName(node)]:
            shown = ", ".join(str(getattr(n, "value", n)) for n in names)
            raise _refuse(field, f"asks for the names [{shown}]; node {node} may only ask for DNS:{node}")
    return csr


def sign_node_csr(pem: object, node: str, *, ca_file: Path | None, ca_key_file: Path | None, field: str = "servingCSR",
                  days: int = NODE_CERT_DAYS) -> str:
    """NODE's serving certificate (PEM, serverAuth only) for the key in the request, signed by the cluster CA."""
    if ca_file is None or ca_key_file is None:
        raise Forbidden("this apiserver was started without --ca-file and --ca-key-file; it cannot sign node certificates")
    csr = check_node_csr(pem, node, field=field)
    ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_file.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_common_name(node))]))
        .issuer_name(ca.subject)
        .public_key(csr.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(node)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()
