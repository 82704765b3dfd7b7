"""Reading certificates and CMS artifacts in the encodings operators hand around.

Certificates: PEM (any number per file) or one DER certificate.  CMS artifacts: DER, base64 of
the DER (line breaks allowed), or PEM armour (``-----BEGIN CMS-----``, ``PKCS7`` and the like).
Pure functions over bytes; the callers read the files.
"""

from __future__ import annotations

import base64
import binascii
import re
import warnings
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.utils import CryptographyDeprecationWarning

from sztp_client.errors import EncodingError

# patterns are kept as text: re compiles each on first use and caches it, not at import
_PEM_BLOCK: Final = rb"(?s)-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----"
_B64_TEXT: Final = rb"^[A-Za-z0-9+/=\s]+$"


def checked_certificate(cert: x509.Certificate, what: str) -> x509.Certificate:
    """``cert`` after decoding every part the client reads.

    cryptography decodes certificate fields lazily, so a malformed name, extension or key
    would otherwise surface as a ValueError deep inside path validation.
    """
    try:
        with warnings.catch_warnings():
            # cryptography warns (and will later fail) on a serial number that is not positive
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            serial = cert.serial_number
        _ = (cert.subject, cert.issuer, cert.extensions)
        _ = (cert.not_valid_before_utc, cert.not_valid_after_utc)
        cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise EncodingError(f"{what}: malformed certificate ({_first_line(exc)})") from exc
    if serial <= 0:
        raise EncodingError(f"{what}: a certificate serial number must be positive (RFC 5280)")
    return cert


def checked_crl(crl: x509.CertificateRevocationList, what: str) -> x509.CertificateRevocationList:
    """``crl`` after decoding every part the client reads (see :func:`checked_certificate`)."""
    try:
        _ = (crl.issuer, crl.last_update_utc, crl.next_update_utc, crl.extensions)
        for entry in crl:
            _ = entry.serial_number
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise EncodingError(f"{what}: malformed CRL ({_first_line(exc)})") from exc
    return crl


def load_der_certificate(data: bytes, what: str) -> x509.Certificate:
    """One DER certificate, fully decoded."""
    try:
        with warnings.catch_warnings():
            # a non-positive serial is refused by checked_certificate with a clear message
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            cert = x509.load_der_x509_certificate(data)
    except (ValueError, x509.InvalidVersion) as exc:
        raise EncodingError(f"{what}: not a DER X.509 certificate") from exc
    return checked_certificate(cert, what)


def load_der_crl(data: bytes, what: str) -> x509.CertificateRevocationList:
    """One DER CRL, fully decoded."""
    try:
        crl = x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise EncodingError(f"{what}: not a DER X.509 CRL") from exc
    return checked_crl(crl, what)


def load_certificates(data: bytes, what: str) -> list[x509.Certificate]:
    """All certificates in ``data`` (PEM, several allowed, or a single DER certificate)."""
    if b"-----BEGIN" in data:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                certs = x509.load_pem_x509_certificates(data)
        except (ValueError, x509.InvalidVersion) as exc:
            raise EncodingError(f"{what}: malformed PEM certificate ({exc})") from exc
        return [checked_certificate(cert, what) for cert in certs]
    if not data.strip():
        return []
    return [load_der_certificate(data, what)]


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()
    return text[0][:160] if text else type(exc).__name__


def decode_cms_input(data: bytes, what: str) -> bytes:
    """The DER of a CMS artifact given as DER, base64 of DER or PEM armour."""
    stripped = data.strip()
    if not stripped:
        raise EncodingError(f"{what}: the file is empty")
    if stripped[:1] == b"\x30":
        return data
    match = re.search(_PEM_BLOCK, stripped)
    body = match.group(2) if match else stripped
    if not re.match(_B64_TEXT, body):
        raise EncodingError(f"{what}: neither DER, base64 of DER nor PEM armour")
    compact = b"".join(body.split())
    compact += b"=" * (-len(compact) % 4)
    try:
        der = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EncodingError(f"{what}: invalid base64 ({exc})") from exc
    if not der:
        raise EncodingError(f"{what}: empty after base64 decoding")
    return der
