"""Helpers for the decryption tests: counted recipient keys and envelope surgery."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asn1crypto import cms as acms
from asn1crypto import parser as asn1_parser
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sztp_client.trust import cms, oids
from sztp_client.trust.envelope import EnvelopeDecryptor, FileRecipientKey, RsaPadding
from sztp_lab.pki import Issued

OID_DATA_TLV = bytes.fromhex("06092a864886f70d010701")
OID_SIGNED_DATA_TLV = bytes.fromhex("06092a864886f70d010702")


class CountingKey:
    """A RecipientKey that counts the private-key operations asked of it."""

    def __init__(self, inner: FileRecipientKey) -> None:
        self.inner = inner
        self.rsa_calls = 0
        self.ecdh_calls = 0
        self.paddings: list[RsaPadding] = []

    @property
    def operations(self) -> int:
        return self.rsa_calls + self.ecdh_calls

    @property
    def certificate(self) -> x509.Certificate:
        return self.inner.certificate

    def rsa_decrypt(self, ciphertext: bytes, padding: RsaPadding) -> bytes:
        self.rsa_calls += 1
        self.paddings.append(padding)
        return self.inner.rsa_decrypt(ciphertext, padding)

    def ecdh(self, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        self.ecdh_calls += 1
        return self.inner.ecdh(peer_public_key)


def file_key(issued: Issued) -> FileRecipientKey:
    key = issued.key
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return FileRecipientKey(issued.cert, key)


def counted(issued: Issued, **options: Any) -> tuple[EnvelopeDecryptor, CountingKey]:
    key = CountingKey(file_key(issued))
    return EnvelopeDecryptor(key, **options), key


def mutate(der: bytes, change: Callable[[Any], None]) -> bytes:
    """The ContentInfo ``der`` with ``change`` applied to its parsed content, re-encoded."""
    info = acms.ContentInfo.load(der)
    change(info["content"])
    return bytes(info.dump(force=True))


def envelope_of(der: bytes) -> tuple[str, bytes]:
    """(content type, DER of the EnvelopedData / AuthEnvelopedData) of a ContentInfo."""
    info = acms.ContentInfo.load(der)
    raw = bytes(info["content"].dump())
    if raw[:1] == b"\xa0":  # the [0] EXPLICIT wrapper
        raw = bytes(asn1_parser.parse(raw)[4])
    return str(info["content_type"].dotted), raw


def open_envelope(der: bytes, decryptor: EnvelopeDecryptor) -> tuple[str, bytes]:
    """What the decryptor makes of the envelope in the ContentInfo ``der``."""
    content_type, inner = envelope_of(der)
    assert content_type in oids.ENCRYPTED_TYPES
    return decryptor.decrypt(content_type, inner)


def unwrap(der: bytes, decryptor: EnvelopeDecryptor) -> cms.Unwrapped:
    return cms.unwrap(der, "test", decryptor=decryptor)


def relabel_as_signed_data(der: bytes) -> bytes:
    """openssl's envelope (contentType id-data) relabelled id-signedData.

    ``openssl cms -encrypt`` always writes id-data; the contentType of EnvelopedData is not
    protected, so swapping its OID (same length) gives RFC 8572's sign-then-encrypt layering
    with every cryptographic part made by openssl.
    """
    assert der.count(OID_DATA_TLV) == 1, "expected one id-data OID in the envelope"
    return der.replace(OID_DATA_TLV, OID_SIGNED_DATA_TLV)
