"""The lab's producer of encrypted artifacts: EnvelopedData and AuthEnvelopedData.

``encrypt`` encrypts content to one or more recipient certificates with every variant the
client opens: RSA recipients get KeyTransRecipientInfo (RSAES-PKCS1-v1_5 or RSAES-OAEP with a
chosen hash and MGF1 hash), EC recipients KeyAgreeRecipientInfo (ephemeral-static ECDH,
dhSinglePass-stdDH with the X9.63 KDF over a chosen hash and ECC-CMS-SharedInfo, AES key wrap
or, with 3DES content, the CMS Triple-DES key wrap as openssl pairs them); content AES-CBC or
3DES-CBC in EnvelopedData, AES-GCM in AuthEnvelopedData (with a content-type authenticated
attribute unless ``auth_attributes`` is false: the openssl 3.0 command line cannot read an
AuthEnvelopedData that carries authAttrs, "Error reading SMIME Content Info").
``encrypt_artifact`` layers an artifact the way RFC 8572 §3 does (a SignedData becomes the
plaintext of an envelope typed id-signedData: sign-then-encrypt).

It shares no code with the client's decryptor (sztp_client.trust.envelope); openssl
``cms -decrypt`` is the independent check that what it writes is right.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any, Literal

from asn1crypto import algos, core, keys
from asn1crypto import cms as acms
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as apadding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from sztp_lab.cms import inner_content, resolve_content_type

Cipher_ = Literal[
    "aes-128-cbc",
    "aes-192-cbc",
    "aes-256-cbc",
    "des-ede3-cbc",
    "aes-128-gcm",
    "aes-192-gcm",
    "aes-256-gcm",
]
Hash = Literal["sha1", "sha224", "sha256", "sha384", "sha512"]
KeyWrap = Literal["aes128_wrap", "aes192_wrap", "aes256_wrap", "des3_wrap"]
RecipientId = Literal["issuer_and_serial", "subject_key_identifier"]

_CIPHERS: dict[str, tuple[str, str, int]] = {
    "aes-128-cbc": ("2.16.840.1.101.3.4.1.2", "cbc", 16),
    "aes-192-cbc": ("2.16.840.1.101.3.4.1.22", "cbc", 24),
    "aes-256-cbc": ("2.16.840.1.101.3.4.1.42", "cbc", 32),
    "des-ede3-cbc": ("1.2.840.113549.3.7", "cbc", 24),
    "aes-128-gcm": ("2.16.840.1.101.3.4.1.6", "gcm", 16),
    "aes-192-gcm": ("2.16.840.1.101.3.4.1.26", "gcm", 24),
    "aes-256-gcm": ("2.16.840.1.101.3.4.1.46", "gcm", 32),
}
_HASHES: dict[str, tuple[type[hashes.HashAlgorithm], str]] = {
    "sha1": (hashes.SHA1, "1.3.14.3.2.26"),
    "sha224": (hashes.SHA224, "2.16.840.1.101.3.4.2.4"),
    "sha256": (hashes.SHA256, "2.16.840.1.101.3.4.2.1"),
    "sha384": (hashes.SHA384, "2.16.840.1.101.3.4.2.2"),
    "sha512": (hashes.SHA512, "2.16.840.1.101.3.4.2.3"),
}
#: dhSinglePass-stdDH-shaXkdf-scheme (RFC 5753 §7.1.4)
_STD_DH = {
    "sha1": "1.3.133.16.840.63.0.2",
    "sha224": "1.3.132.1.11.0",
    "sha256": "1.3.132.1.11.1",
    "sha384": "1.3.132.1.11.2",
    "sha512": "1.3.132.1.11.3",
}
_WRAPS: dict[str, tuple[str, int]] = {
    "aes128_wrap": ("2.16.840.1.101.3.4.1.5", 16),
    "aes192_wrap": ("2.16.840.1.101.3.4.1.25", 24),
    "aes256_wrap": ("2.16.840.1.101.3.4.1.45", 32),
    "des3_wrap": ("1.2.840.113549.1.9.16.3.6", 24),
}
_3DES_WRAP_IV = bytes.fromhex("4adda22c79e82105")
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_DATA = "1.2.840.113549.1.7.1"


def _der(value: Any) -> bytes:
    data: bytes = value.dump()
    return data


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _algorithm_der(oid: str, params_der: bytes = b"") -> bytes:
    return _tlv(0x30, _der(core.ObjectIdentifier(oid)) + params_der)


def _ski(cert: x509.Certificate) -> bytes:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _issuer_and_serial(cert: x509.Certificate) -> dict[str, object]:
    issuer = ax509.Name.load(cert.issuer.public_bytes())
    return {"issuer": issuer, "serial_number": cert.serial_number}


def _odd_parity(key: bytes) -> bytes:
    return bytes((b & 0xFE) | ((bin(b >> 1).count("1") + 1) % 2) for b in key)


def des3_key_wrap(kek: bytes, cek: bytes) -> bytes:
    """RFC 3217 §3.1: the CMS Triple-DES key wrap of a 24-octet key."""
    icv = hashlib.sha1(cek).digest()[:8]  # noqa: S324 - the RFC 3217 checksum
    iv = os.urandom(8)
    first = Cipher(TripleDES(kek), modes.CBC(iv)).encryptor()
    temp1 = first.update(cek + icv) + first.finalize()
    temp3 = (iv + temp1)[::-1]
    second = Cipher(TripleDES(kek), modes.CBC(_3DES_WRAP_IV)).encryptor()
    return second.update(temp3) + second.finalize()


def _ktri(
    cert: x509.Certificate,
    key: rsa.RSAPublicKey,
    cek: bytes,
    *,
    rsa_padding: str,
    oaep_hash: Hash,
    mgf1_hash: Hash | None,
    rid: RecipientId,
) -> acms.RecipientInfo:
    if rsa_padding == "oaep":
        mgf = mgf1_hash or oaep_hash
        encrypted = key.encrypt(
            cek,
            apadding.OAEP(
                mgf=apadding.MGF1(_HASHES[mgf][0]()), algorithm=_HASHES[oaep_hash][0](), label=None
            ),
        )
        params: dict[str, object] = {}
        if oaep_hash != "sha1":
            params["hash_algorithm"] = {"algorithm": _HASHES[oaep_hash][1]}
        if mgf != "sha1":
            params["mask_gen_algorithm"] = {
                "algorithm": "mgf1",
                "parameters": {"algorithm": _HASHES[mgf][1]},
            }
        oaep_params = _der(algos.RSAESOAEPParams(params)) if params else b"\x30\x00"
        kea = acms.KeyEncryptionAlgorithm.load(_algorithm_der("1.2.840.113549.1.1.7", oaep_params))
    else:
        encrypted = key.encrypt(cek, apadding.PKCS1v15())
        kea = acms.KeyEncryptionAlgorithm({"algorithm": "rsaes_pkcs1v15", "parameters": None})
    if rid == "subject_key_identifier":
        version = "v2"
        rid_value: dict[str, object] = {"subject_key_identifier": _ski(cert)}
    else:
        version = "v0"
        rid_value = {"issuer_and_serial_number": _issuer_and_serial(cert)}
    return acms.RecipientInfo(
        {
            "ktri": {
                "version": version,
                "rid": rid_value,
                "key_encryption_algorithm": kea,
                "encrypted_key": encrypted,
            }
        }
    )


def ecc_cms_shared_info(wrap_der: bytes, kek_length: int, ukm: bytes | None) -> bytes:
    """DER ECC-CMS-SharedInfo (RFC 5753 §7.2)."""
    body = wrap_der
    if ukm is not None:
        body += _tlv(0xA0, _tlv(0x04, ukm))
    body += _tlv(0xA2, _tlv(0x04, (kek_length * 8).to_bytes(4, "big")))
    return _tlv(0x30, body)


def _kari(
    cert: x509.Certificate,
    key: ec.EllipticCurvePublicKey,
    cek: bytes,
    *,
    kdf_hash: Hash,
    key_wrap: KeyWrap,
    ukm: bytes | None,
    rid: RecipientId,
) -> acms.RecipientInfo:
    ephemeral = ec.generate_private_key(key.curve)
    shared = ephemeral.exchange(ec.ECDH(), key)
    wrap_oid, kek_length = _WRAPS[key_wrap]
    wrap_der = _algorithm_der(wrap_oid, b"\x05\x00" if key_wrap == "des3_wrap" else b"")
    kek = X963KDF(
        algorithm=_HASHES[kdf_hash][0](),
        length=kek_length,
        sharedinfo=ecc_cms_shared_info(wrap_der, kek_length, ukm),
    ).derive(shared)
    wrapped = des3_key_wrap(kek, cek) if key_wrap == "des3_wrap" else aes_key_wrap(kek, cek)
    spki = keys.PublicKeyInfo.load(
        ephemeral.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    originator = {
        "algorithm": {"algorithm": "ec"},  # parameters absent, as openssl writes them
        "public_key": spki["public_key"],
    }
    if rid == "subject_key_identifier":
        rid_value: dict[str, object] = {"r_key_id": {"subject_key_identifier": _ski(cert)}}
    else:
        rid_value = {"issuer_and_serial_number": _issuer_and_serial(cert)}
    kea = acms.KeyEncryptionAlgorithm.load(_algorithm_der(_STD_DH[kdf_hash], wrap_der))
    kari: dict[str, object] = {
        "version": "v3",
        "originator": {"originator_key": originator},
        "key_encryption_algorithm": kea,
        "recipient_encrypted_keys": [{"rid": rid_value, "encrypted_key": wrapped}],
    }
    if ukm is not None:
        kari["ukm"] = ukm
    return acms.RecipientInfo({"kari": kari})


class _GCMParameters(core.Sequence):  # type: ignore[misc]  # untyped base
    _fields = [  # noqa: RUF012  (asn1crypto's declaration style)
        ("aes_nonce", core.OctetString),
        ("aes_icvlen", core.Integer),
    ]


def encrypt(
    content: bytes,
    content_type: str,
    recipients: x509.Certificate | Sequence[x509.Certificate],
    *,
    cipher: Cipher_ = "aes-256-cbc",
    rsa_padding: Literal["oaep", "pkcs1v15"] = "oaep",
    oaep_hash: Hash = "sha256",
    mgf1_hash: Hash | None = None,
    kdf_hash: Hash = "sha256",
    key_wrap: KeyWrap | None = None,
    ukm: bytes | None = None,
    rid: RecipientId = "issuer_and_serial",
    icv_length: int = 16,
    auth_attributes: bool = True,
) -> bytes:
    """DER ContentInfo of ``content`` (typed ``content_type``) encrypted to ``recipients``.

    AES-GCM ciphers make AuthEnvelopedData, the others EnvelopedData.  ``key_wrap`` defaults
    to the AES key wrap of the content key's size (the CMS Triple-DES key wrap for 3DES).
    """
    oid = resolve_content_type(content_type)
    certs = [recipients] if isinstance(recipients, x509.Certificate) else list(recipients)
    cipher_oid, mode, key_length = _CIPHERS[cipher]
    cek = os.urandom(key_length)
    if cipher == "des-ede3-cbc":
        cek = _odd_parity(cek)
    wrap: KeyWrap = key_wrap or (
        "des3_wrap"
        if cipher == "des-ede3-cbc"
        else {16: "aes128_wrap", 24: "aes192_wrap", 32: "aes256_wrap"}[key_length]  # type: ignore[assignment]
    )
    infos = []
    for cert in certs:
        public_key = cert.public_key()
        if isinstance(public_key, rsa.RSAPublicKey):
            infos.append(
                _ktri(
                    cert,
                    public_key,
                    cek,
                    rsa_padding=rsa_padding,
                    oaep_hash=oaep_hash,
                    mgf1_hash=mgf1_hash,
                    rid=rid,
                )
            )
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            infos.append(
                _kari(cert, public_key, cek, kdf_hash=kdf_hash, key_wrap=wrap, ukm=ukm, rid=rid)
            )
        else:
            raise TypeError(f"unsupported recipient key {type(public_key).__name__}")
    if mode == "gcm":
        return _auth_enveloped(
            content,
            oid=oid,
            cipher_oid=cipher_oid,
            cek=cek,
            infos=infos,
            icv_length=icv_length,
            auth_attributes=auth_attributes,
        )
    block: algorithms.AES | TripleDES
    block = TripleDES(cek) if cipher == "des-ede3-cbc" else algorithms.AES(cek)
    iv = os.urandom(block.block_size // 8)
    padder = sym_padding.PKCS7(block.block_size).padder()
    encryptor = Cipher(block, modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(content) + padder.finalize()) + encryptor.finalize()
    all_v0 = all(i.name == "ktri" and i.chosen["version"].native == "v0" for i in infos)
    enveloped = acms.EnvelopedData(
        {
            "version": "v0" if all_v0 else "v2",
            "recipient_infos": infos,
            "encrypted_content_info": {
                "content_type": oid,
                "content_encryption_algorithm": acms.EncryptionAlgorithm.load(
                    _algorithm_der(cipher_oid, _der(core.OctetString(iv)))
                ),
                "encrypted_content": ciphertext,
            },
        }
    )
    return _der(acms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}))


def _auth_enveloped(
    content: bytes,
    *,
    oid: str,
    cipher_oid: str,
    cek: bytes,
    infos: list[acms.RecipientInfo],
    icv_length: int,
    auth_attributes: bool,
) -> bytes:
    nonce = os.urandom(12)
    params = _GCMParameters({"aes_nonce": nonce, "aes_icvlen": icv_length})
    attrs = acms.CMSAttributes([{"type": "content_type", "values": [oid]}])
    aad = b"\x31" + _der(attrs)[1:] if auth_attributes else b""
    encryptor = Cipher(algorithms.AES(cek), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    ciphertext = encryptor.update(content) + encryptor.finalize()
    auth = acms.AuthEnvelopedData(
        {
            "version": "v0",
            "recipient_infos": infos,
            "auth_encrypted_content_info": {
                "content_type": oid,
                "content_encryption_algorithm": acms.EncryptionAlgorithm.load(
                    _algorithm_der(cipher_oid, _der(params))
                ),
                "encrypted_content": ciphertext,
            },
            "auth_attrs": attrs if auth_attributes else None,
            "mac": encryptor.tag[:icv_length],
        }
    )
    return _der(acms.ContentInfo({"content_type": "authenticated_enveloped_data", "content": auth}))


def encrypt_artifact(
    artifact: bytes, recipients: x509.Certificate | Sequence[x509.Certificate], **options: Any
) -> bytes:
    """Encrypt an artifact (a DER ContentInfo) as RFC 8572 §3 layers it.

    A SignedData becomes the plaintext of an envelope typed id-signedData (sign-then-encrypt);
    unsigned content keeps its type and its octets are encrypted.  ``options`` go to
    :func:`encrypt`.
    """
    oid, content = inner_content(artifact)
    return encrypt(content, oid, recipients, **options)


__all__ = ["OID_DATA", "OID_SIGNED_DATA", "des3_key_wrap", "encrypt", "encrypt_artifact"]
