"""A small test PKI: root and intermediate CAs, end-entity certificates and CRLs.

Everything here is made in memory with ``cryptography``.  The lab uses it to play the three
parties of RFC 8572: the manufacturer (a voucher root with an intermediate that issues the
voucher-signing certificate, and apart from it an IDevID root with the CA that issues the
devices' IDevIDs), the owner (root, intermediate and the owner certificate that signs conveyed
information), and the devices themselves.

The voucher root and the IDevID root are separate hierarchies on purpose: a device trusts only
the voucher root for vouchers, and no IDevID validates to it, so no device's key can sign a
voucher another device accepts.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import NameOID

KeyType = Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"]
KEY_TYPES: tuple[KeyType, ...] = get_args(KeyType)

ORGANIZATION = "SZTP Lab"
DEFAULT_LIFETIME = dt.timedelta(days=3650)
BACKDATE = dt.timedelta(days=1)

# The names accepted in ``key_usage`` sets, mapped to cryptography's KeyUsage arguments.
KEY_USAGE_NAMES: dict[str, str] = {
    "digital_signature": "digital_signature",
    "content_commitment": "content_commitment",
    "non_repudiation": "content_commitment",
    "key_encipherment": "key_encipherment",
    "data_encipherment": "data_encipherment",
    "key_agreement": "key_agreement",
    "key_cert_sign": "key_cert_sign",
    "crl_sign": "crl_sign",
    "encipher_only": "encipher_only",
    "decipher_only": "decipher_only",
}


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC, to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def make_key(key_type: KeyType = "ec-p256") -> CertificateIssuerPrivateKeyTypes:
    """A fresh private key of ``key_type``."""
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "rsa-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise ValueError(f"unknown key type {key_type!r}; choose one of {KEY_TYPES}")


def signature_hash(key: PrivateKeyTypes) -> hashes.SHA256 | hashes.SHA384:
    """The hash a certificate or CRL signed by ``key`` uses: SHA-384 for P-384, else SHA-256."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def is_self_signed(cert: x509.Certificate) -> bool:
    """True when ``cert`` names itself as issuer and its signature verifies with its own key."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


@dataclass(frozen=True)
class Issued:
    """A certificate, its private key and the intermediates that issued it.

    ``chain`` holds the issuing CA certificates, nearest first, without the self-signed root.
    ``root`` is the self-signed certificate the path ends at (the certificate itself for a root
    or a self-signed end entity).
    """

    cert: x509.Certificate
    key: PrivateKeyTypes
    chain: tuple[x509.Certificate, ...] = ()
    root: x509.Certificate | None = None

    @property
    def trust_anchor(self) -> x509.Certificate:
        """The self-signed root of this certificate's path."""
        return self.root if self.root is not None else self.cert

    @property
    def path(self) -> tuple[x509.Certificate, ...]:
        """The certificate followed by its chain (no root)."""
        return (self.cert, *self.chain)

    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The private key, unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def pem_chain(self, *, include_cert: bool = True, include_root: bool = False) -> bytes:
        """PEM of the certificate (optional), its chain, and (optional) its root."""
        certs: list[x509.Certificate] = [self.cert] if include_cert else []
        certs.extend(self.chain)
        if include_root and self.root is not None and self.root is not self.cert:
            certs.append(self.root)
        return pem_bundle(certs)


def pem_bundle(certs: Iterable[x509.Certificate]) -> bytes:
    """The certificates as concatenated PEM."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _issuer_key(issued: Issued) -> CertificateIssuerPrivateKeyTypes:
    key = issued.key
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError(f"unsupported issuer key {type(key).__name__}")
    return key


def _name(common_name: str, serial_number: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if serial_number is not None:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_number))
    return x509.Name(attrs)


def _validity(
    not_before: dt.datetime | None, not_after: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    now = utcnow()
    start = not_before if not_before is not None else now - BACKDATE
    end = not_after if not_after is not None else now + DEFAULT_LIFETIME
    return start, end


def _key_usage(names: Iterable[str]) -> x509.KeyUsage:
    flags = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    for name in names:
        try:
            flags[KEY_USAGE_NAMES[name]] = True
        except KeyError:
            raise ValueError(f"unknown key usage {name!r}") from None
    return x509.KeyUsage(**flags)


def _chain_below(issuer: Issued) -> tuple[x509.Certificate, ...]:
    """The chain of a certificate that ``issuer`` signs: issuer (unless a root) + its chain."""
    if is_self_signed(issuer.cert):
        return issuer.chain
    return (issuer.cert, *issuer.chain)


def _builder(
    subject: x509.Name,
    issuer_name: x509.Name,
    public_key: CertificatePublicKeyTypes,
    not_before: dt.datetime | None,
    not_after: dt.datetime | None,
) -> x509.CertificateBuilder:
    start, end = _validity(not_before, not_after)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _aki(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_cert.public_key()  # type: ignore[arg-type]
        )
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _ca_extensions(
    builder: x509.CertificateBuilder, path_length: int | None
) -> x509.CertificateBuilder:
    return builder.add_extension(
        x509.BasicConstraints(ca=True, path_length=path_length), critical=True
    ).add_extension(_key_usage({"key_cert_sign", "crl_sign"}), critical=True)


def make_root_ca(
    common_name: str,
    key_type: KeyType = "ec-p256",
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Issued:
    """A self-signed root CA."""
    key = make_key(key_type)
    name = _name(common_name)
    builder = _ca_extensions(
        _builder(name, name, key.public_key(), not_before, not_after), path_length=None
    )
    cert = builder.sign(key, signature_hash(key))
    return Issued(cert=cert, key=key, chain=(), root=cert)


def make_intermediate_ca(
    issuer: Issued,
    common_name: str,
    key_type: KeyType = "ec-p256",
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    *,
    path_length: int | None = None,
) -> Issued:
    """A CA certificate issued by ``issuer``."""
    key = make_key(key_type)
    builder = _builder(
        _name(common_name), issuer.cert.subject, key.public_key(), not_before, not_after
    ).add_extension(_aki(issuer.cert), critical=False)
    builder = _ca_extensions(builder, path_length)
    signer = _issuer_key(issuer)
    cert = builder.sign(signer, signature_hash(signer))
    return Issued(cert=cert, key=key, chain=_chain_below(issuer), root=issuer.trust_anchor)


def make_end_entity(
    issuer: Issued | None,
    common_name: str,
    key_type: KeyType = "ec-p256",
    *,
    serial_number: str | None = None,
    key_usage: set[str] | frozenset[str] | None = frozenset({"digital_signature"}),
    extended_key_usage: Sequence[x509.ObjectIdentifier] | None = None,
    dns_names: Iterable[str] = (),
    ip_addresses: Iterable[str | ipaddress.IPv4Address | ipaddress.IPv6Address] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    self_signed: bool = False,
    key: CertificateIssuerPrivateKeyTypes | None = None,
) -> Issued:
    """An end-entity certificate (BasicConstraints cA=false).

    ``serial_number`` becomes the subject serialNumber attribute (2.5.4.5).  ``key_usage`` None
    leaves the KeyUsage extension out.  With ``self_signed`` the certificate signs itself and
    ``issuer`` is ignored.  ``key`` reuses an existing key instead of making one.
    """
    if key is None:
        key = make_key(key_type)
    subject = _name(common_name, serial_number)
    if self_signed:
        issuer_name = subject
    elif issuer is None:
        raise ValueError("an issuer is needed unless self_signed is set")
    else:
        issuer_name = issuer.cert.subject
    builder = _builder(subject, issuer_name, key.public_key(), not_before, not_after).add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )
    if not self_signed:
        assert issuer is not None
        builder = builder.add_extension(_aki(issuer.cert), critical=False)
    if key_usage is not None:
        builder = builder.add_extension(_key_usage(key_usage), critical=True)
    if extended_key_usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended_key_usage)), False)
    san: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    san.extend(x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)

    if self_signed:
        cert = builder.sign(key, signature_hash(key))
        return Issued(cert=cert, key=key, chain=(), root=cert)
    assert issuer is not None
    signer = _issuer_key(issuer)
    cert = builder.sign(signer, signature_hash(signer))
    return Issued(cert=cert, key=key, chain=_chain_below(issuer), root=issuer.trust_anchor)


def make_crl(
    issuer: Issued,
    revoked_serials: Iterable[int] = (),
    this_update: dt.datetime | None = None,
    next_update: dt.datetime | None = None,
    *,
    crl_number: int = 1,
) -> x509.CertificateRevocationList:
    """A CRL signed by ``issuer`` listing ``revoked_serials``.

    Defaults: thisUpdate one hour ago, nextUpdate 30 days after thisUpdate.
    """
    start = this_update if this_update is not None else utcnow() - dt.timedelta(hours=1)
    end = next_update if next_update is not None else start + dt.timedelta(days=30)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(start)
        .next_update(end)
        .add_extension(_aki(issuer.cert), critical=False)
        .add_extension(x509.CRLNumber(crl_number), critical=False)
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(start).build()
        )
    signer = _issuer_key(issuer)
    return builder.sign(signer, signature_hash(signer))


@dataclass(frozen=True)
class LabPKI:
    """The manufacturer's and the owner's PKI, and a factory of device IDevIDs.

    ``voucher_root`` is the manufacturer's voucher CA (the one voucher-signer trust anchor);
    ``manufacturer_intermediate`` is issued by it and issues ``voucher_signer``.
    ``manufacturer_root`` is the manufacturer's IDevID root; it issues ``idevid_ca`` and
    nothing that may sign a voucher.
    """

    manufacturer_root: Issued
    manufacturer_intermediate: Issued
    voucher_signer: Issued
    idevid_ca: Issued
    owner_root: Issued
    owner_intermediate: Issued
    owner_certificate: Issued
    voucher_root: Issued
    key_type: KeyType = "ec-p256"
    now: dt.datetime = field(default_factory=utcnow)
    _idevids: dict[tuple[str, KeyType], Issued] = field(
        default_factory=dict, repr=False, compare=False
    )

    def idevid(self, serial_number: str, key_type: KeyType | None = None) -> Issued:
        """The IDevID of device ``serial_number`` (made once, then cached)."""
        kt: KeyType = key_type if key_type is not None else self.key_type
        cached = self._idevids.get((serial_number, kt))
        if cached is not None:
            return cached
        issued = make_end_entity(
            self.idevid_ca,
            serial_number,
            kt,
            serial_number=serial_number,
            key_usage={"digital_signature", "key_encipherment"},
            not_before=self.now - BACKDATE,
            not_after=self.now + DEFAULT_LIFETIME,
        )
        self._idevids[(serial_number, kt)] = issued
        return issued


def make_lab_pki(key_type: KeyType = "ec-p256", *, now: dt.datetime | None = None) -> LabPKI:
    """The lab's PKI, every certificate valid from ``now`` - 1 day to ``now`` + 3650 days."""
    base = now if now is not None else utcnow()
    if base.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    start, end = base - BACKDATE, base + DEFAULT_LIFETIME

    m_root = make_root_ca("SZTP Lab Manufacturer Root CA", key_type, start, end)
    v_root = make_root_ca("SZTP Lab Manufacturer Voucher Root CA", key_type, start, end)
    m_int = make_intermediate_ca(
        v_root, "SZTP Lab Manufacturer Voucher CA", key_type, start, end, path_length=0
    )
    voucher_signer = make_end_entity(
        m_int, "SZTP Lab Voucher Signer", key_type, not_before=start, not_after=end
    )
    idevid_ca = make_intermediate_ca(
        m_root, "SZTP Lab Manufacturer IDevID CA", key_type, start, end, path_length=0
    )
    o_root = make_root_ca("SZTP Lab Owner Root CA", key_type, start, end)
    o_int = make_intermediate_ca(
        o_root, "SZTP Lab Owner Intermediate CA", key_type, start, end, path_length=0
    )
    owner_cert = make_end_entity(
        o_int, "SZTP Lab Owner Certificate", key_type, not_before=start, not_after=end
    )
    return LabPKI(
        manufacturer_root=m_root,
        manufacturer_intermediate=m_int,
        voucher_signer=voucher_signer,
        idevid_ca=idevid_ca,
        owner_root=o_root,
        owner_intermediate=o_int,
        owner_certificate=owner_cert,
        voucher_root=v_root,
        key_type=key_type,
        now=base,
    )
