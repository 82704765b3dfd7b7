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

The steps run in :mod:`sztp_client.trust.pipeline`, loaded with the CMS and path-validation code
when the first artifacts arrive; this module holds the records the rest of the client passes
around.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import msgspec
from cryptography import x509

from sztp_client.config import TrustConfig
from sztp_client.errors import SZTPError, VerificationFailure
from sztp_client.limits import Limits
from sztp_client.model.voucher import Assertion
from sztp_client.trust.clock import Clock
from sztp_client.trust.signer_policy import VoucherSignerPolicy
from sztp_client.trust.sources import InformationKind, SourceKind

if TYPE_CHECKING:
    from sztp_client.model.conveyed import ConveyedInformation
    from sztp_client.model.voucher import Voucher
    from sztp_client.trust import cms
    from sztp_client.trust.steps import Step

DEFAULT_ASSERTIONS: Final = frozenset(Assertion(name) for name in TrustConfig().accept_assertions)


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
        from sztp_client.model.conveyed import OnboardingInformation  # noqa: PLC0415 - with data

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
    from sztp_client.trust.pipeline import run_pipeline  # noqa: PLC0415 - when data arrives

    current: list[Step | None] = [None]
    try:
        return run_pipeline(
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
