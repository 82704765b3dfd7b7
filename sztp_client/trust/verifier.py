"""The verification pipeline for bootstrapping data (RFC 8572 §5.4, R-027..R-039).

:func:`verify_bootstrapping_data` takes the three artifacts as bytes, the device's identity,
its trust policy (manufacturer trust anchors, accepted assertions, clock) and the nonce the
device sent, and returns a frozen :class:`VerifiedData` or raises.  It does no I/O.

Signed data passes these steps in this order; the first that fails stops the pipeline (R-039)
with an error whose ``step`` is the stable name in brackets:

0. [decode] the conveyed-information CMS is parsed and any encryption removed (D14);
   [consistency] signed data comes with both an owner certificate and a voucher, unsigned data
   with neither (R-028);
1. [voucher-signature] the voucher's SignerInfo names a certificate of the voucher CMS (or a
   voucher-signer trust anchor) whose key verifies its signature; only such candidates, each
   once, have their path validated, to a voucher-signer trust anchor and to nothing else, with
   intermediates from the voucher CMS (R-029, D27, D28);
   [voucher-signer-policy] the validated signer satisfies the configured constraints: one of
   the pinned signer certificates, the required extended key usage, the required certificate
   policy (D27);
   [voucher-content] the voucher JSON satisfies RFC 8366 (R-134..R-137);
2. [voucher-validity] under a trusted clock, created-on is not in the future and expires-on, if
   present, has not passed (R-030, D10);
3. [voucher-assertion] the assertion is one the policy accepts (R-031, D11);
4. [voucher-serial-number] the serial number is the device's (R-032);
5. [voucher-idevid-issuer] idevid-issuer, if present, equals the authority key identifier of
   the device's IDevID (R-033);
6. [voucher-nonce] a voucher nonce, if present, equals the nonce the device sent (R-034, D10);
   with ``require_nonce_voucher`` a voucher without a nonce is refused here (D27);
7. [owner-certificate] the owner certificate validates to the voucher's pinned-domain-cert, with
   intermediates from the owner-certificate CMS; it may itself be the pinned certificate (R-035);
8. [revocation] when the voucher asks for it, no certificate of that path below the pinned
   certificate is revoked, by CRLs carried in the owner-certificate CMS (R-036, D22);
9. [owner-key-usage] the owner certificate has no KeyUsage or one with digitalSignature (R-037);
10. [conveyed-information-signature] the conveyed information's only signer is the owner
    certificate and its signature verifies with that key; no other certificate in the CMS
    counts (R-038);
11. [conveyed-information] the content satisfies the conveyed-information data model;
12. [source] the source may deliver this kind of data (R-025); unsigned onboarding information
    is accepted only from a trusted bootstrap server (R-023).

**Bounded cost (D28).**  Each CMS carries at most ``limits.cms_certificates`` certificates and
``limits.cms_crls`` CRLs; signature checks come before path validation, so a certificate that
does not hold the signing key costs one signature check and nothing more; at most
``limits.path_validations`` paths are validated per artifact.  Any exception that is not one of
the project's own errors becomes a :class:`~sztp_client.errors.VerificationFailure` (a
DataError): hostile data is refused, never a traceback.
"""

from __future__ import annotations

from typing import Final

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sztp_client.config import TrustConfig
from sztp_client.errors import CMSError, SZTPError, VerificationFailure
from sztp_client.limits import Limits
from sztp_client.model.conveyed import ConveyedInformation, OnboardingInformation
from sztp_client.model.conveyed_parser import parse_conveyed_information
from sztp_client.model.voucher import Assertion, Voucher, parse_voucher
from sztp_client.trust import armor, cms, cms_verify, oids
from sztp_client.trust.chain import PathError, RevocationError, check_revocation, validate_path
from sztp_client.trust.clock import Clock
from sztp_client.trust.signer_policy import VoucherSignerPolicy
from sztp_client.trust.sources import InformationKind, SourceKind, check_delivery
from sztp_client.trust.steps import (
    PathBudget,
    Step,
    cert_name,
    fail,
    labelled,
    require_digital_signature,
)
from sztp_client.trust.voucher_steps import check_voucher, verify_voucher_signature

DEFAULT_ASSERTIONS: Final = TrustConfig().accept_assertions


class DeviceIdentity(msgspec.Struct, frozen=True):
    """What the voucher checks compare against.

    ``idevid_issuer`` is the keyIdentifier of the IDevID's authority key identifier, or
    ``None`` when the device cannot tell it (then a voucher naming one is refused).
    """

    serial_number: str
    idevid_issuer: bytes | None = None


class TrustPolicy(msgspec.Struct, frozen=True):
    """What signed data is judged by.

    ``voucher_signer`` holds the only anchors a voucher signer may validate to (the
    manufacturer's voucher CA, never the CA of the IDevIDs) and its optional constraints.
    """

    voucher_signer: VoucherSignerPolicy
    clock: Clock
    accepted_assertions: frozenset[Assertion] = DEFAULT_ASSERTIONS
    limits: Limits = msgspec.field(default_factory=Limits)
    require_nonce_voucher: bool = False


class Artifacts(msgspec.Struct, frozen=True):
    """The bootstrapping data as received: DER (or BER) CMS bytes."""

    conveyed_information: bytes
    owner_certificate: bytes | None = None
    ownership_voucher: bytes | None = None


class VerifiedData(msgspec.Struct, frozen=True):
    """Conveyed information that passed every step."""

    conveyed_information: ConveyedInformation
    signed: bool
    encrypted: bool
    content_type: str
    owner_certificate: x509.Certificate | None = None
    owner_path: tuple[x509.Certificate, ...] = ()
    voucher: Voucher | None = None
    voucher_signer: x509.Certificate | None = None

    @property
    def kind(self) -> InformationKind:
        if isinstance(self.conveyed_information, OnboardingInformation):
            return InformationKind.ONBOARDING
        return InformationKind.REDIRECT


def verify_bootstrapping_data(
    artifacts: Artifacts,
    device: DeviceIdentity,
    policy: TrustPolicy,
    *,
    source: SourceKind,
    nonce: bytes | None = None,
    decryptor: cms.Decryptor | None = None,
) -> VerifiedData:
    """Run the pipeline described in the module docstring.

    Raises only DataError subclasses: anything else raised inside (a library failing on
    hostile input) becomes a VerificationFailure naming the step that was running.
    """
    current: list[Step | None] = [None]
    try:
        return _pipeline(
            artifacts,
            device,
            policy,
            source=source,
            nonce=nonce,
            decryptor=decryptor,
            current=current,
        )
    except SZTPError:
        raise
    except Exception as exc:  # D28: never an untyped error from hostile data
        step = current[0]
        raise VerificationFailure(step.value if step else None, exc) from exc


def _pipeline(
    artifacts: Artifacts,
    device: DeviceIdentity,
    policy: TrustPolicy,
    *,
    source: SourceKind,
    nonce: bytes | None,
    decryptor: cms.Decryptor | None,
    current: list[Step | None],
) -> VerifiedData:
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
