"""CMS (RFC 5652) as SZTP artifacts use it: parse, unwrap, and check signer signatures.

pyca/cryptography can build PKCS#7 but has no public API to *verify* a CMS SignedData, and no
maintained library does it with the control needed here (the signer chosen by the caller, the
signature algorithms restricted, every failure typed).  So this module parses with asn1crypto
and checks each signature with cryptography's primitives.  What it checks for one signer
(RFC 5652 §5.4, §5.6, §11):

1. the signer's digest algorithm and signature algorithm are on the allow-list (SHA-256/384/512;
   RSA PKCS#1 v1.5 and RSASSA-PSS with keys of 2048 bits or more, ECDSA on P-256/P-384/P-521);
2. with signed attributes: exactly one content-type attribute equal to the eContentType and
   exactly one message-digest attribute equal to the digest of the eContent octets; the
   signature covers the SET OF encoding of the attributes as received;
3. without signed attributes: the signature covers the eContent octets;
4. the signature verifies with the public key of the certificate the caller names.

Nothing here decides *which* certificate may sign: the verification pipeline does, after path
validation.  Encrypted layers (EnvelopedData, AuthEnvelopedData) are recognised; opening them
needs the device identity, which a :class:`Decryptor` supplies (D14: sign-then-encrypt only).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import parser as asn1_parser
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from sztp_client.errors import CMSError, DataError, EncryptedContentError, SizeLimitError
from sztp_client.trust import armor, oids

#: the largest CMS artifact accepted by default (D19); callers pass their configured bound
DEFAULT_MAX_SIZE = 16 * 1024 * 1024

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_MIN_RSA_BITS = 2048


class SignatureFailure(CMSError):
    """A signer's signature, digest or signed attributes do not check out."""


@dataclass(frozen=True, slots=True)
class Signer:
    """One SignerInfo, reduced to what verification needs."""

    version: int
    issuer_der: bytes | None
    serial_number: int | None
    subject_key_identifier: bytes | None
    digest_algorithm: str
    signature_algorithm: str
    signature_hash: str | None
    pss_hash: str | None
    pss_mgf_hash: str | None
    pss_salt_length: int | None
    signed_attributes_der: bytes | None
    content_type_attribute: str | None
    message_digest_attribute: bytes | None
    signature: bytes

    def identifies(self, cert: x509.Certificate) -> bool:
        """Whether this SignerInfo's ``sid`` names ``cert``."""
        if self.subject_key_identifier is not None:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                return False
            return hmac.compare_digest(ski.value.digest, self.subject_key_identifier)
        return (
            self.issuer_der == cert.issuer.public_bytes()
            and self.serial_number == cert.serial_number
        )

    def describe(self) -> str:
        if self.subject_key_identifier is not None:
            return f"subject key identifier {self.subject_key_identifier.hex(':')}"
        return f"serial number {self.serial_number:x}" if self.serial_number is not None else "?"


@dataclass(frozen=True, slots=True)
class SignedData:
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


@dataclass(frozen=True, slots=True)
class Plain:
    """Unsigned content: ``content`` holds the data itself, typed ``content_type``."""

    content_type: str
    content: bytes
    encrypted: bool


@dataclass(frozen=True, slots=True)
class Signed:
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
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise CMSError(f"{what}: not a CMS ContentInfo ({_short(exc)})") from exc
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
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise CMSError(f"{what}: the content is not an OCTET STRING ({_short(exc)})") from exc
    if not isinstance(value, bytes):
        raise CMSError(f"{what}: the ContentInfo has no content")
    return value


def parse_signed_data(info: asn1_cms.ContentInfo, what: str) -> SignedData:
    """Decode a SignedData ContentInfo into a :class:`SignedData`."""
    try:
        sd = info["content"]
        if not isinstance(sd, asn1_cms.SignedData):
            sd = asn1_cms.SignedData.load(sd.dump())
        return _signed_data_from_asn1(sd, what)
    except CMSError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        raise CMSError(f"{what}: malformed SignedData ({_short(exc)})") from exc


def parse_signed_data_der(der: bytes, what: str) -> SignedData:
    """Decode a bare SignedData (as found inside an encrypted layer)."""
    try:
        sd = asn1_cms.SignedData.load(der, strict=True)
        return _signed_data_from_asn1(sd, what)
    except CMSError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        raise CMSError(f"{what}: malformed SignedData ({_short(exc)})") from exc


def _signed_data_from_asn1(sd: asn1_cms.SignedData, what: str) -> SignedData:
    version = _version(sd["version"])
    encap = sd["encap_content_info"]
    econtent_type = str(encap["content_type"].dotted)
    content = encap["content"]
    econtent: bytes | None
    econtent = None if isinstance(content, asn1_core.Void) else _octets_of(content)
    certificates: list[x509.Certificate] = []
    certs_field = sd["certificates"]
    if not isinstance(certs_field, asn1_core.Void):
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
        for choice in crls_field:
            if choice.name != "crl":
                continue  # other revocation formats (OCSP) are not used (D22)
            try:
                crls.append(armor.load_der_crl(choice.chosen.dump(), f"{what}: CRL"))
            except DataError as exc:
                raise CMSError(exc.message) from exc
    signers = tuple(_signer_from_asn1(si, what) for si in sd["signer_infos"])
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


def _version(field: Any) -> int:
    native = field.native
    if isinstance(native, str) and native.startswith("v"):
        return int(native[1:])
    return int(native)


def _signer_from_asn1(si: asn1_cms.SignerInfo, what: str) -> Signer:
    sid = si["sid"]
    issuer_der: bytes | None = None
    serial: int | None = None
    ski: bytes | None = None
    if sid.name == "issuer_and_serial_number":
        issuer_der = sid.chosen["issuer"].dump()
        serial = int(sid.chosen["serial_number"].native)
    else:
        ski = bytes(sid.chosen.native)
    digest_algorithm = str(si["digest_algorithm"]["algorithm"].native)
    sig_alg = si["signature_algorithm"]
    sig_oid = str(sig_alg["algorithm"].dotted)
    signature_algorithm = _signature_family(sig_oid, what)
    pss_hash = pss_mgf = None
    pss_salt: int | None = None
    if signature_algorithm == "rsassa_pss":
        params = sig_alg["parameters"]
        if isinstance(params, asn1_core.Void) or params.native is None:
            raise CMSError(f"{what}: RSASSA-PSS signature without parameters")
        pss_hash = str(params["hash_algorithm"]["algorithm"].native)
        mgf = params["mask_gen_algorithm"]
        if mgf["algorithm"].native != "mgf1":
            raise CMSError(f"{what}: RSASSA-PSS with a mask generation function other than MGF1")
        pss_mgf = str(mgf["parameters"]["algorithm"].native)
        pss_salt = int(params["salt_length"].native)
        if params["trailer_field"].native not in (1, "trailer_field_bc"):
            raise CMSError(f"{what}: RSASSA-PSS with an unsupported trailer field")
    attrs = si["signed_attrs"]
    attrs_der: bytes | None = None
    content_type_attr: str | None = None
    digest_attr: bytes | None = None
    if not isinstance(attrs, asn1_core.Void):
        raw = attrs.dump()
        # The signature covers the attributes with an explicit SET OF tag (RFC 5652 §5.4);
        # on the wire they carry the [0] IMPLICIT tag.  Swap the one tag octet, keep the rest
        # exactly as received.
        attrs_der = b"\x31" + raw[1:]
        seen_ct = seen_md = 0
        for attr in attrs:
            attr_type = str(attr["type"].dotted)
            values = attr["values"]
            if attr_type == "1.2.840.113549.1.9.3":  # content-type
                seen_ct += 1
                if len(values) != 1:
                    raise CMSError(f"{what}: content-type attribute must have one value")
                content_type_attr = str(values[0].dotted)
            elif attr_type == "1.2.840.113549.1.9.4":  # message-digest
                seen_md += 1
                if len(values) != 1:
                    raise CMSError(f"{what}: message-digest attribute must have one value")
                digest_attr = bytes(values[0].native)
        if seen_ct != 1 or seen_md != 1:
            raise CMSError(
                f"{what}: signed attributes must hold exactly one content-type and one "
                "message-digest attribute (RFC 5652 §11)"
            )
    return Signer(
        version=_version(si["version"]),
        issuer_der=issuer_der,
        serial_number=serial,
        subject_key_identifier=ski,
        digest_algorithm=digest_algorithm,
        signature_algorithm=signature_algorithm,
        signature_hash=_RSA_PKCS1_OIDS.get(sig_oid) or _ECDSA_OIDS.get(sig_oid),
        pss_hash=pss_hash,
        pss_mgf_hash=pss_mgf,
        pss_salt_length=pss_salt,
        signed_attributes_der=attrs_der,
        content_type_attribute=content_type_attr,
        message_digest_attribute=digest_attr,
        signature=bytes(si["signature"].native),
    )


_RSA_PKCS1_OIDS = {
    "1.2.840.113549.1.1.1": None,  # rsaEncryption: hash from digestAlgorithm
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
}
_ECDSA_OIDS = {
    "1.2.840.10045.2.1": None,  # id-ecPublicKey used as a signature algorithm by some producers
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}
_PSS_OID = "1.2.840.113549.1.1.10"


def _signature_family(oid: str, what: str) -> str:
    if oid in _RSA_PKCS1_OIDS:
        return "rsassa_pkcs1v15"
    if oid == _PSS_OID:
        return "rsassa_pss"
    if oid in _ECDSA_OIDS:
        return "ecdsa"
    raise CMSError(f"{what}: signature algorithm {oid} is not supported")


def verify_signature(
    signed: SignedData, signer: Signer, cert: x509.Certificate, what: str
) -> bytes:
    """Check ``signer``'s signature over ``signed``'s content with ``cert``'s public key.

    Returns the content that the signature covers.  Raises :class:`SignatureFailure` with a
    message that names the failed check.
    """
    if signed.econtent is None:
        raise SignatureFailure(
            f"{what}: the signed content is absent (detached signatures are not used by SZTP)"
        )
    hash_name = signer.digest_algorithm
    hash_factory = _HASHES.get(hash_name)
    if hash_factory is None:
        raise SignatureFailure(
            f"{what}: digest algorithm {hash_name} is not accepted (SHA-256, SHA-384 or SHA-512)"
        )
    if signer.signature_hash is not None and signer.signature_hash != hash_name:
        raise SignatureFailure(
            f"{what}: the signature algorithm uses {signer.signature_hash} but the digest "
            f"algorithm is {hash_name}"
        )
    if signer.signed_attributes_der is not None:
        if signer.content_type_attribute != signed.econtent_type:
            raise SignatureFailure(
                f"{what}: the signed content-type attribute "
                f"({signer.content_type_attribute}) differs from the eContentType "
                f"({signed.econtent_type})"
            )
        digest = hashlib.new(hash_name, signed.econtent).digest()
        if signer.message_digest_attribute is None or not hmac.compare_digest(
            digest, signer.message_digest_attribute
        ):
            raise SignatureFailure(
                f"{what}: the message digest does not match the content: the content was "
                "changed after signing"
            )
        to_verify = signer.signed_attributes_der
    else:
        to_verify = signed.econtent
    public_key = cert.public_key()
    try:
        if signer.signature_algorithm in ("rsassa_pkcs1v15", "rsassa_pss"):
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise SignatureFailure(f"{what}: an RSA signature but the signer key is not RSA")
            if public_key.key_size < _MIN_RSA_BITS:
                raise SignatureFailure(
                    f"{what}: the signer's RSA key has {public_key.key_size} bits; "
                    f"at least {_MIN_RSA_BITS} are required"
                )
            if signer.signature_algorithm == "rsassa_pss":
                if signer.pss_hash != hash_name or signer.pss_mgf_hash != hash_name:
                    raise SignatureFailure(
                        f"{what}: RSASSA-PSS parameters use a hash other than the digest "
                        f"algorithm {hash_name}"
                    )
                pad: padding.AsymmetricPadding = padding.PSS(
                    mgf=padding.MGF1(hash_factory()), salt_length=signer.pss_salt_length or 0
                )
            else:
                pad = padding.PKCS1v15()
            public_key.verify(signer.signature, to_verify, pad, hash_factory())
        else:
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise SignatureFailure(f"{what}: an ECDSA signature but the signer key is not EC")
            if not isinstance(public_key.curve, _ALLOWED_CURVES):
                raise SignatureFailure(
                    f"{what}: the signer's curve {public_key.curve.name} is not accepted"
                )
            public_key.verify(signer.signature, to_verify, ec.ECDSA(hash_factory()))
    except InvalidSignature as exc:
        raise SignatureFailure(
            f"{what}: the signature does not verify with the key of {_subject(cert)}"
        ) from exc
    return signed.econtent


def unwrap(
    data: bytes,
    what: str,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    decryptor: Decryptor | None = None,
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
        except (ValueError, TypeError) as exc:
            raise CMSError(f"{what}: malformed encrypted content ({_short(exc)})") from exc
        content_type, plaintext = decryptor.decrypt(content_type, inner_der)
        encrypted = True
        if content_type in oids.ENCRYPTED_TYPES:
            raise CMSError(f"{what}: encryption inside encryption is not accepted")
        if content_type == oids.ID_SIGNED_DATA:
            signed = parse_signed_data_der(plaintext, what)
            _refuse_encrypt_then_sign(signed, what)
            return Signed(signed, encrypted)
        return Plain(content_type, plaintext, encrypted)
    if content_type == oids.ID_SIGNED_DATA:
        signed = parse_signed_data(info, what)
        _refuse_encrypt_then_sign(signed, what)
        return Signed(signed, encrypted)
    return Plain(content_type, _inner_octets(data, what), encrypted)


def _refuse_encrypt_then_sign(signed: SignedData, what: str) -> None:
    if signed.econtent_type in oids.ENCRYPTED_TYPES or signed.econtent_type == oids.ID_SIGNED_DATA:
        raise CMSError(
            f"{what}: SignedData wraps {oids.name_of(signed.econtent_type)}; only "
            "sign-then-encrypt is accepted (RFC 8572 §3.4)"
        )


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]
