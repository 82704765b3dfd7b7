"""Decryption of encrypted SZTP artifacts (RFC 8572 §3.4, RFC 5652 §6, RFC 5083).

The public API: :class:`EnvelopeDecryptor` (a :class:`sztp_client.trust.cms.Decryptor`),
the :class:`RecipientKey` interface its private-key step goes through, the file-key
implementation :class:`FileRecipientKey`, :class:`RsaPadding`, and the typed errors.
The package does no I/O.
"""

from __future__ import annotations

from sztp_client.trust.envelope.decryptor import (
    DEFAULT_MAX_RECIPIENTS,
    DEFAULT_MAX_SIZE,
    EnvelopeDecryptor,
)
from sztp_client.trust.envelope.errors import (
    CONTENT_FAILURE,
    ContentDecryptionError,
    DecryptionError,
    EnvelopeLimitError,
    KeyAgreementError,
    KeyUnwrapError,
    MalformedEnvelopeError,
    NotForThisDeviceError,
    UnsupportedAlgorithmError,
)
from sztp_client.trust.envelope.keys import FileRecipientKey, RecipientKey, RsaPadding

__all__ = [
    "CONTENT_FAILURE",
    "DEFAULT_MAX_RECIPIENTS",
    "DEFAULT_MAX_SIZE",
    "ContentDecryptionError",
    "DecryptionError",
    "EnvelopeDecryptor",
    "EnvelopeLimitError",
    "FileRecipientKey",
    "KeyAgreementError",
    "KeyUnwrapError",
    "MalformedEnvelopeError",
    "NotForThisDeviceError",
    "RecipientKey",
    "RsaPadding",
    "UnsupportedAlgorithmError",
]
