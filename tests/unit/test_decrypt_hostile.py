"""Hostile and broken envelopes: each a typed refusal, none a crash (R-008, R-020, R-050, D28).

Wrong recipient, corrupted and truncated envelopes, tampered GCM tags and attributes, refused
algorithm parameters (OAEP hashes, KDF hashes, key-wrap lengths, IV and nonce sizes, points off
the curve), the recipient bound, and the RSA failures that must all read the same (no padding
oracle).  Refusals of parameters come before any private-key operation: each test counts them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from asn1crypto import algos, core
from asn1crypto import cms as acms
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import padding as apadding

from sztp_client.errors import CMSError, DataError
from sztp_client.trust import oids
from sztp_client.trust.envelope import (
    CONTENT_FAILURE,
    ContentDecryptionError,
    DecryptionError,
    EnvelopeDecryptor,
    EnvelopeLimitError,
    KeyAgreementError,
    KeyUnwrapError,
    MalformedEnvelopeError,
    NotForThisDeviceError,
    RsaPadding,
    UnsupportedAlgorithmError,
)
from sztp_lab import envelope
from sztp_lab.pki import Issued, LabPKI, make_lab_pki
from tests.helpers.envelopes import counted, envelope_of, file_key, mutate, open_envelope
from tests.support import SERIAL

JSON = oids.ID_CT_SZTP_CONVEYED_INFO_JSON
CONTENT = b'{"ietf-sztp-conveyed-info:redirect-information": {"bootstrap-server": []}}' * 3


@pytest.fixture(scope="module")
def rsa_pki() -> LabPKI:
    return make_lab_pki("rsa-2048")


@pytest.fixture(scope="module")
def ec_pki() -> LabPKI:
    return make_lab_pki("ec-p256")


@pytest.fixture(scope="module")
def rsa_idevid(rsa_pki: LabPKI) -> Issued:
    return rsa_pki.idevid(SERIAL)


@pytest.fixture(scope="module")
def ec_idevid(ec_pki: LabPKI) -> Issued:
    return ec_pki.idevid(SERIAL)


def refused(
    idevid: Issued, der: bytes, error: type[DecryptionError], match: str | None = None
) -> tuple[DecryptionError, int]:
    """The decryptor refuses ``der`` with ``error``; returns it and the key operations made."""
    decryptor, key = counted(idevid)
    with pytest.raises(error, match=match) as caught:
        open_envelope(der, decryptor)
    assert isinstance(caught.value, CMSError)
    return caught.value, key.operations


def _eci(content: Any) -> Any:
    if isinstance(content, acms.AuthEnvelopedData):
        return content["auth_encrypted_content_info"]
    return content["encrypted_content_info"]


def _first_info(content: Any) -> Any:
    return content["recipient_infos"][0].chosen


def _set_algorithm(der_of_algorithm: bytes) -> Callable[[Any], None]:
    def change(content: Any) -> None:
        _first_info(content)["key_encryption_algorithm"] = acms.KeyEncryptionAlgorithm.load(
            der_of_algorithm
        )

    return change


def _oid(dotted: str) -> bytes:
    return bytes(core.ObjectIdentifier(dotted).dump())


def _tlv(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    return bytes([tag, 0x82]) + len(body).to_bytes(2, "big") + body


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _explicit(n: int, body: bytes) -> bytes:
    return _tlv(0xA0 + n, body)


SHA256 = _seq(_oid("2.16.840.1.101.3.4.2.1"))
OAEP = "1.2.840.113549.1.1.7"
MGF1 = "1.2.840.113549.1.1.8"


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (_seq(_explicit(0, _seq(_oid("1.2.840.113549.2.5")))), "RSAES-OAEP hash 1.2.840"),
        (_seq(_explicit(0, _seq(_oid("2.16.840.1.101.3.4.2.8")))), "not accepted"),
        (_seq(_explicit(1, _seq(_oid("1.2.3.4"), SHA256))), "mask generation function 1.2.3.4"),
        (_seq(_explicit(1, _seq(_oid(MGF1), _seq(_oid("1.2.840.113549.2.5"))))), "MGF1 hash"),
        (_seq(_explicit(1, _seq(_oid(MGF1)))), "MGF1 without its hash"),
        (_seq(_explicit(2, _seq(_oid("1.2.3.4"), b"\x04\x00"))), "label source"),
        (
            _seq(_explicit(2, _seq(_oid("1.2.840.113549.1.1.9"), _tlv(0x04, b"L" * 257)))),
            "label",
        ),
    ],
    ids=["md5", "sha3", "mgf", "mgf1-md5", "mgf1-no-hash", "psource", "long-label"],
)
def test_oaep_parameters_refused_before_the_key_is_used(
    rsa_idevid: Issued, params: bytes, match: str
) -> None:
    """R-050: RSAES-OAEP with an unknown hash, MGF or label source is refused, no RSA done."""
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert)
    algorithm = _seq(_oid(OAEP), params)
    _, operations = refused(
        rsa_idevid, mutate(der, _set_algorithm(algorithm)), UnsupportedAlgorithmError, match
    )
    assert operations == 0


def test_unknown_key_transport_refused(rsa_idevid: Issued) -> None:
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert)
    hostile = mutate(der, _set_algorithm(_seq(_oid("1.2.840.113549.1.1.10"))))
    _, operations = refused(rsa_idevid, hostile, UnsupportedAlgorithmError, "key transport")
    assert operations == 0


@pytest.mark.parametrize(
    ("kdf_oid", "match"),
    [("1.3.132.1.11.9", "key agreement algorithm"), ("1.3.133.16.840.63.0.16", "ECMQV|not")],
)
def test_kdf_with_unknown_hash_refused(ec_idevid: Issued, kdf_oid: str, match: str) -> None:
    """R-050: a key agreement scheme with an unknown KDF hash is refused, no ECDH done."""
    der = envelope.encrypt(CONTENT, JSON, ec_idevid.cert)
    wrap = _seq(_oid("2.16.840.1.101.3.4.1.45"))
    hostile = mutate(der, _set_algorithm(_seq(_oid(kdf_oid), wrap)))
    _, operations = refused(ec_idevid, hostile, UnsupportedAlgorithmError, match)
    assert operations == 0


@pytest.mark.parametrize(
    ("wrap", "match"),
    [
        (_seq(_oid("2.16.840.1.101.3.4.1.48")), "key wrap algorithm"),  # AES wrap with pad
        (_seq(_oid("2.16.840.1.101.3.4.1.45"), b"\x04\x01\x00"), "parameters"),
        (b"\x04\x01\x00", "not an AlgorithmIdentifier"),
    ],
    ids=["wrap-pad", "wrap-params", "not-an-algorithm"],
)
def test_key_wrap_parameters_refused(ec_idevid: Issued, wrap: bytes, match: str) -> None:
    der = envelope.encrypt(CONTENT, JSON, ec_idevid.cert)
    hostile = mutate(der, _set_algorithm(_seq(_oid("1.3.132.1.11.1"), wrap)))
    _, operations = refused(ec_idevid, hostile, UnsupportedAlgorithmError, match)
    assert operations == 0


def test_key_agreement_without_key_wrap_refused(ec_idevid: Issued) -> None:
    der = envelope.encrypt(CONTENT, JSON, ec_idevid.cert)
    hostile = mutate(der, _set_algorithm(_seq(_oid("1.3.132.1.11.1"))))
    refused(ec_idevid, hostile, UnsupportedAlgorithmError, "without its key wrap")


def test_wrong_key_wrap_length(ec_idevid: Issued) -> None:
    """A wrapped key whose length does not fit the wrap and content key: no ECDH done."""
    der = envelope.encrypt(CONTENT, JSON, ec_idevid.cert)

    def truncate(content: Any) -> None:
        rek = _first_info(content)["recipient_encrypted_keys"][0]
        rek["encrypted_key"] = bytes(rek["encrypted_key"].native)[:20]

    _, operations = refused(ec_idevid, mutate(der, truncate), KeyUnwrapError, "carries 20")
    assert operations == 0


def test_key_wrap_for_another_content_key_size(ec_idevid: Issued) -> None:
    """An AES-256 content key relabelled as AES-128 content: the wrapped key no longer fits."""
    der = envelope.encrypt(CONTENT, JSON, ec_idevid.cert, cipher="aes-256-cbc")

    def relabel(content: Any) -> None:
        iv = _eci(content)["content_encryption_algorithm"]["parameters"].native
        _eci(content)["content_encryption_algorithm"] = {
            "algorithm": "aes128_cbc",
            "parameters": iv,
        }

    refused(ec_idevid, mutate(der, relabel), KeyUnwrapError, "16-octet content key")


def test_unwrap_failure(ec_idevid: Issued) -> None:
    """A wrapped key of the right length that does not unwrap: KeyUnwrapError after one ECDH."""
    der = envelope.encrypt(CONTENT, JSON, ec_idevid.cert)

    def scramble(content: Any) -> None:
        rek = _first_info(content)["recipient_encrypted_keys"][0]
        rek["encrypted_key"] = os.urandom(len(rek["encrypted_key"].native))

    _, operations = refused(ec_idevid, mutate(der, scramble), KeyUnwrapError, "integrity check")
    assert operations == 1


def test_triple_des_unwrap_failure(ec_idevid: Issued) -> None:
    der = envelope.encrypt(CONTENT, JSON, ec_idevid.cert, cipher="des-ede3-cbc")

    def scramble(content: Any) -> None:
        _first_info(content)["recipient_encrypted_keys"][0]["encrypted_key"] = os.urandom(40)

    refused(ec_idevid, mutate(der, scramble), KeyUnwrapError, "Triple-DES")


@pytest.mark.parametrize(
    ("cipher", "iv_length"), [("aes-256-cbc", 8), ("aes-128-cbc", 17), ("des-ede3-cbc", 16)]
)
def test_iv_of_the_wrong_size(rsa_idevid: Issued, cipher: str, iv_length: int) -> None:
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert, cipher=cipher)  # type: ignore[arg-type]

    def resize(content: Any) -> None:
        alg = _eci(content)["content_encryption_algorithm"]
        _eci(content)["content_encryption_algorithm"] = {
            "algorithm": alg["algorithm"].native,
            "parameters": os.urandom(iv_length),
        }

    _, operations = refused(rsa_idevid, mutate(der, resize), UnsupportedAlgorithmError, "IV is")
    assert operations == 0


def test_unknown_content_cipher(rsa_idevid: Issued) -> None:
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert)

    def rc2(content: Any) -> None:
        _eci(content)["content_encryption_algorithm"] = algos.EncryptionAlgorithm(
            {"algorithm": "aes128_ofb", "parameters": os.urandom(16)}
        )

    refused(rsa_idevid, mutate(der, rc2), UnsupportedAlgorithmError, "content algorithm")


def test_gcm_only_in_auth_enveloped_data_and_cbc_not(rsa_idevid: Issued) -> None:
    """D14: AES-GCM belongs in AuthEnvelopedData; CBC in AuthEnvelopedData is refused too."""
    cbc = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert)
    gcm = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert, cipher="aes-256-gcm")
    decryptor, _ = counted(rsa_idevid)
    _, cbc_inner = envelope_of(cbc)
    _, gcm_inner = envelope_of(gcm)
    with pytest.raises(MalformedEnvelopeError):  # an EnvelopedData read as AuthEnvelopedData
        decryptor.decrypt(oids.ID_AUTH_ENVELOPED_DATA, cbc_inner)

    def as_gcm(content: Any) -> None:
        _eci(content)["content_encryption_algorithm"] = algos.EncryptionAlgorithm.load(
            _seq(_oid("2.16.840.1.101.3.4.1.46"), _seq(b"\x04\x0c" + bytes(12)))
        )

    refused(rsa_idevid, mutate(cbc, as_gcm), UnsupportedAlgorithmError, "AuthEnvelopedData only")
    with pytest.raises(DecryptionError):  # an AuthEnvelopedData read as EnvelopedData
        decryptor.decrypt(oids.ID_ENVELOPED_DATA, gcm_inner)
    with pytest.raises(UnsupportedAlgorithmError):
        decryptor.decrypt(oids.ID_DATA, cbc_inner)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (_seq(b"\x04\x10" + bytes(16)), "nonce must be 12"),
        (_seq(b"\x04\x0c" + bytes(12), b"\x02\x01\x0b"), "ICV length 11"),
        (_seq(b"\x04\x0c" + bytes(12), b"\x02\x01\x11"), "ICV length 17"),
        (b"\x04\x0c" + bytes(12), "not GCMParameters"),
    ],
    ids=["nonce-16", "icv-11", "icv-17", "not-a-sequence"],
)
def test_gcm_parameters_refused(rsa_idevid: Issued, params: bytes, match: str) -> None:
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert, cipher="aes-256-gcm")

    def change(content: Any) -> None:
        _eci(content)["content_encryption_algorithm"] = algos.EncryptionAlgorithm.load(
            _seq(_oid("2.16.840.1.101.3.4.1.46"), params)
        )

    _, operations = refused(rsa_idevid, mutate(der, change), UnsupportedAlgorithmError, match)
    assert operations == 0


def test_tampered_gcm_tag(rsa_idevid: Issued) -> None:
    """RFC 5083: a changed MAC fails, with the one content-failure message."""
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert, cipher="aes-128-gcm")

    def flip(content: Any) -> None:
        mac = bytearray(content["mac"].native)
        mac[0] ^= 1
        content["mac"] = bytes(mac)

    error, _ = refused(rsa_idevid, mutate(der, flip), ContentDecryptionError)
    assert str(error) == CONTENT_FAILURE


def test_gcm_mac_of_another_length(rsa_idevid: Issued) -> None:
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert, cipher="aes-128-gcm")

    def cut(content: Any) -> None:
        content["mac"] = bytes(content["mac"].native)[:12]

    refused(rsa_idevid, mutate(der, cut), MalformedEnvelopeError, "MAC is 12 octets")


def test_tampered_authenticated_attributes(rsa_idevid: Issued) -> None:
    """The authenticated attributes are covered by the tag: changing them fails it."""
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert, cipher="aes-256-gcm")

    def retype(content: Any) -> None:
        content["auth_attrs"] = [{"type": "content_type", "values": [oids.ID_DATA]}]

    refused(rsa_idevid, mutate(der, retype), ContentDecryptionError)


def test_gcm_ciphertext_flip(ec_idevid: Issued) -> None:
    der = envelope.encrypt(CONTENT, JSON, ec_idevid.cert, cipher="aes-256-gcm")

    def flip(content: Any) -> None:
        data = bytearray(_eci(content)["encrypted_content"].native)
        data[5] ^= 0x40
        _eci(content)["encrypted_content"] = bytes(data)

    error, _ = refused(ec_idevid, mutate(der, flip), ContentDecryptionError)
    assert str(error) == CONTENT_FAILURE


@pytest.mark.parametrize("cipher", ["aes-128-cbc", "des-ede3-cbc"])
def test_corrupted_cbc_ciphertext(rsa_idevid: Issued, cipher: str) -> None:
    """A flipped byte in the block before the last breaks the padding: the one message."""
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert, cipher=cipher)  # type: ignore[arg-type]
    block = 8 if cipher == "des-ede3-cbc" else 16

    def flip(content: Any) -> None:
        data = bytearray(_eci(content)["encrypted_content"].native)
        data[-block - 1] ^= 0xFF  # the last plaintext byte (the pad length) becomes >= 0xEF
        _eci(content)["encrypted_content"] = bytes(data)

    error, _ = refused(rsa_idevid, mutate(der, flip), ContentDecryptionError)
    assert str(error) == CONTENT_FAILURE


def test_ciphertext_not_whole_blocks(rsa_idevid: Issued) -> None:
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert)

    def cut(content: Any) -> None:
        _eci(content)["encrypted_content"] = bytes(_eci(content)["encrypted_content"].native)[:-3]

    _, operations = refused(rsa_idevid, mutate(der, cut), MalformedEnvelopeError, "whole number")
    assert operations == 0


def test_detached_content_refused(rsa_idevid: Issued) -> None:
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert)

    def detach(content: Any) -> None:
        _eci(content)["encrypted_content"] = None

    refused(rsa_idevid, mutate(der, detach), MalformedEnvelopeError, "detached")


@pytest.mark.parametrize("cipher", ["aes-256-cbc", "aes-256-gcm"])
def test_truncated_envelope(rsa_idevid: Issued, cipher: str) -> None:
    """Every truncation of the envelope is a typed refusal (mostly MalformedEnvelopeError)."""
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert, cipher=cipher)  # type: ignore[arg-type]
    content_type, inner = envelope_of(der)
    decryptor, key = counted(rsa_idevid)
    for cut in range(0, len(inner), 7):
        with pytest.raises(DecryptionError):
            decryptor.decrypt(content_type, inner[:cut])
    assert key.operations == 0


def _rsa_variants(idevid: Issued, der: bytes) -> dict[str, bytes]:
    """The same envelope with its RSA-encrypted key replaced in the ways an attacker would."""
    public = idevid.cert.public_key()
    n = public.public_numbers().n  # type: ignore[union-attr]
    size = (n.bit_length() + 7) // 8

    def with_key(value: bytes) -> bytes:
        def change(content: Any) -> None:
            _first_info(content)["encrypted_key"] = value

        return mutate(der, change)

    random_below_n = (int.from_bytes(os.urandom(size), "big") % n).to_bytes(size, "big")
    return {
        "bad-padding": with_key(random_below_n),
        "short-key": with_key(public.encrypt(b"12345", apadding.PKCS1v15())),  # type: ignore[union-attr]
        "wrong-key": with_key(public.encrypt(os.urandom(32), apadding.PKCS1v15())),  # type: ignore[union-attr]
    }


def test_rsa_v15_failures_read_the_same(rsa_idevid: Issued) -> None:
    """No padding oracle: bad PKCS#1 v1.5 padding, a key of the wrong length, a wrong key and a
    corrupted ciphertext give the same error class and the same message."""
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert, rsa_padding="pkcs1v15")
    variants = _rsa_variants(rsa_idevid, der)

    def flip(content: Any) -> None:
        data = bytearray(_eci(content)["encrypted_content"].native)
        data[-17] ^= 0xFF
        _eci(content)["encrypted_content"] = bytes(data)

    variants["corrupted-ciphertext"] = mutate(der, flip)
    messages = set()
    for hostile in variants.values():
        error, operations = refused(rsa_idevid, hostile, ContentDecryptionError)
        assert operations == 1
        messages.add((type(error), str(error)))
    assert messages == {(ContentDecryptionError, CONTENT_FAILURE)}


def test_rsa_oaep_failures_read_the_same(rsa_idevid: Issued) -> None:
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert, cipher="aes-256-gcm")
    variants = _rsa_variants(rsa_idevid, der)
    for hostile in variants.values():
        error, _ = refused(rsa_idevid, hostile, ContentDecryptionError)
        assert str(error) == CONTENT_FAILURE


class _FailingKey:
    """A back-end whose private-key step fails, as a TPM reports bad padding."""

    def __init__(self, idevid: Issued) -> None:
        self.inner = file_key(idevid)

    @property
    def certificate(self) -> Any:
        return self.inner.certificate

    def rsa_decrypt(self, ciphertext: bytes, padding: RsaPadding) -> bytes:
        raise RuntimeError("TPM_RC_VALUE: padding check failed")

    def ecdh(self, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise RuntimeError("TPM_RC_ECC_POINT")


def test_back_end_failures_are_typed(rsa_idevid: Issued, ec_idevid: Issued) -> None:
    """A failing private-key step: for RSA the one content-failure message (never the
    back-end's), for ECDH a KeyAgreementError."""
    rsa_der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert, rsa_padding="pkcs1v15")
    with pytest.raises(ContentDecryptionError) as caught:
        open_envelope(rsa_der, EnvelopeDecryptor(_FailingKey(rsa_idevid)))
    assert str(caught.value) == CONTENT_FAILURE
    ec_der = envelope.encrypt(CONTENT, JSON, ec_idevid.cert)
    with pytest.raises(KeyAgreementError, match="ECDH with the originator's key failed"):
        open_envelope(ec_der, EnvelopeDecryptor(_FailingKey(ec_idevid)))


def test_rsa_encrypted_key_of_the_wrong_length(rsa_idevid: Issued) -> None:
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert)

    def cut(content: Any) -> None:
        _first_info(content)["encrypted_key"] = bytes(_first_info(content)["encrypted_key"].native)[
            :-1
        ]

    _, operations = refused(rsa_idevid, mutate(der, cut), MalformedEnvelopeError, "255 octets")
    assert operations == 0


def _set_originator(point: bytes, params: Any = None) -> Callable[[Any], None]:
    def change(content: Any) -> None:
        originator = _first_info(content)["originator"].chosen
        algorithm: dict[str, Any] = {"algorithm": "ec"}
        if params is not None:
            algorithm["parameters"] = params
        originator["algorithm"] = algorithm
        originator["public_key"] = point

    return change


def test_originator_point_off_the_curve(ec_idevid: Issued) -> None:
    """An invalid-curve point is refused before the ECDH (no small-subgroup probing)."""
    der = envelope.encrypt(CONTENT, JSON, ec_idevid.cert)
    off_curve = b"\x04" + (1).to_bytes(32, "big") + (1).to_bytes(32, "big")
    _, operations = refused(
        ec_idevid, mutate(der, _set_originator(off_curve)), KeyAgreementError, "not a valid point"
    )
    assert operations == 0
    refused(ec_idevid, mutate(der, _set_originator(b"\x00")), KeyAgreementError)


def test_originator_on_another_curve(ec_idevid: Issued) -> None:
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    point = other.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    der = envelope.encrypt(CONTENT, JSON, ec_idevid.cert)
    hostile = mutate(der, _set_originator(point, {"named": "secp384r1"}))
    _, operations = refused(ec_idevid, hostile, KeyAgreementError, "curve 1.3.132.0.34")
    assert operations == 0


def test_key_transport_to_an_ec_device_refused(ec_idevid: Issued, rsa_idevid: Issued) -> None:
    """A KeyTransRecipientInfo that names an EC device's certificate cannot be used."""
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert)

    def rename(content: Any) -> None:
        kari = envelope.encrypt(CONTENT, JSON, ec_idevid.cert)
        ec_rid = acms.ContentInfo.load(kari)["content"]["recipient_infos"][0].chosen[
            "recipient_encrypted_keys"
        ][0]["rid"]
        _first_info(content)["rid"] = {"issuer_and_serial_number": ec_rid.chosen}

    _, operations = refused(ec_idevid, mutate(der, rename), UnsupportedAlgorithmError, "not RSA")
    assert operations == 0


def test_ten_thousand_recipient_infos(rsa_pki: LabPKI, rsa_idevid: Issued) -> None:
    """D28: 10,000 RecipientInfos are refused by counting, before any is looked at."""
    der = envelope.encrypt(CONTENT, JSON, rsa_pki.idevid("SN-OTHER").cert)
    info = acms.ContentInfo.load(der)
    one = info["content"]["recipient_infos"][0].dump()
    infos = one * 10_000
    set_of = b"\x31\x84" + len(infos).to_bytes(4, "big") + infos
    content = info["content"]
    head = content["version"].dump()
    tail = content["encrypted_content_info"].dump()
    body = head + set_of + tail
    inner = b"\x30\x84" + len(body).to_bytes(4, "big") + body
    decryptor, key = counted(rsa_idevid)
    with pytest.raises(EnvelopeLimitError, match="10000 RecipientInfos"):
        decryptor.decrypt(oids.ID_ENVELOPED_DATA, inner)
    assert key.operations == 0


def test_key_agreement_with_too_many_recipient_keys(ec_pki: LabPKI, ec_idevid: Issued) -> None:
    der = envelope.encrypt(CONTENT, JSON, ec_pki.idevid("SN-OTHER").cert)

    def widen(content: Any) -> None:
        reks = _first_info(content)["recipient_encrypted_keys"]
        _first_info(content)["recipient_encrypted_keys"] = [reks[0]] * 17

    _, operations = refused(ec_idevid, mutate(der, widen), EnvelopeLimitError, "more than 16")
    assert operations == 0


def test_other_recipient_kinds_are_named(rsa_idevid: Issued) -> None:
    """KEK, password and other RecipientInfos are not for a device: named in the refusal."""
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert)

    def kek_only(content: Any) -> None:
        content["recipient_infos"] = [
            acms.RecipientInfo(
                {
                    "kekri": {
                        "version": "v4",
                        "kekid": {"key_identifier": b"kek-1"},
                        "key_encryption_algorithm": {"algorithm": "aes256_wrap"},
                        "encrypted_key": os.urandom(40),
                    }
                }
            )
        ]

    refused(rsa_idevid, mutate(der, kek_only), NotForThisDeviceError, "a kekri recipient")


def test_content_type_attribute_must_match(rsa_idevid: Issued) -> None:
    """RFC 5083 §2.1: an authenticated content-type attribute must equal the content type;
    relabelling the (unauthenticated) content type is caught by it."""
    der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert, cipher="aes-128-gcm")

    def relabel(content: Any) -> None:
        _eci(content)["content_type"] = oids.ID_DATA

    refused(rsa_idevid, mutate(der, relabel), MalformedEnvelopeError, "differs from the content")


def test_every_refusal_is_a_data_error() -> None:
    """The typed errors are DataErrors (parsing-error, exit 65) and CMSErrors."""
    for cls in (
        ContentDecryptionError,
        EnvelopeLimitError,
        KeyAgreementError,
        KeyUnwrapError,
        MalformedEnvelopeError,
        NotForThisDeviceError,
        UnsupportedAlgorithmError,
    ):
        assert issubclass(cls, CMSError) and issubclass(cls, DataError)
        assert cls.exit_code == 65


def test_triple_des_missing_from_the_build_is_typed(
    rsa_idevid: Issued, ec_idevid: Issued, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cryptography/OpenSSL build without 3DES (it lives in cryptography's decrepit package)
    refuses 3DES content and the Triple-DES key wrap with a typed error, never a crash."""
    from cryptography.exceptions import UnsupportedAlgorithm

    from sztp_client.trust.envelope import algorithms

    rsa_der = envelope.encrypt(CONTENT, JSON, rsa_idevid.cert, cipher="des-ede3-cbc")
    ec_der = envelope.encrypt(CONTENT, JSON, ec_idevid.cert, cipher="des-ede3-cbc")

    def no_3des(key: bytes) -> Any:
        raise UnsupportedAlgorithm("3DES is not supported by this backend")

    monkeypatch.setattr(algorithms, "TripleDES", no_3des)
    refused(rsa_idevid, rsa_der, UnsupportedAlgorithmError, "3DES-CBC is not available")
    refused(ec_idevid, ec_der, UnsupportedAlgorithmError, "Triple-DES key wrap is not available")
