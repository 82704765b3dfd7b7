"""The private-key step of decryption, behind a small interface a TPM can implement.

The decryptor parses and checks everything itself and asks a :class:`RecipientKey` for one
private-key operation per envelope: an RSA decryption (key transport) or an ECDH shared
secret (key agreement).  A TPM back-end implements exactly these two calls (TPM2_RSA_Decrypt,
TPM2_ECDH_ZGen); :class:`FileRecipientKey` implements them over a private key held in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from sztp_client.errors import ConfigurationError

HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class RsaPadding(msgspec.Struct, frozen=True):
    """How an RSA key-transport ciphertext is padded (RFC 8017).

    ``scheme`` "pkcs1v15" (RSAES-PKCS1-v1_5) takes no other field; "oaep" (RSAES-OAEP) names
    its hash and MGF1 hash (keys of :data:`HASHES`) and its label (empty in CMS practice).
    """

    scheme: Literal["pkcs1v15", "oaep"]
    hash: str | None = None
    mgf1_hash: str | None = None
    label: bytes = b""

    def to_cryptography(self) -> padding.AsymmetricPadding:
        if self.scheme == "pkcs1v15":
            return padding.PKCS1v15()
        if self.hash is None or self.mgf1_hash is None:
            raise ValueError("RSAES-OAEP needs its hash and its MGF1 hash")
        return padding.OAEP(
            mgf=padding.MGF1(HASHES[self.mgf1_hash]()),
            algorithm=HASHES[self.hash](),
            label=self.label or None,
        )


class RecipientKey(Protocol):
    """The device's identity key as the decryptor uses it (R-008, R-050).

    ``certificate`` is the identity certificate the artifacts are encrypted to; the decryptor
    picks the RecipientInfo that names it (issuer and serial number, or subject key
    identifier).  Either operation may raise anything: the decryptor maps every failure to a
    typed refusal (and, for RSA, to the same refusal as every other content failure).
    """

    @property
    def certificate(self) -> x509.Certificate: ...

    def rsa_decrypt(self, ciphertext: bytes, padding: RsaPadding) -> bytes:
        """The RSA-decrypted key-transport ciphertext (the content-encryption key)."""
        ...

    def ecdh(self, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        """The ECDH shared secret Z (the x coordinate) with the originator's key."""
        ...


class FileRecipientKey:
    """A :class:`RecipientKey` over a private key held in memory (the ``file`` identity).

    Refuses (ConfigurationError) a key that does not belong to the certificate.
    """

    def __init__(
        self,
        certificate: x509.Certificate,
        private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    ) -> None:
        if not isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ConfigurationError("the identity key is neither RSA nor EC; it cannot decrypt")
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        ours = private_key.public_key().public_bytes(serialization.Encoding.DER, spki)
        theirs = certificate.public_key().public_bytes(serialization.Encoding.DER, spki)
        if ours != theirs:
            raise ConfigurationError(
                "the identity key does not belong to the identity certificate "
                f"({certificate.subject.rfc4514_string()})"
            )
        self._certificate = certificate
        self._key = private_key

    @classmethod
    def from_pem(
        cls, certificate_pem: bytes, key_pem: bytes, password: bytes | None = None
    ) -> FileRecipientKey:
        """From PEM bytes (the first certificate of ``certificate_pem`` is the identity)."""
        try:
            certificate = x509.load_pem_x509_certificates(certificate_pem)[0]
            key = serialization.load_pem_private_key(key_pem, password)
        except (ValueError, TypeError, IndexError) as exc:
            raise ConfigurationError(
                f"the identity certificate or key is unreadable ({exc})"
            ) from exc
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ConfigurationError("the identity key is neither RSA nor EC; it cannot decrypt")
        return cls(certificate, key)

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    def rsa_decrypt(self, ciphertext: bytes, padding: RsaPadding) -> bytes:
        if not isinstance(self._key, rsa.RSAPrivateKey):
            raise TypeError("the identity key is not an RSA key")
        return self._key.decrypt(ciphertext, padding.to_cryptography())

    def ecdh(self, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        if not isinstance(self._key, ec.EllipticCurvePrivateKey):
            raise TypeError("the identity key is not an EC key")
        return self._key.exchange(ec.ECDH(), peer_public_key)
