"""Join tokens: `dlxc token create --role join [--uses N] [--ttl]`, traded at /joins for a node's own token."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)

JOINS = "/apis/dlxc.io/v1/joins"


def dlxc(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dlxc", *args], env=env, capture_output=True, text=True, timeout=30)


def join(api, token: str, node: str) -> httpx.Response:
    return httpx.post(f"{api.url}{JOINS}", headers={"Authorization": f"Bearer {token}"}, json={"nodeName": node})


def make_join_token(api, name: str, *extra: str) -> str:
    made = dlxc("token", "create", name, "--role", "join", *extra, env=api.env())
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def set_ready(api, node: str, ready: bool) -> None:
    admin = {"Authorization": f"Bearer {api.token}"}
    httpx.post(f"{api.url}/apis/dlxc.io/v1/nodes", headers=admin, json={"metadata": {"name": node}, "spec": {}})
    current = httpx.get(f"{api.url}/apis/dlxc.io/v1/nodes/{node}", headers=admin).json()
    current["status"] = {"conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "Test", "message": "",
                                         "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    answer = httpx.put(f"{api.url}/apis/dlxc.io/v1/nodes/{node}/status", headers=admin, json=current)
    assert answer.status_code == 200, answer.text


def test_a_join_token_buys_a_node_token_and_nothing_else(api) -> None:
    secret = make_join_token(api, "hosts", "--uses", "2")
    assert httpx.get(f"{api.url}/apis/dlxc.io/v1/nodes", headers={"Authorization": f"Bearer {secret}"}).status_code == 403
    answer = join(api, secret, "h1")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["kind"], body["nodeName"]) == ("JoinResult", "h1")
    node_token = body["token"]
    own = {"Authorization": f"Bearer {node_token}"}
    made = httpx.post(f"{api.url}/apis/dlxc.io/v1/nodes", headers=own, json={"metadata": {"name": "h1"}, "spec": {}})
    assert made.status_code == 201, made.text
    other = httpx.post(f"{api.url}/apis/dlxc.io/v1/nodes", headers=own, json={"metadata": {"name": "h2"}, "spec": {}})
    assert other.status_code == 403
    stored = httpx.get(f"{api.url}/apis/dlxc.io/v1/tokens/node-h1", headers={"Authorization": f"Bearer {api.token}"}).json()
    assert stored["spec"] == {"role": "node:h1"}
    assert stored["metadata"]["annotations"] == {"dlxc.io/joined-with": "hosts"}
    listed = dlxc("token", "list", env=api.env()).stdout.splitlines()
    rows = {re.split(r"\s{3,}", line)[0]: re.split(r"\s{3,}", line) for line in listed[1:]}
    assert (rows["hosts"][1], rows["hosts"][4]) == ("join", "1/2")
    assert (rows["node-h1"][1], rows["node-h1"][4]) == ("node:h1", "-")


def test_uses_are_counted_atomically(api) -> None:
    secret = make_join_token(api, "once", "--uses", "3")
    with ThreadPoolExecutor(8) as pool:
        codes = sorted(r.status_code for r in pool.map(lambda i: join(api, secret, f"race-{i}"), range(8)))
    assert codes == [201] * 3 + [401] * 5
    last = join(api, secret, "late")
    assert (last.status_code, last.json()["message"]) == (
        401, "the join token 'once' is used up (3 of 3 uses); make another with `dlxc token create NAME --role join`"
    )


def test_expired_unknown_and_wrong_role_tokens_are_refused(api) -> None:
    brief = make_join_token(api, "brief", "--ttl", "1s")
    time.sleep(1.2)
    expired = join(api, brief, "h1")
    assert expired.status_code == 401
    assert re.fullmatch(
        r"the join token 'brief' expired at \S+Z; make a new one with `dlxc token create NAME --role join --ttl 1h`", expired.json()["message"]
    )
    unknown = join(api, "not-a-token", "h1")
    assert (unknown.status_code, unknown.json()["message"]) == (
        401, "the join token is not valid (unknown or revoked); ask an admin for the join command again"
    )
    viewer = dlxc("token", "create", "v", "--role", "viewer", env=api.env()).stdout.strip()
    assert (join(api, viewer, "h1").status_code, join(api, viewer, "h1").json()["message"]) == (
        401, "the token 'v' is not a join token (role viewer)"
    )


def test_a_live_node_name_is_refused_a_dead_one_is_taken_over(api) -> None:
    secret = make_join_token(api, "fleet")
    set_ready(api, "busy", True)
    taken = join(api, secret, "busy")
    assert (taken.status_code, taken.json()["message"]) == (
        409, "node name 'busy' is taken by a live (Ready) node; pick another --node-name, or `dlxc node remove busy` first if that host is gone"
    )
    first = join(api, secret, "gone").json()["token"]
    set_ready(api, "gone", False)
    second = join(api, secret, "gone")
    assert second.status_code == 201
    # The earlier host's credential is replaced: only the new one works.
    refused = httpx.get(f"{api.url}/apis/dlxc.io/v1/nodes", headers={"Authorization": f"Bearer {first}"})
    assert refused.status_code == 401
    assert httpx.get(f"{api.url}/apis/dlxc.io/v1/nodes", headers={"Authorization": f"Bearer {second.json()['token']}"}).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "viewer", "--uses", "2"], "error: --uses is only for --role join, not viewer\n"),
    ],
    ids=["uses-not-join"],
)
def test_uses_needs_the_join_role(api, args: list[str], message: str) -> None:
    result = dlxc("token", "create", "x", *args, env=api.env())
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message)


def test_bad_node_names_are_refused(api) -> None:
    secret = make_join_token(api, "j")
    bad = join(api, secret, "Bad_Name")
    assert (bad.status_code, bad.json()["message"]) == (
        422, "nodeName 'Bad_Name' must be a DNS-1123 label: lowercase letters, digits and '-', at most 63"
    )


def test_control_plane_joins_need_a_control_plane_token_and_a_peer_url(api) -> None:
    plain = make_join_token(api, "workers")
    answer = httpx.post(f"{api.url}{JOINS}", headers={"Authorization": f"Bearer {plain}"},
                        json={"nodeName": "c1", "controlPlane": True, "peerURL": "http://10.0.0.2:6445"})
    assert (answer.status_code, answer.json()["message"]) == (
        403, "the join token 'workers' may not add control-plane hosts; make one with `dlxc token create NAME --role join --control-plane`"
    )
    cp = make_join_token(api, "masters", "--control-plane")
    bad = httpx.post(f"{api.url}{JOINS}", headers={"Authorization": f"Bearer {cp}"},
                     json={"nodeName": "c1", "controlPlane": True, "peerURL": "10.0.0.2"})
    assert (bad.status_code, bad.json()["message"]) == (422, "peerURL '10.0.0.2' must be https://ADDRESS:PORT, the new etcd member's peer URL")
    # This apiserver holds no CA key: it cannot hand one out, so it adds no control-plane host.
    refused = httpx.post(f"{api.url}{JOINS}", headers={"Authorization": f"Bearer {cp}"},
                         json={"nodeName": "c1", "controlPlane": True, "peerURL": "http://10.0.0.2:6445"})
    assert (refused.status_code, refused.json()["message"]) == (
        403, "this apiserver was started without --ca-key-file; it cannot add control-plane hosts"
    )
    listed = dlxc("token", "create", "x", "--role", "viewer", "--control-plane", env=api.env())
    assert (listed.returncode, listed.stderr) == (2, "error: --control-plane is only for --role join, not viewer\n")


# Serving certificates for kubelets' streams: signed by the apiserver, for the node's own name only.

CERTS = "/apis/dlxc.io/v1/nodecertificates"


@pytest.fixture
def ca_api(make_api, tmp_path):
    from dlxc.cluster.pki import ensure_pki

    pki = ensure_pki(tmp_path / "cluster-pki")
    return make_api(ca_file=pki.ca_cert, ca_key_file=tmp_path / "cluster-pki" / "ca.key")


def csr_for(common_name: str, names: list[str]) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def used(api, name: str) -> int:
    token = httpx.get(f"{api.url}/apis/dlxc.io/v1/tokens/{name}", headers={"Authorization": f"Bearer {api.token}"}).json()
    return int((token.get("status") or {}).get("used") or 0)


def test_a_join_with_a_csr_gets_a_serving_certificate_for_its_name_only(ca_api, tmp_path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from dlxc.cluster.pki import kubelet_serving_request

    key_pem, csr = kubelet_serving_request("h1")
    secret = make_join_token(ca_api, "hosts", "--uses", "5")
    answer = httpx.post(f"{ca_api.url}{JOINS}", headers={"Authorization": f"Bearer {secret}"}, json={"nodeName": "h1", "servingCSR": csr})
    assert answer.status_code == 201, answer.text
    cert = x509.load_pem_x509_certificate(answer.json()["servingCertificate"].encode())
    ca = x509.load_pem_x509_certificate(ca_api.settings.ca_file.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:h1"
    assert list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == [x509.DNSName("h1")]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert cert.public_key() == key.public_key()  # the key the host made; the apiserver never saw it

    # A request for another name (or one more name) is refused before the use is counted.
    for body, message in [
        ({"nodeName": "h2", "servingCSR": csr},
         "servingCSR: its subject is 'CN=system:node:h1'; node h2 may only ask for CN=system:node:h2"),
        ({"nodeName": "h2", "servingCSR": csr_for("system:node:h2", ["h2", "h0"])},
         "servingCSR: asks for the names [h2, h0]; node h2 may only ask for DNS:h2"),
        ({"nodeName": "h2", "servingCSR": "-----BEGIN CERTIFICATE REQUEST-----\nxx\n-----END CERTIFICATE REQUEST-----\n"},
         "servingCSR: is not a PEM certificate signing request"),
    ]:
        refused = httpx.post(f"{ca_api.url}{JOINS}", headers={"Authorization": f"Bearer {secret}"}, json=body)
        assert (refused.status_code, refused.json()["message"]) == (422, message)
    assert used(ca_api, "hosts") == 1


def test_a_node_token_gets_a_certificate_for_its_own_name_only(ca_api) -> None:
    from cryptography import x509

    secret = make_join_token(ca_api, "hosts")
    h1 = {"Authorization": f"Bearer {join(ca_api, secret, 'h1').json()['token']}"}
    own = httpx.post(f"{ca_api.url}{CERTS}", headers=h1, json={"nodeName": "h1", "csr": csr_for("system:node:h1", ["h1"])})
    assert own.status_code == 201, own.text
    assert (own.json()["kind"], own.json()["nodeName"]) == ("NodeCertificate", "h1")
    cert = x509.load_pem_x509_certificate(own.json()["certificate"].encode())
    assert list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == [x509.DNSName("h1")]

    other = httpx.post(f"{ca_api.url}{CERTS}", headers=h1, json={"nodeName": "h2", "csr": csr_for("system:node:h2", ["h2"])})
    assert (other.status_code, other.json()["message"]) == (
        403, "'node-h1' (node:h1) may not get a certificate for node 'h2'; a node's token gets one for its own name only"
    )
    # Its own name in the body, another in the request: refused too.
    smuggled = httpx.post(f"{ca_api.url}{CERTS}", headers=h1, json={"nodeName": "h1", "csr": csr_for("system:node:h2", ["h2"])})
    assert (smuggled.status_code, smuggled.json()["message"]) == (
        422, "csr: its subject is 'CN=system:node:h2'; node h1 may only ask for CN=system:node:h1"
    )
    viewer = dlxc("token", "create", "v", "--role", "viewer", env=ca_api.env()).stdout.strip()
    looker = httpx.post(f"{ca_api.url}{CERTS}", headers={"Authorization": f"Bearer {viewer}"},
                        json={"nodeName": "h1", "csr": csr_for("system:node:h1", ["h1"])})
    assert (looker.status_code, looker.json()["message"]) == (
        403, "'v' (role viewer) may not get a certificate for node 'h1'; a node's token gets one for its own name only"
    )


def test_without_the_ca_key_a_join_with_a_csr_is_refused_before_counting(api) -> None:
    secret = make_join_token(api, "hosts")
    answer = httpx.post(f"{api.url}{JOINS}", headers={"Authorization": f"Bearer {secret}"},
                        json={"nodeName": "h1", "servingCSR": csr_for("system:node:h1", ["h1"])})
    assert (answer.status_code, answer.json()["message"]) == (
        403, "this apiserver was started without --ca-file and --ca-key-file; it cannot sign the node's serving certificate"
    )
    assert used(api, "hosts") == 0
