"""The typed refusals of the envelope decryptor: all :class:`~sztp_client.errors.CMSError`.

Each is a DataError (parsing-error progress report, exit 65): the encrypted data is refused
and the next source is tried.  Messages name what failed, never key material.
"""

from __future__ import annotations

from sztp_client.errors import CMSError


class DecryptionError(CMSError):
    """An encrypted layer (EnvelopedData or AuthEnvelopedData) cannot be opened."""


class NotForThisDeviceError(DecryptionError):
    """No RecipientInfo names the device's identity certificate (R-008, R-050)."""


class MalformedEnvelopeError(DecryptionError):
    """The envelope is not a well-formed EnvelopedData or AuthEnvelopedData."""


class UnsupportedAlgorithmError(DecryptionError):
    """An algorithm or one of its parameters is unknown or refused."""


class EnvelopeLimitError(DecryptionError):
    """The envelope exceeds a bound: too many recipients, too much content (D28)."""


class KeyAgreementError(DecryptionError):
    """ECDH with the originator's public key failed, or that key is not usable."""


class KeyUnwrapError(DecryptionError):
    """The key-encryption key does not unwrap the content-encryption key (RFC 3394, 3217)."""


#: the one message for every failure after the key-transport step (no padding oracle)
CONTENT_FAILURE = (
    "the encrypted content cannot be decrypted with this device's key: the key transport, "
    "the ciphertext or its integrity check failed (the data may be corrupted, or encrypted "
    "to another key)"
)


class ContentDecryptionError(DecryptionError):
    """The content does not decrypt: bad key transport, bad padding or a failed GCM tag.

    Always carries the same message, whatever the cause (see :data:`CONTENT_FAILURE`).
    """

    def __init__(self) -> None:
        super().__init__(CONTENT_FAILURE)
