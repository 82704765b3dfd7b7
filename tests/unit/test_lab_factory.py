"""The lab's artifact factory makes well-formed PKI and CMS (checked with openssl as well).

These tests check the test tooling (sztp_lab and tests/helpers/openssl_cli), not the client:
lab signatures must verify with ``openssl cms -verify``, and openssl's own output must carry
what the helpers promise, so that client tests can trust both producers.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
from typing import TypeVar

import pytest
from asn1crypto import cms as acms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from defusedxml import ElementTree

from sztp_lab import artifacts, cms
from sztp_lab.pki import (
    KEY_TYPES,
    Issued,
    KeyType,
    LabPKI,
    make_crl,
    make_end_entity,
    make_intermediate_ca,
    make_key,
    make_lab_pki,
    make_root_ca,
)
from tests.conftest import require
from tests.helpers.openssl_cli import (
    OpenSSLError,
    openssl_available,
    openssl_decrypt,
    openssl_degenerate,
    openssl_encrypt,
    openssl_pkcs7_certs,
    openssl_sign,
    openssl_verify,
)

CONVEYED_NS = "urn:ietf:params:xml:ns:yang:ietf-sztp-conveyed-info"
PKI_KEY_TYPES: tuple[KeyType, ...] = ("ec-p256", "ec-p384", "rsa-2048")


@pytest.fixture(scope="module", params=PKI_KEY_TYPES)
def pki(request: pytest.FixtureRequest) -> LabPKI:
    key_type: KeyType = request.param
    return make_lab_pki(key_type)


@pytest.fixture(scope="module")
def ec_pki() -> LabPKI:
    return make_lab_pki("ec-p256")


@pytest.fixture(scope="module")
def rsa_pki() -> LabPKI:
    return make_lab_pki("rsa-2048")


@pytest.fixture
def openssl() -> None:
    require(openssl_available(), "openssl 3 command line")


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


_E = TypeVar("_E", bound=x509.ExtensionType)


def _ext(cert: x509.Certificate, cls: type[_E]) -> x509.Extension[_E]:
    return cert.extensions.get_extension_for_class(cls)


def _signed_data(der: bytes) -> acms.SignedData:
    info = cms.parse(der)
    assert info["content_type"].dotted == cms.OID_SIGNED_DATA
    return info["content"]


def _cert_subjects(signed: acms.SignedData) -> list[bytes]:
    certs = signed["certificates"]
    if not certs:
        return []
    return [c.chosen.dump() for c in certs]


# ---------------------------------------------------------------------------------------------
# PKI


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_make_key_gives_the_requested_kind(key_type: KeyType) -> None:
    key = make_key(key_type)
    size = {"ec-p256": 256, "ec-p384": 384, "rsa-2048": 2048, "rsa-3072": 3072}[key_type]
    assert key.key_size == size  # type: ignore[union-attr]


def test_lab_pki_chains_verify(pki: LabPKI) -> None:
    pairs: list[tuple[Issued, Issued]] = [
        (pki.manufacturer_intermediate, pki.voucher_root),
        (pki.voucher_signer, pki.manufacturer_intermediate),
        (pki.idevid_ca, pki.manufacturer_root),
        (pki.owner_intermediate, pki.owner_root),
        (pki.owner_certificate, pki.owner_intermediate),
        (pki.idevid("SN-CHAIN"), pki.idevid_ca),
    ]
    for child, parent in pairs:
        child.cert.verify_directly_issued_by(parent.cert)
        aki = _ext(child.cert, x509.AuthorityKeyIdentifier).value
        ski = _ext(parent.cert, x509.SubjectKeyIdentifier).value
        assert aki.key_identifier == ski.digest
    for root in (pki.manufacturer_root, pki.voucher_root, pki.owner_root):
        root.cert.verify_directly_issued_by(root.cert)
        assert root.chain == ()
        assert root.trust_anchor is root.cert
    assert pki.manufacturer_intermediate.chain == ()
    assert pki.voucher_signer.chain == (pki.manufacturer_intermediate.cert,)
    assert pki.owner_certificate.chain == (pki.owner_intermediate.cert,)
    assert pki.owner_certificate.trust_anchor == pki.owner_root.cert
    assert pki.idevid("SN-CHAIN").chain == (pki.idevid_ca.cert,)
    # D27: vouchers and IDevIDs come from separate roots, so no IDevID validates to the
    # voucher anchor
    assert pki.voucher_signer.trust_anchor == pki.voucher_root.cert
    assert pki.idevid("SN-CHAIN").trust_anchor == pki.manufacturer_root.cert
    assert pki.voucher_root.cert.subject != pki.manufacturer_root.cert.subject


def test_ca_and_end_entity_profiles(pki: LabPKI) -> None:
    for ca in (
        pki.manufacturer_root,
        pki.voucher_root,
        pki.manufacturer_intermediate,
        pki.idevid_ca,
        pki.owner_root,
        pki.owner_intermediate,
    ):
        bc = _ext(ca.cert, x509.BasicConstraints)
        assert bc.critical and bc.value.ca
        ku = _ext(ca.cert, x509.KeyUsage)
        assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
        assert not ku.value.digital_signature
        _ext(ca.cert, x509.SubjectKeyIdentifier)
    for ee in (pki.voucher_signer, pki.owner_certificate):
        bc = _ext(ee.cert, x509.BasicConstraints)
        assert bc.critical and not bc.value.ca
        ku = _ext(ee.cert, x509.KeyUsage).value
        assert ku.digital_signature and not ku.key_cert_sign


def test_signature_hash_follows_the_issuer_key() -> None:
    p384 = make_root_ca("p384 root", "ec-p384")
    child = make_end_entity(p384, "child", "ec-p256")
    assert isinstance(child.cert.signature_hash_algorithm, hashes.SHA384)
    rsa_root = make_root_ca("rsa root", "rsa-2048")
    assert isinstance(rsa_root.cert.signature_hash_algorithm, hashes.SHA256)
    assert rsa_root.cert.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.11"


def test_default_validity_window() -> None:
    now = dt.datetime.now(dt.UTC)
    root = make_root_ca("validity root")
    assert abs(root.cert.not_valid_before_utc - (now - dt.timedelta(days=1))) < dt.timedelta(
        minutes=1
    )
    assert abs(root.cert.not_valid_after_utc - (now + dt.timedelta(days=3650))) < dt.timedelta(
        minutes=1
    )
    fixed = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    pki = make_lab_pki(now=fixed)
    assert pki.owner_certificate.cert.not_valid_before_utc == fixed - dt.timedelta(days=1)
    assert pki.idevid("SN-FIXED").cert.not_valid_after_utc == fixed + dt.timedelta(days=3650)


def test_end_entity_options(ec_pki: LabPKI) -> None:
    ee = make_end_entity(
        ec_pki.owner_intermediate,
        "server.example",
        serial_number="XYZ-1",
        key_usage={"digital_signature", "key_encipherment"},
        extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        dns_names=["server.example"],
        ip_addresses=["192.0.2.7", "2001:db8::7"],
    )
    assert ee.cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "XYZ-1"
    assert ee.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "server.example"
    )
    ku = _ext(ee.cert, x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment and not ku.key_agreement
    assert list(_ext(ee.cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = _ext(ee.cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["server.example"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("192.0.2.7"),
        ipaddress.ip_address("2001:db8::7"),
    ]

    bare = make_end_entity(ec_pki.owner_intermediate, "no key usage", key_usage=None)
    with pytest.raises(x509.ExtensionNotFound):
        _ext(bare.cert, x509.KeyUsage)

    with pytest.raises(ValueError, match="unknown key usage"):
        make_end_entity(ec_pki.owner_intermediate, "bad", key_usage={"sign_everything"})


def test_self_signed_end_entity() -> None:
    ee = make_end_entity(None, "self signed owner", self_signed=True)
    ee.cert.verify_directly_issued_by(ee.cert)
    assert ee.cert.issuer == ee.cert.subject
    assert not _ext(ee.cert, x509.BasicConstraints).value.ca
    with pytest.raises(x509.ExtensionNotFound):
        _ext(ee.cert, x509.AuthorityKeyIdentifier)
    assert ee.chain == ()
    assert ee.trust_anchor is ee.cert


def test_deeper_chain_and_path_length() -> None:
    root = make_root_ca("deep root")
    mid = make_intermediate_ca(root, "mid", path_length=1)
    low = make_intermediate_ca(mid, "low", path_length=0)
    ee = make_end_entity(low, "leaf")
    assert ee.chain == (low.cert, mid.cert)
    assert ee.trust_anchor == root.cert
    assert _ext(mid.cert, x509.BasicConstraints).value.path_length == 1
    ee.cert.verify_directly_issued_by(low.cert)
    low.cert.verify_directly_issued_by(mid.cert)
    assert b"BEGIN CERTIFICATE" in ee.pem_chain(include_root=True)
    assert ee.pem_chain(include_root=True).count(b"BEGIN CERTIFICATE") == 4


def test_idevid(pki: LabPKI) -> None:
    dev = pki.idevid("SN-0001")
    assert pki.idevid("SN-0001") is dev
    assert pki.idevid("SN-0002") is not dev
    subject = dev.cert.subject
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "SN-0001"
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "SN-0001"
    ku = _ext(dev.cert, x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment
    dev.cert.verify_directly_issued_by(pki.idevid_ca.cert)
    ski = _ext(pki.idevid_ca.cert, x509.SubjectKeyIdentifier).value.digest
    assert artifacts.idevid_issuer_of(dev.cert) == ski
    other_type: KeyType = "ec-p256" if pki.key_type != "ec-p256" else "rsa-2048"
    other = pki.idevid("SN-0001", other_type)
    assert other is not dev
    assert other.cert.subject == dev.cert.subject
    assert pki.idevid("SN-0001", other_type) is other


def test_crl(ec_pki: LabPKI) -> None:
    issuer = ec_pki.owner_intermediate
    crl = make_crl(issuer, [ec_pki.owner_certificate.cert.serial_number, 12345])
    assert crl.is_signature_valid(issuer.cert.public_key())  # type: ignore[arg-type]
    assert crl.issuer == issuer.cert.subject
    revoked = crl.get_revoked_certificate_by_serial_number(
        ec_pki.owner_certificate.cert.serial_number
    )
    assert revoked is not None
    assert crl.get_revoked_certificate_by_serial_number(999) is None
    assert crl.next_update_utc is not None and crl.next_update_utc > dt.datetime.now(dt.UTC)
    empty = make_crl(
        issuer,
        this_update=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        next_update=dt.datetime(2020, 2, 1, tzinfo=dt.UTC),
    )
    assert len(empty) == 0
    assert empty.next_update_utc == dt.datetime(2020, 2, 1, tzinfo=dt.UTC)


@pytest.mark.integration
@pytest.mark.subprocess
def test_openssl_accepts_the_certificate_profiles(pki: LabPKI, openssl: None) -> None:
    """openssl verify -x509_strict on every end entity (an independent profile check)."""
    import subprocess
    import tempfile
    from pathlib import Path

    for ee in (pki.voucher_signer, pki.owner_certificate, pki.idevid("SN-STRICT")):
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            (d / "root.pem").write_bytes(ee.trust_anchor.public_bytes(serialization.Encoding.PEM))
            (d / "chain.pem").write_bytes(ee.pem_chain(include_cert=False))
            (d / "ee.pem").write_bytes(ee.cert_pem())
            result = subprocess.run(
                [
                    "openssl",
                    "verify",
                    "-x509_strict",
                    "-CAfile",
                    str(d / "root.pem"),
                    "-untrusted",
                    str(d / "chain.pem"),
                    str(d / "ee.pem"),
                ],
                capture_output=True,
                check=False,
            )
            assert result.returncode == 0, result.stderr.decode()


# ---------------------------------------------------------------------------------------------
# CMS structure (asn1crypto only)


def test_content_info_is_an_octet_string_content() -> None:
    for alias, oid in (
        ("json", cms.OID_CONVEYED_INFO_JSON),
        ("xml", cms.OID_CONVEYED_INFO_XML),
        ("data", cms.OID_DATA),
        (cms.OID_CONVEYED_INFO_JSON, cms.OID_CONVEYED_INFO_JSON),
    ):
        der = cms.content_info(alias, b'{"k": 1}')
        info = acms.ContentInfo.load(der)
        assert info["content_type"].dotted == oid
        assert cms.inner_content(der) == (oid, b'{"k": 1}')
        assert info.dump() == der
    with pytest.raises(ValueError):
        cms.content_info("conveyed", b"")


def test_signed_data_structure(ec_pki: LabPKI) -> None:
    content = b'{"ietf-sztp-conveyed-info:redirect-information": {}}'
    der = cms.sign(content, "json", ec_pki.owner_certificate)
    signed = _signed_data(der)
    assert signed["version"].native == "v3"
    encap = signed["encap_content_info"]
    assert encap["content_type"].dotted == cms.OID_CONVEYED_INFO_JSON
    assert encap["content"].native == content
    assert sorted(_cert_subjects(signed)) == sorted(_der(c) for c in ec_pki.owner_certificate.path)
    (si,) = signed["signer_infos"]
    assert si["version"].native == "v1"
    assert si["sid"].name == "issuer_and_serial_number"
    assert si["sid"].chosen["serial_number"].native == (ec_pki.owner_certificate.cert.serial_number)
    assert si["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    attrs = {a["type"].native: a["values"][0] for a in si["signed_attrs"]}
    assert set(attrs) == {"content_type", "message_digest", "signing_time"}
    assert attrs["content_type"].dotted == cms.OID_CONVEYED_INFO_JSON
    assert attrs["message_digest"].native == hashlib.sha256(content).digest()


def test_signed_data_variants(rsa_pki: LabPKI) -> None:
    owner = rsa_pki.owner_certificate
    plain = _signed_data(cms.sign(b"x", "data", owner))
    assert plain["version"].native == "v1"
    assert plain["signer_infos"][0]["signature_algorithm"]["algorithm"].dotted == (
        "1.2.840.113549.1.1.1"
    )

    ski = _signed_data(cms.sign(b"x", "data", owner, sid="subject_key_identifier"))
    assert ski["version"].native == "v3"
    si = ski["signer_infos"][0]
    assert si["version"].native == "v3"
    assert si["sid"].chosen.native == _ext(owner.cert, x509.SubjectKeyIdentifier).value.digest

    pss = _signed_data(cms.sign(b"x", "voucher", owner, rsa_padding="pss", digest="sha384"))
    alg = pss["signer_infos"][0]["signature_algorithm"]
    assert alg["algorithm"].native == "rsassa_pss"
    assert alg["parameters"]["hash_algorithm"]["algorithm"].native == "sha384"
    assert alg["parameters"]["salt_length"].native == 48

    v1 = _signed_data(cms.sign(b"x", "json", owner, version1=True))
    assert v1["version"].native == "v1"
    assert v1["signer_infos"][0]["version"].native == "v1"
    assert v1["encap_content_info"]["content_type"].dotted == cms.OID_CONVEYED_INFO_JSON
    with pytest.raises(ValueError):
        cms.sign(b"x", "json", owner, version1=True, sid="subject_key_identifier")

    noattr = _signed_data(cms.sign(b"x", "json", owner, signed_attributes=False))
    assert not noattr["signer_infos"][0]["signed_attrs"]

    bare = _signed_data(cms.sign(b"x", "json", owner, certificates=[]))
    assert not bare["certificates"]

    crl = make_crl(rsa_pki.owner_intermediate, [1])
    with_crl = _signed_data(cms.sign(b"x", "json", owner, crls=[crl]))
    assert with_crl["crls"][0].chosen.dump() == crl.public_bytes(serialization.Encoding.DER)


def test_degenerate_structure(ec_pki: LabPKI) -> None:
    certs = [ec_pki.owner_certificate.cert, ec_pki.owner_intermediate.cert]
    crls = [make_crl(ec_pki.owner_intermediate), make_crl(ec_pki.owner_root, [7])]
    signed = _signed_data(cms.degenerate(certs, crls))
    assert signed["version"].native == "v1"
    assert len(signed["signer_infos"]) == 0
    assert len(signed["digest_algorithms"]) == 0
    encap = signed["encap_content_info"]
    assert encap["content_type"].dotted == cms.OID_DATA
    assert encap["content"].native is None
    assert sorted(_cert_subjects(signed)) == sorted(_der(c) for c in certs)
    assert len(signed["crls"]) == 2

    reversed_certs = list(reversed(certs))
    ordered = _signed_data(cms.degenerate(reversed_certs, keep_order=True))
    assert _cert_subjects(ordered) == [_der(c) for c in reversed_certs]


def test_tampering_helpers(ec_pki: LabPKI) -> None:
    der = cms.sign(b"original", "json", ec_pki.owner_certificate)
    tampered = _signed_data(cms.replace_econtent(der, b"modified"))
    original = _signed_data(der)
    assert tampered["encap_content_info"]["content"].native == b"modified"
    assert (
        tampered["signer_infos"][0]["signature"].native
        == original["signer_infos"][0]["signature"].native
    )

    device = ec_pki.idevid("SN-TAMPER")
    attack = _signed_data(
        cms.signed_wrapping_enveloped(b"{}", "json", device.cert, ec_pki.owner_certificate)
    )
    assert attack["encap_content_info"]["content_type"].dotted == cms.OID_ENVELOPED_DATA
    inner = acms.EnvelopedData.load(attack["encap_content_info"]["content"].contents)
    assert inner["encrypted_content_info"]["content_type"].dotted == cms.OID_CONVEYED_INFO_JSON

    ber = cms.ber_indefinite(der)
    assert ber[:2] == b"\x30\x80"
    reparsed = acms.ContentInfo.load(ber)
    assert reparsed["content"]["encap_content_info"]["content"].native == b"original"


def test_envelope_structure(ec_pki: LabPKI, rsa_pki: LabPKI) -> None:
    signed = cms.sign(b"{}", "json", ec_pki.owner_certificate)
    ec_dev = ec_pki.idevid("SN-ENV")
    env = cms.parse(cms.envelop_content_info(signed, ec_dev.cert))
    assert env["content_type"].dotted == cms.OID_ENVELOPED_DATA
    enveloped = env["content"]
    assert enveloped["version"].native == "v2"
    assert enveloped["recipient_infos"][0].name == "kari"
    eci = enveloped["encrypted_content_info"]
    assert eci["content_type"].dotted == cms.OID_SIGNED_DATA
    assert eci["content_encryption_algorithm"]["algorithm"].native == "aes256_cbc"

    rsa_dev = rsa_pki.idevid("SN-ENV")
    unsigned = cms.content_info("xml", b"<x/>")
    env = cms.parse(cms.envelop_content_info(unsigned, rsa_dev.cert, key_transport="pkcs1v15"))
    enveloped = env["content"]
    assert enveloped["version"].native == "v0"
    ktri = enveloped["recipient_infos"][0].chosen
    assert ktri["key_encryption_algorithm"]["algorithm"].native == "rsaes_pkcs1v15"
    assert enveloped["encrypted_content_info"]["content_type"].dotted == (cms.OID_CONVEYED_INFO_XML)


# ---------------------------------------------------------------------------------------------
# CMS checked by openssl


SIGN_VARIANTS: list[dict[str, object]] = [
    {},
    {"digest": "sha384"},
    {"digest": "sha512", "signed_attributes": False},
    {"sid": "subject_key_identifier"},
    {"version1": True},
]
RSA_VARIANTS: list[dict[str, object]] = [
    {"rsa_padding": "pss"},
    {"rsa_padding": "pss", "digest": "sha384", "signed_attributes": False},
]


@pytest.mark.integration
@pytest.mark.parametrize("content_type", ["json", "xml", "data", "voucher"])
@pytest.mark.subprocess
def test_openssl_verifies_lab_signatures(pki: LabPKI, content_type: str, openssl: None) -> None:
    variants = SIGN_VARIANTS + (RSA_VARIANTS if pki.key_type.startswith("rsa") else [])
    content = b'{"anything": "at all"}'
    for variant in variants:
        der = cms.sign(content, content_type, pki.owner_certificate, **variant)  # type: ignore[arg-type]
        assert openssl_verify(der, [pki.owner_root.cert]) == content, variant


@pytest.mark.integration
@pytest.mark.subprocess
def test_openssl_rejects_tampered_lab_signatures(ec_pki: LabPKI, openssl: None) -> None:
    for variant in ({}, {"signed_attributes": False}, {"version1": True}):
        der = cms.sign(b"original", "json", ec_pki.owner_certificate, **variant)  # type: ignore[arg-type]
        openssl_verify(der, [ec_pki.owner_root.cert])
        with pytest.raises(OpenSSLError):
            openssl_verify(cms.replace_econtent(der, b"modified"), [ec_pki.owner_root.cert])
    # a chain to another root does not verify
    der = cms.sign(b"x", "json", ec_pki.owner_certificate)
    with pytest.raises(OpenSSLError):
        openssl_verify(der, [ec_pki.manufacturer_root.cert])
    # BER with indefinite lengths still verifies (same signed bytes)
    assert openssl_verify(cms.ber_indefinite(der), [ec_pki.owner_root.cert]) == b"x"


@pytest.mark.integration
@pytest.mark.subprocess
def test_openssl_decrypts_lab_envelopes(pki: LabPKI, openssl: None) -> None:
    device = pki.idevid("SN-DECRYPT")
    options: list[dict[str, object]] = [{}, {"cipher": "aes-128-cbc"}]
    options.append({"rid": "subject_key_identifier"})
    if pki.key_type.startswith("rsa"):
        options.append({"key_transport": "pkcs1v15"})
    for option in options:
        env = cms.envelop(b"plaintext", "json", device.cert, **option)  # type: ignore[arg-type]
        assert openssl_decrypt(env, device.cert, device.key) == b"plaintext", option

    # sign-then-encrypt: the plaintext is the SignedData, which openssl verifies once rewrapped
    signed = cms.sign(b"{}", "json", pki.owner_certificate)
    env = cms.envelop_content_info(signed, device.cert)
    plain = openssl_decrypt(env, device.cert, device.key)
    rewrapped = acms.ContentInfo(
        {"content_type": "signed_data", "content": acms.SignedData.load(plain)}
    ).dump()
    assert openssl_verify(rewrapped, [pki.owner_root.cert]) == b"{}"


@pytest.mark.integration
@pytest.mark.parametrize(
    "econtent_type",
    [cms.OID_CONVEYED_INFO_JSON, cms.OID_CONVEYED_INFO_XML, cms.OID_VOUCHER, cms.OID_DATA],
)
@pytest.mark.subprocess
def test_openssl_producer_output(pki: LabPKI, econtent_type: str, openssl: None) -> None:
    owner = pki.owner_certificate
    variants: list[dict[str, object]] = [{}, {"md": "sha384"}, {"noattr": True}]
    if pki.key_type.startswith("rsa"):
        variants += [{"rsa_pss": True}, {"rsa_pss": True, "pss_saltlen": "digest"}]
    for variant in variants:
        der = openssl_sign(b"content", econtent_type, owner.cert, owner.key, owner.chain, **variant)  # type: ignore[arg-type]
        signed = _signed_data(der)
        assert signed["encap_content_info"]["content_type"].dotted == econtent_type
        assert signed["encap_content_info"]["content"].native == b"content"
        subjects = _cert_subjects(signed)
        assert _der(owner.cert) in subjects
        assert _der(pki.owner_intermediate.cert) in subjects
        attrs = signed["signer_infos"][0]["signed_attrs"]
        assert bool(attrs) is not variant.get("noattr", False)
        if variant.get("rsa_pss"):
            alg = signed["signer_infos"][0]["signature_algorithm"]
            assert alg["algorithm"].native == "rsassa_pss"
        assert openssl_verify(der, [pki.owner_root.cert]) == b"content"

    bare = _signed_data(openssl_sign(b"c", econtent_type, owner.cert, owner.key, nocerts=True))
    assert not bare["certificates"]


@pytest.mark.integration
@pytest.mark.subprocess
def test_openssl_degenerate_output(ec_pki: LabPKI, openssl: None) -> None:
    certs = [
        ec_pki.owner_root.cert,
        ec_pki.owner_certificate.cert,
        ec_pki.owner_intermediate.cert,
    ]
    signed = _signed_data(openssl_degenerate(certs))
    assert _cert_subjects(signed) == [_der(c) for c in certs]  # order kept
    assert len(signed["signer_infos"]) == 0
    assert not signed["crls"]
    assert signed["encap_content_info"]["content_type"].dotted == cms.OID_DATA

    crl = make_crl(ec_pki.owner_intermediate, [3])
    with_crl = _signed_data(openssl_degenerate(certs[:1], [crl]))
    assert [c.chosen.dump() for c in with_crl["crls"]] == [
        crl.public_bytes(serialization.Encoding.DER)
    ]
    with pytest.raises(ValueError, match="one CRL"):
        openssl_degenerate(certs, [crl, make_crl(ec_pki.owner_root)])


@pytest.mark.integration
@pytest.mark.subprocess
def test_openssl_encrypt_output(pki: LabPKI, openssl: None) -> None:
    device = pki.idevid("SN-OPENSSL-ENC")
    options: list[dict[str, object]] = [{}, {"cipher": "des-ede3-cbc"}]
    if pki.key_type.startswith("rsa"):
        options.append({"rsa_oaep": True})
    else:
        options.append({"ecdh_kdf_md": "sha256"})
    for option in options:
        der = openssl_encrypt(b"secret", device.cert, **option)  # type: ignore[arg-type]
        enveloped = cms.parse(der)["content"]
        assert enveloped["encrypted_content_info"]["content_type"].dotted == cms.OID_DATA
        assert openssl_decrypt(der, device.cert, device.key) == b"secret"


# ---------------------------------------------------------------------------------------------
# SZTP artifacts


def test_voucher_json() -> None:
    pki = make_lab_pki(now=dt.datetime(2030, 5, 6, 7, 8, 9, tzinfo=dt.UTC))
    dev = pki.idevid("SN-V")
    doc = json.loads(
        artifacts.voucher_json(
            serial_number="SN-V",
            pinned_domain_cert=pki.owner_root.cert,
            created_on=pki.now,
            expires_on=pki.now + dt.timedelta(days=1),
            nonce=b"0123456789abcdef",
            idevid_issuer=artifacts.idevid_issuer_of(dev.cert),
            domain_cert_revocation_checks="true",
            last_renewal_date="2031-01-01T00:00:00Z",
            extra={"ietf-voucher:unknown": 1},
        )
    )
    v = doc["ietf-voucher:voucher"]
    assert v["created-on"] == "2030-05-06T07:08:09Z"
    assert v["expires-on"] == "2030-05-07T07:08:09Z"
    assert v["assertion"] == "verified"
    assert v["serial-number"] == "SN-V"
    assert base64.b64decode(v["pinned-domain-cert"]) == _der(pki.owner_root.cert)
    assert base64.b64decode(v["nonce"]) == b"0123456789abcdef"
    assert base64.b64decode(v["idevid-issuer"]) == artifacts.idevid_issuer_of(dev.cert)
    assert v["domain-cert-revocation-checks"] == "true"
    assert v["last-renewal-date"] == "2031-01-01T00:00:00Z"
    assert v["ietf-voucher:unknown"] == 1

    short = json.loads(
        artifacts.voucher_json(
            serial_number="SN-V",
            pinned_domain_cert=b"\x30\x00",
            domain_cert_revocation_checks=False,
            omit=["assertion", "created-on"],
        )
    )["ietf-voucher:voucher"]
    assert set(short) == {"serial-number", "pinned-domain-cert", "domain-cert-revocation-checks"}
    assert short["domain-cert-revocation-checks"] is False


ONBOARDING = {
    "os_name": "VendorOS",
    "os_version": "17.2R1.6",
    "download_uris": ["https://images.example/os.img", "http://192.0.2.9/os.img"],
    "sha256": hashlib.sha256(b"image").digest(),
    "configuration_handling": "merge",
    "pre_script": b"#!/bin/sh\necho pre\n",
    "configuration": b"<config/>",
    "post_script": b"#!/bin/sh\necho post\n",
}


def test_onboarding_json() -> None:
    doc = json.loads(artifacts.onboarding_json(**ONBOARDING))  # type: ignore[arg-type]
    info = doc["ietf-sztp-conveyed-info:onboarding-information"]
    image = info["boot-image"]
    assert image["os-name"] == "VendorOS"
    assert image["download-uri"] == ONBOARDING["download_uris"]
    (check,) = image["image-verification"]
    assert check["hash-algorithm"] == "ietf-sztp-conveyed-info:sha-256"
    assert check["hash-value"] == ":".join(f"{b:02x}" for b in hashlib.sha256(b"image").digest())
    assert info["configuration-handling"] == "merge"
    assert base64.b64decode(info["pre-configuration-script"]) == ONBOARDING["pre_script"]
    assert base64.b64decode(info["configuration"]) == b"<config/>"
    assert base64.b64decode(info["post-configuration-script"]) == ONBOARDING["post_script"]

    minimal = json.loads(artifacts.onboarding_json(configuration_handling="replace"))
    assert minimal == {
        "ietf-sztp-conveyed-info:onboarding-information": {"configuration-handling": "replace"}
    }


def test_onboarding_xml() -> None:
    root = ElementTree.fromstring(artifacts.onboarding_xml(**ONBOARDING))  # type: ignore[arg-type]
    ns = {"c": CONVEYED_NS}
    assert root.tag == f"{{{CONVEYED_NS}}}onboarding-information"
    assert root.findtext("c:boot-image/c:os-version", namespaces=ns) == "17.2R1.6"
    uris = [e.text for e in root.findall("c:boot-image/c:download-uri", ns)]
    assert uris == ONBOARDING["download_uris"]
    alg = root.find("c:boot-image/c:image-verification/c:hash-algorithm", ns)
    assert alg is not None and alg.text is not None
    prefix, _, name = alg.text.partition(":")
    assert name == "sha-256"
    assert f"xmlns:{prefix}" in artifacts.onboarding_xml(**ONBOARDING).decode()  # type: ignore[arg-type]
    value = root.findtext("c:boot-image/c:image-verification/c:hash-value", namespaces=ns)
    assert value is not None and bytes.fromhex(value.replace(":", "")) == ONBOARDING["sha256"]
    assert base64.b64decode(root.findtext("c:configuration", namespaces=ns) or "") == (b"<config/>")


def test_redirect_documents(ec_pki: LabPKI) -> None:
    bag = artifacts.trust_anchor_bag(ec_pki.owner_intermediate)
    bag_certs = _cert_subjects(_signed_data(bag))
    assert sorted(bag_certs) == sorted(
        [_der(ec_pki.owner_intermediate.cert), _der(ec_pki.owner_root.cert)]
    )
    servers = [("sztp1.example.com", 8443, bag), ("2001:db8::1", None, None)]
    doc = json.loads(artifacts.redirect_json(servers))
    entries = doc["ietf-sztp-conveyed-info:redirect-information"]["bootstrap-server"]
    assert entries[0] == {
        "address": "sztp1.example.com",
        "port": 8443,
        "trust-anchor": base64.b64encode(bag).decode(),
    }
    assert entries[1] == {"address": "2001:db8::1"}

    root = ElementTree.fromstring(artifacts.redirect_xml(servers))
    ns = {"c": CONVEYED_NS}
    assert root.tag == f"{{{CONVEYED_NS}}}redirect-information"
    found = root.findall("c:bootstrap-server", ns)
    assert [e.findtext("c:address", namespaces=ns) for e in found] == [
        "sztp1.example.com",
        "2001:db8::1",
    ]
    assert found[0].findtext("c:port", namespaces=ns) == "8443"
    assert base64.b64decode(found[0].findtext("c:trust-anchor", namespaces=ns) or "") == bag
    assert found[1].find("c:port", ns) is None


@pytest.mark.parametrize(
    ("encoding", "oid"),
    [
        ("json", cms.OID_CONVEYED_INFO_JSON),
        ("xml", cms.OID_CONVEYED_INFO_XML),
        ("data", cms.OID_DATA),
    ],
)
def test_make_signed_set_content_types(ec_pki: LabPKI, encoding: str, oid: str) -> None:
    conveyed = artifacts.onboarding_json(configuration_handling="merge", configuration=b"x")
    nonce = b"n" * 16
    result = artifacts.make_signed_set(
        ec_pki,
        "SN-SET",
        conveyed,
        encoding=encoding,
        nonce=nonce,  # type: ignore[arg-type]
    )
    assert result.owner_certificate is not None and result.ownership_voucher is not None

    ci = _signed_data(result.conveyed_information)
    assert ci["encap_content_info"]["content_type"].dotted == oid
    assert ci["encap_content_info"]["content"].native == conveyed
    assert ci["signer_infos"][0]["sid"].chosen["serial_number"].native == (
        ec_pki.owner_certificate.cert.serial_number
    )

    oc = _signed_data(result.owner_certificate)
    assert len(oc["signer_infos"]) == 0
    assert sorted(_cert_subjects(oc)) == sorted(
        [_der(ec_pki.owner_certificate.cert), _der(ec_pki.owner_intermediate.cert)]
    )

    ov = _signed_data(result.ownership_voucher)
    assert ov["encap_content_info"]["content_type"].dotted == cms.OID_VOUCHER
    assert sorted(_cert_subjects(ov)) == sorted(
        [_der(ec_pki.voucher_signer.cert), _der(ec_pki.manufacturer_intermediate.cert)]
    )
    voucher = json.loads(ov["encap_content_info"]["content"].native)["ietf-voucher:voucher"]
    assert voucher["serial-number"] == "SN-SET"
    assert voucher["assertion"] == "verified"
    assert base64.b64decode(voucher["nonce"]) == nonce
    assert base64.b64decode(voucher["pinned-domain-cert"]) == _der(ec_pki.owner_root.cert)
    assert "expires-on" not in voucher


def test_make_signed_set_options(ec_pki: LabPKI) -> None:
    other_owner = make_end_entity(None, "self-signed owner", self_signed=True)
    crl = make_crl(ec_pki.owner_intermediate, [42])
    result = artifacts.make_signed_set(
        ec_pki,
        "SN-OPT",
        b"<x/>",
        encoding="xml",
        owner=other_owner,
        pinned_domain_cert=other_owner.cert,
        owner_crls=[crl],
        assertion="logged",
        expires_on=dt.datetime(2040, 1, 1, tzinfo=dt.UTC),
        domain_cert_revocation_checks=True,
        idevid_issuer=b"\x01\x02",
    )
    assert result.owner_certificate is not None and result.ownership_voucher is not None
    oc = _signed_data(result.owner_certificate)
    assert _cert_subjects(oc) == [_der(other_owner.cert)]
    assert len(oc["crls"]) == 1
    voucher = json.loads(
        _signed_data(result.ownership_voucher)["encap_content_info"]["content"].native
    )
    v = voucher["ietf-voucher:voucher"]
    assert v["assertion"] == "logged"
    assert v["expires-on"] == "2040-01-01T00:00:00Z"
    assert v["domain-cert-revocation-checks"] is True
    assert base64.b64decode(v["idevid-issuer"]) == b"\x01\x02"
    assert base64.b64decode(v["pinned-domain-cert"]) == _der(other_owner.cert)


@pytest.mark.integration
@pytest.mark.subprocess
def test_openssl_verifies_a_signed_set(pki: LabPKI, openssl: None) -> None:
    conveyed = artifacts.redirect_json([("sztp.example", None, None)])
    result = artifacts.make_signed_set(pki, "SN-OSSL", conveyed)
    assert result.ownership_voucher is not None and result.owner_certificate is not None
    assert openssl_verify(result.conveyed_information, [pki.owner_root.cert]) == conveyed
    voucher = openssl_verify(result.ownership_voucher, [pki.voucher_root.cert])
    assert json.loads(voucher)["ietf-voucher:voucher"]["serial-number"] == "SN-OSSL"
    # openssl reads the owner-certificate artifact as a certificate bag
    listed = openssl_pkcs7_certs(result.owner_certificate)
    assert sorted(_der(c) for c in listed) == sorted(_der(c) for c in pki.owner_certificate.path)
