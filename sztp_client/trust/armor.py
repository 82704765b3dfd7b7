"""Reading certificates and CMS artifacts in the encodings operators hand around.

Certificates: PEM (any number per file) or one DER certificate.  CMS artifacts: DER, base64 of
the DER (line breaks allowed), or PEM armour (``-----BEGIN CMS-----``, ``PKCS7`` and the like).
Pure functions over bytes; the callers read the files.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography import x509

from sztp_client.errors import EncodingError

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)
_B64_TEXT = re.compile(rb"^[A-Za-z0-9+/=\s]+$")


def load_certificates(data: bytes, what: str) -> list[x509.Certificate]:
    """All certificates in ``data`` (PEM, several allowed, or a single DER certificate)."""
    if b"-----BEGIN" in data:
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise EncodingError(f"{what}: malformed PEM certificate ({exc})") from exc
        return list(certs)
    if not data.strip():
        return []
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise EncodingError(f"{what}: neither PEM nor DER X.509 certificates") from exc


def decode_cms_input(data: bytes, what: str) -> bytes:
    """The DER of a CMS artifact given as DER, base64 of DER or PEM armour."""
    stripped = data.strip()
    if not stripped:
        raise EncodingError(f"{what}: the file is empty")
    if stripped[:1] == b"\x30":
        return data
    match = _PEM_BLOCK.search(stripped)
    body = match.group(2) if match else stripped
    if not _B64_TEXT.match(body):
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
