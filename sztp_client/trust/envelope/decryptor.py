"""Opening EnvelopedData and AuthEnvelopedData with the device's identity key (R-020, R-050).

:class:`EnvelopeDecryptor` implements :class:`sztp_client.trust.cms.Decryptor`.  For one
envelope it

1. refuses an envelope over the size bound and one with more than ``max_recipients``
   recipient identifiers (RecipientInfos, and the RecipientEncryptedKeys inside key-agreement
   ones), counting element headers only, before anything is decoded (D28);
2. parses and checks the content-encryption algorithm and its parameters (IV, GCM nonce and
   ICV length) and the ciphertext's length;
3. picks the RecipientInfos that name the device's identity certificate (issuer and serial
   number, or subject key identifier); none: :class:`NotForThisDeviceError`, naming what the
   envelope names and what the device is;
4. checks the key-transport or key-agreement parameters of the first such RecipientInfo whose
   algorithms are accepted, and only then does **one** private-key operation (an RSA
   decryption or an ECDH), then the KDF and the key unwrap;
5. decrypts the content (AES-GCM: the tag is checked over the authenticated attributes, whose
   content-type attribute, when they are present, must equal the content type).  RFC 5083
   wants authenticated attributes whenever the content is not id-data; their absence is
   accepted, because the openssl 3.0 command line can neither write nor read them, and the
   content type of a SignedData inside is checked again when it is parsed.

So an envelope costs at most one private-key operation, however many RecipientInfos it
carries, and every failure is a :class:`~sztp_client.errors.CMSError`.

**No padding oracle.**  A failed RSA key transport (PKCS#1 v1.5 or OAEP) is never reported as
such: when the private-key step raises, or returns a key of the wrong length, a random
content-encryption key of the right length takes its place (RFC 3218 §2.3) and the content
decryption fails with the same :class:`ContentDecryptionError` message that bad CBC padding, a
failed GCM tag or a corrupted ciphertext give.  This relies on nothing from the RSA
implementation: with OpenSSL 3.2 or later (cryptography's own wheels) PKCS#1 v1.5 decryption
uses implicit rejection and returns a deterministic synthetic key instead of failing, and a TPM
returns an error instead; both end in the same message.  What this code cannot remove is a
timing difference inside the private-key operation itself.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

import msgspec
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sztp_client.errors import ConfigurationError, SZTPError
from sztp_client.trust import oids
from sztp_client.trust.envelope.algorithms import (
    ContentCipher,
    KeyAgreement,
    absent_or_null,
    content_cipher,
    key_agreement,
    key_transport,
)
from sztp_client.trust.envelope.errors import (
    DecryptionError,
    EnvelopeLimitError,
    KeyAgreementError,
    KeyUnwrapError,
    MalformedEnvelopeError,
    NotForThisDeviceError,
    UnsupportedAlgorithmError,
)
from sztp_client.trust.envelope.keys import RecipientKey, RsaPadding

#: recipient identifiers looked at in one envelope (D28)
DEFAULT_MAX_RECIPIENTS = 16
#: the largest envelope accepted (D19's bound on a conveyed-information artifact)
DEFAULT_MAX_SIZE = 16 * 1024 * 1024
_MAX_UKM = 1024
_MAX_POINT = 1 + 2 * 66
_ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_CONTENT_TYPE_ATTRIBUTE = "1.2.840.113549.1.9.3"
_CURVE_OIDS = {
    "secp256r1": "1.2.840.10045.3.1.7",
    "secp384r1": "1.3.132.0.34",
    "secp521r1": "1.3.132.0.35",
}
_NAMED_SHOWN = 4


class _Identity(msgspec.Struct, frozen=True):
    """What a RecipientInfo may name the device's certificate by."""

    issuer_der: bytes
    serial_number: int
    subject_key_identifier: bytes

    @classmethod
    def of(cls, cert: x509.Certificate) -> _Identity:
        try:
            try:
                ext = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
                ski = ext.value.digest
            except x509.ExtensionNotFound:  # RFC 5280 §4.2.1.2 method 1, as producers do
                ski = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
            return cls(cert.issuer.public_bytes(), cert.serial_number, ski)
        except Exception as exc:  # malformed extensions or an unusable key in the configuration
            raise ConfigurationError(
                f"the identity certificate cannot name a recipient ({type(exc).__name__}: {exc})"
            ) from exc

    def named_by(self, rid: Any) -> bool:
        """Whether a RecipientIdentifier / KeyAgreeRecipientIdentifier names this identity."""
        if rid.name == "issuer_and_serial_number":
            chosen = rid.chosen
            return (
                chosen["issuer"].dump() == self.issuer_der
                and int(chosen["serial_number"].native) == self.serial_number
            )
        chosen = rid.chosen
        ski = chosen["subject_key_identifier"] if rid.name == "r_key_id" else chosen
        return hmac.compare_digest(bytes(ski.native), self.subject_key_identifier)


def _describe_rid(rid: Any) -> str:
    try:
        if rid.name == "issuer_and_serial_number":
            issuer = rid.chosen["issuer"].human_friendly[:120]
            return f"issuer '{issuer}' serial {int(rid.chosen['serial_number'].native):x}"
        chosen = rid.chosen["subject_key_identifier"] if rid.name == "r_key_id" else rid.chosen
        return f"subject key identifier {bytes(chosen.native)[:32].hex(':')}"
    except Exception:  # a name that cannot be shown is still a name
        return "an unreadable recipient identifier"


class _Candidate(msgspec.Struct, frozen=True):
    kind: str  # "ktri" or "kari"
    info: Any
    encrypted_key: bytes


class EnvelopeDecryptor:
    """A :class:`sztp_client.trust.cms.Decryptor` over a :class:`RecipientKey`."""

    def __init__(
        self,
        key: RecipientKey,
        *,
        max_recipients: int = DEFAULT_MAX_RECIPIENTS,
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> None:
        self.key = key
        self.max_recipients = max_recipients
        self.max_size = max_size
        self._identity = _Identity.of(key.certificate)

    def decrypt(self, content_type: str, der: bytes) -> tuple[str, bytes]:
        if len(der) > self.max_size:
            raise EnvelopeLimitError(
                f"the encrypted layer is {len(der)} octets, over the limit of {self.max_size}"
            )
        try:
            return self._decrypt(content_type, der)
        except SZTPError:  # the project's own refusals, DecryptionError among them
            raise
        except Exception as exc:  # hostile input: any parser failure is a malformed envelope
            text = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise MalformedEnvelopeError(
                f"malformed {oids.name_of(content_type)} ({text})"
            ) from exc

    def _decrypt(self, content_type: str, der: bytes) -> tuple[str, bytes]:
        authenticated = content_type == oids.ID_AUTH_ENVELOPED_DATA
        if authenticated:
            envelope = asn1_cms.AuthEnvelopedData.load(der, strict=True)
            eci = envelope["auth_encrypted_content_info"]
            if _version(envelope) != 0:
                raise MalformedEnvelopeError("AuthEnvelopedData version must be 0 (RFC 5083)")
        elif content_type == oids.ID_ENVELOPED_DATA:
            envelope = asn1_cms.EnvelopedData.load(der, strict=True)
            eci = envelope["encrypted_content_info"]
            if _version(envelope) not in (0, 2, 3, 4):
                raise MalformedEnvelopeError("EnvelopedData version must be 0, 2, 3 or 4")
        else:
            raise UnsupportedAlgorithmError(
                f"{oids.name_of(content_type)} is not an encrypted layer this device opens"
            )
        recipient_infos = envelope["recipient_infos"]
        # counting parses element headers only: the bound holds before any decoding
        if len(recipient_infos) > self.max_recipients:
            raise EnvelopeLimitError(
                f"the envelope has {len(recipient_infos)} RecipientInfos, over the limit of "
                f"{self.max_recipients}"
            )
        inner_type = str(eci["content_type"].dotted)
        cipher = content_cipher(eci["content_encryption_algorithm"], authenticated=authenticated)
        encrypted = eci["encrypted_content"]
        if isinstance(encrypted, asn1_core.Void):
            raise MalformedEnvelopeError("the encrypted content is absent (detached)")
        ciphertext = bytes(encrypted.native)
        cipher.check_length(ciphertext)
        aad = mac = b""
        if authenticated:
            mac = bytes(envelope["mac"].native)
            if len(mac) != cipher.icv_length:
                raise MalformedEnvelopeError(
                    f"the MAC is {len(mac)} octets; the GCM parameters say {cipher.icv_length}"
                )
            attrs = envelope["auth_attrs"]
            if not isinstance(attrs, asn1_core.Void):
                aad = b"\x31" + attrs.dump()[1:]  # RFC 5083 §2.2: the SET OF encoding
        cek = self._content_key(recipient_infos, cipher)
        plaintext = cipher.decrypt(cek, ciphertext, aad, mac)
        if authenticated and aad:
            _check_content_type_attribute(envelope["auth_attrs"], inner_type)
        return inner_type, plaintext

    def _content_key(self, recipient_infos: Any, cipher: ContentCipher) -> bytes:
        candidates: list[_Candidate] = []
        named: list[str] = []
        seen = 0
        for info in recipient_infos:
            if info.name == "ktri":
                seen += 1
                rid = info.chosen["rid"]
                if self._identity.named_by(rid):
                    key = bytes(info.chosen["encrypted_key"].native)
                    candidates.append(_Candidate("ktri", info.chosen, key))
                else:
                    named.append(_describe_rid(rid))
            elif info.name == "kari":
                reks = info.chosen["recipient_encrypted_keys"]
                seen += len(reks)
                if seen > self.max_recipients:
                    break
                for rek in reks:
                    if self._identity.named_by(rek["rid"]):
                        key = bytes(rek["encrypted_key"].native)
                        candidates.append(_Candidate("kari", info.chosen, key))
                    else:
                        named.append(_describe_rid(rek["rid"]))
            else:
                seen += 1
                named.append(f"a {info.name} recipient (not used by this device)")
        if seen > self.max_recipients:
            raise EnvelopeLimitError(
                f"the envelope names more than {self.max_recipients} recipients"
            )
        if not candidates:
            raise NotForThisDeviceError(self._not_for_us(named))
        refusal: DecryptionError | None = None
        for candidate in candidates:
            try:
                step = self._plan(candidate, cipher)
            except DecryptionError as exc:  # parameters refused: no key operation was made
                refusal = refusal or exc
                continue
            return step()
        assert refusal is not None
        raise refusal

    def _not_for_us(self, named: list[str]) -> str:
        shown = "; ".join(named[:_NAMED_SHOWN]) or "no recipient"
        if len(named) > _NAMED_SHOWN:
            shown += f"; and {len(named) - _NAMED_SHOWN} more"
        cert = self.key.certificate
        return (
            f"not encrypted for this device: the envelope is for {shown}; this device's "
            f"identity certificate is issuer '{cert.issuer.rfc4514_string()[:120]}' serial "
            f"{cert.serial_number:x} (subject key identifier "
            f"{self._identity.subject_key_identifier.hex(':')})"
        )

    def _plan(self, candidate: _Candidate, cipher: ContentCipher) -> _KeyStep:
        if candidate.kind == "ktri":
            return self._plan_key_transport(candidate, cipher)
        return self._plan_key_agreement(candidate, cipher)

    def _plan_key_transport(self, candidate: _Candidate, cipher: ContentCipher) -> _KeyStep:
        info = candidate.info
        if _version(info) not in (0, 2):
            raise MalformedEnvelopeError("KeyTransRecipientInfo version must be 0 or 2")
        padding = key_transport(info["key_encryption_algorithm"])
        public_key = self.key.certificate.public_key()
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
        return _RsaStep(self.key, candidate.encrypted_key, padding, cipher.key_length)

    def _plan_key_agreement(self, candidate: _Candidate, cipher: ContentCipher) -> _KeyStep:
        info = candidate.info
        if _version(info) != 3:
            raise MalformedEnvelopeError("KeyAgreeRecipientInfo version must be 3")
        agreement = key_agreement(info["key_encryption_algorithm"])
        agreement.check_wrapped_length(candidate.encrypted_key, cipher.key_length)
        own = self.key.certificate.public_key()
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
            self.key,
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


def _version(structure: Any) -> int:
    native = structure["version"].native
    if isinstance(native, str) and native.startswith("v"):
        return int(native[1:])
    return int(native)


def _check_content_type_attribute(attrs: Any, inner_type: str) -> None:
    found = [a for a in attrs if str(a["type"].dotted) == _CONTENT_TYPE_ATTRIBUTE]
    if len(found) != 1 or len(found[0]["values"]) != 1:
        raise MalformedEnvelopeError(
            "the authenticated attributes must hold exactly one content-type attribute "
            "with one value (RFC 5083 §2.1)"
        )
    value = str(found[0]["values"][0].dotted)
    if value != inner_type:
        raise MalformedEnvelopeError(
            f"the authenticated content-type attribute ({value}) differs from the content "
            f"type ({inner_type})"
        )


__all__ = ["DEFAULT_MAX_RECIPIENTS", "DEFAULT_MAX_SIZE", "EnvelopeDecryptor"]
