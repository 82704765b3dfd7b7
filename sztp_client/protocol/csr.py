"""RFC 9646 certificate signing requests, sans I/O.

The device offers, to trusted bootstrap servers only, ``ietf-sztp-csr:csr-support`` with
``key-generation`` (the algorithms it can make a fresh key for, as DER AlgorithmIdentifiers)
and ``csr-generation`` with the PKCS#10 format alone; CMP and CMC are neither offered nor
accepted.  A server that wants a CSR answers 400 with ``ietf-sztp-csr:csr-request`` in the
error-info; :func:`parse_csr_request` reads it and refuses any algorithm or format that was not
offered, and :func:`build_p10_csr` signs the request: the server's ``cert-req-info`` exactly as
given when there is one (its key algorithm must be the selected one), else a request whose
subject mirrors the IDevID's.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Final

import msgspec
from asn1crypto import algos as asn1_algos
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509

from sztp_client.errors import CSRRequestError
from sztp_client.model.csr import (
    CSR_MODULE,
    P10_FORMAT,
    SUPPORTED_ALGORITHMS,
)

MAX_CSR_ROUNDS: Final = 3
MAX_CERT_REQ_INFO_OCTETS: Final = 64 * 1024


class CSRRequest(msgspec.Struct, frozen=True):
    """What the server asked for: the selected algorithm's name (None when the server asks
    for a CSR over the existing key) and its cert-req-info, if any (DER)."""

    algorithm: str | None
    cert_req_info: bytes | None


def _b64(value: object, field: str, limit: int) -> bytes:
    if not isinstance(value, str) or len(value) > limit * 4 // 3 + 4:
        raise CSRRequestError(f"csr-request {field}: not a bounded base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CSRRequestError(f"csr-request {field}: not base64 ({exc})") from None


def _algorithm_name(der: bytes, field: str) -> str:
    for name, offered in SUPPORTED_ALGORITHMS.items():
        if der == offered:
            return name
    raise CSRRequestError(f"csr-request {field}: an algorithm the device did not offer")


def _is_p10_format(identifier: object) -> bool:
    """``ietf-ztp-types:p10-csr`` (JSON), or ``p10-csr`` with any one prefix: in XML the
    identityref carries whatever prefix the server bound to the ietf-ztp-types namespace, and
    the error-info reaches this module as text (the prefix unresolved)."""
    if not isinstance(identifier, str):
        return False
    prefix, _, name = identifier.rpartition(":")
    return name == "p10-csr" and ":" not in prefix and " " not in identifier


def find_csr_request(error_info: object) -> Mapping[str, object] | None:
    """The ``ietf-sztp-csr:csr-request`` object inside a RESTCONF error-info, if any."""
    if isinstance(error_info, Mapping):
        value = error_info.get(f"{CSR_MODULE}:csr-request", error_info.get("csr-request"))
        if isinstance(value, Mapping):
            return value
    return None


def parse_csr_request(request: Mapping[str, object]) -> CSRRequest:
    """Check a csr-request against what was offered (RFC 9646's YANG module)."""
    unknown = set(request) - {"key-generation", "csr-generation", "cert-req-info"}
    if unknown:
        raise CSRRequestError(f"csr-request: unknown members {sorted(unknown)}")
    algorithm: str | None = None
    key_generation = request.get("key-generation")
    if key_generation is not None:
        if not isinstance(key_generation, Mapping):
            raise CSRRequestError("csr-request key-generation: not an object")
        selected = key_generation.get("selected-algorithm")
        if not isinstance(selected, Mapping):
            raise CSRRequestError("csr-request key-generation: no selected-algorithm")
        der = _b64(selected.get("algorithm-identifier"), "selected-algorithm", 1024)
        algorithm = _algorithm_name(der, "selected-algorithm")
    generation = request.get("csr-generation")
    if not isinstance(generation, Mapping):
        raise CSRRequestError("csr-request: no csr-generation")
    selected_format = generation.get("selected-format")
    if not isinstance(selected_format, Mapping):
        raise CSRRequestError("csr-request csr-generation: no selected-format")
    identifier = selected_format.get("format-identifier")
    if not _is_p10_format(identifier):
        raise CSRRequestError(
            f"csr-request selected-format: {identifier!r} was not offered (only {P10_FORMAT})"
        )
    cert_req_info: bytes | None = None
    if "cert-req-info" in request:
        cert_req_info = _b64(request["cert-req-info"], "cert-req-info", MAX_CERT_REQ_INFO_OCTETS)
        if len(cert_req_info) > MAX_CERT_REQ_INFO_OCTETS:
            raise CSRRequestError("csr-request cert-req-info: too large")
    return CSRRequest(algorithm=algorithm, cert_req_info=cert_req_info)


def load_cert_req_info(der: bytes, algorithm: str | None) -> asn1_csr.CertificationRequestInfo:
    """The server's CertificationRequestInfo, checked: well formed, whole, and its SPKI
    algorithm the selected one (when a key was generated)."""
    try:
        info = asn1_csr.CertificationRequestInfo.load(der, strict=True)
        info.native  # noqa: B018 - parse every field now, so a malformed one fails here
        spki_algorithm = info["subject_pk_info"]["algorithm"].dump()
    except (ValueError, TypeError, KeyError) as exc:
        raise CSRRequestError(f"csr-request cert-req-info: malformed ({exc})") from None
    if algorithm is not None and spki_algorithm != SUPPORTED_ALGORITHMS[algorithm]:
        raise CSRRequestError(
            "csr-request cert-req-info: its public key algorithm differs from the selected one"
        )
    return info


Signer = Callable[[bytes], bytes]
"""Signs the DER CertificationRequestInfo with the new key (SHA-256; ECDSA or PKCS#1 v1.5)."""


def build_p10_csr(
    *,
    algorithm: str,
    spki_der: bytes,
    sign: Signer,
    cert_req_info: bytes | None,
    subject_der: bytes,
) -> bytes:
    """A DER PKCS#10 CertificationRequest.

    With ``cert_req_info`` the server's structure is signed as given: version, subject and
    attributes byte for byte, with the new key in its public key field (the server chose
    the algorithm but cannot know the key made for this round); without, the request
    carries ``spki_der`` and the IDevID's subject (``subject_der``)."""
    if cert_req_info is not None:
        given = load_cert_req_info(cert_req_info, algorithm)
        if given["subject_pk_info"].dump() == spki_der:
            info_der = cert_req_info  # already carries the new key: signed byte for byte
        else:  # the server cannot know a key made just now: only the key field is filled in
            filled = asn1_csr.CertificationRequestInfo(
                {
                    "version": given["version"],
                    "subject": given["subject"],
                    "subject_pk_info": asn1_keys.PublicKeyInfo.load(spki_der),
                    "attributes": given["attributes"],
                }
            )
            info_der = filled.dump()
    else:
        try:
            info = asn1_csr.CertificationRequestInfo(
                {
                    "version": "v1",
                    "subject": asn1_x509.Name.load(subject_der),
                    "subject_pk_info": asn1_keys.PublicKeyInfo.load(spki_der),
                    "attributes": [],
                }
            )
            info_der = info.dump()
        except (ValueError, TypeError) as exc:
            raise CSRRequestError(f"cannot build the certificate request ({exc})") from None
    signature_algorithm = "sha256_ecdsa" if algorithm == "ec-p256" else "sha256_rsa"
    request = asn1_csr.CertificationRequest(
        {
            "certification_request_info": asn1_csr.CertificationRequestInfo.load(info_der),
            "signature_algorithm": asn1_algos.SignedDigestAlgorithm(
                {"algorithm": signature_algorithm}
            ),
            "signature": sign(info_der),
        }
    )
    der: bytes = request.dump()
    return der


def p10_csr_json(csr_der: bytes) -> str:
    """The value of ``ietf-sztp-csr:p10-csr`` in the request body."""
    return base64.b64encode(csr_der).decode("ascii")
