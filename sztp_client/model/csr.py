"""The RFC 9646 offer a device makes in get-bootstrapping-data (the ``ietf-sztp-csr``
augmentation): key generation for EC P-256 and RSA-2048, and the PKCS#10 format alone."""

from __future__ import annotations

import base64
from typing import Final

from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys

CSR_MODULE: Final = "ietf-sztp-csr"
CSR_NAMESPACE: Final = "urn:ietf:params:xml:ns:yang:ietf-sztp-csr"
P10_FORMAT: Final = "ietf-ztp-types:p10-csr"

_EC_P256: Final = asn1_keys.PublicKeyAlgorithm(
    {"algorithm": "ec", "parameters": asn1_keys.ECDomainParameters("named", "secp256r1")}
)
_RSA: Final = asn1_keys.PublicKeyAlgorithm({"algorithm": "rsa", "parameters": asn1_core.Null()})

#: algorithm name -> DER AlgorithmIdentifier, in the order offered.
SUPPORTED_ALGORITHMS: Final[dict[str, bytes]] = {
    "ec-p256": _EC_P256.dump(),
    "rsa-2048": _RSA.dump(),
}


def csr_support_json() -> dict[str, object]:
    """The ``ietf-sztp-csr:csr-support`` member of the get-bootstrapping-data input."""
    return {
        "key-generation": {
            "supported-algorithms": {
                "algorithm-identifier": [
                    base64.b64encode(der).decode("ascii") for der in SUPPORTED_ALGORITHMS.values()
                ]
            }
        },
        "csr-generation": {"supported-formats": {"format-identifier": [P10_FORMAT]}},
    }


def csr_support_xml() -> str:
    """The same container in XML (namespace of ietf-sztp-csr)."""
    algorithms = "".join(
        f"<algorithm-identifier>{base64.b64encode(der).decode('ascii')}</algorithm-identifier>"
        for der in SUPPORTED_ALGORITHMS.values()
    )
    return (
        f'<csr-support xmlns="{CSR_NAMESPACE}">'
        f"<key-generation><supported-algorithms>{algorithms}</supported-algorithms>"
        "</key-generation><csr-generation><supported-formats>"
        '<format-identifier xmlns:ztp="urn:ietf:params:xml:ns:yang:ietf-ztp-types">'
        "ztp:p10-csr</format-identifier></supported-formats></csr-generation></csr-support>"
    )
