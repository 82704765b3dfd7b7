"""One test per attack on the trust core, named after the attack.

Each asserts the typed error, the step that refused the data, and (where the attack targets a
step after the first) that the honest variant of the same data is accepted, so the test cannot
pass for the wrong reason.  The device-side effects (nothing written, run or committed) are
asserted by the session tests; the trust core does no I/O.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from sztp_client.errors import DataError, SourceTrustError, TrustError
from sztp_client.model.voucher import Assertion
from sztp_client.trust import oids
from sztp_client.trust.clock import Clock
from sztp_client.trust.sources import SourceKind
from sztp_client.trust.verifier import Artifacts, DeviceIdentity
from sztp_lab import cms as lab_cms
from sztp_lab.artifacts import (
    SignedSet,
    make_signed_set,
    onboarding_json,
    redirect_json,
    voucher_json,
)
from sztp_lab.pki import LabPKI, make_crl, make_end_entity, make_lab_pki, make_root_ca
from tests.support import ONBOARDING, SERIAL, device_of, verify

NONCE = bytes(range(16, 48))


@pytest.fixture(scope="module", params=["ec-p256", "rsa-2048"])
def pki(request: pytest.FixtureRequest) -> LabPKI:
    return make_lab_pki(request.param)


@pytest.fixture(scope="module")
def good(pki: LabPKI) -> SignedSet:
    return make_signed_set(pki, SERIAL, ONBOARDING)


def refused(pki: LabPKI, data: SignedSet | Artifacts, step: str, **kwargs: object) -> DataError:
    with pytest.raises(DataError) as info:
        verify(pki, data, **kwargs)  # type: ignore[arg-type]
    assert info.value.step == step, f"{info.value.step}: {info.value}"
    assert str(info.value)
    return info.value


def replace(signed: SignedSet, **parts: bytes | None) -> Artifacts:
    return Artifacts(
        conveyed_information=parts.get("conveyed_information", signed.conveyed_information) or b"",
        owner_certificate=parts.get("owner_certificate", signed.owner_certificate),
        ownership_voucher=parts.get("ownership_voucher", signed.ownership_voucher),
    )


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_honest_signed_onboarding_is_accepted(pki: LabPKI, good: SignedSet) -> None:
    """R-027..R-038: the baseline every attack below departs from."""
    verified = verify(pki, good)
    assert verified.signed
    assert verified.voucher is not None and verified.voucher.serial_number == SERIAL


def test_wrong_serial_number(pki: LabPKI) -> None:
    """R-032: a voucher for another device is refused."""
    other = make_signed_set(pki, "SN-SOMEONE-ELSE", ONBOARDING)
    err = refused(pki, other, "voucher-serial-number")
    assert isinstance(err, TrustError)
    assert "SN-SOMEONE-ELSE" in str(err)


def test_unknown_voucher_signer(pki: LabPKI) -> None:
    """R-029, R-006: a voucher signed under a CA that is not a manufacturer trust anchor."""
    rogue = make_lab_pki(pki.key_type)
    signed = make_signed_set(pki, SERIAL, ONBOARDING, voucher_signer=rogue.voucher_signer)
    refused(pki, signed, "voucher-signature")


def test_tampered_voucher(pki: LabPKI, good: SignedSet) -> None:
    """R-029: a voucher whose content was changed after signing to pin the attacker's CA."""
    assert good.ownership_voucher is not None
    attacker = make_root_ca("Attacker Root", pki.key_type)
    forged = voucher_json(serial_number=SERIAL, pinned_domain_cert=attacker.cert)
    tampered = lab_cms.replace_econtent(good.ownership_voucher, forged)
    assert tampered != good.ownership_voucher
    err = refused(pki, replace(good, ownership_voucher=tampered), "voucher-signature")
    assert "digest" in str(err)


def test_voucher_missing_intermediate(pki: LabPKI) -> None:
    """R-029: the voucher CMS lacks the manufacturer intermediate, so no path exists."""
    content = voucher_json(serial_number=SERIAL, pinned_domain_cert=pki.owner_root.cert)
    voucher = lab_cms.sign(
        content,
        oids.ID_CT_ANIMA_JSON_VOUCHER,
        pki.voucher_signer,
        certificates=[pki.voucher_signer.cert],
    )
    signed = make_signed_set(pki, SERIAL, ONBOARDING)
    err = refused(pki, replace(signed, ownership_voucher=voucher), "voucher-signature")
    assert "path" in str(err) or "intermediate" in str(err)


def test_owner_certificate_missing_intermediate(pki: LabPKI, good: SignedSet) -> None:
    """R-035, R-047: the owner-certificate CMS lacks the owner intermediate."""
    bag = lab_cms.degenerate([pki.owner_certificate.cert])
    refused(pki, replace(good, owner_certificate=bag), "owner-certificate")


def test_owner_certificate_outside_pinned_domain(pki: LabPKI) -> None:
    """R-035: the voucher pins another owner's root."""
    stranger = make_root_ca("Some Other Owner Root", pki.key_type)
    signed = make_signed_set(pki, SERIAL, ONBOARDING, pinned_domain_cert=stranger.cert)
    refused(pki, signed, "owner-certificate")


def test_conveyed_information_signed_by_another_owner_ca_certificate(pki: LabPKI) -> None:
    """R-038: signed by a sibling certificate of the same owner CA, not the owner certificate.

    The sibling's certificate is even embedded in the conveyed-information CMS: it must not
    count.
    """
    sibling = make_end_entity(pki.owner_intermediate, "Sibling", pki.key_type)
    good = make_signed_set(pki, SERIAL, ONBOARDING)
    forged = lab_cms.sign(ONBOARDING, oids.ID_CT_SZTP_CONVEYED_INFO_JSON, sibling)
    refused(pki, replace(good, conveyed_information=forged), "conveyed-information-signature")


def test_tampered_conveyed_information(pki: LabPKI, good: SignedSet) -> None:
    """R-038: content changed after signing (a different configuration)."""
    evil = onboarding_json(configuration_handling="replace", configuration=b"<evil/>")
    tampered = lab_cms.replace_econtent(good.conveyed_information, evil)
    refused(pki, replace(good, conveyed_information=tampered), "conveyed-information-signature")


def test_owner_key_usage_without_digital_signature(pki: LabPKI) -> None:
    """R-037: an owner certificate whose KeyUsage lacks digitalSignature may not sign."""
    owner = make_end_entity(
        pki.owner_intermediate, "Encipher Only", pki.key_type, key_usage={"key_encipherment"}
    )
    signed = make_signed_set(pki, SERIAL, ONBOARDING, owner=owner)
    refused(pki, signed, "owner-key-usage")


def test_owner_certificate_without_key_usage_is_accepted(pki: LabPKI) -> None:
    """R-037: no KeyUsage extension at all is allowed."""
    owner = make_end_entity(pki.owner_intermediate, "No KU", pki.key_type, key_usage=None)
    assert verify(pki, make_signed_set(pki, SERIAL, ONBOARDING, owner=owner)).signed


def test_missing_voucher(pki: LabPKI, good: SignedSet) -> None:
    """R-028: signed data without its voucher."""
    refused(pki, replace(good, ownership_voucher=None), "consistency")


def test_missing_owner_certificate(pki: LabPKI, good: SignedSet) -> None:
    """R-028: signed data without its owner certificate."""
    refused(pki, replace(good, owner_certificate=None), "consistency")


def test_owner_certificate_and_voucher_with_unsigned_data(pki: LabPKI, good: SignedSet) -> None:
    """R-028: an owner certificate and voucher beside unsigned data is inconsistent."""
    unsigned = lab_cms.content_info(oids.ID_CT_SZTP_CONVEYED_INFO_JSON, ONBOARDING)
    refused(pki, replace(good, conveyed_information=unsigned), "consistency")


@pytest.mark.parametrize(
    "source",
    [
        SourceKind.REMOVABLE_STORAGE,
        SourceKind.DHCP,
        SourceKind.DNS,
        SourceKind.UNTRUSTED_SERVER,
    ],
)
def test_unsigned_onboarding_from_untrusted_source(pki: LabPKI, source: SourceKind) -> None:
    """R-023, R-025, R-102, R-109, R-111: unsigned onboarding from an untrusted source."""
    unsigned = Artifacts(lab_cms.content_info(oids.ID_CT_SZTP_CONVEYED_INFO_JSON, ONBOARDING))
    err = refused(pki, unsigned, "source", source=source)
    assert isinstance(err, SourceTrustError)
    # the same data from a trusted bootstrap server is acceptable
    assert not verify(pki, unsigned, source=SourceKind.TRUSTED_SERVER).signed


def test_expired_voucher_under_trusted_clock(pki: LabPKI) -> None:
    """R-030, R-117, D10: expires-on passed is refused under a trusted clock only."""
    expired = pki.now - dt.timedelta(hours=1)
    signed = make_signed_set(pki, SERIAL, ONBOARDING, expires_on=expired)
    refused(pki, signed, "voucher-validity", clock=Clock.trusted_at(pki.now))
    assert verify(pki, signed, clock=Clock.untrusted()).signed


def test_not_yet_valid_voucher_under_trusted_clock(pki: LabPKI) -> None:
    """R-030, D10: a voucher created in the future is refused under a trusted clock only."""
    signed = make_signed_set(pki, SERIAL, ONBOARDING, created_on=pki.now + dt.timedelta(days=2))
    refused(pki, signed, "voucher-validity", clock=Clock.trusted_at(pki.now))
    assert verify(pki, signed, clock=Clock.untrusted()).signed


def test_expired_owner_certificate_under_trusted_clock(pki: LabPKI) -> None:
    """R-115, D10: an owner certificate past notAfter, trusted clock refuses, untrusted not."""
    owner = make_end_entity(
        pki.owner_intermediate,
        "Expired Owner",
        pki.key_type,
        not_before=pki.now - dt.timedelta(days=30),
        not_after=pki.now - dt.timedelta(days=1),
    )
    signed = make_signed_set(pki, SERIAL, ONBOARDING, owner=owner)
    refused(pki, signed, "owner-certificate", clock=Clock.trusted_at(pki.now))
    assert verify(pki, signed, clock=Clock.untrusted()).signed


def test_nonce_mismatch(pki: LabPKI) -> None:
    """R-034, R-118: a nonce voucher for another request (replay)."""
    signed = make_signed_set(pki, SERIAL, ONBOARDING, nonce=NONCE)
    refused(pki, signed, "voucher-nonce", nonce=os.urandom(32))
    assert verify(pki, signed, nonce=NONCE).signed


def test_nonce_voucher_with_no_nonce_sent(pki: LabPKI) -> None:
    """R-034, D10: a nonce voucher when the device sent no nonce."""
    signed = make_signed_set(pki, SERIAL, ONBOARDING, nonce=NONCE)
    refused(pki, signed, "voucher-nonce", nonce=None)


def test_disallowed_assertion(pki: LabPKI) -> None:
    """R-031, D11: 'proximity' is not accepted by default; 'logged' is refused if excluded."""
    proximity = make_signed_set(pki, SERIAL, ONBOARDING, assertion="proximity")
    refused(pki, proximity, "voucher-assertion")
    logged = make_signed_set(pki, SERIAL, ONBOARDING, assertion="logged")
    refused(pki, logged, "voucher-assertion", assertions=[Assertion.VERIFIED])
    assert verify(pki, logged).signed


def test_idevid_issuer_mismatch(pki: LabPKI) -> None:
    """R-033: the voucher names another IDevID issuer."""
    signed = make_signed_set(pki, SERIAL, ONBOARDING, idevid_issuer=b"\x01" * 20)
    refused(pki, signed, "voucher-idevid-issuer")


def test_idevid_issuer_unknown_to_device(pki: LabPKI) -> None:
    """R-033: a voucher naming an idevid-issuer when the device cannot tell its own."""
    issuer = device_of(pki).idevid_issuer
    signed = make_signed_set(pki, SERIAL, ONBOARDING, idevid_issuer=issuer)
    assert verify(pki, signed).signed
    refused(pki, signed, "voucher-idevid-issuer", device=DeviceIdentity(SERIAL, None))


def test_voucher_missing_pinned_domain_cert(pki: LabPKI, good: SignedSet) -> None:
    """R-134, R-137: a voucher without pinned-domain-cert is unusable for SZTP."""
    content = voucher_json(
        serial_number=SERIAL, pinned_domain_cert=pki.owner_root.cert, omit=["pinned-domain-cert"]
    )
    voucher = lab_cms.sign(content, oids.ID_CT_ANIMA_JSON_VOUCHER, pki.voucher_signer)
    refused(pki, replace(good, ownership_voucher=voucher), "voucher-content")


def test_both_redirect_and_onboarding(pki: LabPKI) -> None:
    """R-051: conveyed information with both choices is refused even when properly signed."""
    both = (
        b'{"ietf-sztp-conveyed-info:redirect-information": {"bootstrap-server": '
        b'[{"address": "sztp.example"}]}, "ietf-sztp-conveyed-info:onboarding-information": {}}'
    )
    signed = make_signed_set(pki, SERIAL, both)
    refused(pki, signed, "conveyed-information")


@pytest.mark.parametrize("cut", [1, 10, 100, -1])
def test_truncated_conveyed_information(pki: LabPKI, good: SignedSet, cut: int) -> None:
    """R-041: truncated CMS is refused at decoding."""
    data = good.conveyed_information[:cut]
    refused(pki, replace(good, conveyed_information=data), "decode")


def test_random_bytes(pki: LabPKI, good: SignedSet) -> None:
    """R-041: random bytes in every position."""
    noise = os.urandom(700)
    refused(pki, replace(good, conveyed_information=noise), "decode")
    refused(pki, replace(good, ownership_voucher=noise), "voucher-signature")
    refused(pki, replace(good, owner_certificate=noise), "owner-certificate")


def test_enveloped_data_inside_signed_data(pki: LabPKI) -> None:
    """R-046, D14: encrypt-then-sign is refused."""
    idevid = pki.idevid(SERIAL, "rsa-2048")
    attack = lab_cms.signed_wrapping_enveloped(
        ONBOARDING, oids.ID_CT_SZTP_CONVEYED_INFO_JSON, idevid.cert, pki.owner_certificate
    )
    good = make_signed_set(pki, SERIAL, ONBOARDING)
    refused(pki, replace(good, conveyed_information=attack), "decode")


def test_encrypted_data_without_device_identity(pki: LabPKI) -> None:
    """R-020: encrypted conveyed information cannot be judged without the device key."""
    idevid = pki.idevid(SERIAL, "rsa-2048")
    good = make_signed_set(pki, SERIAL, ONBOARDING)
    encrypted = lab_cms.envelop_content_info(good.conveyed_information, idevid.cert)
    err = refused(pki, replace(good, conveyed_information=encrypted), "decode")
    assert "identity" in str(err)


def test_voucher_with_conveyed_information_content_type(pki: LabPKI, good: SignedSet) -> None:
    """R-048: a signed blob of another content type passed off as a voucher."""
    content = voucher_json(serial_number=SERIAL, pinned_domain_cert=pki.owner_root.cert)
    voucher = lab_cms.sign(content, oids.ID_CT_SZTP_CONVEYED_INFO_JSON, pki.voucher_signer)
    refused(pki, replace(good, ownership_voucher=voucher), "voucher-signature")


def test_voucher_signed_by_owner_instead_of_manufacturer(pki: LabPKI, good: SignedSet) -> None:
    """R-029: the owner signs its own voucher."""
    content = voucher_json(serial_number=SERIAL, pinned_domain_cert=pki.owner_root.cert)
    voucher = lab_cms.sign(content, oids.ID_CT_ANIMA_JSON_VOUCHER, pki.owner_certificate)
    refused(pki, replace(good, ownership_voucher=voucher), "voucher-signature")


def test_voucher_signer_without_digital_signature(pki: LabPKI, good: SignedSet) -> None:
    """R-029: a manufacturer certificate whose KeyUsage forbids signing."""
    signer = make_end_entity(
        pki.manufacturer_intermediate, "Encipher", pki.key_type, key_usage={"key_encipherment"}
    )
    content = voucher_json(serial_number=SERIAL, pinned_domain_cert=pki.owner_root.cert)
    voucher = lab_cms.sign(content, oids.ID_CT_ANIMA_JSON_VOUCHER, signer)
    refused(pki, replace(good, ownership_voucher=voucher), "voucher-signature")


def test_owner_certificate_revoked(pki: LabPKI) -> None:
    """R-036, D22: revocation checks asked for and the owner certificate is revoked."""
    crl_int = make_crl(pki.owner_intermediate, [pki.owner_certificate.cert.serial_number])
    crl_root = make_crl(pki.owner_root)
    signed = make_signed_set(
        pki,
        SERIAL,
        ONBOARDING,
        owner_crls=[crl_int, crl_root],
        domain_cert_revocation_checks=True,
    )
    refused(pki, signed, "revocation")


def test_revocation_status_missing(pki: LabPKI) -> None:
    """R-036, D22: revocation checks asked for and no CRL carried."""
    signed = make_signed_set(pki, SERIAL, ONBOARDING, domain_cert_revocation_checks=True)
    refused(pki, signed, "revocation")


def test_crl_signed_by_impostor(pki: LabPKI) -> None:
    """D22: a CRL under the right issuer name but a foreign key does not count."""
    common_name = pki.owner_intermediate.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    impostor = make_root_ca(str(common_name[0].value), pki.key_type)
    assert impostor.cert.subject == pki.owner_intermediate.cert.subject
    fake = make_crl(impostor)
    root_crl = make_crl(pki.owner_root)
    signed = make_signed_set(
        pki, SERIAL, ONBOARDING, owner_crls=[fake, root_crl], domain_cert_revocation_checks=True
    )
    refused(pki, signed, "revocation")


def test_redirect_trust_anchor_accepted_only_when_signed(pki: LabPKI) -> None:
    """R-025, R-026: unsigned redirects are allowed from untrusted sources (provisionally)."""
    redirect = redirect_json([("sztp.example", 8443, None)])
    unsigned = Artifacts(lab_cms.content_info(oids.ID_CT_SZTP_CONVEYED_INFO_JSON, redirect))
    verified = verify(pki, unsigned, source=SourceKind.DNS)
    assert not verified.signed
    assert verified.kind.value == "redirect-information"


def test_pinned_owner_certificate_itself(pki: LabPKI) -> None:
    """R-035: the pinned-domain-cert is the self-signed owner certificate itself."""
    owner = make_end_entity(pki.owner_root, "Self Owner", pki.key_type, self_signed=True)
    signed = make_signed_set(pki, SERIAL, ONBOARDING, owner=owner, pinned_domain_cert=owner.cert)
    assert verify(pki, signed).owner_path == (owner.cert,)


def test_pinned_intermediate(pki: LabPKI) -> None:
    """R-035: the pinned-domain-cert is the owner intermediate, not the root."""
    signed = make_signed_set(
        pki, SERIAL, ONBOARDING, pinned_domain_cert=pki.owner_intermediate.cert
    )
    assert verify(pki, signed).owner_path[-1] == pki.owner_intermediate.cert
