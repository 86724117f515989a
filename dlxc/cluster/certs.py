"""`dlxc certs`: the expiry of a control-plane host's certificates, and their renewal from the CA on that host
(as kubeadm's `certs check-expiration` / `certs renew`).

What each certificate under ETC/pki is and who renews it:
- apiserver: the apiserver's serving certificate; renewed here, same names (SANs), new key.
- apiserver-kubelet-client: the apiserver's client certificate towards kubelets' streams; renewed here.
- etcd-peer: this host's etcd member's peer certificate (serving and client); renewed here, and etcd
  reads it again on its next peer connection.
- kubelet-NODE: a kubelet's stream serving certificate; the kubelet renews it itself by CSR past 2/3
  of its lifetime (kubelet/certrenewal.py), so it is listed, not renewed here.
- ca: the cluster CA; not renewed (every host pins its hash); it outlives what it signs.
A running apiserver loads a renewed certificate within seconds (apiserver.server.CertReloader).
`renew all` renews those of RENEWABLE this host has.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dlxc.client.certs import Lifetime, lifetime
from dlxc.cluster.pki import _key_pem, _load_ca, _write_private

__all__ = ["RENEWABLE", "CertInfo", "CertsError", "certificates", "renew"]

RENEWABLE = ("apiserver", "apiserver-kubelet-client", "etcd-peer")
DAYS = 825


class CertsError(RuntimeError):
    """The certificates cannot be read or renewed as asked; the message says why."""


@dataclass(frozen=True)
class CertInfo:
    name: str  # the file's stem: apiserver, apiserver-kubelet-client, kubelet-NODE, ca
    path: Path
    lifetime: Lifetime

    @property
    def renewed_by(self) -> str:
        if self.name in RENEWABLE:
            return "dlxc certs renew"
        if self.name.startswith("kubelet-"):
            return "the kubelet"
        return "-"  # the CA


def certificates(directory: Path) -> list[CertInfo]:
    """Every certificate in the pki folder, the CA first."""
    if not (directory / "ca.crt").is_file():
        raise CertsError(f"{directory} holds no cluster CA (ca.crt): not a host `dlxc init` or `dlxc join` set up; give its --state-dir")
    found = []
    for path in sorted(directory.glob("*.crt"), key=lambda p: (p.stem != "ca", p.stem)):
        try:
            found.append(CertInfo(path.stem, path, lifetime(path.read_bytes())))
        except ValueError:
            raise CertsError(f"{path} is not a PEM certificate") from None
    return found


def renew(directory: Path, name: str, *, days: int = DAYS) -> CertInfo:
    """Issue NAME again from the CA here: same subject, names and use, a new key, `days` from now."""
    if name not in RENEWABLE:
        who = "the kubelet renews it itself (past 2/3 of its lifetime)" if name.startswith("kubelet-") else (
            "the CA is not renewed" if name == "ca" else f"there is no such certificate; renewable: {', '.join(RENEWABLE)}")
        raise CertsError(f"{name}: {who}")
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    if not (directory / "ca.key").is_file():
        raise CertsError(f"{directory / 'ca.key'} is missing: only a control-plane host (init, or join --control-plane) renews {name}")
    if not cert_path.is_file():
        raise CertsError(f"{cert_path} is missing")
    old = x509.load_pem_x509_certificate(cert_path.read_bytes())
    ca, ca_key = _load_ca(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(old.subject).issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    for extension in old.extensions:  # the names (SANs), the use (EKU), not a CA
        if isinstance(extension.value, x509.SubjectAlternativeName | x509.ExtendedKeyUsage | x509.BasicConstraints):
            builder = builder.add_extension(extension.value, critical=extension.critical)
    pem = builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    staged_key, staged_cert = key_path.with_name(key_path.name + ".new"), cert_path.with_name(cert_path.name + ".new")
    _write_private(staged_key, _key_pem(key))
    staged_cert.write_bytes(pem)
    staged_key.replace(key_path)
    staged_cert.replace(cert_path)
    return CertInfo(name, cert_path, lifetime(pem))
