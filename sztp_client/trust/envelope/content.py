"""Opening one EnvelopedData or AuthEnvelopedData (RFC 5652 §6, RFC 5083): the envelope's
version and recipient count, the content-encryption algorithm and the ciphertext's length, the
RecipientInfos naming the device (:mod:`.recipients`), the one private-key operation
(:mod:`.key_steps`), then the content decryption, with the authenticated content-type attribute
checked for AES-GCM.  Loaded on the first encrypted artifact, not at start-up.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core

from sztp_client.trust import oids
from sztp_client.trust.cms_signer import version_number
from sztp_client.trust.envelope.algorithms import content_cipher
from sztp_client.trust.envelope.errors import (
    EnvelopeLimitError,
    MalformedEnvelopeError,
    UnsupportedAlgorithmError,
)
from sztp_client.trust.envelope.key_steps import content_key
from sztp_client.trust.envelope.keys import RecipientKey
from sztp_client.trust.envelope.recipients import RecipientIdentity, candidates_for

__all__ = ["open_envelope"]

_CONTENT_TYPE_ATTRIBUTE = "1.2.840.113549.1.9.3"


def open_envelope(
    key: RecipientKey,
    identity: RecipientIdentity,
    content_type: str,
    der: bytes,
    *,
    max_recipients: int,
) -> tuple[str, bytes]:
    """``(inner content type, plaintext)`` of an EnvelopedData or AuthEnvelopedData content.

    The steps of :mod:`sztp_client.trust.envelope.decryptor` in order; asn1crypto and
    cryptography may raise anything on hostile input, which the decryptor maps.
    """
    authenticated = content_type == oids.ID_AUTH_ENVELOPED_DATA
    if authenticated:
        envelope = asn1_cms.AuthEnvelopedData.load(der, strict=True)
        eci = envelope["auth_encrypted_content_info"]
        if version_number(envelope["version"]) != 0:
            raise MalformedEnvelopeError("AuthEnvelopedData version must be 0 (RFC 5083)")
    elif content_type == oids.ID_ENVELOPED_DATA:
        envelope = asn1_cms.EnvelopedData.load(der, strict=True)
        eci = envelope["encrypted_content_info"]
        if version_number(envelope["version"]) not in (0, 2, 3, 4):
            raise MalformedEnvelopeError("EnvelopedData version must be 0, 2, 3 or 4")
    else:
        raise UnsupportedAlgorithmError(
            f"{oids.name_of(content_type)} is not an encrypted layer this device opens"
        )
    recipient_infos = envelope["recipient_infos"]
    # counting parses element headers only: the bound holds before any decoding
    if len(recipient_infos) > max_recipients:
        raise EnvelopeLimitError(
            f"the envelope has {len(recipient_infos)} RecipientInfos, over the limit of "
            f"{max_recipients}"
        )
    inner_type = str(eci["content_type"].dotted)
    cipher = content_cipher(eci["content_encryption_algorithm"], authenticated=authenticated)
    encrypted = eci["encrypted_content"]
    if isinstance(encrypted, asn1_core.Void):
        raise MalformedEnvelopeError("the encrypted content is absent (detached)")
    ciphertext = bytes(encrypted.native)
    cipher.check_length(ciphertext)
    aad = mac = b""
    if authenticated:
        mac = bytes(envelope["mac"].native)
        if len(mac) != cipher.icv_length:
            raise MalformedEnvelopeError(
                f"the MAC is {len(mac)} octets; the GCM parameters say {cipher.icv_length}"
            )
        attrs = envelope["auth_attrs"]
        if not isinstance(attrs, asn1_core.Void):
            aad = b"\x31" + attrs.dump()[1:]  # RFC 5083 §2.2: the SET OF encoding
    candidates = candidates_for(recipient_infos, identity, key.certificate, max_recipients)
    cek = content_key(key, candidates, cipher)
    plaintext = cipher.decrypt(cek, ciphertext, aad, mac)
    if authenticated and aad:
        _check_content_type_attribute(envelope["auth_attrs"], inner_type)
    return inner_type, plaintext


def _check_content_type_attribute(attrs: Any, inner_type: str) -> None:
    found = [a for a in attrs if str(a["type"].dotted) == _CONTENT_TYPE_ATTRIBUTE]
    if len(found) != 1 or len(found[0]["values"]) != 1:
        raise MalformedEnvelopeError(
            "the authenticated attributes must hold exactly one content-type attribute "
            "with one value (RFC 5083 §2.1)"
        )
    value = str(found[0]["values"][0].dotted)
    if value != inner_type:
        raise MalformedEnvelopeError(
            f"the authenticated content-type attribute ({value}) differs from the content "
            f"type ({inner_type})"
        )
