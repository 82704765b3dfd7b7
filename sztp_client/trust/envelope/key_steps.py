"""The one private-key operation of an envelope, key transport or key agreement.

For a RecipientInfo that names the device, every parameter is checked first (the
key-transport padding and the encrypted key's length; the key agreement's KDF, key wrap,
originator key and user keying material); only then is the planned step run, which makes
**one** call to the :class:`RecipientKey` (an RSA decryption or an ECDH) and, for key
agreement, derives the key-encryption key and unwraps the content-encryption key.

No padding oracle: a failed RSA key transport gives a random key of the right length (RFC 3218
§2.3), so that it fails later exactly as a bad ciphertext does (see
:mod:`sztp_client.trust.envelope.decryptor`).
"""

from __future__ import annotations

import os
from typing import Any

from asn1crypto import core as asn1_core
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sztp_client.trust.cms_signer import version_number
from sztp_client.trust.envelope.algorithms import (
    ContentCipher,
    KeyAgreement,
    absent_or_null,
    key_agreement,
    key_transport,
)
from sztp_client.trust.envelope.errors import (
    DecryptionError,
    EnvelopeLimitError,
    KeyAgreementError,
    KeyUnwrapError,
    MalformedEnvelopeError,
    UnsupportedAlgorithmError,
)
from sztp_client.trust.envelope.keys import RecipientKey, RsaPadding
from sztp_client.trust.envelope.recipients import Candidate

__all__ = ["content_key"]

_MAX_UKM = 1024
_MAX_POINT = 1 + 2 * 66
_ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_CURVE_OIDS = {
    "secp256r1": "1.2.840.10045.3.1.7",
    "secp384r1": "1.3.132.0.34",
    "secp521r1": "1.3.132.0.35",
}


def content_key(key: RecipientKey, candidates: list[Candidate], cipher: ContentCipher) -> bytes:
    """The content-encryption key, from the first candidate whose algorithms are accepted.

    A candidate with refused parameters costs no key operation; when all are refused, the
    first refusal is raised.
    """
    refusal: DecryptionError | None = None
    for candidate in candidates:
        try:
            step = _plan(key, candidate, cipher)
        except DecryptionError as exc:  # parameters refused: no key operation was made
            refusal = refusal or exc
            continue
        return step()
    assert refusal is not None
    raise refusal


def _plan(key: RecipientKey, candidate: Candidate, cipher: ContentCipher) -> _KeyStep:
    if candidate.kind == "ktri":
        return _plan_key_transport(key, candidate, cipher)
    return _plan_key_agreement(key, candidate, cipher)


def _plan_key_transport(key: RecipientKey, candidate: Candidate, cipher: ContentCipher) -> _KeyStep:
    """Key transport (RSA): the padding and the ciphertext's length checked."""
    info = candidate.info
    if version_number(info["version"]) not in (0, 2):
        raise MalformedEnvelopeError("KeyTransRecipientInfo version must be 0 or 2")
    padding = key_transport(info["key_encryption_algorithm"])
    public_key = key.certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise UnsupportedAlgorithmError(
            "RSA key transport to this device, whose identity key is not RSA"
        )
    size = (public_key.key_size + 7) // 8
    if len(candidate.encrypted_key) != size:
        raise MalformedEnvelopeError(
            f"the RSA-encrypted key is {len(candidate.encrypted_key)} octets; a "
            f"{public_key.key_size}-bit key gives {size}"
        )
    return _RsaStep(key, candidate.encrypted_key, padding, cipher.key_length)


def _plan_key_agreement(key: RecipientKey, candidate: Candidate, cipher: ContentCipher) -> _KeyStep:
    """Key agreement (ephemeral-static ECDH): the KDF, the key wrap, the originator's key and
    the user keying material checked."""
    info = candidate.info
    if version_number(info["version"]) != 3:
        raise MalformedEnvelopeError("KeyAgreeRecipientInfo version must be 3")
    agreement = key_agreement(info["key_encryption_algorithm"])
    agreement.check_wrapped_length(candidate.encrypted_key, cipher.key_length)
    own = key.certificate.public_key()
    if not isinstance(own, ec.EllipticCurvePublicKey):
        raise UnsupportedAlgorithmError(
            "ECDH key agreement with this device, whose identity key is not EC"
        )
    originator = info["originator"]
    if originator.name != "originator_key":
        raise UnsupportedAlgorithmError(
            "the originator is named by a certificate; only ephemeral-static ECDH "
            "(originatorKey, RFC 5753 §3.1.1) is accepted"
        )
    peer = _originator_key(originator.chosen, own.curve)
    ukm_field = info["ukm"]
    ukm = None if isinstance(ukm_field, asn1_core.Void) else bytes(ukm_field.native)
    if ukm is not None and len(ukm) > _MAX_UKM:
        raise EnvelopeLimitError(f"the user keying material is over {_MAX_UKM} octets")
    return _EcdhStep(
        key,
        peer=peer,
        agreement=agreement,
        ukm=ukm,
        wrapped=candidate.encrypted_key,
        cipher=cipher,
    )


def _originator_key(originator: Any, curve: ec.EllipticCurve) -> ec.EllipticCurvePublicKey:
    algorithm = originator["algorithm"]
    oid = str(algorithm["algorithm"].dotted)
    if oid != _ID_EC_PUBLIC_KEY:
        raise UnsupportedAlgorithmError(
            f"the originator's key algorithm {oid} is not id-ecPublicKey"
        )
    params = algorithm["parameters"]
    if not absent_or_null(params):
        try:
            named = asn1_core.ObjectIdentifier.load(params.dump(), strict=True).dotted
        except Exception as exc:  # explicit curve parameters and other shapes are refused
            raise UnsupportedAlgorithmError(
                "the originator's key parameters are not a named curve"
            ) from exc
        if named != _CURVE_OIDS.get(curve.name):
            raise KeyAgreementError(
                f"the originator's key is on curve {named}; this device's key is on {curve.name}"
            )
    point = originator["public_key"].cast(asn1_core.OctetBitString).native
    if not isinstance(point, bytes) or not 0 < len(point) <= _MAX_POINT:
        raise KeyAgreementError("the originator's public key is not an encoded EC point")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    except Exception as exc:  # off the curve, the point at infinity, a bad encoding
        raise KeyAgreementError(
            f"the originator's public key is not a valid point on {curve.name}"
        ) from exc


class _KeyStep:
    """The checked plan for the one private-key operation; calling it runs it."""

    def __call__(self) -> bytes:
        raise NotImplementedError


class _RsaStep(_KeyStep):
    def __init__(
        self, key: RecipientKey, encrypted_key: bytes, padding: RsaPadding, cek_length: int
    ) -> None:
        self.key = key
        self.encrypted_key = encrypted_key
        self.padding = padding
        self.cek_length = cek_length

    def __call__(self) -> bytes:
        substitute = os.urandom(self.cek_length)
        try:
            cek = self.key.rsa_decrypt(self.encrypted_key, self.padding)
        except Exception:  # never told apart from a wrong key (module docstring)
            return substitute
        if not isinstance(cek, bytes) or len(cek) != self.cek_length:
            return substitute
        return cek


class _EcdhStep(_KeyStep):
    def __init__(
        self,
        key: RecipientKey,
        *,
        peer: ec.EllipticCurvePublicKey,
        agreement: KeyAgreement,
        ukm: bytes | None,
        wrapped: bytes,
        cipher: ContentCipher,
    ) -> None:
        self.key = key
        self.peer = peer
        self.agreement = agreement
        self.ukm = ukm
        self.wrapped = wrapped
        self.cipher = cipher

    def __call__(self) -> bytes:
        try:
            shared = self.key.ecdh(self.peer)
        except Exception as exc:  # the private-key step failed (a TPM error, a wrong key)
            raise KeyAgreementError(
                f"ECDH with the originator's key failed ({type(exc).__name__})"
            ) from exc
        kek = self.agreement.derive_kek(shared, self.ukm)
        cek = self.agreement.unwrap(kek, self.wrapped)
        if len(cek) != self.cipher.key_length:
            raise KeyUnwrapError(
                f"the unwrapped content key is {len(cek)} octets; {self.cipher.name} needs "
                f"{self.cipher.key_length}"
            )
        return cek
