"""The steps of the verification pipeline (the numbered list of
:mod:`sztp_client.trust.verifier`, which is the entry point): decoding and consistency, the
voucher (:mod:`.voucher_steps`), the owner certificate and its revocation, the conveyed
information's signature and content, and the source's right to deliver it.  No I/O.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sztp_client.errors import CMSError
from sztp_client.limits import Limits
from sztp_client.model.conveyed import ConveyedInformation, OnboardingInformation
from sztp_client.model.conveyed_parser import parse_conveyed_information
from sztp_client.model.voucher import parse_voucher
from sztp_client.trust import armor, cms, cms_verify, oids
from sztp_client.trust.chain import PathError, RevocationError, check_revocation, validate_path
from sztp_client.trust.sources import InformationKind, SourceKind, check_delivery
from sztp_client.trust.steps import (
    PathBudget,
    Step,
    cert_name,
    fail,
    labelled,
    require_digital_signature,
)
from sztp_client.trust.verifier import Artifacts, DeviceIdentity, TrustPolicy, VerifiedData
from sztp_client.trust.voucher_steps import check_voucher, verify_voucher_signature

__all__ = ["run_pipeline"]


def run_pipeline(
    artifacts: Artifacts,
    device: DeviceIdentity,
    policy: TrustPolicy,
    *,
    source: SourceKind,
    nonce: bytes | None,
    decryptor: cms.Decryptor | None,
    current: list[Step | None],
) -> VerifiedData:
    """The steps of :mod:`sztp_client.trust.verifier` in order; ``current[0]`` names the one
    running, so that an unexpected failure is reported against it."""
    limits = policy.limits
    current[0] = Step.DECODE
    with labelled(Step.DECODE):
        conveyed = cms.unwrap(
            artifacts.conveyed_information,
            "conveyed-information",
            max_size=limits.conveyed_information,
            decryptor=decryptor,
            bag=limits,
        )
    has_oc = artifacts.owner_certificate is not None
    has_ov = artifacts.ownership_voucher is not None
    if isinstance(conveyed, cms.Plain):
        if has_oc or has_ov:
            raise fail(
                Step.CONSISTENCY,
                "an owner certificate or voucher came with unsigned conveyed information; "
                "the set is inconsistent (sign the conveyed information, or ship it alone)",
            )
        content_type = conveyed.content_type
        if content_type not in oids.CONVEYED_INFORMATION_TYPES:
            raise fail(
                Step.DECODE,
                f"conveyed information has content type {oids.name_of(content_type)}; "
                "expected id-data, id-ct-sztpConveyedInfoJSON or id-ct-sztpConveyedInfoXML",
            )
        info = _parse_conveyed(conveyed.content, content_type, limits)
        with labelled(Step.SOURCE):
            check_delivery(source, _kind_of(info), signed=False)
        return VerifiedData(info, False, conveyed.encrypted, content_type)

    if artifacts.owner_certificate is None or artifacts.ownership_voucher is None:
        missing = "ownership voucher" if has_oc else "owner certificate"
        if not has_oc and not has_ov:
            missing = "owner certificate and ownership voucher"
        raise fail(
            Step.CONSISTENCY,
            f"signed conveyed information came without its {missing} (RFC 8572 §5.4): "
            "signed data is verified through the voucher and the owner certificate",
        )
    signed_ci = conveyed.signed
    if signed_ci.econtent_type not in oids.CONVEYED_INFORMATION_TYPES:
        raise fail(
            Step.DECODE,
            f"signed conveyed information has eContentType {oids.name_of(signed_ci.econtent_type)};"
            " expected id-data, id-ct-sztpConveyedInfoJSON or id-ct-sztpConveyedInfoXML",
        )

    # 1. voucher signature, then the signer policy
    current[0] = Step.VOUCHER_SIGNATURE
    voucher_content, voucher_signer = verify_voucher_signature(
        artifacts.ownership_voucher, policy, decryptor
    )
    current[0] = Step.VOUCHER_CONTENT
    with labelled(Step.VOUCHER_CONTENT):
        voucher = parse_voucher(voucher_content)
    # 2..6 voucher checks
    current[0] = Step.VOUCHER_VALIDITY
    check_voucher(voucher, device, policy, nonce)
    # 7. owner certificate to the pinned-domain-cert
    current[0] = Step.OWNER_CERTIFICATE
    owner_sd = _decode_owner_certificate(artifacts.owner_certificate, limits, decryptor)
    owner_cert = _owner_leaf(owner_sd)
    with labelled(Step.VOUCHER_CONTENT):
        pinned = armor.load_der_certificate(voucher.pinned_domain_cert, "pinned-domain-cert")
    budget = PathBudget(limits.path_validations, Step.OWNER_CERTIFICATE, "owner certificate")
    try:
        budget.spend()
        path = validate_path(owner_cert, owner_sd.certificates, [pinned], policy.clock)
    except PathError as exc:
        raise fail(
            Step.OWNER_CERTIFICATE,
            f"the owner certificate {cert_name(owner_cert)} does not validate to the voucher's "
            f"pinned-domain-cert {cert_name(pinned)}: {exc.reason}",
        ) from exc
    # 8. revocation, only when the voucher asks for it
    current[0] = Step.REVOCATION
    if voucher.domain_cert_revocation_checks:
        try:
            check_revocation(path.certificates, owner_sd.crls, policy.clock)
        except RevocationError as exc:
            raise fail(Step.REVOCATION, str(exc)) from exc
    # 9. owner certificate key usage
    current[0] = Step.OWNER_KEY_USAGE
    _check_owner_key_usage(owner_cert)
    # 10. conveyed information signed by that owner certificate
    current[0] = Step.CONVEYED_INFORMATION_SIGNATURE
    content = _verify_conveyed_signature(signed_ci, owner_cert)
    current[0] = Step.CONVEYED_INFORMATION
    info = _parse_conveyed(content, signed_ci.econtent_type, limits)
    current[0] = Step.SOURCE
    with labelled(Step.SOURCE):
        check_delivery(source, _kind_of(info), signed=True)
    return VerifiedData(
        conveyed_information=info,
        signed=True,
        encrypted=conveyed.encrypted,
        content_type=signed_ci.econtent_type,
        owner_certificate=owner_cert,
        owner_path=path.certificates,
        voucher=voucher,
        voucher_signer=voucher_signer,
    )


def _kind_of(info: ConveyedInformation) -> InformationKind:
    if isinstance(info, OnboardingInformation):
        return InformationKind.ONBOARDING
    return InformationKind.REDIRECT


def _parse_conveyed(content: bytes, content_type: str, limits: Limits) -> ConveyedInformation:
    encoding: dict[str, str] = {
        oids.ID_CT_SZTP_CONVEYED_INFO_JSON: "json",
        oids.ID_CT_SZTP_CONVEYED_INFO_XML: "xml",
    }
    bound = limits.redirect_servers
    with labelled(Step.CONVEYED_INFORMATION):
        chosen = encoding.get(content_type)
        if chosen == "json":
            return parse_conveyed_information(content, "json", max_redirect_servers=bound)
        if chosen == "xml":
            return parse_conveyed_information(content, "xml", max_redirect_servers=bound)
        return parse_conveyed_information(content, None, max_redirect_servers=bound)


def _decode_owner_certificate(
    data: bytes, limits: Limits, decryptor: cms.Decryptor | None
) -> cms.SignedData:
    step = Step.OWNER_CERTIFICATE
    with labelled(step):
        unwrapped = cms.unwrap(
            data,
            "owner-certificate",
            max_size=limits.owner_certificate,
            decryptor=decryptor,
            bag=limits,
        )
    if not isinstance(unwrapped, cms.Signed):
        raise fail(step, "the owner-certificate artifact is not a CMS SignedData")
    sd = unwrapped.signed
    if not sd.degenerate:
        raise fail(
            step, "the owner-certificate artifact must be a degenerate SignedData (no signers)"
        )
    if not sd.certificates:
        raise fail(step, "the owner-certificate artifact holds no certificate")
    return sd


def _owner_leaf(sd: cms.SignedData) -> x509.Certificate:
    """The one certificate of the bag that issued none of the others."""
    certs = list({c.public_bytes(serialization.Encoding.DER): c for c in sd.certificates}.values())
    leaves = [
        c
        for c in certs
        if not any(o is not c and o.issuer == c.subject and o.subject != c.subject for o in certs)
    ]
    if len(leaves) != 1:
        raise fail(
            Step.OWNER_CERTIFICATE,
            f"the owner-certificate CMS must hold one end-entity certificate and its "
            f"intermediates; found {len(leaves)} candidate end entities",
        )
    return leaves[0]


def _check_owner_key_usage(cert: x509.Certificate) -> None:
    require_digital_signature(cert, Step.OWNER_KEY_USAGE, "owner")


def _verify_conveyed_signature(sd: cms.SignedData, owner: x509.Certificate) -> bytes:
    step = Step.CONVEYED_INFORMATION_SIGNATURE
    if len(sd.signers) != 1:
        raise fail(
            step, f"the conveyed information has {len(sd.signers)} signers; exactly one expected"
        )
    signer = sd.signers[0]
    if not signer.identifies(owner):
        raise fail(
            step,
            f"the conveyed information is signed by {signer.describe()}, not by the owner "
            f"certificate {cert_name(owner)}",
        )
    try:
        return cms_verify.verify_signature(sd, signer, owner, "conveyed information")
    except CMSError as exc:
        raise fail(step, exc.message) from exc
