"""When a certificate is due for renewal (past 2/3 of its lifetime, as the kubelet's in Kubernetes), and
the signing request a kubelet renews its serving certificate with. Pure functions of the PEM and the clock."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["RENEW_AFTER", "Lifetime", "lifetime", "node_serving_request"]

RENEW_AFTER = 2 / 3  # of a certificate's lifetime: then it is renewed, a third of its life ahead


@dataclass(frozen=True)
class Lifetime:
    not_before: dt.datetime
    not_after: dt.datetime

    @property
    def renew_at(self) -> dt.datetime:
        return self.not_before + (self.not_after - self.not_before) * RENEW_AFTER

    def due(self, now: dt.datetime) -> bool:
        """Whether to renew now: past 2/3 of the lifetime (or expired, or not valid yet: a clock moved back)."""
        return now >= self.renew_at or now < self.not_before

    def left(self, now: dt.datetime) -> dt.timedelta:
        return self.not_after - now


def lifetime(pem: bytes) -> Lifetime:
    cert = x509.load_pem_x509_certificate(pem)
    return Lifetime(cert.not_valid_before_utc, cert.not_valid_after_utc)


def node_serving_request(node: str) -> tuple[bytes, str]:
    """A new key (PEM) and a signing request for kubelet NODE's serving certificate, with exactly the
    names the apiserver signs (apiserver/certs.py): the key never leaves this host, nor the CA key the control plane."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}")]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(node)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem, csr.public_bytes(serialization.Encoding.PEM).decode()
