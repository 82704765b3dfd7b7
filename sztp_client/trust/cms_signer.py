"""One CMS SignerInfo (RFC 5652 §5.3) decoded into a :class:`Signer`: the certificate its
``sid`` names (:meth:`Signer.identifies` tells whether that is a given certificate), its digest
and signature algorithms with every parameter checked as they are read, and its signed
attributes as received (exactly one content-type and one message-digest, RFC 5652 §11).  What
the signature covers, and whether it verifies, is :mod:`sztp_client.trust.cms_verify`'s.
"""

from __future__ import annotations

import hmac
from typing import Any

import msgspec
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from cryptography import x509

from sztp_client.errors import CMSError
from sztp_client.trust.cms_algorithms import (
    ECDSA_OIDS,
    RSA_PKCS1_OIDS,
    AlgorithmParameterError,
    absent_or_null,
    known_hash,
    pss_parameters,
    signature_family,
)

__all__ = ["Signer", "signer_from_asn1", "version_number"]


class Signer(msgspec.Struct, frozen=True):
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
            except Exception:  # absent or malformed extensions name nothing
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


def version_number(field: Any) -> int:
    """A CMS version field (``v1`` ... or a number) as an int."""
    native = field.native
    if isinstance(native, str) and native.startswith("v"):
        return int(native[1:])
    return int(native)


def signer_from_asn1(si: asn1_cms.SignerInfo, what: str) -> Signer:
    """Decode one SignerInfo, checking its algorithms and signed attributes as it goes."""
    sid = si["sid"]
    issuer_der: bytes | None = None
    serial: int | None = None
    ski: bytes | None = None
    if sid.name == "issuer_and_serial_number":
        issuer_der = sid.chosen["issuer"].dump()
        serial = int(sid.chosen["serial_number"].native)
    else:
        ski = bytes(sid.chosen.native)
    digest_algorithm = known_hash(si["digest_algorithm"], "digest algorithm", what)
    sig_alg = si["signature_algorithm"]
    sig_oid = str(sig_alg["algorithm"].dotted)
    signature_algorithm = signature_family(sig_oid, what)
    pss_hash = pss_mgf = None
    pss_salt: int | None = None
    if signature_algorithm == "rsassa_pss":
        pss_hash, pss_mgf, pss_salt = pss_parameters(sig_alg["parameters"], what)
    elif not absent_or_null(sig_alg["parameters"]):
        raise AlgorithmParameterError(
            f"{what}: the signature algorithm {sig_oid} carries parameters; it takes none"
        )
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
        version=version_number(si["version"]),
        issuer_der=issuer_der,
        serial_number=serial,
        subject_key_identifier=ski,
        digest_algorithm=digest_algorithm,
        signature_algorithm=signature_algorithm,
        signature_hash=RSA_PKCS1_OIDS.get(sig_oid) or ECDSA_OIDS.get(sig_oid),
        pss_hash=pss_hash,
        pss_mgf_hash=pss_mgf,
        pss_salt_length=pss_salt,
        signed_attributes_der=attrs_der,
        content_type_attribute=content_type_attr,
        message_digest_attribute=digest_attr,
        signature=bytes(si["signature"].native),
    )
