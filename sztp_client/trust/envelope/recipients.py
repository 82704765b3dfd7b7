"""Which RecipientInfos of an envelope name the device (R-008, R-050): the names a
RecipientInfo may give the device's identity certificate (issuer and serial number, or subject
key identifier), and the count of recipient identifiers bounded before any is decoded (D28).
When none names the device, :class:`NotForThisDeviceError` says what the envelope names and
what the device is.
"""

from __future__ import annotations

import hmac
from typing import Any

import msgspec
from cryptography import x509

from sztp_client.errors import ConfigurationError
from sztp_client.trust.envelope.errors import EnvelopeLimitError, NotForThisDeviceError

__all__ = ["Candidate", "RecipientIdentity", "candidates_for"]

#: names of other recipients shown in a refusal
_NAMED_SHOWN = 4


class RecipientIdentity(msgspec.Struct, frozen=True):
    """What a RecipientInfo may name the device's certificate by."""

    issuer_der: bytes
    serial_number: int
    subject_key_identifier: bytes

    @classmethod
    def of(cls, cert: x509.Certificate) -> RecipientIdentity:
        try:
            try:
                ext = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
                ski = ext.value.digest
            except x509.ExtensionNotFound:  # RFC 5280 §4.2.1.2 method 1, as producers do
                ski = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
            return cls(cert.issuer.public_bytes(), cert.serial_number, ski)
        except Exception as exc:  # malformed extensions or an unusable key in the configuration
            raise ConfigurationError(
                f"the identity certificate cannot name a recipient ({type(exc).__name__}: {exc})"
            ) from exc

    def named_by(self, rid: Any) -> bool:
        """Whether a RecipientIdentifier / KeyAgreeRecipientIdentifier names this identity."""
        if rid.name == "issuer_and_serial_number":
            chosen = rid.chosen
            return (
                chosen["issuer"].dump() == self.issuer_der
                and int(chosen["serial_number"].native) == self.serial_number
            )
        chosen = rid.chosen
        ski = chosen["subject_key_identifier"] if rid.name == "r_key_id" else chosen
        return hmac.compare_digest(bytes(ski.native), self.subject_key_identifier)


def _describe_rid(rid: Any) -> str:
    try:
        if rid.name == "issuer_and_serial_number":
            issuer = rid.chosen["issuer"].human_friendly[:120]
            return f"issuer '{issuer}' serial {int(rid.chosen['serial_number'].native):x}"
        chosen = rid.chosen["subject_key_identifier"] if rid.name == "r_key_id" else rid.chosen
        return f"subject key identifier {bytes(chosen.native)[:32].hex(':')}"
    except Exception:  # a name that cannot be shown is still a name
        return "an unreadable recipient identifier"


class Candidate(msgspec.Struct, frozen=True):
    """A RecipientInfo that names the device, with the encrypted key meant for it."""

    kind: str  # "ktri" or "kari"
    info: Any
    encrypted_key: bytes


def candidates_for(
    recipient_infos: Any,
    identity: RecipientIdentity,
    certificate: x509.Certificate,
    max_recipients: int,
) -> list[Candidate]:
    """The RecipientInfos (and RecipientEncryptedKeys) naming ``identity``, in order.

    More than ``max_recipients`` recipient identifiers raise :class:`EnvelopeLimitError`; none
    naming the device raises :class:`NotForThisDeviceError` describing ``certificate``.
    """
    candidates: list[Candidate] = []
    named: list[str] = []
    seen = 0
    for info in recipient_infos:
        if info.name == "ktri":
            seen += 1
            rid = info.chosen["rid"]
            if identity.named_by(rid):
                key = bytes(info.chosen["encrypted_key"].native)
                candidates.append(Candidate("ktri", info.chosen, key))
            else:
                named.append(_describe_rid(rid))
        elif info.name == "kari":
            reks = info.chosen["recipient_encrypted_keys"]
            seen += len(reks)
            if seen > max_recipients:
                break
            for rek in reks:
                if identity.named_by(rek["rid"]):
                    key = bytes(rek["encrypted_key"].native)
                    candidates.append(Candidate("kari", info.chosen, key))
                else:
                    named.append(_describe_rid(rek["rid"]))
        else:
            seen += 1
            named.append(f"a {info.name} recipient (not used by this device)")
    if seen > max_recipients:
        raise EnvelopeLimitError(f"the envelope names more than {max_recipients} recipients")
    if not candidates:
        raise NotForThisDeviceError(_not_for_us(named, identity, certificate))
    return candidates


def _not_for_us(
    named: list[str], identity: RecipientIdentity, certificate: x509.Certificate
) -> str:
    shown = "; ".join(named[:_NAMED_SHOWN]) or "no recipient"
    if len(named) > _NAMED_SHOWN:
        shown += f"; and {len(named) - _NAMED_SHOWN} more"
    return (
        f"not encrypted for this device: the envelope is for {shown}; this device's "
        f"identity certificate is issuer '{certificate.issuer.rfc4514_string()[:120]}' serial "
        f"{certificate.serial_number:x} (subject key identifier "
        f"{identity.subject_key_identifier.hex(':')})"
    )
