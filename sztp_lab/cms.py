"""The lab's own CMS producer (RFC 5652), built with asn1crypto and cryptography.

It makes the artifacts RFC 8572 §3 describes: unsigned ContentInfo, SignedData with attached
content, degenerate SignedData (certificates and CRLs only) and EnvelopedData.  It also has
helpers that break artifacts on purpose for negative tests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from typing import Any, Literal

from asn1crypto import algos, core, keys
from asn1crypto import cms as acms
from asn1crypto import crl as acrl
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as apadding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from sztp_lab.pki import Issued, utcnow

OID_DATA = "1.2.840.113549.1.7.1"
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
OID_CONVEYED_INFO_XML = "1.2.840.113549.1.9.16.1.42"
OID_CONVEYED_INFO_JSON = "1.2.840.113549.1.9.16.1.43"
OID_VOUCHER = "1.2.840.113549.1.9.16.1.40"
# dhSinglePass-stdDH-sha256kdf-scheme (RFC 5753 §7.1.4, SEC 1)
OID_ECDH_STD_SHA256_KDF = "1.3.132.1.11.1"

# Short names accepted wherever a content type is asked for, besides dotted OIDs.
CONTENT_TYPE_ALIASES: dict[str, str] = {
    "data": OID_DATA,
    "signed_data": OID_SIGNED_DATA,
    "enveloped_data": OID_ENVELOPED_DATA,
    "xml": OID_CONVEYED_INFO_XML,
    "json": OID_CONVEYED_INFO_JSON,
    "voucher": OID_VOUCHER,
}

Digest = Literal["sha256", "sha384", "sha512"]
RsaPadding = Literal["pkcs1v15", "pss"]
SignerIdType = Literal["issuer_and_serial", "subject_key_identifier"]
ContentCipher = Literal["aes-128-cbc", "aes-256-cbc"]
KeyTransport = Literal["oaep", "pkcs1v15"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def resolve_content_type(content_type: str) -> str:
    """A dotted OID for a dotted OID or one of CONTENT_TYPE_ALIASES."""
    oid = CONTENT_TYPE_ALIASES.get(content_type, content_type)
    if not all(part.isdigit() for part in oid.split(".")) or oid.count(".") < 1:
        raise ValueError(f"not a content type OID or known alias: {content_type!r}")
    return oid


def _a_cert(cert: x509.Certificate) -> ax509.Certificate:
    return ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _a_crl(crl: x509.CertificateRevocationList) -> acrl.CertificateList:
    return acrl.CertificateList.load(crl.public_bytes(serialization.Encoding.DER))


def _der(value: Any) -> bytes:
    """The DER of an asn1crypto value (asn1crypto has no type annotations)."""
    data: bytes = value.dump()
    return data


class _OrderedCertificateSet(acms.CertificateSet):  # type: ignore[misc]  # untyped base
    """A certificate SET OF written in the order given (BER, as openssl crl2pkcs7 writes)."""

    def _set_contents(self, force: bool = False) -> None:
        if self.children is None:
            self._parse_children()
        self._contents = b"".join(child.dump(force=force) for child in self)
        self._header = None
        if self._trailer != b"":  # type: ignore[has-type]
            self._trailer = b""


def _certificate_set(certs: Sequence[x509.Certificate], keep_order: bool) -> acms.CertificateSet:
    cls = _OrderedCertificateSet if keep_order else acms.CertificateSet
    return cls([acms.CertificateChoices({"certificate": _a_cert(c)}) for c in certs])


def _issuer_and_serial(cert: x509.Certificate) -> acms.IssuerAndSerialNumber:
    a = _a_cert(cert)
    return acms.IssuerAndSerialNumber(
        {"issuer": a["tbs_certificate"]["issuer"], "serial_number": a.serial_number}
    )


def _ski(cert: x509.Certificate) -> bytes:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        raise ValueError("certificate has no SubjectKeyIdentifier") from None


# ---------------------------------------------------------------------------------------------
# Unsigned content


def content_info(content_type: str, content: bytes) -> bytes:
    """DER ContentInfo of ``content_type`` whose content is an OCTET STRING of ``content``.

    This is RFC 8572 §3.1's unsigned conveyed information (types .42, .43 or id-data).
    """
    oid = resolve_content_type(content_type)
    return _der(
        acms.ContentInfo({"content_type": oid, "content": core.OctetString(content, explicit=0)})
    )


def parse(der: bytes) -> acms.ContentInfo:
    """The ContentInfo in ``der`` (asn1crypto, parsed strictly to the end of input)."""
    info = acms.ContentInfo.load(der, strict=True)
    info.native  # noqa: B018  (forces a full parse, so a malformed artifact fails here)
    return info


def econtent_type(der: bytes) -> str:
    """The dotted eContentType of the SignedData in ``der``."""
    info = parse(der)
    if info["content_type"].dotted != OID_SIGNED_DATA:
        raise ValueError(f"not SignedData: {info['content_type'].dotted}")
    return str(info["content"]["encap_content_info"]["content_type"].dotted)


# ---------------------------------------------------------------------------------------------
# SignedData


def _signature_algorithm(
    key: object, digest: Digest, rsa_padding: RsaPadding
) -> acms.SignedDigestAlgorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return acms.SignedDigestAlgorithm({"algorithm": f"{digest}_ecdsa"})
    if isinstance(key, rsa.RSAPrivateKey):
        if rsa_padding == "pss":
            return acms.SignedDigestAlgorithm(
                {
                    "algorithm": "rsassa_pss",
                    "parameters": algos.RSASSAPSSParams(
                        {
                            "hash_algorithm": {"algorithm": digest},
                            "mask_gen_algorithm": {
                                "algorithm": "mgf1",
                                "parameters": {"algorithm": digest},
                            },
                            "salt_length": _HASHES[digest].digest_size,
                            "trailer_field": "trailer_field_bc",
                        }
                    ),
                }
            )
        # rsaEncryption as the signature algorithm, as openssl writes it
        return acms.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"})
    raise TypeError(f"unsupported signer key {type(key).__name__}")


def _raw_sign(key: object, data: bytes, digest: Digest, rsa_padding: RsaPadding) -> bytes:
    h = _HASHES[digest]()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(h))
    if isinstance(key, rsa.RSAPrivateKey):
        if rsa_padding == "pss":
            pad: apadding.AsymmetricPadding = apadding.PSS(
                mgf=apadding.MGF1(_HASHES[digest]()), salt_length=h.digest_size
            )
        else:
            pad = apadding.PKCS1v15()
        return key.sign(data, pad, h)
    raise TypeError(f"unsupported signer key {type(key).__name__}")


def _signed_attrs(oid: str, digest_value: bytes, signing_time: dt.datetime) -> acms.CMSAttributes:
    if 1950 <= signing_time.year < 2050:  # RFC 5652 §11.3: UTCTime in these years
        when = acms.Time({"utc_time": signing_time})
    else:
        when = acms.Time({"generalized_time": signing_time})
    return acms.CMSAttributes(
        [
            {"type": "content_type", "values": [oid]},
            {"type": "message_digest", "values": [digest_value]},
            {"type": "signing_time", "values": [when]},
        ]
    )


def sign(
    content: bytes,
    content_type: str,
    signer: Issued,
    *,
    certificates: Sequence[x509.Certificate] | None = None,
    crls: Sequence[x509.CertificateRevocationList] = (),
    digest: Digest = "sha256",
    signed_attributes: bool = True,
    rsa_padding: RsaPadding = "pkcs1v15",
    sid: SignerIdType = "issuer_and_serial",
    version1: bool = False,
    signing_time: dt.datetime | None = None,
    keep_order: bool = False,
) -> bytes:
    """DER ContentInfo(SignedData) with ``content`` attached as eContent of ``content_type``.

    ``certificates`` defaults to the signer's certificate and chain (no root); an empty
    sequence leaves the certificates field out.  With ``signed_attributes`` the SignerInfo
    carries contentType, messageDigest and signingTime and the signature covers their DER SET
    OF; without, it covers the content.  ``version1`` writes PKCS#7-style CMSVersion 1 in the
    SignedData and the SignerInfo (issuerAndSerialNumber only), whatever the content type.
    Certificates are a DER SET OF (sorted by encoding) unless ``keep_order`` is set.
    """
    oid = resolve_content_type(content_type)
    if digest not in _HASHES:
        raise ValueError(f"unsupported digest {digest!r}")
    if version1 and sid != "issuer_and_serial":
        raise ValueError("version1 signer infos identify the signer by issuer and serial")
    certs = list(certificates) if certificates is not None else list(signer.path)

    if sid == "subject_key_identifier":
        signer_id = acms.SignerIdentifier({"subject_key_identifier": _ski(signer.cert)})
        si_version = "v3"
    else:
        signer_id = acms.SignerIdentifier(
            {"issuer_and_serial_number": _issuer_and_serial(signer.cert)}
        )
        si_version = "v1"

    digest_value = hashlib.new(digest, content).digest()
    attrs: acms.CMSAttributes | None = None
    if signed_attributes:
        attrs = _signed_attrs(oid, digest_value, signing_time or utcnow())
        to_sign = attrs.dump()  # universal SET OF, sorted (DER)
    else:
        to_sign = content
    signature = _raw_sign(signer.key, to_sign, digest, rsa_padding)

    signer_info = acms.SignerInfo(
        {
            "version": si_version,
            "sid": signer_id,
            "digest_algorithm": {"algorithm": digest},
            "signed_attrs": attrs,
            "signature_algorithm": _signature_algorithm(signer.key, digest, rsa_padding),
            "signature": signature,
        }
    )

    # RFC 5652 §5.1: version 3 for a non-data eContentType or a version 3 SignerInfo
    needs_v3 = oid != OID_DATA or si_version == "v3"
    sd_version = "v3" if needs_v3 and not version1 else "v1"
    encap = _encap(sd_version, oid, content)

    fields: dict[str, object] = {
        "version": sd_version,
        "digest_algorithms": [{"algorithm": digest}],
        "encap_content_info": encap,
        "signer_infos": [signer_info],
    }
    if certs:
        fields["certificates"] = _certificate_set(certs, keep_order)
    if crls:
        fields["crls"] = [acms.RevocationInfoChoice({"crl": _a_crl(c)}) for c in crls]
    signed = _signed_data(fields)
    return _der(acms.ContentInfo({"content_type": "signed_data", "content": signed}))


def _encap(
    sd_version: str, oid: str, content: bytes | None
) -> acms.ContentInfo | acms.EncapsulatedContentInfo:
    """The encapsulated content in the class asn1crypto expects for ``sd_version``.

    For version 1 asn1crypto uses PKCS#7's ContentInfo shape; with an OCTET STRING content the
    bytes are identical to CMS's EncapsulatedContentInfo.
    """
    if sd_version == "v1":
        if content is None:
            return acms.ContentInfo({"content_type": oid})
        return acms.ContentInfo(
            {"content_type": oid, "content": core.OctetString(content, explicit=0)}
        )
    if content is None:
        return acms.EncapsulatedContentInfo({"content_type": oid})
    return acms.EncapsulatedContentInfo(
        {"content_type": oid, "content": core.ParsableOctetString(content)}
    )


def _signed_data(fields: dict[str, object]) -> acms.SignedData:
    # The encap_content_info spec depends on the version: set the version first.
    sd = acms.SignedData()
    sd["version"] = fields["version"]
    for name in ("digest_algorithms", "encap_content_info", "certificates", "crls"):
        if name in fields:
            sd[name] = fields[name]
    sd["signer_infos"] = fields["signer_infos"]
    return sd


def degenerate(
    certificates: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList] = (),
    *,
    keep_order: bool = False,
) -> bytes:
    """Degenerate SignedData: no signers, eContentType id-data without eContent.

    RFC 8572 §3.2 owner-certificate artifacts and the trust-anchor bags of redirect
    information and bootstrap-complete reports take this form.  Certificates and CRLs are
    written as DER SET OF (sorted by encoding); ``keep_order`` writes the certificates in the
    order given instead, as ``openssl crl2pkcs7`` does.
    """
    fields: dict[str, object] = {
        "version": "v1",
        "digest_algorithms": [],
        "encap_content_info": _encap("v1", OID_DATA, None),
        "signer_infos": [],
    }
    if certificates:
        fields["certificates"] = _certificate_set(certificates, keep_order)
    if crls:
        fields["crls"] = [acms.RevocationInfoChoice({"crl": _a_crl(c)}) for c in crls]
    signed = _signed_data(fields)
    return _der(acms.ContentInfo({"content_type": "signed_data", "content": signed}))


# ---------------------------------------------------------------------------------------------
# EnvelopedData


class _EccCmsSharedInfo(core.Sequence):  # type: ignore[misc]  # untyped base
    """ECC-CMS-SharedInfo (RFC 5753 §7.2), the X9.63 KDF's shared info."""

    _fields = [  # noqa: RUF012  (asn1crypto's declaration style)
        ("key_info", acms.KeyEncryptionAlgorithm),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


def _content_encryption(
    cipher: ContentCipher, plaintext: bytes
) -> tuple[bytes, acms.EncryptionAlgorithm, bytes]:
    key_len = {"aes-128-cbc": 16, "aes-256-cbc": 32}[cipher]
    cek = os.urandom(key_len)
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(cek), modes.CBC(iv)).encryptor()
    ciphertext = enc.update(padded) + enc.finalize()
    alg = acms.EncryptionAlgorithm(
        {"algorithm": "aes128_cbc" if key_len == 16 else "aes256_cbc", "parameters": iv}
    )
    return cek, alg, ciphertext


def _rid_fields(recipient: x509.Certificate, rid: SignerIdType) -> tuple[str, dict[str, object]]:
    if rid == "subject_key_identifier":
        return "v2", {"subject_key_identifier": _ski(recipient)}
    return "v0", {"issuer_and_serial_number": _issuer_and_serial(recipient)}


def _ktri(
    recipient: x509.Certificate,
    public_key: rsa.RSAPublicKey,
    cek: bytes,
    key_transport: KeyTransport,
    rid: SignerIdType,
) -> acms.RecipientInfo:
    if key_transport == "oaep":
        encrypted_key = public_key.encrypt(
            cek,
            apadding.OAEP(
                mgf=apadding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
            ),
        )
        kea = acms.KeyEncryptionAlgorithm(
            {
                "algorithm": "rsaes_oaep",
                "parameters": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "mask_gen_algorithm": {
                        "algorithm": "mgf1",
                        "parameters": {"algorithm": "sha256"},
                    },
                },
            }
        )
    else:
        encrypted_key = public_key.encrypt(cek, apadding.PKCS1v15())
        kea = acms.KeyEncryptionAlgorithm({"algorithm": "rsaes_pkcs1v15"})
    version, rid_value = _rid_fields(recipient, rid)
    return acms.RecipientInfo(
        {
            "ktri": {
                "version": version,
                "rid": rid_value,
                "key_encryption_algorithm": kea,
                "encrypted_key": encrypted_key,
            }
        }
    )


def _kari(
    recipient: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey,
    cek: bytes,
    rid: SignerIdType,
) -> acms.RecipientInfo:
    """ECDH ephemeral-static, X9.63 KDF with SHA-256, AES-256 key wrap (RFC 5753)."""
    ephemeral = ec.generate_private_key(public_key.curve)
    shared = ephemeral.exchange(ec.ECDH(), public_key)
    wrap_alg = acms.KeyEncryptionAlgorithm({"algorithm": "aes256_wrap"})
    shared_info = _EccCmsSharedInfo(
        {"key_info": wrap_alg, "supp_pub_info": (256).to_bytes(4, "big")}
    ).dump()
    kek = X963KDF(algorithm=hashes.SHA256(), length=32, sharedinfo=shared_info).derive(shared)
    wrapped = aes_key_wrap(kek, cek)
    originator = keys.PublicKeyInfo.load(
        ephemeral.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    if rid == "subject_key_identifier":
        rid_value: dict[str, object] = {"r_key_id": {"subject_key_identifier": _ski(recipient)}}
    else:
        rid_value = {"issuer_and_serial_number": _issuer_and_serial(recipient)}
    kea = acms.KeyEncryptionAlgorithm({"algorithm": OID_ECDH_STD_SHA256_KDF})
    kea["parameters"] = wrap_alg
    return acms.RecipientInfo(
        {
            "kari": {
                "version": "v3",
                "originator": {"originator_key": originator},
                "key_encryption_algorithm": kea,
                "recipient_encrypted_keys": [{"rid": rid_value, "encrypted_key": wrapped}],
            }
        }
    )


def envelop(
    content: bytes,
    content_type: str,
    recipient: x509.Certificate,
    *,
    cipher: ContentCipher = "aes-256-cbc",
    key_transport: KeyTransport = "oaep",
    rid: SignerIdType = "issuer_and_serial",
) -> bytes:
    """DER ContentInfo(EnvelopedData) of ``content`` encrypted to ``recipient``.

    ``content_type`` becomes encryptedContentInfo.contentType and ``content`` is what gets
    encrypted (for a nested SignedData that is the SignedData, not its ContentInfo: see
    ``envelop_content_info``).  RSA recipients get KeyTransRecipientInfo (RSAES-OAEP with
    SHA-256, or PKCS#1 v1.5); EC recipients get KeyAgreeRecipientInfo (ECDH, SHA-256 X9.63
    KDF, AES-256 key wrap).
    """
    oid = resolve_content_type(content_type)
    cek, alg, ciphertext = _content_encryption(cipher, content)
    public_key = recipient.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        info = _ktri(recipient, public_key, cek, key_transport, rid)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        info = _kari(recipient, public_key, cek, rid)
    else:
        raise TypeError(f"unsupported recipient key {type(public_key).__name__}")
    all_v0 = info.name == "ktri" and info.chosen["version"].native == "v0"
    enveloped = acms.EnvelopedData(
        {
            "version": "v0" if all_v0 else "v2",
            "recipient_infos": [info],
            "encrypted_content_info": {
                "content_type": oid,
                "content_encryption_algorithm": alg,
                "encrypted_content": ciphertext,
            },
        }
    )
    return _der(acms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}))


def _read_tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag byte, start of value, end of value) of the definite-length TLV at ``offset``."""
    tag = data[offset]
    first = data[offset + 1]
    if first < 0x80:
        return tag, offset + 2, offset + 2 + first
    n = first & 0x7F
    if n == 0:
        raise ValueError("indefinite length where DER was expected")
    length = int.from_bytes(data[offset + 2 : offset + 2 + n], "big")
    start = offset + 2 + n
    return tag, start, start + length


def _content_info_parts(der: bytes) -> tuple[bytes, bytes]:
    """(OID TLV, content TLV) of a DER ContentInfo, the content without its [0] wrapper."""
    parse(der)  # validates the structure
    _, seq_start, _ = _read_tlv(der, 0)
    _, _, oid_end = _read_tlv(der, seq_start)
    tag, wrapped_start, wrapped_end = _read_tlv(der, oid_end)
    if tag != 0xA0:
        raise ValueError("ContentInfo without content")
    return der[seq_start:oid_end], der[wrapped_start:wrapped_end]


def inner_content(der: bytes) -> tuple[str, bytes]:
    """(content type, content octets) of a ContentInfo, as CMS would encrypt or sign them.

    An OCTET STRING content gives its octets; any other content (SignedData, EnvelopedData)
    gives its DER encoding without the ContentInfo around it.
    """
    oid = str(parse(der)["content_type"].dotted)
    _, content = _content_info_parts(der)
    tag, start, end = _read_tlv(content, 0)
    if tag == 0x04:
        return oid, content[start:end]
    return oid, content


def envelop_content_info(der: bytes, recipient: x509.Certificate, **kwargs: object) -> bytes:
    """Encrypt the artifact ``der`` (a ContentInfo) as RFC 8572 §3 layers it.

    Signed conveyed information becomes EnvelopedData whose encryptedContentInfo.contentType
    is id-signedData and whose plaintext is the SignedData; unsigned conveyed information keeps
    its type (.42, .43, id-data) and encrypts the octets.  Keyword arguments go to ``envelop``.
    """
    oid, content = inner_content(der)
    return envelop(content, oid, recipient, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Tampering helpers for negative tests


def replace_econtent(der: bytes, new_content: bytes) -> bytes:
    """The SignedData in ``der`` with its eContent replaced and everything else kept.

    The signature no longer matches (the messageDigest attribute, or the signature itself
    when there are no signed attributes).
    """
    info = parse(der)
    signed = info["content"]
    encap = signed["encap_content_info"]
    oid = encap["content_type"].dotted
    signed["encap_content_info"] = _encap(signed["version"].native, oid, new_content)
    return _der(acms.ContentInfo({"content_type": "signed_data", "content": signed}))


def signed_wrapping_enveloped(
    content: bytes,
    content_type: str,
    recipient: x509.Certificate,
    signer: Issued,
    **sign_kwargs: object,
) -> bytes:
    """Encrypt-then-sign, the layering RFC 8572 §3.4 rules out.

    SignedData whose eContentType is id-envelopedData and whose eContent is an EnvelopedData
    (of ``content`` typed ``content_type``, encrypted to ``recipient``).
    """
    _, enveloped = inner_content(envelop(content, content_type, recipient))
    return sign(enveloped, OID_ENVELOPED_DATA, signer, **sign_kwargs)  # type: ignore[arg-type]


def ber_indefinite(der: bytes) -> bytes:
    """The ContentInfo re-encoded with indefinite lengths on its outer two layers (valid BER).

    The SEQUENCE and the [0] EXPLICIT wrapper become indefinite-length; the content inside
    keeps its DER bytes, so signatures are unaffected.
    """
    oid, content = _content_info_parts(der)
    return b"\x30\x80" + oid + b"\xa0\x80" + content + b"\x00\x00\x00\x00"
