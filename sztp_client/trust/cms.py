"""CMS (RFC 5652) as SZTP artifacts use it: parse and unwrap.  Each SignerInfo is decoded by
:mod:`sztp_client.trust.cms_signer`; the signature checks of one signer are in
:mod:`sztp_client.trust.cms_verify`.

pyca/cryptography can build PKCS#7 but has no public API to *verify* a CMS SignedData, and no
maintained library does it with the control needed here (the signer chosen by the caller, the
signature algorithms restricted, every failure typed).  So this module parses with asn1crypto
and checks each signature with cryptography's primitives.  What it checks for one signer
(RFC 5652 §5.4, §5.6, §11):

1. the signer's digest algorithm and signature algorithm are on the allow-list (SHA-256/384/512;
   RSA PKCS#1 v1.5 and RSASSA-PSS with keys of 2048 bits or more, ECDSA on P-256/P-384/P-521);
   every parameter is checked when the SignerInfo is parsed (RSASSA-PSS: a known hash, MGF1
   with a known hash, trailer field 1, a salt length from 0 up; once the key is known, at most
   what its size allows);
2. with signed attributes: exactly one content-type attribute equal to the eContentType and
   exactly one message-digest attribute equal to the digest of the eContent octets; the
   signature covers the SET OF encoding of the attributes as received;
3. without signed attributes: the signature covers the eContent octets;
4. the signature verifies with the public key of the certificate the caller names.

**Hostile input (D28).**  A SignedData may carry at most ``max_certificates`` certificates and
``max_crls`` CRLs (16 each by default); more are refused before any of them is decoded.  Any
exception a cryptographic primitive raises while checking a signature becomes a
:class:`SignatureFailure`; parsing raises only :class:`~sztp_client.errors.CMSError`.

Nothing here decides *which* certificate may sign: the verification pipeline does, after path
validation.  Encrypted layers (EnvelopedData, AuthEnvelopedData) are recognised; opening them
needs the device identity, which a :class:`Decryptor` supplies (D14: sign-then-encrypt only).
"""

from __future__ import annotations

from typing import Any, Final, Protocol

import msgspec
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import parser as asn1_parser
from cryptography import x509

from sztp_client.errors import CMSError, DataError, EncryptedContentError, SizeLimitError
from sztp_client.limits import Limits
from sztp_client.trust import armor, oids
from sztp_client.trust.cms_signer import Signer, signer_from_asn1, version_number

#: the largest CMS artifact accepted by default (D19); callers pass their configured bound
DEFAULT_MAX_SIZE: Final = Limits().conveyed_information


class CMSBagLimitError(CMSError):
    """A SignedData carries more certificates or CRLs than the configured bound (D28)."""

    def __init__(self, what: str, kind: str, count: int, limit: int, key: str) -> None:
        super().__init__(
            f"{what}: carries {count} {kind}, over the limit of {limit} in one CMS "
            f"({key}); an honest artifact carries its signer's chain and little else"
        )
        self.count = count
        self.limit = limit


class SignedData(msgspec.Struct, frozen=True):
    """A parsed SignedData.  ``econtent`` is ``None`` when detached or degenerate."""

    version: int
    econtent_type: str
    econtent: bytes | None
    certificates: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...]
    signers: tuple[Signer, ...]

    @property
    def degenerate(self) -> bool:
        return not self.signers


class Plain(msgspec.Struct, frozen=True):
    """Unsigned content: ``content`` holds the data itself, typed ``content_type``."""

    content_type: str
    content: bytes
    encrypted: bool


class Signed(msgspec.Struct, frozen=True):
    """A SignedData, with ``encrypted`` telling whether an encryption layer was removed."""

    signed: SignedData
    encrypted: bool


Unwrapped = Plain | Signed


class Decryptor(Protocol):
    """Opens an encrypted layer with the device's identity key (R-020, R-050).

    Takes the DER of the EnvelopedData or AuthEnvelopedData *content* (not the ContentInfo)
    together with its content type, and returns ``(inner content type, inner content octets)``.
    Raises :class:`sztp_client.errors.CMSError` when the data is not for this device.
    """

    def decrypt(self, content_type: str, der: bytes) -> tuple[str, bytes]: ...


def check_size(data: bytes, limit: int, what: str) -> None:
    if len(data) > limit:
        raise SizeLimitError(what, len(data), limit)


def parse_content_info(
    data: bytes, what: str, max_size: int = DEFAULT_MAX_SIZE
) -> tuple[str, asn1_cms.ContentInfo]:
    """Parse a ContentInfo; return its content-type OID and the parsed object."""
    check_size(data, max_size, what)
    if not data:
        raise CMSError(f"{what}: empty; expected a DER-encoded CMS ContentInfo")
    try:
        info = asn1_cms.ContentInfo.load(data, strict=True)
        content_type = str(info["content_type"].dotted)
    except Exception as exc:  # hostile input: any parser failure is malformed data
        raise CMSError(f"{what}: not a CMS ContentInfo ({short_reason(exc)})") from exc
    return content_type, info


class _OctetContentInfo(asn1_core.Sequence):  # type: ignore[misc]
    """A ContentInfo whose content must be an OCTET STRING (id-data and the SZTP types)."""

    _fields = [  # noqa: RUF012 - asn1crypto's declaration style
        ("content_type", asn1_cms.ContentType),
        ("content", asn1_core.OctetString, {"explicit": 0}),
    ]


def _inner_octets(data: bytes, what: str) -> bytes:
    """The content of a ContentInfo whose content is an OCTET STRING."""
    try:
        value = _OctetContentInfo.load(data, strict=True)["content"].native
    except Exception as exc:  # hostile input: any parser failure is malformed data
        raise CMSError(f"{what}: the content is not an OCTET STRING ({short_reason(exc)})") from exc
    if not isinstance(value, bytes):
        raise CMSError(f"{what}: the ContentInfo has no content")
    return value


#: the default bounds on what one SignedData may carry (D28; limits.cms-certificates, -crls)
_DEFAULT_LIMITS: Final = Limits()


def parse_signed_data(
    info: asn1_cms.ContentInfo, what: str, bag: Limits | None = None
) -> SignedData:
    """Decode a SignedData ContentInfo into a :class:`SignedData`."""
    try:
        sd = info["content"]
        if not isinstance(sd, asn1_cms.SignedData):
            sd = asn1_cms.SignedData.load(sd.dump())
        return _signed_data_from_asn1(sd, what, bag or _DEFAULT_LIMITS)
    except CMSError:
        raise
    except Exception as exc:  # hostile input: any parser failure is malformed data
        raise CMSError(f"{what}: malformed SignedData ({short_reason(exc)})") from exc


def parse_signed_data_der(der: bytes, what: str, bag: Limits | None = None) -> SignedData:
    """Decode a bare SignedData (as found inside an encrypted layer)."""
    try:
        sd = asn1_cms.SignedData.load(der, strict=True)
        return _signed_data_from_asn1(sd, what, bag or _DEFAULT_LIMITS)
    except CMSError:
        raise
    except Exception as exc:  # hostile input: any parser failure is malformed data
        raise CMSError(f"{what}: malformed SignedData ({short_reason(exc)})") from exc


def _signed_data_from_asn1(sd: asn1_cms.SignedData, what: str, bag: Limits) -> SignedData:
    version = version_number(sd["version"])
    encap = sd["encap_content_info"]
    econtent_type = str(encap["content_type"].dotted)
    content = encap["content"]
    econtent: bytes | None
    econtent = None if isinstance(content, asn1_core.Void) else _octets_of(content)
    certificates: list[x509.Certificate] = []
    certs_field = sd["certificates"]
    if not isinstance(certs_field, asn1_core.Void):
        # counting parses only the element headers: the bound holds before any decoding
        if len(certs_field) > bag.cms_certificates:
            raise CMSBagLimitError(
                what,
                "certificates",
                len(certs_field),
                bag.cms_certificates,
                "limits.cms-certificates",
            )
        for choice in certs_field:
            if choice.name != "certificate":
                continue  # attribute certificates and others play no part here
            try:
                cert = armor.load_der_certificate(choice.chosen.dump(), f"{what}: certificate")
            except DataError as exc:
                raise CMSError(exc.message) from exc
            certificates.append(cert)
    crls: list[x509.CertificateRevocationList] = []
    crls_field = sd["crls"]
    if not isinstance(crls_field, asn1_core.Void):
        if len(crls_field) > bag.cms_crls:
            raise CMSBagLimitError(what, "CRLs", len(crls_field), bag.cms_crls, "limits.cms-crls")
        for choice in crls_field:
            if choice.name != "crl":
                continue  # other revocation formats (OCSP) are not used (D22)
            try:
                crls.append(armor.load_der_crl(choice.chosen.dump(), f"{what}: CRL"))
            except DataError as exc:
                raise CMSError(exc.message) from exc
    signers = tuple(signer_from_asn1(si, what) for si in sd["signer_infos"])
    return SignedData(
        version=version,
        econtent_type=econtent_type,
        econtent=econtent,
        certificates=tuple(certificates),
        crls=tuple(crls),
        signers=signers,
    )


def _explicit_inner(value: Any) -> bytes:
    """The encoding of the element inside an ``[0] EXPLICIT`` wrapper, as received."""
    raw: bytes = value.dump()
    if raw[:1] == b"\xa0":
        return bytes(asn1_parser.parse(raw)[4])
    return raw


def _octets_of(value: Any) -> bytes:
    """The content octets of a (possibly BER constructed) OCTET STRING eContent.

    Works for CMS's EncapsulatedContentInfo and for PKCS#7's ContentInfo shape (version 1),
    whose content asn1crypto leaves unparsed.
    """
    native = asn1_core.OctetString.load(_explicit_inner(value)).native
    if not isinstance(native, bytes):
        raise CMSError("eContent is not an OCTET STRING")
    return native


def unwrap(
    data: bytes,
    what: str,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    decryptor: Decryptor | None = None,
    bag: Limits | None = None,
) -> Unwrapped:
    """Parse an artifact and remove an encryption layer (D14: sign-then-encrypt only).

    Returns the plain content or the SignedData inside.  SignedData whose eContentType is an
    encrypted type (encrypt-then-sign) is refused here.
    """
    content_type, info = parse_content_info(data, what, max_size)
    encrypted = False
    if content_type in oids.ENCRYPTED_TYPES:
        if decryptor is None:
            raise EncryptedContentError(
                f"{what}: encrypted ({oids.name_of(content_type)}); decrypting it needs the "
                "device's identity key, which is not available here"
            )
        try:
            inner_der = _explicit_inner(info["content"])
        except Exception as exc:  # hostile input: any parser failure is malformed data
            raise CMSError(f"{what}: malformed encrypted content ({short_reason(exc)})") from exc
        content_type, plaintext = decryptor.decrypt(content_type, inner_der)
        encrypted = True
        if content_type in oids.ENCRYPTED_TYPES:
            raise CMSError(f"{what}: encryption inside encryption is not accepted")
        if content_type == oids.ID_SIGNED_DATA:
            signed = parse_signed_data_der(plaintext, what, bag)
            _refuse_encrypt_then_sign(signed, what)
            return Signed(signed, encrypted)
        return Plain(content_type, plaintext, encrypted)
    if content_type == oids.ID_SIGNED_DATA:
        signed = parse_signed_data(info, what, bag)
        _refuse_encrypt_then_sign(signed, what)
        return Signed(signed, encrypted)
    return Plain(content_type, _inner_octets(data, what), encrypted)


def _refuse_encrypt_then_sign(signed: SignedData, what: str) -> None:
    if signed.econtent_type in oids.ENCRYPTED_TYPES or signed.econtent_type == oids.ID_SIGNED_DATA:
        raise CMSError(
            f"{what}: SignedData wraps {oids.name_of(signed.econtent_type)}; only "
            "sign-then-encrypt is accepted (RFC 8572 §3.4)"
        )


def subject_text(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"


def short_reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]
