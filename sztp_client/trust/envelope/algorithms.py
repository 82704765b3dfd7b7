"""The algorithms an envelope may use, with every parameter checked when it is parsed.

Accepted (anything else is an :class:`UnsupportedAlgorithmError`):

* content encryption in EnvelopedData: AES-128/192/256-CBC (RFC 3565, a 16-octet IV) and
  3DES-CBC (des-ede3-cbc, RFC 3370, an 8-octet IV); in AuthEnvelopedData: AES-128/192/256-GCM
  (RFC 5084: a 12-octet nonce, an ICV length of 12 to 16 octets, default 12);
* key transport: rsaEncryption (RSAES-PKCS1-v1_5, parameters absent or NULL) and RSAES-OAEP
  (RFC 4055: hash and MGF1 hash each SHA-1, SHA-224, SHA-256, SHA-384 or SHA-512 with absent or
  NULL parameters, MGF1 the only mask generation function, pSpecified with a label of at most
  256 octets);
* key agreement: dhSinglePass-stdDH-shaXkdf-scheme and dhSinglePass-cofactorDH-shaXkdf-scheme
  (RFC 5753; X = 1, 224, 256, 384, 512; the cofactor of every accepted curve is 1, so both
  compute the same secret), the X9.63 KDF over ECC-CMS-SharedInfo, and as key wrap
  AES-128/192/256 key wrap (RFC 3394, RFC 3565; parameters absent) or the CMS Triple-DES key
  wrap (RFC 3217, RFC 3370; parameters NULL or absent), which openssl pairs with 3DES content.

3DES lives in cryptography's ``decrepit`` package (moved there in cryptography 43; the minimum
supported version is 45).  When the linked OpenSSL lacks it, 3DES content is an
UnsupportedAlgorithmError, never a crash.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Literal

import msgspec
from asn1crypto import core as asn1_core
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

from sztp_client.trust.envelope.errors import (
    ContentDecryptionError,
    KeyUnwrapError,
    MalformedEnvelopeError,
    UnsupportedAlgorithmError,
)
from sztp_client.trust.envelope.keys import HASHES, RsaPadding

_CBC = {
    "2.16.840.1.101.3.4.1.2": ("AES-128-CBC", 16),
    "2.16.840.1.101.3.4.1.22": ("AES-192-CBC", 24),
    "2.16.840.1.101.3.4.1.42": ("AES-256-CBC", 32),
}
DES_EDE3_CBC = "1.2.840.113549.3.7"
_GCM = {
    "2.16.840.1.101.3.4.1.6": ("AES-128-GCM", 16),
    "2.16.840.1.101.3.4.1.26": ("AES-192-GCM", 24),
    "2.16.840.1.101.3.4.1.46": ("AES-256-GCM", 32),
}
HASH_OIDS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
RSAES_OAEP = "1.2.840.113549.1.1.7"
MGF1 = "1.2.840.113549.1.1.8"
P_SPECIFIED = "1.2.840.113549.1.1.9"
MAX_OAEP_LABEL = 256
#: dhSinglePass-{std,cofactor}DH-shaXkdf-scheme (RFC 5753 §7.1.4) -> the KDF's hash
KEY_AGREEMENT = {
    "1.3.133.16.840.63.0.2": "sha1",
    "1.3.132.1.11.0": "sha224",
    "1.3.132.1.11.1": "sha256",
    "1.3.132.1.11.2": "sha384",
    "1.3.132.1.11.3": "sha512",
    "1.3.133.16.840.63.0.3": "sha1",
    "1.3.132.1.14.0": "sha224",
    "1.3.132.1.14.1": "sha256",
    "1.3.132.1.14.2": "sha384",
    "1.3.132.1.14.3": "sha512",
}
CMS_3DES_WRAP = "1.2.840.113549.1.9.16.3.6"
KEY_WRAP = {
    "2.16.840.1.101.3.4.1.5": ("AES-128 key wrap", 16),
    "2.16.840.1.101.3.4.1.25": ("AES-192 key wrap", 24),
    "2.16.840.1.101.3.4.1.45": ("AES-256 key wrap", 32),
    CMS_3DES_WRAP: ("CMS Triple-DES key wrap", 24),
}
_GCM_NONCE = 12
_ICV_LENGTHS = range(12, 17)
_3DES_WRAP_IV = bytes.fromhex("4adda22c79e82105")


def absent_or_null(params: Any) -> bool:
    return isinstance(params, asn1_core.Void) or params.dump() in (b"", b"\x05\x00")


def _oid(algorithm: Any) -> str:
    return str(algorithm["algorithm"].dotted)


class ContentCipher(msgspec.Struct, frozen=True):
    """A content-encryption algorithm with its checked parameters."""

    name: str
    key_length: int
    mode: Literal["cbc", "gcm"]
    iv: bytes
    icv_length: int = 0

    def decrypt(self, key: bytes, ciphertext: bytes, aad: bytes = b"", mac: bytes = b"") -> bytes:
        """The plaintext, or :class:`ContentDecryptionError` (one message for every cause)."""
        if len(key) != self.key_length:
            raise ContentDecryptionError()
        try:
            if self.mode == "gcm":
                gcm = Cipher(
                    algorithms.AES(key), modes.GCM(self.iv, mac, min_tag_length=self.icv_length)
                ).decryptor()
                gcm.authenticate_additional_data(aad)
                return gcm.update(ciphertext) + gcm.finalize()
            block: algorithms.AES | TripleDES
            block = TripleDES(key) if self.name == "3DES-CBC" else algorithms.AES(key)
            cbc = Cipher(block, modes.CBC(self.iv)).decryptor()
            padded = cbc.update(ciphertext) + cbc.finalize()
            unpadder = sym_padding.PKCS7(block.block_size).unpadder()
            return unpadder.update(padded) + unpadder.finalize()
        except UnsupportedAlgorithm as exc:
            raise UnsupportedAlgorithmError(
                f"{self.name} is not available in this build of cryptography/OpenSSL"
            ) from exc
        except Exception as exc:  # bad padding, failed tag, anything: one answer (no oracle)
            raise ContentDecryptionError() from exc

    def check_length(self, ciphertext: bytes) -> None:
        """Public facts only: a CBC ciphertext is a non-empty whole number of blocks."""
        if self.mode == "cbc":
            block = len(self.iv)
            if not ciphertext or len(ciphertext) % block:
                raise MalformedEnvelopeError(
                    f"the {self.name} ciphertext is {len(ciphertext)} octets, not a whole "
                    f"number of {block}-octet blocks"
                )


def content_cipher(algorithm: Any, *, authenticated: bool) -> ContentCipher:
    """The content-encryption algorithm of an (Auth)EncryptedContentInfo, parameters checked."""
    oid = _oid(algorithm)
    params = algorithm["parameters"]
    if authenticated:
        if oid not in _GCM:
            raise UnsupportedAlgorithmError(
                f"AuthEnvelopedData content algorithm {oid} is not accepted (AES-128/192/256-GCM)"
            )
        name, key_length = _GCM[oid]
        nonce, icv = _gcm_parameters(params, name)
        return ContentCipher(name, key_length, "gcm", nonce, icv)
    if oid in _GCM:
        raise UnsupportedAlgorithmError(
            f"{_GCM[oid][0]} inside EnvelopedData: AES-GCM is accepted in AuthEnvelopedData only"
        )
    if oid == DES_EDE3_CBC:
        name, key_length, iv_length = "3DES-CBC", 24, 8
    elif oid in _CBC:
        name, key_length = _CBC[oid]
        iv_length = 16
    else:
        raise UnsupportedAlgorithmError(
            f"EnvelopedData content algorithm {oid} is not accepted "
            "(AES-128/192/256-CBC or 3DES-CBC)"
        )
    iv = _octets(params, f"the {name} IV")
    if len(iv) != iv_length:
        raise UnsupportedAlgorithmError(
            f"the {name} IV is {len(iv)} octets; it must be {iv_length}"
        )
    return ContentCipher(name, key_length, "cbc", iv)


def _octets(params: Any, what: str) -> bytes:
    if isinstance(params, asn1_core.Void):
        raise UnsupportedAlgorithmError(f"{what} is missing")
    try:
        value = asn1_core.OctetString.load(params.dump(), strict=True).native
    except Exception as exc:  # hostile input: a wrong type is a refused parameter
        raise UnsupportedAlgorithmError(f"{what} is not an OCTET STRING") from exc
    if not isinstance(value, bytes):
        raise UnsupportedAlgorithmError(f"{what} is not an OCTET STRING")
    return value


class _GCMParameters(asn1_core.Sequence):  # type: ignore[misc]
    """GCMParameters (RFC 5084 §3.2)."""

    _fields = [  # noqa: RUF012 - asn1crypto's declaration style
        ("aes_nonce", asn1_core.OctetString),
        ("aes_icvlen", asn1_core.Integer, {"default": 12}),
    ]


def _gcm_parameters(params: Any, name: str) -> tuple[bytes, int]:
    if isinstance(params, asn1_core.Void):
        raise UnsupportedAlgorithmError(f"{name} without its GCMParameters")
    try:
        parsed = _GCMParameters.load(params.dump(), strict=True)
        nonce = parsed["aes_nonce"].native
        icv = parsed["aes_icvlen"].native
    except Exception as exc:  # hostile input: a wrong structure is a refused parameter
        raise UnsupportedAlgorithmError(f"{name} parameters are not GCMParameters") from exc
    if not isinstance(nonce, bytes) or len(nonce) != _GCM_NONCE:
        raise UnsupportedAlgorithmError(
            f"the {name} nonce must be {_GCM_NONCE} octets (RFC 5084 §3.2)"
        )
    if not isinstance(icv, int) or icv not in _ICV_LENGTHS:
        raise UnsupportedAlgorithmError(
            f"the {name} ICV length {str(icv)[:20]} is outside 12..16 (RFC 5084 §3.2)"
        )
    return nonce, icv


def _hash_of(algorithm: Any, role: str) -> str:
    oid = _oid(algorithm)
    name = HASH_OIDS.get(oid)
    if name is None:
        raise UnsupportedAlgorithmError(
            f"{role} {oid} is not accepted (SHA-1, SHA-224, SHA-256, SHA-384 or SHA-512)"
        )
    if not absent_or_null(algorithm["parameters"]):
        raise UnsupportedAlgorithmError(f"{role} {name} carries parameters; it takes none")
    return name


def key_transport(algorithm: Any) -> RsaPadding:
    """The RSA padding a KeyTransRecipientInfo's keyEncryptionAlgorithm names."""
    oid = _oid(algorithm)
    params = algorithm["parameters"]
    if oid == RSA_ENCRYPTION:
        if not absent_or_null(params):
            raise UnsupportedAlgorithmError("rsaEncryption key transport carries parameters")
        return RsaPadding("pkcs1v15")
    if oid != RSAES_OAEP:
        raise UnsupportedAlgorithmError(
            f"key transport algorithm {oid} is not accepted (RSAES-PKCS1-v1_5 or RSAES-OAEP)"
        )
    if isinstance(params, asn1_core.Void):  # absent: every field takes its default (SHA-1)
        return RsaPadding("oaep", "sha1", "sha1")
    hash_name = _hash_of(params["hash_algorithm"], "RSAES-OAEP hash")
    mgf = params["mask_gen_algorithm"]
    if _oid(mgf) != MGF1:
        raise UnsupportedAlgorithmError(
            f"RSAES-OAEP mask generation function {_oid(mgf)} is not accepted (MGF1)"
        )
    mgf_params = mgf["parameters"]
    if isinstance(mgf_params, asn1_core.Void):
        raise UnsupportedAlgorithmError("RSAES-OAEP MGF1 without its hash algorithm")
    mgf_hash = _hash_of(mgf_params, "RSAES-OAEP MGF1 hash")
    source = params["p_source_algorithm"]
    if _oid(source) != P_SPECIFIED:
        raise UnsupportedAlgorithmError(
            f"RSAES-OAEP label source {_oid(source)} is not accepted (pSpecified)"
        )
    label_params = source["parameters"]
    label = b"" if isinstance(label_params, asn1_core.Void) else _octets(label_params, "label")
    if len(label) > MAX_OAEP_LABEL:
        raise UnsupportedAlgorithmError(
            f"the RSAES-OAEP label is {len(label)} octets; at most {MAX_OAEP_LABEL}"
        )
    return RsaPadding("oaep", hash_name, mgf_hash, label)


class KeyAgreement(msgspec.Struct, frozen=True):
    """ECDH key agreement with its KDF hash and key wrap, as RFC 5753 names them."""

    kdf_hash: str
    wrap_oid: str
    wrap_name: str
    kek_length: int
    #: the KeyWrapAlgorithm as received: the keyInfo of ECC-CMS-SharedInfo
    wrap_der: bytes

    def shared_info(self, ukm: bytes | None) -> bytes:
        """DER ECC-CMS-SharedInfo (RFC 5753 §7.2)."""
        body = self.wrap_der
        if ukm is not None:
            body += _tlv(0xA0, _tlv(0x04, ukm))
        body += _tlv(0xA2, _tlv(0x04, (self.kek_length * 8).to_bytes(4, "big")))
        return _tlv(0x30, body)

    def derive_kek(self, shared_secret: bytes, ukm: bytes | None) -> bytes:
        kdf = X963KDF(
            algorithm=HASHES[self.kdf_hash](),
            length=self.kek_length,
            sharedinfo=self.shared_info(ukm),
        )
        return kdf.derive(shared_secret)

    def check_wrapped_length(self, wrapped: bytes, cek_length: int) -> None:
        """Public facts: the wrapped key's length fits the wrap and the content key."""
        want = 40 if self.wrap_oid == CMS_3DES_WRAP else cek_length + 8
        if len(wrapped) != want:
            raise KeyUnwrapError(
                f"the {self.wrap_name} of a {cek_length}-octet content key is {want} octets; "
                f"the envelope carries {len(wrapped)}"
            )
        if self.wrap_oid == CMS_3DES_WRAP and cek_length != 24:
            raise UnsupportedAlgorithmError(
                f"the {self.wrap_name} wraps 3DES keys only, not a {cek_length}-octet key"
            )

    def unwrap(self, kek: bytes, wrapped: bytes) -> bytes:
        try:
            if self.wrap_oid == CMS_3DES_WRAP:
                return _des3_key_unwrap(kek, wrapped)
            return aes_key_unwrap(kek, wrapped)
        except KeyUnwrapError:
            raise
        except UnsupportedAlgorithm as exc:
            raise UnsupportedAlgorithmError(
                f"{self.wrap_name} is not available in this build of cryptography/OpenSSL"
            ) from exc
        except Exception as exc:  # InvalidUnwrap or any primitive failure
            raise KeyUnwrapError(
                f"the {self.wrap_name} integrity check failed: the content key was not "
                "wrapped for this device's key, or the envelope is corrupted"
            ) from exc


def key_agreement(algorithm: Any) -> KeyAgreement:
    """The key agreement a KeyAgreeRecipientInfo's keyEncryptionAlgorithm names."""
    oid = _oid(algorithm)
    kdf_hash = KEY_AGREEMENT.get(oid)
    if kdf_hash is None:
        raise UnsupportedAlgorithmError(
            f"key agreement algorithm {oid} is not accepted (dhSinglePass-stdDH or "
            "-cofactorDH with an X9.63 KDF over SHA-1, SHA-224, SHA-256, SHA-384 or SHA-512)"
        )
    params = algorithm["parameters"]
    if isinstance(params, asn1_core.Void):
        raise UnsupportedAlgorithmError("key agreement without its key wrap algorithm")
    wrap_der = params.dump()
    try:
        wrap = _AlgorithmIdentifier.load(wrap_der, strict=True)
        wrap_oid = str(wrap["algorithm"].dotted)
        wrap_params = wrap["parameters"]
    except Exception as exc:  # hostile input: a wrong structure is a refused parameter
        raise UnsupportedAlgorithmError(
            "the key wrap algorithm is not an AlgorithmIdentifier"
        ) from exc
    known = KEY_WRAP.get(wrap_oid)
    if known is None:
        raise UnsupportedAlgorithmError(
            f"key wrap algorithm {wrap_oid} is not accepted (AES-128/192/256 key wrap or the "
            "CMS Triple-DES key wrap)"
        )
    if not absent_or_null(wrap_params):
        raise UnsupportedAlgorithmError(f"the {known[0]} carries parameters; it takes none")
    return KeyAgreement(kdf_hash, wrap_oid, known[0], known[1], wrap_der)


class _AlgorithmIdentifier(asn1_core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012 - asn1crypto's declaration style
        ("algorithm", asn1_core.ObjectIdentifier),
        ("parameters", asn1_core.Any, {"optional": True}),
    ]


def _des3_key_unwrap(kek: bytes, wrapped: bytes) -> bytes:
    """RFC 3217 §3.2: the CMS Triple-DES key unwrap."""
    if len(wrapped) != 40:
        raise KeyUnwrapError(f"a Triple-DES wrapped key is 40 octets, not {len(wrapped)}")
    first = Cipher(TripleDES(kek), modes.CBC(_3DES_WRAP_IV)).decryptor()
    temp2 = (first.update(wrapped) + first.finalize())[::-1]
    second = Cipher(TripleDES(kek), modes.CBC(temp2[:8])).decryptor()
    wkcks = second.update(temp2[8:]) + second.finalize()
    key, checksum = wkcks[:-8], wkcks[-8:]
    if not hmac.compare_digest(hashlib.sha1(key).digest()[:8], checksum):  # noqa: S324 - RFC 3217
        raise KeyUnwrapError(
            "the CMS Triple-DES key wrap checksum does not match: the content key was not "
            "wrapped for this device's key, or the envelope is corrupted"
        )
    return key


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body
