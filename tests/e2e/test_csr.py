"""RFC 9646 end to end: the real client against the strict lab bootstrap server asking for
certificate requests (R-123..R-131, D18, D23).

The device offers csr-support to trusted servers only; the lab answers 400 with a
csr-request, checks each p10-csr (proof of possession, selected algorithm, given subject) and
issues an LDevID that the post-configuration script writes to ``$SZTP_LDEVID_CERT``.
"""

from __future__ import annotations

import stat
from typing import Any

import pytest
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sztp_lab.artifacts import onboarding_json
from sztp_lab.csr import RSA_2048, CSRPolicy, ldevid_script
from sztp_lab.scenario import Device, script
from sztp_lab.server import LabBootstrapServer, Response
from tests.e2e.conftest import Env
from tests.yang import oracle

pytestmark = pytest.mark.integration

EXIT_OK = 0
LDEVID = {"identity.ldevid": {"enabled": True}}


def _policy(env: Env, **options: Any) -> CSRPolicy:
    def onboarding(cert: x509.Certificate) -> bytes:
        post = ldevid_script(cert).decode().removeprefix("#!/bin/sh\n")
        return env.unsigned(
            onboarding_json(
                configuration=b'{"hostname": "device"}',
                configuration_handling="merge",
                post_script=script(post, env.log),
            )
        )

    return CSRPolicy(issuer=env.lab.pki.idevid_ca, onboarding=onboarding, **options)


def _spki(der: bytes) -> bytes:
    return (
        x509.load_der_x509_csr(der)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _key_file(device: Device) -> Any:
    return device.root / "var" / "lib" / "sztp" / "ldevid" / "key.pem"


def _cert_file(device: Device) -> Any:
    return device.root / "var" / "lib" / "sztp" / "ldevid" / "cert.pem"


def _key_spki(device: Device) -> bytes:
    key = serialization.load_pem_private_key(_key_file(device).read_bytes(), None)
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _gbd_bodies(server: LabBootstrapServer) -> list[dict[str, Any]]:
    return [r["input"] for r in server.requests("get-bootstrapping-data")]


def test_r124_r129_r131_round_trip_installs_matching_ldevid(env: Env) -> None:
    """R-124, R-125, R-127, R-129, R-131, D23: csr-support, one csr-request, a p10-csr over a
    fresh key (file 0600), the LDevID written by the post-configuration script, matching."""
    policy = _policy(env)
    server = env.server(Response(csr=policy))
    device = env.device([server], extra=LDEVID)
    result = device.run("run", "--once")
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    bodies = _gbd_bodies(server)
    assert [b.get("csr-support", False) for b in bodies] == [True, False]
    assert bodies[0].get("p10-csr") is None and bodies[1].get("p10-csr") is not None
    assert server.reports()[-1] == "bootstrap-complete"
    assert stat.S_IMODE(_key_file(device).stat().st_mode) == 0o600
    installed = x509.load_pem_x509_certificate(_cert_file(device).read_bytes())
    assert installed == policy.issued[0]
    assert installed.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == _key_spki(device)
    # mirrors the IDevID's subject when no cert-req-info is given
    assert installed.subject == env.lab.idevid.cert.subject


def test_r130_second_csr_request_deletes_first_key(env: Env) -> None:
    """R-127, R-130: asked twice, the device makes a second key; the first one is gone."""
    policy = _policy(env, rounds=2)
    server = env.server(Response(csr=policy))
    device = env.device([server], extra=LDEVID)
    result = device.run("run", "--once")
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    first, second = (_spki(der) for der in policy.received)
    assert first != second
    assert _key_spki(device) == second  # the key kept is the last round's; the first deleted
    installed = x509.load_pem_x509_certificate(_cert_file(device).read_bytes())
    assert (
        installed.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == second
    )


def test_r126_unoffered_algorithm_is_refused_and_no_csr_sent(env: Env) -> None:
    """R-126, D23: a csr-request selecting EC P-384 (not offered): typed error, no CSR."""
    p384 = asn1_keys.PublicKeyAlgorithm(
        {"algorithm": "ec", "parameters": asn1_keys.ECDomainParameters("named", "secp384r1")}
    ).dump()
    policy = _policy(env, algorithm=p384)
    server = env.server(Response(csr=policy))
    device = env.device([server], extra=LDEVID)
    result = device.run("run", "--once")
    assert result.returncode != EXIT_OK
    assert policy.received == []
    assert all(b.get("p10-csr") is None for b in _gbd_bodies(server))
    assert len(_gbd_bodies(server)) == 1
    assert not _key_file(device).exists()
    assert "did not offer" in result.stdout + result.stderr + str(device.status())
    assert env.scripts_ran() == []


def test_r128_cert_req_info_subject_is_byte_identical(env: Env) -> None:
    """R-128: the server's cert-req-info is signed as given; the subject byte for byte."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Owner Inc"),
            x509.NameAttribute(NameOID.COMMON_NAME, "router-7.owner.example"),
        ]
    )
    placeholder = ec.generate_private_key(ec.SECP256R1()).public_key()
    info = asn1_csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": asn1_x509.Name.load(subject.public_bytes()),
            "subject_pk_info": asn1_keys.PublicKeyInfo.load(
                placeholder.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            ),
            "attributes": [],
        }
    ).dump()
    policy = _policy(env, cert_req_info=info)
    server = env.server(Response(csr=policy))
    device = env.device([server], extra=LDEVID)
    result = device.run("run", "--once")
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    (sent,) = policy.received
    made = asn1_csr.CertificationRequest.load(sent)["certification_request_info"]
    assert made["subject"].dump() == subject.public_bytes()
    assert made["subject_pk_info"].dump() == _key_spki(device)


def test_rsa_2048_selected(env: Env) -> None:
    """R-124, R-127: the RSA-2048 key generation the device offers works as well."""
    policy = _policy(env, algorithm=RSA_2048)
    server = env.server(Response(csr=policy))
    device = env.device([server], extra=LDEVID)
    result = device.run("run", "--once")
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert x509.load_der_x509_csr(policy.received[0]).public_key().key_size == 2048


def test_r123_untrusted_server_gets_no_csr_support(env: Env) -> None:
    """R-123, D18: a provisional (untrusted) server is never offered csr-support."""
    server = env.server(Response(signed=env.signed(env.onboarding())), basic_auth=None)
    device = env.device([server], trusted=False, extra=LDEVID)
    result = device.run("run", "--once")
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    (body,) = _gbd_bodies(server)
    assert body["signed-data-preferred"] is True
    assert "csr-support" not in body


def test_d23_ldevid_not_matching_the_new_key_is_a_bootstrap_error(env: Env) -> None:
    """D23: a post-configuration script installing a certificate for another key fails the
    bootstrap before bootstrap-complete."""
    policy = _policy(env)
    other = CSRPolicy(issuer=env.lab.pki.idevid_ca, onboarding=lambda cert: b"")

    def wrong(cert: x509.Certificate) -> bytes:
        key = ec.generate_private_key(ec.SECP256R1())
        request = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(cert.subject)
            .sign(key, hashes.SHA256())
        )
        foreign = other._issue(request)
        post = ldevid_script(foreign).decode().removeprefix("#!/bin/sh\n")
        return env.unsigned(
            onboarding_json(
                configuration=b'{"a": 1}',
                configuration_handling="merge",
                post_script=script(post, env.log),
            )
        )

    policy.onboarding = wrong
    server = env.server(Response(csr=policy))
    device = env.device([server], extra=LDEVID)
    result = device.run("run", "--once")
    assert result.returncode != EXIT_OK
    reports = server.reports()
    assert "bootstrap-complete" not in reports
    assert reports[-1] == "bootstrap-error"


def test_r124_r129_request_bodies_satisfy_the_yang_oracle(env: Env) -> None:
    """R-124, R-129: the csr-support and p10-csr bodies the client sent are valid YANG."""
    policy = _policy(env)
    server = env.server(Response(csr=policy))
    device = env.device([server], extra=LDEVID)
    assert device.run("run", "--once").returncode == EXIT_OK
    raws = [r.get("body") for r in server.requests("get-bootstrapping-data")]
    for raw in raws:
        assert raw is not None
        oracle.check_get_bootstrapping_data_input(raw.encode())


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_r124_r129_xml_round_trip_installs_matching_ldevid(env: Env, algorithm: str) -> None:
    """R-124, R-125, R-129, D29: with network.encoding = "xml" the csr-support, the
    csr-request (an XML error document, the format identityref with the server's own prefix)
    and the p10-csr travel as XML, and the LDevID installed certifies the new key."""
    selected = {"algorithm": RSA_2048} if algorithm == "rsa-2048" else {}
    policy = _policy(env, rounds=2, **selected)
    server = env.server(Response(csr=policy))
    device = env.device([server], extra={**LDEVID, "network": {"encoding": "xml"}})
    result = device.run("run", "--once")
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    requests = server.requests("get-bootstrapping-data")
    assert all(r["body"].lstrip().startswith("<") for r in requests)
    assert [r["input"].get("csr-support", False) for r in requests] == [True, False, False]
    assert [r["status"] for r in requests] == [400, 400, 200]
    assert len(policy.received) == 2
    assert server.reports()[-1] == "bootstrap-complete"
    installed = x509.load_pem_x509_certificate(_cert_file(device).read_bytes())
    assert installed == policy.issued[0]
    assert _spki(policy.received[-1]) == _key_spki(device)
    assert installed.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == _key_spki(device)
