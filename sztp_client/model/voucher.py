"""The ownership voucher's content: ``ietf-voucher`` (RFC 8366), JSON only (R-134..R-137).

This module reads the voucher's JSON once the CMS layer has unwrapped it; whether the voucher
applies to this device (serial number, nonce, assertion, validity) is the trust layer's decision.

Project rules (D12): ``domain-cert-revocation-checks`` may be a JSON boolean or the strings
``"true"``/``"false"`` (RFC 8366's own example uses a string, R-136); ``expires-on`` and
``nonce`` together are accepted (rfc8366bis dropped RFC 8366's ``must``, R-135), both are checked
later; leaves this client does not know (rfc8366bis ``extensions``, ``est-domain``,
``pinned-domain-pubk`` ...) are ignored (R-137); ``pinned-domain-cert`` is required because SZTP
cannot work without it.
"""

from __future__ import annotations

import datetime
import enum
from typing import Final

import msgspec

from sztp_client.encoding.json import YangJSONObject, json_type_name, load_json
from sztp_client.encoding.yang_types import encode_base64, format_datetime, parse_datetime
from sztp_client.errors import ModelError

__all__ = ["MODULE", "Assertion", "Voucher", "parse_voucher", "voucher_to_json"]

MODULE: Final = "ietf-voucher"
_TOP: Final = f"{MODULE}:voucher"
NONCE_MIN_OCTETS: Final = 8
NONCE_MAX_OCTETS: Final = 32


class Assertion(enum.StrEnum):
    """``assertion``: how the MASA knows the owner (``agent-proximity`` is from rfc8366bis)."""

    VERIFIED = "verified"
    LOGGED = "logged"
    PROXIMITY = "proximity"
    AGENT_PROXIMITY = "agent-proximity"


def _check_aware(value: datetime.datetime | None, field: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ModelError(field, "a date-and-time needs a time zone")


class Voucher(msgspec.Struct, frozen=True):
    """The leaves of one voucher; binary leaves decoded, dates timezone-aware."""

    created_on: datetime.datetime
    expires_on: datetime.datetime | None
    assertion: Assertion
    serial_number: str
    idevid_issuer: bytes | None
    pinned_domain_cert: bytes
    domain_cert_revocation_checks: bool | None
    nonce: bytes | None
    last_renewal_date: datetime.datetime | None

    def __post_init__(self) -> None:
        try:
            msgspec.structs.force_setattr(self, "assertion", Assertion(self.assertion))
        except ValueError:
            raise ModelError(
                "assertion", f"{self.assertion!r:.80} is not a known assertion"
            ) from None
        _check_aware(self.created_on, "created-on")
        _check_aware(self.expires_on, "expires-on")
        _check_aware(self.last_renewal_date, "last-renewal-date")
        if self.nonce is not None and not (NONCE_MIN_OCTETS <= len(self.nonce) <= NONCE_MAX_OCTETS):
            raise ModelError(
                "nonce",
                f"{len(self.nonce)} octets; a voucher nonce has "
                f"{NONCE_MIN_OCTETS}..{NONCE_MAX_OCTETS}",
            )
        if self.last_renewal_date is not None and self.expires_on is None:
            raise ModelError(
                "last-renewal-date", "last-renewal-date is only allowed together with expires-on"
            )
        from cryptography import x509  # noqa: PLC0415 - `status` reads the config without it

        try:
            x509.load_der_x509_certificate(self.pinned_domain_cert)
        except (ValueError, x509.InvalidVersion) as exc:
            raise ModelError(
                "pinned-domain-cert", f"not a DER-encoded X.509 certificate: {exc}"
            ) from exc


def _date(voucher: YangJSONObject, name: str) -> datetime.datetime | None:
    text = voucher.string(name)
    return None if text is None else parse_datetime(text, voucher.path_of(name))


def parse_voucher(data: bytes) -> Voucher:
    """Parse the JSON content of a voucher artifact (RFC 8366 §5.3).

    Malformed JSON raises :class:`EncodingError`; a missing mandatory leaf, a value of the
    wrong type or format, or a violated constraint raises :class:`ModelError` naming the leaf.
    """
    document = load_json(data, "voucher")
    if not isinstance(document, dict):
        raise ModelError(_TOP, f"the voucher must be a JSON object, not {json_type_name(document)}")
    if list(document) != [_TOP]:
        raise ModelError(
            _TOP, f"the voucher must be a JSON object with exactly one member, {_TOP!r}"
        )
    voucher = YangJSONObject(document[_TOP], _TOP, MODULE, prefix="")
    created_on = _date(voucher, "created-on")
    if created_on is None:
        raise ModelError("created-on", "missing; it is mandatory")
    expires_on = _date(voucher, "expires-on")
    assertion_text = voucher.required_string("assertion")
    try:
        assertion = Assertion(assertion_text)
    except ValueError:
        raise ModelError(
            "assertion",
            f"{assertion_text!r:.80} is not one of " + ", ".join(a.value for a in Assertion),
        ) from None
    serial_number = voucher.required_string("serial-number")
    idevid_issuer = voucher.binary("idevid-issuer")
    pinned_domain_cert = voucher.required_binary("pinned-domain-cert")
    revocation_checks = voucher.boolean("domain-cert-revocation-checks", lenient=True)
    nonce = voucher.binary("nonce")
    last_renewal_date = _date(voucher, "last-renewal-date")
    voucher.finish(ignore_unknown=True)
    return Voucher(
        created_on=created_on,
        expires_on=expires_on,
        assertion=assertion,
        serial_number=serial_number,
        idevid_issuer=idevid_issuer,
        pinned_domain_cert=pinned_domain_cert,
        domain_cert_revocation_checks=revocation_checks,
        nonce=nonce,
        last_renewal_date=last_renewal_date,
    )


def voucher_to_json(v: Voucher) -> dict[str, object]:
    """The voucher as RFC 8366 JSON, for display: binary leaves base64, dates RFC 3339 UTC."""
    body: dict[str, object] = {"created-on": format_datetime(v.created_on)}
    if v.expires_on is not None:
        body["expires-on"] = format_datetime(v.expires_on)
    body["assertion"] = v.assertion.value
    body["serial-number"] = v.serial_number
    if v.idevid_issuer is not None:
        body["idevid-issuer"] = encode_base64(v.idevid_issuer)
    body["pinned-domain-cert"] = encode_base64(v.pinned_domain_cert)
    if v.domain_cert_revocation_checks is not None:
        body["domain-cert-revocation-checks"] = v.domain_cert_revocation_checks
    if v.nonce is not None:
        body["nonce"] = encode_base64(v.nonce)
    if v.last_renewal_date is not None:
        body["last-renewal-date"] = format_datetime(v.last_renewal_date)
    return {_TOP: body}
