"""RFC 9646 on the lab bootstrap server: a per-device certificate request policy.

A :class:`CSRPolicy` on a :class:`~sztp_lab.server.Response` makes the server answer the
device's first get-bootstrapping-data (when it offers ``csr-support``) with a 400 whose
error-info holds ``ietf-sztp-csr:csr-request``; each ``p10-csr`` the device sends is checked
(well formed, its signature verifies with its own key, which is the proof of possession; the
selected algorithm; the subject exactly the given ``cert-req-info``'s) and, after ``rounds``
of them, an LDevID is issued by ``issuer`` for the last request's key and handed to
``onboarding``, which returns the conveyed information (whose post-configuration script
writes the certificate to ``$SZTP_LDEVID_CERT``).  Request bodies and the csr-request may be
JSON or XML (``application/yang-data+xml``, the identityref written with a prefix of its own,
as servers do).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from asn1crypto import csr as asn1_csr
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from sztp_client.model.csr import CSR_MODULE, CSR_NAMESPACE, P10_FORMAT, SUPPORTED_ALGORITHMS
from sztp_lab.pki import Issued

JSON_MEDIA_TYPE = "application/yang-data+json"
XML_MEDIA_TYPE = "application/yang-data+xml"
RESTCONF_NAMESPACE = "urn:ietf:params:xml:ns:yang:ietf-restconf"
ZTP_TYPES_NAMESPACE = "urn:ietf:params:xml:ns:yang:ietf-ztp-types"
EC_P256 = SUPPORTED_ALGORITHMS["ec-p256"]
RSA_2048 = SUPPORTED_ALGORITHMS["rsa-2048"]


class CSRRefused(Exception):
    """The device's certificate request is not acceptable (the message says why)."""


@dataclass
class CSRPolicy:
    """Ask each device ``rounds`` times for a CSR over a new key of ``algorithm`` (DER
    AlgorithmIdentifier; one the device did not offer for negative tests), with
    ``cert_req_info`` (DER CertificationRequestInfo) when given."""

    issuer: Issued
    onboarding: Callable[[x509.Certificate], bytes]
    rounds: int = 1
    algorithm: bytes = EC_P256
    cert_req_info: bytes | None = None
    #: every request received, in order (DER), and the certificates issued
    received: list[bytes] = field(default_factory=list)
    issued: list[x509.Certificate] = field(default_factory=list)
    _asked: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def csr_request(self, media_type: str = JSON_MEDIA_TYPE) -> bytes:
        """The RESTCONF errors document carrying the csr-request, JSON or (for
        ``application/yang-data+xml``) XML."""
        if media_type.partition(";")[0].strip().lower() == XML_MEDIA_TYPE:
            return self._csr_request_xml()
        request: dict[str, Any] = {
            "key-generation": {
                "selected-algorithm": {
                    "algorithm-identifier": base64.b64encode(self.algorithm).decode("ascii")
                }
            },
            "csr-generation": {"selected-format": {"format-identifier": P10_FORMAT}},
        }
        if self.cert_req_info is not None:
            request["cert-req-info"] = base64.b64encode(self.cert_req_info).decode("ascii")
        error = {
            "error-type": "application",
            "error-tag": "missing-attribute",
            "error-message": "Missing input parameter",
            "error-info": {f"{CSR_MODULE}:csr-request": request},
        }
        return json.dumps({"ietf-restconf:errors": {"error": [error]}}).encode()

    def _csr_request_xml(self) -> bytes:
        algorithm = base64.b64encode(self.algorithm).decode("ascii")
        info = (
            f"<cert-req-info>{base64.b64encode(self.cert_req_info).decode('ascii')}</cert-req-info>"
            if self.cert_req_info is not None
            else ""
        )
        return (
            f'<errors xmlns="{RESTCONF_NAMESPACE}"><error>'
            "<error-type>application</error-type><error-tag>missing-attribute</error-tag>"
            "<error-message>Missing input parameter</error-message><error-info>"
            f'<csr-request xmlns="{CSR_NAMESPACE}"><key-generation><selected-algorithm>'
            f"<algorithm-identifier>{algorithm}</algorithm-identifier>"
            "</selected-algorithm></key-generation><csr-generation><selected-format>"
            f'<format-identifier xmlns:ztp="{ZTP_TYPES_NAMESPACE}">ztp:p10-csr'
            "</format-identifier></selected-format></csr-generation>"
            f"{info}</csr-request></error-info></error></errors>\n"
        ).encode()

    def answer(self, serial: str, offered: bool, p10: bytes | None) -> bytes | None:
        """None: send the csr-request; else the conveyed information with the LDevID.
        Raises :class:`CSRRefused` for a request that cannot be accepted."""
        with self._lock:
            asked = self._asked.get(serial, 0)
            if p10 is None:
                if not offered:
                    raise CSRRefused("the device did not offer csr-support")
                self._asked[serial] = asked + 1
                return None
            if asked == 0:
                raise CSRRefused("a p10-csr nobody asked for")
            request = self._check(p10)
            self.received.append(p10)
            if asked < self.rounds:
                self._asked[serial] = asked + 1
                return None
            cert = self._issue(request)
            self.issued.append(cert)
            self._asked.pop(serial, None)
        return self.onboarding(cert)

    def _check(self, der: bytes) -> x509.CertificateSigningRequest:
        try:
            request = x509.load_der_x509_csr(der)
            info = asn1_csr.CertificationRequest.load(der)["certification_request_info"]
            spki_algorithm = info["subject_pk_info"]["algorithm"].dump()
        except ValueError as exc:
            raise CSRRefused(f"p10-csr: not a PKCS#10 request ({exc})") from None
        if not request.is_signature_valid:
            raise CSRRefused("p10-csr: the signature does not verify (no proof of possession)")
        if spki_algorithm != self.algorithm:
            raise CSRRefused("p10-csr: the key is not of the selected algorithm")
        if self.cert_req_info is not None:
            given = asn1_csr.CertificationRequestInfo.load(self.cert_req_info)
            if info["subject"].dump() != given["subject"].dump():
                raise CSRRefused("p10-csr: the subject is not the cert-req-info's")
        return request

    def _issue(self, request: x509.CertificateSigningRequest) -> x509.Certificate:
        key = self.issuer.key
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise CSRRefused("the lab issuer's key cannot sign certificates")
        public = request.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise CSRRefused("p10-csr: unsupported key type")
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(request.subject)
            .issuer_name(self.issuer.cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )


def csr_members(body: bytes, media_type: str = JSON_MEDIA_TYPE) -> tuple[bool, bytes | None]:
    """Whether a get-bootstrapping-data body (JSON, or XML for ``application/yang-data+xml``)
    offers csr-support, and its p10-csr."""
    if media_type.partition(";")[0].strip().lower() == XML_MEDIA_TYPE:
        return _csr_members_xml(body)
    try:
        document = json.loads(body)
        members = document["ietf-sztp-bootstrap-server:input"]
    except (ValueError, KeyError, TypeError):
        return False, None
    if not isinstance(members, Mapping):
        return False, None
    offered = f"{CSR_MODULE}:csr-support" in members
    p10 = members.get(f"{CSR_MODULE}:p10-csr")
    if not isinstance(p10, str):
        return offered, None
    try:
        return offered, base64.b64decode(p10, validate=True)
    except (binascii.Error, ValueError):
        raise CSRRefused("p10-csr: not base64") from None


def _csr_members_xml(body: bytes) -> tuple[bool, bytes | None]:
    try:
        root = defused_fromstring(body, forbid_dtd=True)
    except (ElementTree.ParseError, DefusedXmlException, ValueError):
        return False, None
    offered = root.find(f"{{{CSR_NAMESPACE}}}csr-support") is not None
    found = root.find(f"{{{CSR_NAMESPACE}}}p10-csr")
    if found is None:
        return offered, None
    try:
        return offered, base64.b64decode((found.text or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CSRRefused("p10-csr: not base64") from None


def ldevid_script(cert: x509.Certificate) -> bytes:
    """A post-configuration script that writes ``cert`` (PEM) to ``$SZTP_LDEVID_CERT``."""
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return (
        "#!/bin/sh\nset -e\n"
        ': "${SZTP_LDEVID_CERT:?no LDevID path}"\n'
        f"cat > \"$SZTP_LDEVID_CERT\" <<'PEM'\n{pem}PEM\n"
    ).encode()
