"""The ownership voucher's steps (RFC 8572 §5.4, RFC 8366): its signature by a signer that
validates to the voucher-signer anchors and passes the signer policy, then its content
(validity, assertion, serial number, IDevID issuer, nonce).  Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sztp_client.errors import CMSError
from sztp_client.model.voucher import Voucher
from sztp_client.trust import cms, cms_verify, oids
from sztp_client.trust.chain import PathError, validate_path
from sztp_client.trust.clock import Clock
from sztp_client.trust.signer_policy import SignerPolicyError, check_signer
from sztp_client.trust.steps import (
    PathBudget,
    Step,
    cert_name,
    fail,
    labelled,
    require_digital_signature,
)

if TYPE_CHECKING:
    from sztp_client.trust.verifier import DeviceIdentity, TrustPolicy


def verify_voucher_signature(
    data: bytes, policy: TrustPolicy, decryptor: cms.Decryptor | None
) -> tuple[bytes, x509.Certificate]:
    step = Step.VOUCHER_SIGNATURE
    with labelled(step):
        unwrapped = cms.unwrap(
            data,
            "ownership-voucher",
            max_size=policy.limits.ownership_voucher,
            decryptor=decryptor,
            bag=policy.limits,
        )
    if not isinstance(unwrapped, cms.Signed):
        raise fail(step, "the ownership voucher is not a CMS SignedData")
    sd = unwrapped.signed
    if sd.econtent_type not in oids.VOUCHER_TYPES:
        raise fail(
            step,
            f"the voucher's eContentType is {oids.name_of(sd.econtent_type)}; expected "
            "id-ct-animaJSONVoucher (1.2.840.113549.1.9.16.1.40) or id-data",
        )
    if sd.econtent is None:
        raise fail(step, "the voucher CMS carries no content")
    if len(sd.signers) != 1:
        raise fail(step, f"the voucher has {len(sd.signers)} signers; exactly one is expected")
    signer = sd.signers[0]
    anchors = policy.voucher_signer.trust_anchors
    # D28: each distinct certificate once, and the signature tried with its key first; only a
    # certificate that holds the signing key has its path validated.
    unique: dict[bytes, x509.Certificate] = {}
    for cert in (*sd.certificates, *anchors):
        if signer.identifies(cert):
            unique.setdefault(cert.public_bytes(serialization.Encoding.DER), cert)
    candidates = list(unique.values())
    if not candidates:
        raise fail(
            step,
            f"the voucher signer ({signer.describe()}) is neither in the voucher CMS nor a "
            "voucher-signer trust anchor",
        )
    holders: list[tuple[x509.Certificate, bytes]] = []
    signature_errors: list[CMSError] = []
    for cert in candidates:
        try:
            content = cms_verify.verify_signature(sd, signer, cert, "ownership voucher")
        except CMSError as exc:
            signature_errors.append(exc)
            continue
        holders.append((cert, content))
    if not holders:
        raise fail(step, signature_errors[0].message) from signature_errors[0]
    budget = PathBudget(policy.limits.path_validations, step, "ownership voucher")
    path_errors: list[str] = []
    for cert, content in holders:
        budget.spend()
        try:
            validate_path(cert, sd.certificates, anchors, policy.clock)
        except PathError as exc:
            if exc.exhausted:
                raise fail(step, f"the voucher signer's path: {exc.reason}") from exc
            path_errors.append(exc.reason)
            continue
        require_digital_signature(cert, step, "voucher signer")
        try:
            check_signer(cert, policy.voucher_signer)
        except SignerPolicyError as exc:
            raise fail(Step.VOUCHER_SIGNER_POLICY, exc.reason) from exc
        return content, cert
    raise fail(
        step,
        f"the voucher signer {cert_name(holders[0][0])} does not validate to a voucher-signer "
        f"trust anchor: {path_errors[0]}",
    )


def check_voucher(
    voucher: Voucher, device: DeviceIdentity, policy: TrustPolicy, nonce: bytes | None
) -> None:
    clock: Clock = policy.clock
    if clock.trusted:
        now = clock.trusted_now()
        if voucher.created_on > now:
            raise fail(
                Step.VOUCHER_VALIDITY,
                f"the voucher was created on {voucher.created_on.isoformat()}, after the "
                f"current time {now.isoformat()}; check the device clock or the voucher",
            )
        if voucher.expires_on is not None and voucher.expires_on <= now:
            raise fail(
                Step.VOUCHER_VALIDITY,
                f"the voucher expired on {voucher.expires_on.isoformat()} (now "
                f"{now.isoformat()}); ask the manufacturer for a new voucher",
            )
    if voucher.assertion not in policy.accepted_assertions:
        accepted = ", ".join(sorted(a.value for a in policy.accepted_assertions)) or "none"
        raise fail(
            Step.VOUCHER_ASSERTION,
            f"the voucher's assertion '{voucher.assertion.value}' is not accepted by this "
            f"device's policy (accepted: {accepted})",
        )
    if voucher.serial_number != device.serial_number:
        raise fail(
            Step.VOUCHER_SERIAL_NUMBER,
            f"the voucher is for serial number '{voucher.serial_number}', not this device "
            f"('{device.serial_number}')",
        )
    if voucher.idevid_issuer is not None:
        if device.idevid_issuer is None:
            raise fail(
                Step.VOUCHER_IDEVID_ISSUER,
                "the voucher names an idevid-issuer, but the device's IDevID issuer is not "
                "known here (give the IDevID certificate)",
            )
        if voucher.idevid_issuer != device.idevid_issuer:
            raise fail(
                Step.VOUCHER_IDEVID_ISSUER,
                "the voucher's idevid-issuer does not match the authority key identifier of "
                "the device's IDevID: the voucher is for a device of another issuer",
            )
    if voucher.nonce is None and policy.require_nonce_voucher:
        raise fail(
            Step.VOUCHER_NONCE,
            "the voucher carries no nonce, and this device accepts only nonce vouchers "
            "(trust.require-nonce-voucher): a voucher without a nonce could be replayed, for "
            "example after the device is resold",
        )
    if voucher.nonce is not None:
        if nonce is None:
            raise fail(
                Step.VOUCHER_NONCE,
                "the voucher carries a nonce but the device sent none: a nonce voucher is "
                "valid only for the request that asked for it",
            )
        if voucher.nonce != nonce:
            raise fail(
                Step.VOUCHER_NONCE,
                "the voucher's nonce differs from the nonce the device sent: a replayed or "
                "foreign voucher",
            )
