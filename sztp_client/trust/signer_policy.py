"""Who may sign a voucher (D27, R-029..R-035).

A voucher is the manufacturer's statement that a device belongs to an owner.  Whoever can sign
one that a device accepts can give the device to anyone, so the certificates a voucher signer
must validate to are configured on their own (``trust.voucher-signer-trust-anchors``: the
manufacturer's voucher or MASA CA), apart from the CAs that issue IDevIDs
(``trust.manufacturer-trust-anchors``).  If a device's own IDevID validated to a
voucher-signer anchor, every device of the manufacturer could sign vouchers for every other
one with its IDevID key; :func:`check_configuration` refuses such a configuration at start-up.

After path validation, :func:`check_signer` applies the optional narrower constraints of a
:class:`VoucherSignerPolicy`: a required extended key usage, a required certificate policy, and
a set of pinned signer certificates.  Each failure says which constraint failed.

Pure functions over certificates passed in; no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sztp_client.errors import ConfigurationError
from sztp_client.trust.chain import PathError, validate_path
from sztp_client.trust.clock import Clock

VOUCHER_ANCHORS_KEY = "trust.voucher-signer-trust-anchors"
IDEVID_ANCHORS_KEY = "trust.manufacturer-trust-anchors"


class SignerPolicyError(Exception):
    """The voucher signer validated but fails a configured constraint; ``reason`` says which
    (the verifier wraps it in its typed error)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VoucherSignerPolicy(msgspec.Struct, frozen=True):
    """The anchors a voucher signer validates to, and what else it must satisfy.

    ``extended_key_usage`` and ``certificate_policy`` are dotted OIDs the signer certificate
    must list in its extendedKeyUsage and certificatePolicies extensions; ``pinned`` (when not
    empty) are the only certificates that may sign.
    """

    trust_anchors: tuple[x509.Certificate, ...]
    extended_key_usage: str | None = None
    certificate_policy: str | None = None
    pinned: tuple[x509.Certificate, ...] = ()

    @property
    def constrained(self) -> bool:
        return bool(self.extended_key_usage or self.certificate_policy or self.pinned)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def check_signer(cert: x509.Certificate, policy: VoucherSignerPolicy) -> None:
    """Raise SignerPolicyError when ``cert`` (a validated voucher signer) fails a constraint."""
    subject = cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"
    if policy.pinned and _der(cert) not in {_der(p) for p in policy.pinned}:
        raise SignerPolicyError(
            f"the voucher signer '{subject}' is not one of the pinned voucher-signer "
            "certificates (trust.voucher-signer-pinned-certificates)"
        )
    if policy.extended_key_usage is not None:
        wanted = policy.extended_key_usage
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            usages = {u.dotted_string for u in eku}
        except x509.ExtensionNotFound:
            usages = set()
        except ValueError as exc:
            raise SignerPolicyError(
                f"the voucher signer '{subject}' has a malformed extendedKeyUsage ({exc})"
            ) from exc
        if wanted not in usages:
            found = ", ".join(sorted(usages)) or "no extendedKeyUsage extension"
            raise SignerPolicyError(
                f"the voucher signer '{subject}' lacks the required extended key usage "
                f"{wanted} (trust.voucher-signer-extended-key-usage); it has: {found}"
            )
    if policy.certificate_policy is not None:
        wanted = policy.certificate_policy
        try:
            policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
            found_oids = {p.policy_identifier.dotted_string for p in policies}
        except x509.ExtensionNotFound:
            found_oids = set()
        except ValueError as exc:
            raise SignerPolicyError(
                f"the voucher signer '{subject}' has malformed certificatePolicies ({exc})"
            ) from exc
        if wanted not in found_oids:
            found = ", ".join(sorted(found_oids)) or "no certificatePolicies extension"
            raise SignerPolicyError(
                f"the voucher signer '{subject}' does not assert the required certificate "
                f"policy {wanted} (trust.voucher-signer-certificate-policy); it has: {found}"
            )


def _issued(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    if child.issuer != issuer.subject:
        return False
    try:
        child.verify_directly_issued_by(issuer)
    except Exception:  # any failure means: not its issuer
        return False
    return True


def check_configuration(
    idevid: x509.Certificate | None,
    idevid_chain: Sequence[x509.Certificate],
    voucher_anchors: Sequence[x509.Certificate],
    manufacturer_anchors: Sequence[x509.Certificate],
) -> None:
    """D27, at start-up and before any traffic: refuse (ConfigurationError, exit 78) a
    configuration in which a voucher could be signed with an IDevID key.

    * ``voucher_anchors`` must not be empty;
    * no voucher-signer anchor is the IDevID, one of the certificates given with it, or an
      issuer of any of them;
    * the IDevID (with ``idevid_chain`` and the manufacturer anchors as intermediates) does not
      validate to a voucher-signer anchor at any time (the check ignores the clock: a path that
      ever validated would be accepted under the untrusted clock);
    * when ``manufacturer_anchors`` are given, the IDevID validates to one of them.
    """
    if not voucher_anchors:
        raise ConfigurationError(
            "is required: name the manufacturer's voucher (MASA) CA certificates that "
            "voucher signers validate to",
            VOUCHER_ANCHORS_KEY,
        )
    if idevid is None:
        return
    device_side = [idevid, *idevid_chain]
    device_ders = {_der(c) for c in device_side}
    for anchor in voucher_anchors:
        name = anchor.subject.rfc4514_string()
        if _der(anchor) in device_ders:
            raise ConfigurationError(
                f"the voucher-signer anchor '{name}' is the device's IDevID or one of the "
                f"certificates of its chain; vouchers must validate to the manufacturer's "
                f"voucher CA, which issues no IDevID (see also {IDEVID_ANCHORS_KEY})",
                VOUCHER_ANCHORS_KEY,
            )
        if any(_issued(cert, anchor) for cert in device_side):
            raise ConfigurationError(
                f"the voucher-signer anchor '{name}' issues the device's IDevID or its CA: "
                "any device of the manufacturer could then sign a voucher for every other "
                "device with its IDevID key. Configure only the manufacturer's voucher CA "
                f"here and put the IDevID CA in {IDEVID_ANCHORS_KEY}",
                VOUCHER_ANCHORS_KEY,
            )
    intermediates = [*idevid_chain, *manufacturer_anchors]
    try:
        path = validate_path(idevid, intermediates, list(voucher_anchors), Clock.untrusted())
    except PathError:
        pass
    else:
        raise ConfigurationError(
            f"the device's IDevID validates to the voucher-signer anchor "
            f"'{path.anchor.subject.rfc4514_string()}' (through the IDevID chain or "
            f"{IDEVID_ANCHORS_KEY}): any device of the manufacturer could then sign a voucher "
            "for every other device with its IDevID key. Configure only the manufacturer's "
            "voucher CA here",
            VOUCHER_ANCHORS_KEY,
        )
    if manufacturer_anchors:
        try:
            validate_path(idevid, list(idevid_chain), list(manufacturer_anchors), Clock.untrusted())
        except PathError as exc:
            raise ConfigurationError(
                f"the device's IDevID '{idevid.subject.rfc4514_string()}' does not validate to "
                f"any of these IDevID CAs: {exc.reason}",
                IDEVID_ANCHORS_KEY,
            ) from exc
