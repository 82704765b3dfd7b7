"""What the device's IDevID says about the device: its serial number and its issuer's key id.

Derived here once, for ``run`` (through the device context) and ``verify`` alike.  No I/O.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID


def subject_serial_number(cert: x509.Certificate) -> str | None:
    """The subject's serialNumber attribute (the first one), or None."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def issuer_key_id(cert: x509.Certificate | None) -> bytes | None:
    """The IDevID's authority key identifier: a voucher's idevid-issuer is compared to it."""
    if cert is None:
        return None
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    identifier: bytes | None = aki.key_identifier
    return identifier


__all__ = ["issuer_key_id", "subject_serial_number"]
