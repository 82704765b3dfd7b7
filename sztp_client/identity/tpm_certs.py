"""The IDevID certificate chain of a TPM identity: from a PEM file or a TPM NV index.

An NV index holds the certificates as DER back to back (the IDevID first, then the
intermediates that fit), possibly padded with 0x00 or 0xFF; a PEM file holds them in the same
order.  Every failure is a :class:`~sztp_client.identity.errors.TPMCertificateError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from sztp_client.identity.errors import TPMCertificateError
from sztp_client.identity.tpm import MAX_NV_CERTIFICATE_BYTES, is_nv_reference, parse_nv_index

if TYPE_CHECKING:
    from sztp_client.identity.tpm import TPM


def split_der_certificates(data: bytes) -> list[x509.Certificate]:
    """Certificates stored back to back as DER (trailing 0x00/0xFF padding allowed)."""
    certs: list[x509.Certificate] = []
    offset = 0
    while offset < len(data) and data[offset] not in (0x00, 0xFF):
        length = _der_length(data, offset)
        try:
            certs.append(x509.load_der_x509_certificate(data[offset : offset + length]))
        except ValueError as exc:
            raise TPMCertificateError(
                f"NV data at offset {offset} is not a DER certificate: {exc}",
                key="identity.tpm.certificate",
            ) from None
        offset += length
    if not certs:
        raise TPMCertificateError("no certificate stored", key="identity.tpm.certificate")
    return certs


def _der_length(data: bytes, offset: int) -> int:
    bad = TPMCertificateError(
        f"NV data at offset {offset} is not a DER SEQUENCE", key="identity.tpm.certificate"
    )
    if data[offset] != 0x30 or offset + 2 > len(data):
        raise bad
    first = data[offset + 1]
    if first < 0x80:
        header, body = 2, first
    else:
        count = first & 0x7F
        if not 1 <= count <= 3 or offset + 2 + count > len(data):
            raise bad
        header, body = 2 + count, int.from_bytes(data[offset + 2 : offset + 2 + count], "big")
    if offset + header + body > len(data):
        raise bad
    return header + body


def load_certificates(location: str | Path, tpm: TPM | None = None) -> list[x509.Certificate]:
    """The IDevID first, then its intermediates: from ``nv:0x...`` (with ``tpm``) or a PEM
    file."""
    if is_nv_reference(location):
        if tpm is None:
            raise TPMCertificateError(
                f"{location} names an NV index but no TPM is configured",
                key="identity.tpm.certificate",
            )
        return split_der_certificates(tpm.read_nv(parse_nv_index(location)))
    path = Path(location)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TPMCertificateError(
            f"cannot read {path}: {exc.strerror}", key="identity.tpm.certificate"
        ) from None
    if len(data) > MAX_NV_CERTIFICATE_BYTES * 4:
        raise TPMCertificateError(f"{path} is too large", key="identity.tpm.certificate")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise TPMCertificateError(
            f"{path} holds no PEM certificate: {exc}", key="identity.tpm.certificate"
        ) from None
    return certs


__all__ = ["load_certificates", "split_der_certificates"]
