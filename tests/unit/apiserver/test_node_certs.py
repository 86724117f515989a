"""apiserver/certs.py: a kubelet's serving certificate request is signed for its own node name only."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from apiserver.certs import check_node_csr, sign_node_csr
from dlxc.client.errors import Forbidden, Invalid
from dlxc.cluster.pki import ensure_pki, kubelet_serving_request

pytestmark = pytest.mark.filterwarnings("error")


def request(subject: list[x509.NameAttribute], *extensions: x509.ExtensionType) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


CN = x509.NameAttribute(NameOID.COMMON_NAME, "system:node:n1")


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (None, "servingCSR: must be a PEM certificate signing request (a string)"),
        ("hello", "servingCSR: is not a PEM certificate signing request"),
        (request([x509.NameAttribute(NameOID.COMMON_NAME, "system:node:n2")]),
         "servingCSR: its subject is 'CN=system:node:n2'; node n1 may only ask for CN=system:node:n1"),
        (request([x509.NameAttribute(NameOID.COMMON_NAME, "dlxc-apiserver-kubelet-client")]),
         "servingCSR: its subject is 'CN=dlxc-apiserver-kubelet-client'; node n1 may only ask for CN=system:node:n1"),
        (request([CN, x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters")]),
         "servingCSR: its subject is 'O=system:masters,CN=system:node:n1'; node n1 may only ask for CN=system:node:n1"),
        (request([CN], x509.SubjectAlternativeName([x509.DNSName("n1"), x509.DNSName("n2")])),
         "servingCSR: asks for the names [n1, n2]; node n1 may only ask for DNS:n1"),
        (request([CN], x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("10.0.0.1"))])),
         "servingCSR: asks for the names [10.0.0.1]; node n1 may only ask for DNS:n1"),
        (request([CN], x509.BasicConstraints(ca=True, path_length=None)),
         "servingCSR: asks for extension 2.5.29.19; only a subjectAltName of DNS:n1 is allowed"),
    ],
    ids=["not-a-string", "not-pem", "other-node", "apiserver-client-name", "extra-subject", "extra-san", "ip-san", "ca-rights"],
)
def test_anything_but_the_node_name_is_refused(pem: object, message: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_node_csr(pem, "n1")
    assert str(refused.value) == message
    assert refused.value.details == [{"field": "servingCSR", "message": message.split(": ", 1)[1]}]


def test_the_certificate_names_the_node_only_and_serves_only(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    key_pem, csr = kubelet_serving_request("n1")
    cert = x509.load_pem_x509_certificate(sign_node_csr(csr, "n1", ca_file=pki.ca_cert, ca_key_file=tmp_path / "ca.key").encode())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(pki.ca_cert.read_bytes()))
    assert cert.subject.rfc4514_string() == "CN=system:node:n1"
    assert list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == [x509.DNSName("n1")]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.public_key() == serialization.load_pem_private_key(key_pem, password=None).public_key()
    # A SAN-less request for the right subject is fine: the certificate gets the SAN anyway.
    bare = sign_node_csr(request([CN]), "n1", ca_file=pki.ca_cert, ca_key_file=tmp_path / "ca.key")
    assert list(x509.load_pem_x509_certificate(bare.encode()).extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == [
        x509.DNSName("n1")
    ]


def test_without_the_ca_key_nothing_is_signed() -> None:
    with pytest.raises(Forbidden) as refused:
        sign_node_csr(kubelet_serving_request("n1")[1], "n1", ca_file=None, ca_key_file=None)
    assert str(refused.value) == "this apiserver was started without --ca-file and --ca-key-file; it cannot sign node certificates"
