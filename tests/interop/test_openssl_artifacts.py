"""The verifier against artifacts made by the openssl command line, a producer we did not write.

Every artifact kind is made by openssl here (``cms -sign -econtent_type`` for conveyed
information and vouchers, ``crl2pkcs7`` for owner-certificate bags, ``cms -encrypt``), and
mixed with the lab's, RSA and ECDSA alike (R-041..R-049).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from sztp_client.cli.main import main
from sztp_client.errors import DataError, EncryptedContentError
from sztp_client.trust import oids
from sztp_client.trust.verifier import Artifacts
from sztp_lab.artifacts import make_signed_set, onboarding_xml, redirect_json, voucher_json
from sztp_lab.pki import LabPKI, make_crl, make_end_entity, make_lab_pki
from tests.conftest import require
from tests.helpers.openssl_cli import (
    openssl_available,
    openssl_degenerate,
    openssl_encrypt,
    openssl_sign,
)
from tests.support import ONBOARDING, SERIAL, verify

pytestmark = pytest.mark.integration

JSON = oids.ID_CT_SZTP_CONVEYED_INFO_JSON
XML = oids.ID_CT_SZTP_CONVEYED_INFO_XML
VOUCHER = oids.ID_CT_ANIMA_JSON_VOUCHER


@pytest.fixture(scope="module", autouse=True)
def _openssl() -> None:
    require(openssl_available(), "the openssl command line (Debian package openssl)")


@pytest.fixture(scope="module", params=["ec-p256", "ec-p384", "rsa-2048"])
def pki(request: pytest.FixtureRequest) -> LabPKI:
    return make_lab_pki(request.param)


@dataclass(frozen=True)
class OpenSSLSet:
    conveyed_information: bytes
    owner_certificate: bytes
    ownership_voucher: bytes

    def artifacts(self) -> Artifacts:
        return Artifacts(self.conveyed_information, self.owner_certificate, self.ownership_voucher)


def openssl_conveyed(
    pki: LabPKI, content: bytes = ONBOARDING, oid: str = JSON, **kw: object
) -> bytes:
    owner = pki.owner_certificate
    return openssl_sign(content, oid, owner.cert, owner.key, owner.chain, **kw)  # type: ignore[arg-type]


def openssl_voucher(pki: LabPKI, serial: str = SERIAL, **kw: object) -> bytes:
    content = voucher_json(
        serial_number=serial,
        pinned_domain_cert=kw.pop("pinned", pki.owner_root.cert),  # type: ignore[arg-type]
        domain_cert_revocation_checks=kw.pop("revocation", None),  # type: ignore[arg-type]
        nonce=kw.pop("nonce", None),  # type: ignore[arg-type]
    )
    signer = pki.voucher_signer
    return openssl_sign(content, VOUCHER, signer.cert, signer.key, signer.chain, **kw)  # type: ignore[arg-type]


def openssl_bag(pki: LabPKI, crls: tuple[object, ...] = ()) -> bytes:
    return openssl_degenerate(pki.owner_certificate.path, crls)  # type: ignore[arg-type]


def openssl_set(pki: LabPKI, **kw: object) -> OpenSSLSet:
    return OpenSSLSet(openssl_conveyed(pki, **kw), openssl_bag(pki), openssl_voucher(pki))


@pytest.mark.parametrize(
    ("content", "oid"),
    [
        (ONBOARDING, JSON),
        (onboarding_xml(os_name="LabOS", os_version="2.0"), XML),
        (ONBOARDING, oids.ID_DATA),
        (onboarding_xml(os_name="LabOS"), oids.ID_DATA),
    ],
    ids=["json", "xml", "id-data-json", "id-data-xml"],
)
def test_openssl_signed_set_accepted(pki: LabPKI, content: bytes, oid: str) -> None:
    """R-042, R-043, R-045, R-047, R-048: a set made entirely by openssl passes every step."""
    signed = OpenSSLSet(openssl_conveyed(pki, content, oid), openssl_bag(pki), openssl_voucher(pki))
    verified = verify(pki, signed.artifacts())
    assert verified.signed and verified.content_type == oid
    assert verified.owner_certificate == pki.owner_certificate.cert


@pytest.mark.parametrize("md", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize("noattr", [False, True], ids=["attrs", "noattr"])
def test_openssl_digest_and_attribute_variants(pki: LabPKI, md: str, noattr: bool) -> None:
    """R-049, D12: every accepted digest, with and without signed attributes (both artifacts)."""
    signed = OpenSSLSet(
        openssl_conveyed(pki, md=md, noattr=noattr),
        openssl_bag(pki),
        openssl_voucher(pki, md=md, noattr=noattr),
    )
    assert verify(pki, signed.artifacts()).signed


@pytest.mark.parametrize("saltlen", [None, "digest"], ids=["max-salt", "digest-salt"])
def test_openssl_rsa_pss(saltlen: str | None) -> None:
    """RSASSA-PSS from openssl, with its default (maximum) and digest-length salts."""
    pki = make_lab_pki("rsa-2048")
    signed = OpenSSLSet(
        openssl_conveyed(pki, rsa_pss=True, pss_saltlen=saltlen),
        openssl_bag(pki),
        openssl_voucher(pki, rsa_pss=True, pss_saltlen=saltlen),
    )
    assert verify(pki, signed.artifacts()).signed


def test_openssl_sha1_refused() -> None:
    """SHA-1 signatures are refused."""
    pki = make_lab_pki("rsa-2048")
    signed = OpenSSLSet(openssl_conveyed(pki), openssl_bag(pki), openssl_voucher(pki, md="sha1"))
    with pytest.raises(DataError) as info:
        verify(pki, signed.artifacts())
    assert info.value.step == "voucher-signature"


def test_mixed_producers(pki: LabPKI) -> None:
    """Lab conveyed information with an openssl voucher and owner bag, and the reverse."""
    lab = make_signed_set(pki, SERIAL, ONBOARDING)
    mixed1 = Artifacts(lab.conveyed_information, openssl_bag(pki), openssl_voucher(pki))
    assert verify(pki, mixed1).signed
    assert lab.owner_certificate is not None and lab.ownership_voucher is not None
    mixed2 = Artifacts(openssl_conveyed(pki), lab.owner_certificate, lab.ownership_voucher)
    assert verify(pki, mixed2).signed


def test_openssl_voucher_for_another_device(pki: LabPKI) -> None:
    """R-032 with an openssl-made voucher."""
    signed = OpenSSLSet(openssl_conveyed(pki), openssl_bag(pki), openssl_voucher(pki, "SN-X"))
    with pytest.raises(DataError) as info:
        verify(pki, signed.artifacts())
    assert info.value.step == "voucher-serial-number"


def test_openssl_conveyed_signed_by_sibling(pki: LabPKI) -> None:
    """R-038: openssl signs with another certificate of the owner CA."""
    sibling = make_end_entity(pki.owner_intermediate, "Sibling", pki.key_type)
    forged = openssl_sign(ONBOARDING, JSON, sibling.cert, sibling.key, sibling.chain)
    signed = Artifacts(forged, openssl_bag(pki), openssl_voucher(pki))
    with pytest.raises(DataError) as info:
        verify(pki, signed)
    assert info.value.step == "conveyed-information-signature"


def test_openssl_voucher_missing_intermediate(pki: LabPKI) -> None:
    """R-029: openssl voucher without the manufacturer intermediate (-certfile omitted)."""
    content = voucher_json(serial_number=SERIAL, pinned_domain_cert=pki.owner_root.cert)
    signer = pki.voucher_signer
    voucher = openssl_sign(content, VOUCHER, signer.cert, signer.key)
    with pytest.raises(DataError) as info:
        verify(pki, Artifacts(openssl_conveyed(pki), openssl_bag(pki), voucher))
    assert info.value.step == "voucher-signature"


@pytest.mark.parametrize("revoked", [False, True], ids=["not-revoked", "revoked"])
def test_openssl_bag_with_crl(pki: LabPKI, revoked: bool) -> None:
    """R-036, D22: a crl2pkcs7 bag carrying the intermediate's CRL; the voucher pins the
    intermediate and asks for revocation checks, so the owner certificate needs that CRL."""
    serials = [pki.owner_certificate.cert.serial_number] if revoked else []
    crl = make_crl(pki.owner_intermediate, serials)
    signed = Artifacts(
        openssl_conveyed(pki),
        openssl_degenerate(pki.owner_certificate.path, [crl]),
        openssl_voucher(pki, pinned=pki.owner_intermediate.cert, revocation=True),
    )
    if revoked:
        with pytest.raises(DataError) as info:
            verify(pki, signed)
        assert info.value.step == "revocation"
    else:
        assert verify(pki, signed).signed


def test_openssl_bag_without_crl_when_checks_requested(pki: LabPKI) -> None:
    """R-036, D22: revocation checks asked for, no CRL in the openssl bag."""
    signed = Artifacts(
        openssl_conveyed(pki),
        openssl_bag(pki),
        openssl_voucher(pki, pinned=pki.owner_intermediate.cert, revocation=True),
    )
    with pytest.raises(DataError) as info:
        verify(pki, signed)
    assert info.value.step == "revocation"


def test_openssl_nonce_voucher(pki: LabPKI) -> None:
    """R-034: an openssl-signed nonce voucher."""
    nonce = bytes(range(20))
    signed = Artifacts(openssl_conveyed(pki), openssl_bag(pki), openssl_voucher(pki, nonce=nonce))
    assert verify(pki, signed, nonce=nonce).signed
    with pytest.raises(DataError) as info:
        verify(pki, signed, nonce=bytes(20))
    assert info.value.step == "voucher-nonce"


def test_openssl_encrypted_refused_without_identity() -> None:
    """R-020, R-050: openssl's EnvelopedData is recognised as encrypted."""
    pki = make_lab_pki("rsa-2048")
    idevid = pki.idevid(SERIAL)
    encrypted = openssl_encrypt(redirect_json([("sztp.example", None, None)]), idevid.cert)
    with pytest.raises(EncryptedContentError):
        verify(pki, Artifacts(encrypted))


def test_cli_on_openssl_artifacts(
    pki: LabPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sztp-client verify` accepts an openssl-made set, given as DER and as PEM armour."""
    signed = openssl_set(pki)
    (tmp_path / "ci.pem").write_bytes(
        b"-----BEGIN CMS-----\n"
        + base64.encodebytes(signed.conveyed_information)
        + b"-----END CMS-----\n"
    )
    (tmp_path / "oc.der").write_bytes(signed.owner_certificate)
    (tmp_path / "ov.b64").write_bytes(base64.b64encode(signed.ownership_voucher))
    (tmp_path / "anchors.pem").write_bytes(
        pki.voucher_root.cert.public_bytes(serialization.Encoding.PEM)
    )
    (tmp_path / "idevid.pem").write_bytes(pki.idevid(SERIAL).cert_pem())
    code = main(
        [
            "verify",
            str(tmp_path / "ci.pem"),
            "--owner-certificate",
            str(tmp_path / "oc.der"),
            "--ownership-voucher",
            str(tmp_path / "ov.b64"),
            "--idevid-certificate",
            str(tmp_path / "idevid.pem"),
            "--voucher-signer-trust-anchors",
            str(tmp_path / "anchors.pem"),
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["acceptable"] and doc["signed"]
