"""CMS parsing and signer checks (R-041..R-049, D12..D14)."""

from __future__ import annotations

import pytest
from asn1crypto import cms as acms
from cryptography.hazmat.primitives.asymmetric import rsa

from sztp_client.errors import CMSError, EncryptedContentError, SizeLimitError
from sztp_client.trust import cms, cms_algorithms, cms_verify, oids
from sztp_lab import cms as lab_cms
from sztp_lab.pki import Issued, LabPKI, make_crl, make_end_entity, make_lab_pki

CONTENT = b'{"ietf-sztp-conveyed-info:redirect-information": {"bootstrap-server": []}}'
JSON_OID = oids.ID_CT_SZTP_CONVEYED_INFO_JSON


@pytest.fixture(scope="module", params=["ec-p256", "ec-p384", "rsa-2048"])
def pki(request: pytest.FixtureRequest) -> LabPKI:
    return make_lab_pki(request.param)


def check(der: bytes, signer: Issued) -> bytes:
    unwrapped = cms.unwrap(der, "test")
    assert isinstance(unwrapped, cms.Signed)
    sd = unwrapped.signed
    assert len(sd.signers) == 1
    assert sd.signers[0].identifies(signer.cert)
    return cms_verify.verify_signature(sd, sd.signers[0], signer.cert, "test")


@pytest.mark.parametrize("digest", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize("attrs", [True, False], ids=["signed-attrs", "no-signed-attrs"])
def test_signature_variants_verify(pki: LabPKI, digest: str, attrs: bool) -> None:
    """R-045, R-049, D12: every accepted digest, with and without signed attributes."""
    der = lab_cms.sign(
        CONTENT, JSON_OID, pki.owner_certificate, digest=digest, signed_attributes=attrs
    )  # type: ignore[arg-type]
    assert check(der, pki.owner_certificate) == CONTENT


def test_rsa_pss_verifies() -> None:
    """RSASSA-PSS signatures are accepted."""
    pki = make_lab_pki("rsa-2048")
    der = lab_cms.sign(CONTENT, JSON_OID, pki.owner_certificate, rsa_padding="pss")
    assert check(der, pki.owner_certificate) == CONTENT


def test_subject_key_identifier_signer(pki: LabPKI) -> None:
    """A SignerInfo naming its signer by subject key identifier."""
    der = lab_cms.sign(CONTENT, JSON_OID, pki.owner_certificate, sid="subject_key_identifier")
    assert check(der, pki.owner_certificate) == CONTENT


def test_pkcs7_version_1(pki: LabPKI) -> None:
    """R-049: PKCS#7-style CMSVersion 1 structures are accepted."""
    der = lab_cms.sign(CONTENT, oids.ID_DATA, pki.voucher_signer, version1=True)
    unwrapped = cms.unwrap(der, "test")
    assert isinstance(unwrapped, cms.Signed)
    assert unwrapped.signed.version == 1
    assert check(der, pki.voucher_signer) == CONTENT


def test_ber_indefinite_length_accepted(pki: LabPKI) -> None:
    """R-041, D13: BER with indefinite lengths parses and verifies."""
    der = lab_cms.sign(CONTENT, JSON_OID, pki.owner_certificate)
    ber = lab_cms.ber_indefinite(der)
    assert ber != der
    assert check(ber, pki.owner_certificate) == CONTENT


def test_message_digest_mismatch(pki: LabPKI) -> None:
    der = lab_cms.replace_econtent(
        lab_cms.sign(CONTENT, JSON_OID, pki.owner_certificate), CONTENT + b" "
    )
    with pytest.raises(cms_algorithms.SignatureFailure, match="digest"):
        check(der, pki.owner_certificate)


def test_tampered_content_without_signed_attributes(pki: LabPKI) -> None:
    der = lab_cms.sign(CONTENT, JSON_OID, pki.owner_certificate, signed_attributes=False)
    tampered = lab_cms.replace_econtent(der, CONTENT.replace(b"[]", b"[1]"))
    with pytest.raises(cms_algorithms.SignatureFailure, match="does not verify"):
        check(tampered, pki.owner_certificate)


def test_content_type_attribute_mismatch(pki: LabPKI) -> None:
    """RFC 5652 §11.1: the signed content-type attribute must equal the eContentType."""
    der = lab_cms.sign(CONTENT, JSON_OID, pki.owner_certificate)
    info = acms.ContentInfo.load(der)
    info["content"]["encap_content_info"]["content_type"] = oids.ID_CT_SZTP_CONVEYED_INFO_XML
    relabelled = info.dump(force=True)
    with pytest.raises(cms_algorithms.SignatureFailure, match="content-type attribute"):
        check(relabelled, pki.owner_certificate)


def test_wrong_key(pki: LabPKI) -> None:
    der = lab_cms.sign(CONTENT, JSON_OID, pki.owner_certificate)
    unwrapped = cms.unwrap(der, "test")
    assert isinstance(unwrapped, cms.Signed)
    sd = unwrapped.signed
    with pytest.raises(cms_algorithms.SignatureFailure):
        cms_verify.verify_signature(sd, sd.signers[0], pki.voucher_signer.cert, "test")


def test_short_rsa_key_refused() -> None:
    """Keys under 2048 bits are refused even when the signature is valid."""
    pki = make_lab_pki("rsa-2048")
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak = make_end_entity(pki.owner_intermediate, "Weak", "rsa-2048", key=weak_key)
    der = lab_cms.sign(CONTENT, JSON_OID, weak)
    with pytest.raises(cms_algorithms.SignatureFailure, match="2048"):
        check(der, weak)


def test_degenerate_signed_data(pki: LabPKI) -> None:
    """R-047: certificates and CRLs from a degenerate SignedData."""
    crl = make_crl(pki.owner_intermediate)
    der = lab_cms.degenerate(pki.owner_certificate.path, [crl])
    unwrapped = cms.unwrap(der, "owner-certificate")
    assert isinstance(unwrapped, cms.Signed)
    assert unwrapped.signed.degenerate
    assert set(unwrapped.signed.certificates) == set(pki.owner_certificate.path)
    assert unwrapped.signed.crls == (crl,)


@pytest.mark.parametrize(
    "oid", [oids.ID_DATA, oids.ID_CT_SZTP_CONVEYED_INFO_JSON, oids.ID_CT_SZTP_CONVEYED_INFO_XML]
)
def test_unsigned_content_types(oid: str) -> None:
    """R-042: unsigned conveyed information under each of the three content types."""
    unwrapped = cms.unwrap(lab_cms.content_info(oid, CONTENT), "test")
    assert unwrapped == cms.Plain(oid, CONTENT, encrypted=False)


def test_unsigned_content_not_an_octet_string() -> None:
    """R-042: the content of unsigned data must be an OCTET STRING."""
    der = acms.ContentInfo({"content_type": "data", "content": b"x"}).dump()
    bogus = der.replace(b"\x04\x01x", b"\x02\x01\x05")
    with pytest.raises(CMSError):
        cms.unwrap(bogus, "test")


def test_enveloped_data_needs_a_decryptor(pki: LabPKI) -> None:
    """R-020: encrypted data is recognised and refused without the device key."""
    idevid = pki.idevid("SN-1", "rsa-2048")
    der = lab_cms.envelop_content_info(lab_cms.content_info(JSON_OID, CONTENT), idevid.cert)
    with pytest.raises(EncryptedContentError, match="identity"):
        cms.unwrap(der, "test")


class _FakeDecryptor:
    """Stands in for the TPM: returns a fixed inner layer."""

    def __init__(self, content_type: str, plaintext: bytes) -> None:
        self.result = (content_type, plaintext)
        self.calls = 0

    def decrypt(self, content_type: str, der: bytes) -> tuple[str, bytes]:
        self.calls += 1
        assert content_type == oids.ID_ENVELOPED_DATA
        acms.EnvelopedData.load(der)  # what is passed is the EnvelopedData itself
        return self.result


def test_decryptor_interface_signed_inside(pki: LabPKI) -> None:
    """R-046: EnvelopedData → SignedData is unwrapped through the Decryptor interface."""
    signed = lab_cms.sign(CONTENT, JSON_OID, pki.owner_certificate)
    inner_type, inner = lab_cms.inner_content(signed)
    idevid = pki.idevid("SN-1", "rsa-2048")
    enveloped = lab_cms.envelop_content_info(signed, idevid.cert)
    decryptor = _FakeDecryptor(inner_type, inner)
    unwrapped = cms.unwrap(enveloped, "test", decryptor=decryptor)
    assert isinstance(unwrapped, cms.Signed) and unwrapped.encrypted
    assert decryptor.calls == 1


def test_size_bound() -> None:
    """D19: an artifact over its bound is refused before parsing."""
    with pytest.raises(SizeLimitError):
        cms.unwrap(b"\x30" * 2048, "test", max_size=1024)


def test_signature_algorithm_hash_must_match_digest() -> None:
    """A signatureAlgorithm implying another hash than digestAlgorithm is refused."""
    pki = make_lab_pki("ec-p384")
    der = lab_cms.sign(CONTENT, JSON_OID, pki.owner_certificate, digest="sha384")
    info = acms.ContentInfo.load(der)
    si = info["content"]["signer_infos"][0]
    si["digest_algorithm"] = {"algorithm": "sha512"}
    relabelled = info.dump(force=True)
    with pytest.raises(cms_algorithms.SignatureFailure, match="digest"):
        check(relabelled, pki.owner_certificate)


def test_decryptor_interface_unsigned_inside(pki: LabPKI) -> None:
    """R-044: EnvelopedData around unsigned conveyed information yields the plain content."""
    idevid = pki.idevid("SN-1", "rsa-2048")
    plain = lab_cms.content_info(JSON_OID, CONTENT)
    enveloped = lab_cms.envelop_content_info(plain, idevid.cert)
    unwrapped = cms.unwrap(enveloped, "test", decryptor=_FakeDecryptor(JSON_OID, CONTENT))
    assert unwrapped == cms.Plain(JSON_OID, CONTENT, encrypted=True)
