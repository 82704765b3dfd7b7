"""Object identifiers: the CMS content types SZTP artifacts use (RFC 8572 §3, §10.3), and the
dotted-form syntax check for OIDs given in the configuration or on the command line.

RFC 8572 §3.3 prints id-ct-animaJSONVoucher cut short; the registered value is ``...16.1.40``
(RFC 8366 §8.4).
"""

from __future__ import annotations

ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
ID_AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"
ID_CT_SZTP_CONVEYED_INFO_XML = "1.2.840.113549.1.9.16.1.42"
ID_CT_SZTP_CONVEYED_INFO_JSON = "1.2.840.113549.1.9.16.1.43"
ID_CT_ANIMA_JSON_VOUCHER = "1.2.840.113549.1.9.16.1.40"

#: content types that may carry conveyed information (R-042, R-045)
CONVEYED_INFORMATION_TYPES = frozenset(
    {ID_DATA, ID_CT_SZTP_CONVEYED_INFO_XML, ID_CT_SZTP_CONVEYED_INFO_JSON}
)
#: content types that may carry a voucher (R-048)
VOUCHER_TYPES = frozenset({ID_CT_ANIMA_JSON_VOUCHER, ID_DATA})
#: the encrypted layers (D14)
ENCRYPTED_TYPES = frozenset({ID_ENVELOPED_DATA, ID_AUTH_ENVELOPED_DATA})

NAMES = {
    ID_DATA: "id-data",
    ID_SIGNED_DATA: "id-signedData",
    ID_ENVELOPED_DATA: "id-envelopedData",
    ID_AUTH_ENVELOPED_DATA: "id-ct-authEnvelopedData",
    ID_CT_SZTP_CONVEYED_INFO_XML: "id-ct-sztpConveyedInfoXML",
    ID_CT_SZTP_CONVEYED_INFO_JSON: "id-ct-sztpConveyedInfoJSON",
    ID_CT_ANIMA_JSON_VOUCHER: "id-ct-animaJSONVoucher",
}


def name_of(oid: str) -> str:
    """A readable name for a content-type OID, for messages."""
    known = NAMES.get(oid)
    return f"{known} ({oid})" if known else oid


def is_dotted_oid(text: str) -> bool:
    """Whether ``text`` is an object identifier in dotted form (e.g. "1.3.6.1.5.5.7.3.3")."""
    arcs = text.split(".")
    if len(arcs) < 2 or len(text) > 200:
        return False
    if any(
        not arc.isascii() or not arc.isdigit() or (len(arc) > 1 and arc[0] == "0") for arc in arcs
    ):
        return False
    return int(arcs[0]) <= 2
