"""The envelope decryptor on the lab's own envelopes (R-008, R-020, R-044, R-046, R-050, D14).

Every variant the lab producer writes opens; the RecipientInfo naming the device is found by
issuer and serial number or by subject key identifier; a sign-then-encrypt set of all three
artifacts goes through the real verification pipeline; and an envelope costs at most one
private-key operation however many RecipientInfos it carries (D28).
"""

from __future__ import annotations

from typing import Any

import pytest

from sztp_client.errors import ConfigurationError
from sztp_client.trust import cms, oids
from sztp_client.trust.envelope import (
    EnvelopeDecryptor,
    EnvelopeLimitError,
    FileRecipientKey,
    NotForThisDeviceError,
)
from sztp_client.trust.sources import SourceKind
from sztp_client.trust.verifier import Artifacts, verify_bootstrapping_data
from sztp_lab import cms as lab_cms
from sztp_lab import envelope
from sztp_lab.artifacts import make_signed_set
from sztp_lab.pki import LabPKI, make_lab_pki
from tests.helpers.envelopes import counted, file_key, open_envelope, unwrap
from tests.support import ONBOARDING, SERIAL, device_of, policy_of

JSON = oids.ID_CT_SZTP_CONVEYED_INFO_JSON
CONTENT = b'{"ietf-sztp-conveyed-info:onboarding-information": {}}'
CIPHERS = list(envelope._CIPHERS)


@pytest.fixture(scope="module")
def rsa_pki() -> LabPKI:
    return make_lab_pki("rsa-2048")


@pytest.fixture(scope="module")
def ec_pki() -> LabPKI:
    return make_lab_pki("ec-p256")


RSA_OPTIONS: list[dict[str, Any]] = [
    {"rsa_padding": "pkcs1v15"},
    {"oaep_hash": "sha1"},
    {"oaep_hash": "sha256"},
    {"oaep_hash": "sha384", "mgf1_hash": "sha1"},
    {"oaep_hash": "sha512"},
    {"rid": "subject_key_identifier"},
]
EC_OPTIONS: list[dict[str, Any]] = [
    {"kdf_hash": "sha1"},
    {"kdf_hash": "sha224"},
    {"kdf_hash": "sha256"},
    {"kdf_hash": "sha384"},
    {"kdf_hash": "sha512"},
    {"ukm": b"user keying material", "rid": "subject_key_identifier"},
]


@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize("options", RSA_OPTIONS, ids=repr)
def test_rsa_recipient_every_variant(rsa_pki: LabPKI, cipher: str, options: dict[str, Any]) -> None:
    """R-050: KeyTransRecipientInfo, PKCS#1 v1.5 and OAEP, for every content cipher."""
    idevid = rsa_pki.idevid(SERIAL)
    der = envelope.encrypt(CONTENT, JSON, idevid.cert, cipher=cipher, **options)  # type: ignore[arg-type]
    decryptor, key = counted(idevid)
    assert open_envelope(der, decryptor) == (JSON, CONTENT)
    assert (key.rsa_calls, key.ecdh_calls) == (1, 0)
    expected = "pkcs1v15" if options.get("rsa_padding") == "pkcs1v15" else "oaep"
    assert key.paddings[0].scheme == expected
    if expected == "oaep":
        hash_name = options.get("oaep_hash", "sha256")
        assert key.paddings[0].hash == hash_name
        assert key.paddings[0].mgf1_hash == options.get("mgf1_hash", hash_name)


@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize("options", EC_OPTIONS, ids=repr)
def test_ec_recipient_every_variant(ec_pki: LabPKI, cipher: str, options: dict[str, Any]) -> None:
    """R-050: KeyAgreeRecipientInfo, ECDH with the X9.63 KDF over every hash (RFC 5753)."""
    idevid = ec_pki.idevid(SERIAL)
    der = envelope.encrypt(CONTENT, JSON, idevid.cert, cipher=cipher, **options)  # type: ignore[arg-type]
    decryptor, key = counted(idevid)
    assert open_envelope(der, decryptor) == (JSON, CONTENT)
    assert (key.rsa_calls, key.ecdh_calls) == (0, 1)


@pytest.mark.parametrize("wrap", ["aes128_wrap", "aes192_wrap", "aes256_wrap"])
def test_every_aes_key_wrap(ec_pki: LabPKI, wrap: str) -> None:
    """RFC 3394 key wrap with a KEK of 128, 192 and 256 bits around an AES-256 content key."""
    idevid = ec_pki.idevid(SERIAL)
    der = envelope.encrypt(CONTENT, JSON, idevid.cert, key_wrap=wrap)  # type: ignore[arg-type]
    assert open_envelope(der, counted(idevid)[0]) == (JSON, CONTENT)


@pytest.mark.parametrize("icv", [12, 13, 16])
def test_gcm_icv_lengths(rsa_pki: LabPKI, icv: int) -> None:
    """RFC 5084: an ICV of 12 to 16 octets is checked at its length."""
    idevid = rsa_pki.idevid(SERIAL)
    der = envelope.encrypt(CONTENT, JSON, idevid.cert, cipher="aes-128-gcm", icv_length=icv)
    assert open_envelope(der, counted(idevid)[0]) == (JSON, CONTENT)


def test_the_other_lab_producer_too(rsa_pki: LabPKI, ec_pki: LabPKI) -> None:
    """sztp_lab.cms.envelop, the older producer, is opened as well (R-020)."""
    for pki in (rsa_pki, ec_pki):
        idevid = pki.idevid(SERIAL)
        for rid in ("issuer_and_serial", "subject_key_identifier"):
            der = lab_cms.envelop(CONTENT, "json", idevid.cert, rid=rid)  # type: ignore[arg-type]
            assert open_envelope(der, counted(idevid)[0]) == (JSON, CONTENT)


def test_unsigned_inside_unwraps_to_plain(rsa_pki: LabPKI) -> None:
    """R-044: an envelope around unsigned conveyed information gives the plain content."""
    idevid = rsa_pki.idevid(SERIAL)
    der = envelope.encrypt_artifact(lab_cms.content_info(JSON, CONTENT), idevid.cert)
    assert unwrap(der, counted(idevid)[0]) == cms.Plain(JSON, CONTENT, encrypted=True)


@pytest.mark.parametrize("key_type", ["rsa-2048", "ec-p256"])
@pytest.mark.parametrize("cipher", ["aes-256-cbc", "des-ede3-cbc", "aes-256-gcm"])
def test_sign_then_encrypt_set_through_the_pipeline(key_type: str, cipher: str) -> None:
    """R-020, R-046, D14: conveyed information, owner certificate and voucher, each a SignedData
    inside an envelope to the device's IDevID, pass the whole verification pipeline."""
    pki = make_lab_pki(key_type)  # type: ignore[arg-type]
    idevid = pki.idevid(SERIAL)
    signed = make_signed_set(pki, SERIAL, ONBOARDING)
    assert signed.owner_certificate is not None and signed.ownership_voucher is not None
    artifacts = Artifacts(
        envelope.encrypt_artifact(signed.conveyed_information, idevid.cert, cipher=cipher),
        envelope.encrypt_artifact(signed.owner_certificate, idevid.cert, cipher=cipher),
        envelope.encrypt_artifact(signed.ownership_voucher, idevid.cert, cipher=cipher),
    )
    decryptor, key = counted(idevid)
    verified = verify_bootstrapping_data(
        artifacts,
        device_of(pki),
        policy_of(pki),
        source=SourceKind.UNTRUSTED_SERVER,
        decryptor=decryptor,
    )
    assert verified.signed and verified.encrypted and verified.content_type == JSON
    assert verified.owner_certificate == pki.owner_certificate.cert
    assert key.operations == 3  # one private-key operation per artifact


def test_envelope_for_several_recipients_picks_the_device(rsa_pki: LabPKI) -> None:
    """R-008: among RecipientInfos for other devices, the one naming this IDevID is used, and
    only it costs a private-key operation."""
    others = [rsa_pki.idevid(f"SN-OTHER-{n}").cert for n in range(3)]
    ec_other = make_lab_pki("ec-p256").idevid("SN-EC").cert
    idevid = rsa_pki.idevid(SERIAL)
    der = envelope.encrypt(CONTENT, JSON, [*others, ec_other, idevid.cert])
    decryptor, key = counted(idevid)
    assert open_envelope(der, decryptor) == (JSON, CONTENT)
    assert key.operations == 1


@pytest.mark.parametrize("key_type", ["rsa-2048", "ec-p256"])
def test_worst_case_is_one_private_key_operation(key_type: str) -> None:
    """D28, measured: 16 RecipientInfos all naming the device (the bound) cost one private-key
    operation; 17 are refused before any."""
    pki = make_lab_pki(key_type)  # type: ignore[arg-type]
    idevid = pki.idevid(SERIAL)
    der = envelope.encrypt(CONTENT, JSON, [idevid.cert] * 16)
    decryptor, key = counted(idevid)
    assert open_envelope(der, decryptor) == (JSON, CONTENT)
    assert key.operations == 1
    der = envelope.encrypt(CONTENT, JSON, [idevid.cert] * 17)
    decryptor, key = counted(idevid)
    with pytest.raises(EnvelopeLimitError, match="17 RecipientInfos, over the limit of 16"):
        open_envelope(der, decryptor)
    assert key.operations == 0


def test_wrong_recipient_names_both_sides(rsa_pki: LabPKI) -> None:
    """R-008: encrypted to another certificate: NotForThisDeviceError names what the envelope
    names and what this device is, and no private-key operation is made."""
    other = rsa_pki.idevid("SN-SOMEONE-ELSE")
    idevid = rsa_pki.idevid(SERIAL)
    der = envelope.encrypt(CONTENT, JSON, other.cert)
    decryptor, key = counted(idevid)
    with pytest.raises(NotForThisDeviceError) as caught:
        open_envelope(der, decryptor)
    message = str(caught.value)
    assert message.startswith("not encrypted for this device")
    assert f"serial {other.cert.serial_number:x}" in message
    assert f"serial {idevid.cert.serial_number:x}" in message
    assert key.operations == 0


def test_wrong_recipient_by_key_identifier(ec_pki: LabPKI) -> None:
    """R-008: a subject key identifier naming another key is not this device."""
    other = ec_pki.idevid("SN-SOMEONE-ELSE")
    der = envelope.encrypt(CONTENT, JSON, other.cert, rid="subject_key_identifier")
    with pytest.raises(NotForThisDeviceError, match="subject key identifier"):
        open_envelope(der, counted(ec_pki.idevid(SERIAL))[0])


def test_wrong_recipient_in_the_pipeline_is_a_decode_refusal(rsa_pki: LabPKI) -> None:
    """R-008: the pipeline refuses it at its decode step, as a parsing-error DataError."""
    der = envelope.encrypt_artifact(
        lab_cms.content_info(JSON, CONTENT), rsa_pki.idevid("SN-SOMEONE-ELSE").cert
    )
    with pytest.raises(NotForThisDeviceError) as caught:
        verify_bootstrapping_data(
            Artifacts(der),
            device_of(rsa_pki),
            policy_of(rsa_pki),
            source=SourceKind.TRUSTED_SERVER,
            decryptor=counted(rsa_pki.idevid(SERIAL))[0],
        )
    assert caught.value.step == "decode"
    assert caught.value.progress_type is not None
    assert caught.value.progress_type.value == "parsing-error"


def test_file_key_must_belong_to_the_certificate(rsa_pki: LabPKI) -> None:
    """A key that is not the certificate's is a configuration error, found at set-up."""
    idevid = rsa_pki.idevid(SERIAL)
    other = rsa_pki.idevid("SN-OTHER")
    with pytest.raises(ConfigurationError, match="does not belong"):
        FileRecipientKey.from_pem(idevid.cert_pem(), other.key_pem())
    key = FileRecipientKey.from_pem(idevid.cert_pem(), idevid.key_pem())
    assert key.certificate == idevid.cert
    with pytest.raises(ConfigurationError, match="unreadable"):
        FileRecipientKey.from_pem(b"not a certificate", idevid.key_pem())


def test_size_bound(rsa_pki: LabPKI) -> None:
    """D19: an envelope over the decryptor's size bound is refused before it is parsed."""
    idevid = rsa_pki.idevid(SERIAL)
    der = envelope.encrypt(b"x" * 5000, JSON, idevid.cert)
    decryptor = EnvelopeDecryptor(file_key(idevid), max_size=4096)
    with pytest.raises(EnvelopeLimitError, match="over the limit of 4096"):
        open_envelope(der, decryptor)
