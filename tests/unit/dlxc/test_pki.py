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
