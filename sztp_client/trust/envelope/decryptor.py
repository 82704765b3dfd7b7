"""Opening EnvelopedData and AuthEnvelopedData with the device's identity key (R-020, R-050).

:class:`EnvelopeDecryptor` implements :class:`sztp_client.trust.cms.Decryptor`.  For one
envelope it

1. refuses an envelope over the size bound and one with more than ``max_recipients``
   recipient identifiers (RecipientInfos, and the RecipientEncryptedKeys inside key-agreement
   ones), counting element headers only, before anything is decoded (D28);
2. parses and checks the content-encryption algorithm and its parameters (IV, GCM nonce and
   ICV length) and the ciphertext's length;
3. picks the RecipientInfos that name the device's identity certificate (issuer and serial
   number, or subject key identifier); none: :class:`NotForThisDeviceError`, naming what the
   envelope names and what the device is;
4. checks the key-transport or key-agreement parameters of the first such RecipientInfo whose
   algorithms are accepted, and only then does **one** private-key operation (an RSA
   decryption or an ECDH), then the KDF and the key unwrap;
5. decrypts the content (AES-GCM: the tag is checked over the authenticated attributes, whose
   content-type attribute, when they are present, must equal the content type).  RFC 5083
   wants authenticated attributes whenever the content is not id-data; their absence is
   accepted, because the openssl 3.0 command line can neither write nor read them, and the
   content type of a SignedData inside is checked again when it is parsed.

So an envelope costs at most one private-key operation, however many RecipientInfos it
carries, and every failure is a :class:`~sztp_client.errors.CMSError`.  The steps are in
:mod:`.content` (1, 2, 5), :mod:`.recipients` (3) and :mod:`.key_steps` (4), loaded when the
first encrypted artifact arrives: building a decryptor at start-up costs little.

**No padding oracle.**  A failed RSA key transport (PKCS#1 v1.5 or OAEP) is never reported as
such: when the private-key step raises, or returns a key of the wrong length, a random
content-encryption key of the right length takes its place (RFC 3218 §2.3) and the content
decryption fails with the same :class:`ContentDecryptionError` message that bad CBC padding, a
failed GCM tag or a corrupted ciphertext give.  This relies on nothing from the RSA
implementation: with OpenSSL 3.2 or later (cryptography's own wheels) PKCS#1 v1.5 decryption
uses implicit rejection and returns a deterministic synthetic key instead of failing, and a TPM
returns an error instead; both end in the same message.  What this code cannot remove is a
timing difference inside the private-key operation itself.
"""

from __future__ import annotations

from sztp_client.errors import SZTPError
from sztp_client.trust import oids
from sztp_client.trust.envelope.errors import EnvelopeLimitError, MalformedEnvelopeError
from sztp_client.trust.envelope.keys import RecipientKey
from sztp_client.trust.envelope.recipients import RecipientIdentity

__all__ = ["DEFAULT_MAX_RECIPIENTS", "DEFAULT_MAX_SIZE", "EnvelopeDecryptor"]

#: recipient identifiers looked at in one envelope (D28)
DEFAULT_MAX_RECIPIENTS = 16
#: the largest envelope accepted (D19's bound on a conveyed-information artifact)
DEFAULT_MAX_SIZE = 16 * 1024 * 1024


class EnvelopeDecryptor:
    """A :class:`sztp_client.trust.cms.Decryptor` over a :class:`RecipientKey`."""

    def __init__(
        self,
        key: RecipientKey,
        *,
        max_recipients: int = DEFAULT_MAX_RECIPIENTS,
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> None:
        self.key = key
        self.max_recipients = max_recipients
        self.max_size = max_size
        self._identity = RecipientIdentity.of(key.certificate)

    def decrypt(self, content_type: str, der: bytes) -> tuple[str, bytes]:
        if len(der) > self.max_size:
            raise EnvelopeLimitError(
                f"the encrypted layer is {len(der)} octets, over the limit of {self.max_size}"
            )
        from sztp_client.trust.envelope.content import open_envelope  # noqa: PLC0415

        try:
            return open_envelope(
                self.key,
                self._identity,
                content_type,
                der,
                max_recipients=self.max_recipients,
            )
        except SZTPError:  # the project's own refusals, DecryptionError among them
            raise
        except Exception as exc:  # hostile input: any parser failure is a malformed envelope
            text = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise MalformedEnvelopeError(
                f"malformed {oids.name_of(content_type)} ({text})"
            ) from exc
