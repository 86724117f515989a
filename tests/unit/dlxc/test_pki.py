from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509

from dlxc.cluster.pki import ensure_pki


def test_ensure_pki_makes_a_ca_and_a_server_certificate_once(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki", hosts=["10.1.2.3", "api.example"])
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(pki.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "api.example"} <= set(names.get_values_for_type(x509.DNSName))
    assert {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.1.2.3")} <= set(names.get_values_for_type(x509.IPAddress))
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    for key in (pki.server_key, tmp_path / "pki" / "ca.key"):
        assert key.stat().st_mode & 0o777 == 0o600
    before = pki.server_cert.read_bytes()
    assert ensure_pki(tmp_path / "pki") == pki
    assert pki.server_cert.read_bytes() == before  # kept, so clients' trust survives `dlxc up` again


def test_a_new_host_gets_a_new_server_certificate_from_the_same_ca(tmp_path: Path) -> None:
    first = ensure_pki(tmp_path / "pki", hosts=["10.1.2.3"])
    ca_before = first.ca_cert.read_bytes()
    again = ensure_pki(tmp_path / "pki", hosts=["10.9.9.9"])
    assert again.ca_cert.read_bytes() == ca_before
    ca = x509.load_pem_x509_certificate(ca_before)
    server = x509.load_pem_x509_certificate(again.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("10.9.9.9") in names.get_values_for_type(x509.IPAddress)


def test_ca_hash_is_the_sha256_of_the_der_certificate(tmp_path: Path) -> None:
    import hashlib

    from cryptography.hazmat.primitives import serialization

    from dlxc.cluster.pki import ca_hash

    pem = ensure_pki(tmp_path / "pki").ca_cert.read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    assert ca_hash(pem) == "sha256:" + hashlib.sha256(der).hexdigest()
