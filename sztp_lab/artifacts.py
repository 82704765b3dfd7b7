"""SZTP artifacts: vouchers (RFC 8366), conveyed information (RFC 8572 §6) and signed sets.

The encoders here write what a bootstrap server or a manufacturer would send.  They are
deliberately permissive about values (any string for a date, any assertion) so that negative
tests can build documents the client must refuse.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sztp_lab import cms
from sztp_lab.pki import Issued, LabPKI

CONVEYED_INFO_NS = "urn:ietf:params:xml:ns:yang:ietf-sztp-conveyed-info"
CONVEYED_INFO_MODULE = "ietf-sztp-conveyed-info"
CONVEYED_INFO_PREFIX = "sztp-info"

Encoding = Literal["json", "xml", "data"]
DateValue = dt.datetime | str

_ENCODING_CONTENT_TYPES: dict[str, str] = {
    "json": cms.OID_CONVEYED_INFO_JSON,
    "xml": cms.OID_CONVEYED_INFO_XML,
    "data": cms.OID_DATA,
}


def b64(data: bytes) -> str:
    """Standard base64 with padding, as YANG ``binary`` is written."""
    return base64.b64encode(data).decode("ascii")


def rfc3339(value: DateValue) -> str:
    """A yang:date-and-time in UTC with a Z suffix; strings pass through unchanged."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("dates must be timezone-aware")
    utc = value.astimezone(dt.UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def hex_string(data: bytes) -> str:
    """yang:hex-string: colon-separated lower-case hex octets."""
    return ":".join(f"{b:02x}" for b in data)


def _der(cert: x509.Certificate | bytes) -> bytes:
    if isinstance(cert, x509.Certificate):
        return cert.public_bytes(serialization.Encoding.DER)
    return cert


# ---------------------------------------------------------------------------------------------
# Voucher


def voucher_json(
    *,
    serial_number: str,
    pinned_domain_cert: x509.Certificate | bytes,
    assertion: str = "verified",
    created_on: DateValue | None = None,
    expires_on: DateValue | None = None,
    nonce: bytes | None = None,
    idevid_issuer: bytes | None = None,
    domain_cert_revocation_checks: bool | str | None = None,
    last_renewal_date: DateValue | None = None,
    extra: Mapping[str, object] | None = None,
    omit: Iterable[str] = (),
) -> bytes:
    """An RFC 8366 voucher, ``{"ietf-voucher:voucher": {...}}``, as UTF-8 JSON.

    ``created_on`` defaults to now.  ``domain_cert_revocation_checks`` is written as given (a
    JSON boolean, or a string for the RFC 8366 example's ``"true"``).  ``extra`` adds or
    overrides leaves (values written as given); ``omit`` drops named leaves afterwards.
    """
    when = created_on if created_on is not None else dt.datetime.now(dt.UTC).replace(microsecond=0)
    body: dict[str, object] = {"created-on": rfc3339(when)}
    if expires_on is not None:
        body["expires-on"] = rfc3339(expires_on)
    body["assertion"] = assertion
    body["serial-number"] = serial_number
    if idevid_issuer is not None:
        body["idevid-issuer"] = b64(idevid_issuer)
    body["pinned-domain-cert"] = b64(_der(pinned_domain_cert))
    if domain_cert_revocation_checks is not None:
        body["domain-cert-revocation-checks"] = domain_cert_revocation_checks
    if nonce is not None:
        body["nonce"] = b64(nonce)
    if last_renewal_date is not None:
        body["last-renewal-date"] = rfc3339(last_renewal_date)
    if extra:
        body.update(extra)
    for name in omit:
        body.pop(name, None)
    return json.dumps({"ietf-voucher:voucher": body}, indent=2).encode()


# ---------------------------------------------------------------------------------------------
# Conveyed information


def _onboarding_tree(
    *,
    os_name: str | None,
    os_version: str | None,
    download_uris: Sequence[str],
    sha256: bytes | None,
    configuration_handling: str | None,
    pre_script: bytes | None,
    configuration: bytes | None,
    post_script: bytes | None,
) -> dict[str, object]:
    """The onboarding-information leaves, in module order; binary values still raw bytes."""
    tree: dict[str, object] = {}
    image: dict[str, object] = {}
    if os_name is not None:
        image["os-name"] = os_name
    if os_version is not None:
        image["os-version"] = os_version
    if download_uris:
        image["download-uri"] = list(download_uris)
    if sha256 is not None:
        image["image-verification"] = [{"hash-algorithm": "sha-256", "hash-value": sha256}]
    if image:
        tree["boot-image"] = image
    if configuration_handling is not None:
        tree["configuration-handling"] = configuration_handling
    if pre_script is not None:
        tree["pre-configuration-script"] = pre_script
    if configuration is not None:
        tree["configuration"] = configuration
    if post_script is not None:
        tree["post-configuration-script"] = post_script
    return tree


def onboarding_json(
    *,
    os_name: str | None = None,
    os_version: str | None = None,
    download_uris: Sequence[str] = (),
    sha256: bytes | None = None,
    configuration_handling: str | None = None,
    pre_script: bytes | None = None,
    configuration: bytes | None = None,
    post_script: bytes | None = None,
) -> bytes:
    """onboarding-information as RFC 7951 JSON (UTF-8)."""
    tree = _onboarding_tree(
        os_name=os_name,
        os_version=os_version,
        download_uris=download_uris,
        sha256=sha256,
        configuration_handling=configuration_handling,
        pre_script=pre_script,
        configuration=configuration,
        post_script=post_script,
    )
    image = tree.get("boot-image")
    if isinstance(image, dict) and "image-verification" in image:
        image["image-verification"] = [
            {
                "hash-algorithm": f"{CONVEYED_INFO_MODULE}:{entry['hash-algorithm']}",
                "hash-value": hex_string(entry["hash-value"]),
            }
            for entry in image["image-verification"]
        ]
    for leaf in ("pre-configuration-script", "configuration", "post-configuration-script"):
        value = tree.get(leaf)
        if isinstance(value, bytes):
            tree[leaf] = b64(value)
    document = {f"{CONVEYED_INFO_MODULE}:onboarding-information": tree}
    return json.dumps(document, indent=2).encode()


def onboarding_xml(
    *,
    os_name: str | None = None,
    os_version: str | None = None,
    download_uris: Sequence[str] = (),
    sha256: bytes | None = None,
    configuration_handling: str | None = None,
    pre_script: bytes | None = None,
    configuration: bytes | None = None,
    post_script: bytes | None = None,
) -> bytes:
    """onboarding-information as RFC 7950 XML (UTF-8)."""
    tree = _onboarding_tree(
        os_name=os_name,
        os_version=os_version,
        download_uris=download_uris,
        sha256=sha256,
        configuration_handling=configuration_handling,
        pre_script=pre_script,
        configuration=configuration,
        post_script=post_script,
    )
    out = [f'<onboarding-information xmlns="{CONVEYED_INFO_NS}">']
    image = tree.get("boot-image")
    if isinstance(image, dict):
        out.append("<boot-image>")
        for leaf in ("os-name", "os-version"):
            if leaf in image:
                out.append(f"<{leaf}>{escape(str(image[leaf]))}</{leaf}>")
        out.extend(
            f"<download-uri>{escape(uri)}</download-uri>" for uri in image.get("download-uri", [])
        )
        for entry in image.get("image-verification", []):
            out.append(
                "<image-verification>"
                f'<hash-algorithm xmlns:{CONVEYED_INFO_PREFIX}="{CONVEYED_INFO_NS}">'
                f"{CONVEYED_INFO_PREFIX}:{entry['hash-algorithm']}</hash-algorithm>"
                f"<hash-value>{hex_string(entry['hash-value'])}</hash-value>"
                "</image-verification>"
            )
        out.append("</boot-image>")
    if "configuration-handling" in tree:
        out.append(
            "<configuration-handling>"
            f"{escape(str(tree['configuration-handling']))}</configuration-handling>"
        )
    for leaf in ("pre-configuration-script", "configuration", "post-configuration-script"):
        value = tree.get(leaf)
        if isinstance(value, bytes):
            out.append(f"<{leaf}>{b64(value)}</{leaf}>")
    out.append("</onboarding-information>")
    return ("\n".join(out) + "\n").encode()


def redirect_json(servers: Sequence[tuple[str, int | None, bytes | None]]) -> bytes:
    """redirect-information as RFC 7951 JSON: (address, port, trust-anchor CMS) per server."""
    entries: list[dict[str, object]] = []
    for address, port, trust_anchor in servers:
        entry: dict[str, object] = {"address": address}
        if port is not None:
            entry["port"] = port
        if trust_anchor is not None:
            entry["trust-anchor"] = b64(trust_anchor)
        entries.append(entry)
    document = {f"{CONVEYED_INFO_MODULE}:redirect-information": {"bootstrap-server": entries}}
    return json.dumps(document, indent=2).encode()


def redirect_xml(servers: Sequence[tuple[str, int | None, bytes | None]]) -> bytes:
    """redirect-information as RFC 7950 XML: (address, port, trust-anchor CMS) per server."""
    out = [f'<redirect-information xmlns="{CONVEYED_INFO_NS}">']
    for address, port, trust_anchor in servers:
        out.append("<bootstrap-server>")
        out.append(f"<address>{escape(address)}</address>")
        if port is not None:
            out.append(f"<port>{port}</port>")
        if trust_anchor is not None:
            out.append(f"<trust-anchor>{b64(trust_anchor)}</trust-anchor>")
        out.append("</bootstrap-server>")
    out.append("</redirect-information>")
    return ("\n".join(out) + "\n").encode()


# ---------------------------------------------------------------------------------------------
# Signed sets


@dataclass(frozen=True)
class SignedSet:
    """The three artifacts of signed data (RFC 8572 §3): DER CMS each."""

    conveyed_information: bytes
    owner_certificate: bytes | None
    ownership_voucher: bytes | None


def idevid_issuer_of(cert: x509.Certificate) -> bytes:
    """The AuthorityKeyIdentifier keyIdentifier of ``cert`` (a voucher's idevid-issuer)."""
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    if aki.key_identifier is None:
        raise ValueError("certificate's AuthorityKeyIdentifier has no keyIdentifier")
    return aki.key_identifier


def owner_certificate_artifact(
    owner: Issued, crls: Sequence[x509.CertificateRevocationList] = ()
) -> bytes:
    """Degenerate SignedData of the owner certificate and its chain (no root), plus CRLs."""
    return cms.degenerate(list(owner.path), crls)


def trust_anchor_bag(ca: Issued) -> bytes:
    """Degenerate SignedData of one chain: ``ca``, its intermediates and its self-signed root.

    The form of a redirect's trust-anchor leaf and of bootstrap-complete's trust-anchor-cert
    (RFC 8572 §6.3, §7.3).
    """
    certs = list(ca.path)
    if ca.trust_anchor not in certs:
        certs.append(ca.trust_anchor)
    return cms.degenerate(certs)


def make_signed_set(
    pki: LabPKI,
    serial_number: str,
    conveyed: bytes,
    *,
    encoding: Encoding = "json",
    nonce: bytes | None = None,
    assertion: str = "verified",
    created_on: DateValue | None = None,
    expires_on: DateValue | None = None,
    pinned_domain_cert: x509.Certificate | bytes | None = None,
    owner: Issued | None = None,
    owner_crls: Sequence[x509.CertificateRevocationList] = (),
    domain_cert_revocation_checks: bool | str | None = None,
    idevid_issuer: bytes | None = None,
    voucher_signer: Issued | None = None,
) -> SignedSet:
    """Signed conveyed information with its owner certificate and ownership voucher.

    The conveyed information is signed by the owner certificate's key with eContentType .43,
    .42 or id-data by ``encoding``; the owner-certificate artifact is a degenerate SignedData
    of the owner certificate, its chain (no root) and ``owner_crls``; the voucher (eContentType
    .40) pins ``pinned_domain_cert`` (default the owner root), has ``created_on`` default
    ``pki.now``, and is signed by ``voucher_signer`` (default the lab's voucher signer) with
    that certificate and its chain (for the default: the manufacturer intermediate) included.
    """
    owner = owner if owner is not None else pki.owner_certificate
    signer = voucher_signer if voucher_signer is not None else pki.voucher_signer
    pdc = pinned_domain_cert if pinned_domain_cert is not None else pki.owner_root.cert
    voucher = voucher_json(
        serial_number=serial_number,
        pinned_domain_cert=pdc,
        assertion=assertion,
        created_on=created_on if created_on is not None else pki.now,
        expires_on=expires_on,
        nonce=nonce,
        idevid_issuer=idevid_issuer,
        domain_cert_revocation_checks=domain_cert_revocation_checks,
    )
    return SignedSet(
        conveyed_information=cms.sign(conveyed, _ENCODING_CONTENT_TYPES[encoding], owner),
        owner_certificate=owner_certificate_artifact(owner, owner_crls),
        ownership_voucher=cms.sign(
            voucher, cms.OID_VOUCHER, signer, certificates=list(signer.path)
        ),
    )
